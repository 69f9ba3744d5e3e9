package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestKillNineBetweenDestinationAndCommit: a batch out of retries goes to the kafka://
// on-failure destination; the process is killed with SIGKILL right after the destination
// acknowledged it and before the source offsets were marked. After a restart nothing is lost:
// every record was delivered to the function or is in the destination, first deliveries in
// offset order, and the group commits to the end.
func TestKillNineBetweenDestinationAndCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a process")
	}
	kt := kafkatest.Get(t)
	dir := t.TempDir()
	bin := buildBinary(t)
	const n, poison, batch = 60, 27, 5
	topic := kt.CreateTopic(t, 1, nil)
	dlq := kt.CreateTopic(t, 1, nil)
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		v := strconv.Itoa(i)
		if i == poison {
			v = "poison"
		}
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(v)})
	}
	kt.Produce(t, recs...)

	outFile := filepath.Join(dir, "delivered.txt")
	id := kafkatest.UniqueName("dlq-crash-esm")
	run := func(crash bool) *exec.Cmd {
		args := []string{"-brokers", kt.Plaintext, "-topic", topic, "-uuid", id, "-out", outFile, "-batch-size", strconv.Itoa(batch),
			"-session-timeout", "6s", "-node", "dlq-crash-node", "-dlq", dlq, "-poison", "poison", "-retries", "1"}
		if crash {
			args = append(args, "-crash-after-destination")
		}
		return startConsumer(t, bin, args...)
	}

	first := run(true)
	waitErr := make(chan error, 1)
	go func() { waitErr <- first.Wait() }()
	select {
	case err := <-waitErr:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("the first process ended with %v, want killed by SIGKILL", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the first process did not reach the crash point")
	}
	end := endOffset(t, kt, dlq)
	if end == 0 {
		t.Fatal("killed before the destination had the records")
	}
	committed := committedOffset(t, kt, id, topic)
	t.Logf("killed -9 with %d destination messages, committed offset %d", end, committed)
	if committed > (poison/batch)*batch {
		t.Fatalf("committed %d: past the failed batch before the crash", committed)
	}

	final := run(false)
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		if c := committedOffset(t, kt, id, topic); c != n {
			return fmt.Errorf("committed %d of %d", c, n)
		}
		return nil
	})
	if err := final.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, _ = final.Process.Wait()

	delivered := map[int64]bool{}
	next := int64(0)
	for _, d := range parse(t, outFile)[0] {
		if delivered[d.offset] {
			continue
		}
		delivered[d.offset] = true
		for next < d.offset && inBatch(next, poison, batch) {
			next++ // the failed batch's records are in the destination, not the function
		}
		if d.offset != next {
			t.Fatalf("first delivery of offset %d while %d was next", d.offset, next)
		}
		if d.value != strconv.FormatInt(d.offset, 10) {
			t.Fatalf("offset %d: value %q", d.offset, d.value)
		}
		next++
	}
	inDLQ := destinationOffsets(t, kt, dlq)
	for o := int64(0); o < n; o++ {
		if !delivered[o] && !inDLQ[o] {
			t.Fatalf("offset %d was neither delivered nor sent to the destination", o)
		}
		if inBatch(o, poison, batch) != inDLQ[o] {
			t.Fatalf("offset %d: in the destination %v, want %v", o, inDLQ[o], inBatch(o, poison, batch))
		}
	}
	t.Logf("%d delivered, %d in the destination (%d messages: the crash re-sent %d)", len(delivered), len(inDLQ), endOffset(t, kt, dlq), endOffset(t, kt, dlq)-int64(len(inDLQ)))
}

// inBatch: offset o is in the batch (of size batch, from offset 0) that holds the poison.
func inBatch(o int64, poison, batch int) bool { return o/int64(batch) == int64(poison/batch) }

func endOffset(t *testing.T, kt *kafkatest.Cluster, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := kt.Admin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := ls.Lookup(topic, 0)
	return o.Offset
}

func committedOffset(t *testing.T, kt *kafkatest.Cluster, group, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	os, err := kt.Admin(t).FetchOffsets(ctx, group)
	if err != nil {
		return -1
	}
	o, ok := os.Lookup(topic, 0)
	if !ok {
		return -1
	}
	return o.At
}

// destinationOffsets reads the destination topic and returns the source offsets it holds.
func destinationOffsets(t *testing.T, kt *kafkatest.Cluster, topic string) map[int64]bool {
	t.Helper()
	end := endOffset(t, kt, topic)
	cl := kt.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[int64]bool{}
	var read int64
	for read < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d destination messages", read, end)
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			for _, h := range r.Headers {
				if h.Key == "kafkaesm-source-offset" {
					o, _ := strconv.ParseInt(string(h.Value), 10, 64)
					out[o] = true
				}
			}
		})
	}
	return out
}
