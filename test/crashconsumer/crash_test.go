package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestKillNineMidStream: SIGKILL the consumer process twice mid-stream and restart it; every
// record is delivered at least once and, per partition, first deliveries come in offset order
// (redelivery restarts at the last commit, never skips ahead).
func TestKillNineMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a process")
	}
	kt := kafkatest.Get(t)
	brokers := kt.Plaintext
	dir := t.TempDir()
	bin := buildBinary(t)

	const parts, firstWave, secondWave = 4, 20_000, 20_000
	cl := kt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	topic := kt.CreateTopic(t, parts, nil)
	produce := func(from, n int) {
		recs := make([]*kgo.Record, 0, n)
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: []byte(strconv.Itoa(i))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, firstWave)

	outFile := filepath.Join(dir, "delivered.txt")
	id := kafkatest.UniqueName("crash-esm")
	start := func() *exec.Cmd {
		return startConsumer(t, bin, "-brokers", brokers, "-topic", topic, "-uuid", id, "-out", outFile,
			"-batch-size", "20", "-delay", "5ms", "-session-timeout", "6s", "-node", "crash-node")
	}
	killAt := func(cmd *exec.Cmd, lines int) {
		kafkatest.WaitFor(t, 60*time.Second, func() error {
			if n := countLines(t, outFile); n < lines {
				return fmt.Errorf("%d of %d lines", n, lines)
			}
			return nil
		})
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_, _ = cmd.Process.Wait()
		t.Logf("killed -9 at %d delivered lines", countLines(t, outFile))
	}

	killAt(start(), firstWave/4)
	produce(firstWave, secondWave)
	killAt(start(), firstWave)
	final := start()
	total := firstWave + secondWave
	kafkatest.WaitFor(t, 90*time.Second, func() error {
		got := parse(t, outFile)
		for p := 0; p < parts; p++ {
			if n := distinct(got[p]); n < total/parts {
				return fmt.Errorf("partition %d: %d of %d distinct offsets", p, n, total/parts)
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

	got := parse(t, outFile)
	dups := 0
	for p := 0; p < parts; p++ {
		next := int64(0)
		seen := map[int64]bool{}
		for _, d := range got[p] {
			if seen[d.offset] {
				dups++
				continue
			}
			if d.offset != next {
				t.Fatalf("partition %d: first delivery of offset %d while %d was next", p, d.offset, next)
			}
			if want := strconv.FormatInt(d.offset*parts+int64(p), 10); d.value != want {
				t.Fatalf("partition %d offset %d: value %q, want %q", p, d.offset, d.value, want)
			}
			seen[d.offset] = true
			next++
		}
		if next != int64(total/parts) {
			t.Fatalf("partition %d: %d delivered, want %d", p, next, total/parts)
		}
	}
	t.Logf("%d records delivered at least once across two kill -9s; %d redelivered", total, dups)
}

type line struct {
	offset int64
	value  string
}

func parse(t *testing.T, path string) map[int][]line {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]line{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue // a torn last line would be ignored (whole-batch writes make it unlikely)
		}
		p, _ := strconv.Atoi(f[0])
		off, _ := strconv.ParseInt(f[1], 10, 64)
		v, _ := base64.StdEncoding.DecodeString(f[2])
		out[p] = append(out[p], line{off, string(v)})
	}
	return out
}

func distinct(ls []line) int {
	m := map[int64]bool{}
	for _, l := range ls {
		m[l.offset] = true
	}
	return len(m)
}

func countLines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte{'\n'})
}
