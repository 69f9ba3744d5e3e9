package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestSoakKillNine kills the consumer process with SIGKILL at random moments while a producer
// keeps writing, some kills less than a second after the restart, and restarts it each time on
// the same group (the same static member). It ends with nothing lost, first deliveries in
// offset order per partition, and every partition delivered to its end after the last kill.
// It prints, per kill, the records delivered again (duplicates) and the time from restart to
// the first delivery, against issue 15's targets: at most 2 batches per partition per kill
// (6 partitions, BatchSize 200: 400 per partition, 2,400 in all), restart → first delivery
// ≤ 5 s. Figures are printed, not asserted (timing on a shared machine).
//
// CI runs 3 kills; KAFKAESM_SOAK=1 runs 20.
func TestSoakKillNine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a process")
	}
	kills := 3
	if os.Getenv("KAFKAESM_SOAK") == "1" {
		kills = 20
	}
	const parts, batchSize = 6, 200
	kt := kafkatest.Get(t)
	dir := t.TempDir()
	bin := buildBinary(t)
	topic := kt.CreateTopic(t, parts, nil)
	outFile := filepath.Join(dir, "delivered.txt")
	id := kafkatest.UniqueName("soak-esm")

	// The producer: a backlog of 1,000 records per partition, then 90 per partition every
	// 50 ms (10,800 records/s), just under what the function takes (a full batch of 200 per
	// 100 ms per partition), so batches are full; value = the partition's sequence number,
	// which is also its offset (nothing else writes the topic).
	cl := kt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	var (
		prodMu   sync.Mutex
		produced [parts]int64
		prodErr  error
	)
	prodCtx, stopProducing := context.WithCancel(context.Background())
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for n := 1000; ; n = 90 {
			select {
			case <-prodCtx.Done():
				return
			case <-tick.C:
			}
			var recs []*kgo.Record
			prodMu.Lock()
			for p := range parts {
				for range n {
					recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte(strconv.FormatInt(produced[p], 10))})
					produced[p]++
				}
			}
			prodMu.Unlock()
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				prodMu.Lock()
				prodErr = err
				prodMu.Unlock()
				return
			}
		}
	}()
	t.Cleanup(func() { stopProducing(); <-prodDone })

	start := func() *exec.Cmd {
		return startConsumer(t, bin, "-brokers", kt.Plaintext, "-topic", topic, "-uuid", id, "-out", outFile,
			"-batch-size", strconv.Itoa(batchSize), "-delay", "100ms", "-write-first", "-session-timeout", "6s", "-node", "soak-node")
	}
	// firstDelivery polls the output (every 5 ms) until runFor ends (or, with untilFirst, until
	// it grew); it returns how long after started the output first grew past from, or -1.
	firstDelivery := func(started time.Time, from int, runFor time.Duration, untilFirst bool) time.Duration {
		seen := time.Duration(-1)
		end := started.Add(runFor)
		for time.Now().Before(end) {
			if seen < 0 && countLines(t, outFile) > from {
				seen = time.Since(started)
				if untilFirst {
					break
				}
			}
			time.Sleep(5 * time.Millisecond) // the random moment of the kill, not a wait for a condition
		}
		return seen
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	linesAtKill := []int{0}
	var toFirst []time.Duration
	// The first run delivers for a while, so that the first kill is mid-stream.
	for i := range kills {
		runFor := time.Duration(1000+rng.IntN(3000)) * time.Millisecond
		if i%3 == 1 {
			runFor = time.Duration(100+rng.IntN(800)) * time.Millisecond // < 1 s after the restart
		}
		cmd := start()
		started := time.Now()
		d := firstDelivery(started, linesAtKill[len(linesAtKill)-1], runFor, false)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_, _ = cmd.Process.Wait()
		linesAtKill = append(linesAtKill, countLines(t, outFile))
		if i > 0 { // the first run is not a restart after a kill
			toFirst = append(toFirst, d)
		}
		t.Logf("kill %d after %v (restart → first delivery %v), %d lines delivered", i+1, runFor.Round(time.Millisecond), d.Round(time.Millisecond), linesAtKill[len(linesAtKill)-1])
	}
	stopProducing()
	<-prodDone
	prodMu.Lock()
	if prodErr != nil {
		t.Fatal(prodErr)
	}
	want := produced
	prodMu.Unlock()

	final := start()
	toFirst = append(toFirst, firstDelivery(time.Now(), linesAtKill[len(linesAtKill)-1], 60*time.Second, true))
	kafkatest.WaitFor(t, 120*time.Second, func() error {
		got := parse(t, outFile)
		for p := range parts {
			if n := distinct(got[p]); int64(n) < want[p] {
				return fmt.Errorf("partition %d: %d of %d distinct offsets", p, n, want[p])
			}
		}
		return nil
	})
	if err := final.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := final.Process.Wait(); err != nil {
		t.Fatal(err)
	}

	// Nothing lost, order kept: per partition, first deliveries come in offset order and reach
	// the end; each value is its offset.
	all := readLines(t, outFile)
	for p := range parts {
		next := int64(0)
		seen := map[int64]bool{}
		for _, l := range all {
			if l.partition != p || seen[l.offset] {
				continue
			}
			if l.offset != next {
				t.Fatalf("partition %d: first delivery of offset %d while %d was next", p, l.offset, next)
			}
			if l.value != strconv.FormatInt(l.offset, 10) {
				t.Fatalf("partition %d offset %d: value %q", p, l.offset, l.value)
			}
			seen[l.offset] = true
			next++
		}
		if next != want[p] {
			t.Fatalf("partition %d: delivered up to %d, want %d", p, next, want[p])
		}
	}

	// Duplicates per kill: what the run after kill k delivered again (offsets at or below the
	// highest one delivered before it, per partition).
	linesAtKill = append(linesAtKill, len(all))
	var perKill []int
	worstPartition := 0
	for k := 1; k < len(linesAtKill)-1; k++ {
		maxBefore := map[int]int64{}
		for _, l := range all[:linesAtKill[k]] {
			if o, ok := maxBefore[l.partition]; !ok || l.offset > o {
				maxBefore[l.partition] = l.offset
			}
		}
		dups, perPart := 0, map[int]int{}
		for _, l := range all[linesAtKill[k]:linesAtKill[k+1]] {
			if o, ok := maxBefore[l.partition]; ok && l.offset <= o {
				dups++
				perPart[l.partition]++
			}
		}
		for _, n := range perPart {
			worstPartition = max(worstPartition, n)
		}
		perKill = append(perKill, dups)
	}
	sorted := slices.Clone(perKill)
	slices.Sort(sorted)
	var firsts []time.Duration
	for _, d := range toFirst {
		if d >= 0 {
			firsts = append(firsts, d)
		}
	}
	slices.Sort(firsts)
	t.Logf("soak: %d kills, %d records produced, %d delivered (%d lines)", kills, sum(want[:]), len(all), len(all))
	t.Logf("soak: duplicates per kill %v: median %d, worst %d (target ≤ %d: 2 batches × %d partitions); worst one partition in one kill %d (target ≤ %d)",
		perKill, sorted[len(sorted)/2], sorted[len(sorted)-1], 2*batchSize*parts, parts, worstPartition, 2*batchSize)
	if len(firsts) > 0 {
		t.Logf("soak: restart → first delivery over %d restarts that delivered before their kill: median %v, worst %v (target ≤ 5s)",
			len(firsts), firsts[len(firsts)/2].Round(time.Millisecond), firsts[len(firsts)-1].Round(time.Millisecond))
	}
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

// soakLine is one delivered record, in file order.
type soakLine struct {
	partition int
	offset    int64
	value     string
}

func readLines(t *testing.T, path string) []soakLine {
	t.Helper()
	var out []soakLine
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range strings.Split(string(b), "\n") {
		f := strings.Fields(ln)
		if len(f) != 3 {
			continue
		}
		p, _ := strconv.Atoi(f[0])
		off, _ := strconv.ParseInt(f[1], 10, 64)
		v, _ := base64.StdEncoding.DecodeString(f[2])
		out = append(out, soakLine{p, off, string(v)})
	}
	return out
}
