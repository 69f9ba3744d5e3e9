package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestKillNineLatestSkipsNothing: a LATEST mapping killed with SIGKILL after its partitions
// were assigned but before any record arrived, then restarted, delivers the records produced
// while it was down: its start was resolved and committed once, at the first assignment, and
// is not resolved to the log end again.
func TestKillNineLatestSkipsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a process")
	}
	kt := kafkatest.Get(t)
	dir := t.TempDir()
	bin := buildBinary(t)
	const parts = 3
	topic := kt.CreateTopic(t, parts, nil)
	cl := kt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(what string) {
		var recs []*kgo.Record
		for p := int32(0); p < parts; p++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(what)})
		}
		kt.ProduceWith(t, cl, recs...)
	}
	produce("before")
	outFile := filepath.Join(dir, "delivered.txt")
	id := kafkatest.UniqueName("latest-esm")
	start := func() *exec.Cmd {
		return startConsumer(t, bin, "-brokers", kt.Plaintext, "-topic", topic, "-uuid", id, "-out", outFile,
			"-starting-position", "LATEST", "-session-timeout", "6s", "-node", "latest-node")
	}
	first := start()
	// Assigned: the group has a member (and, with the fix, committed offsets).
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gs, err := kt.Admin(t).DescribeGroups(ctx, id)
		if err != nil {
			return err
		}
		g := gs[id]
		if g.State != "Stable" || len(g.Members) == 0 {
			return fmt.Errorf("group %s with %d members", g.State, len(g.Members))
		}
		for _, m := range g.Members {
			if c, ok := m.Assigned.AsConsumer(); ok && len(c.Topics) > 0 {
				return nil
			}
		}
		return fmt.Errorf("no assignment yet")
	})
	// Give the assignment callback its moment: wait for the commit it makes, if any, for
	// at most a few seconds (without the fix there is none, and the kill comes anyway).
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		os, err := kt.Admin(t).FetchOffsets(ctx, id)
		cancel()
		if err == nil && len(os.Offsets()) == parts {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = first.Process.Signal(syscall.SIGKILL)
	_, _ = first.Process.Wait()
	produce("while-down")
	start()
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		got := parse(t, outFile)
		for p := 0; p < parts; p++ {
			if len(got[p]) == 0 {
				return fmt.Errorf("partition %d: nothing delivered", p)
			}
		}
		return nil
	})
	got := parse(t, outFile)
	for p := 0; p < parts; p++ {
		if d := got[p][0]; d.offset != 1 || d.value != "while-down" {
			t.Errorf("partition %d: first delivery %q at offset %d, want \"while-down\" at 1", p, d.value, d.offset)
		}
	}
}
