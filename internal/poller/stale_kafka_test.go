package poller

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestRestartLeavesStaleSlots: a node killed with kill -9 while it ran 3 pollers of a mapping
// leaves static members for slots 0, 1 and 2 in the group (simulated here: clients with those
// instance ids join and are abandoned; franz-go sends no LeaveGroup for a static member on
// Close). The restarted node starts slot 0 only; it must remove its own stale slots 1 and 2, or
// their partitions sit idle until the session timeout (3 minutes here). Every partition is
// delivered; the time from Apply to the last partition's first delivery is printed.
func TestRestartLeavesStaleSlots(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 6, 5
	topic := kt.CreateTopic(t, parts, nil)
	m := newMapping(kt.Plaintext, topic)
	const node = "node-stale"
	id := func(slot int) string { return fmt.Sprintf("%s%d", instancePrefix(node, m.UUID), slot) }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The dead process: three static members, each with partitions, then abandoned.
	pctx, stopPolls := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var dead []*kgo.Client
	for slot := range 3 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(kt.Plaintext), kgo.ConsumerGroup(m.GroupID()), kgo.ConsumeTopics(topic),
			kgo.InstanceID(id(slot)), kgo.Balancers(kgo.CooperativeStickyBalancer()),
			kgo.SessionTimeout(3*time.Minute), kgo.DisableAutoCommit())
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, cl)
		wg.Go(func() {
			for pctx.Err() == nil {
				cl.PollFetches(pctx)
			}
		})
	}
	members := func() (map[string]int, error) {
		gs, err := kt.Admin(t).DescribeGroups(ctx, m.GroupID())
		if err != nil {
			return nil, err
		}
		g := gs[m.GroupID()]
		out := map[string]int{} // instance id → assigned partitions
		for _, mb := range g.Members {
			n := 0
			if c, ok := mb.Assigned.AsConsumer(); ok {
				for _, tp := range c.Topics {
					n += len(tp.Partitions)
				}
			}
			if mb.InstanceID != nil {
				out[*mb.InstanceID] = n
			}
		}
		if g.State != "Stable" {
			return out, fmt.Errorf("group %s", g.State)
		}
		return out, nil
	}
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		got, err := members()
		if err != nil {
			return err
		}
		for slot := range 3 {
			if got[id(slot)] == 0 {
				return fmt.Errorf("members %v: slot %d without partitions", got, slot)
			}
		}
		return nil
	})
	stopPolls()
	wg.Wait()
	for _, cl := range dead {
		cl.Close()
	}
	got, _ := members()
	if len(got) != 3 {
		t.Fatalf("after the abandoned clients closed the group has %v, want their 3 static members", got)
	}
	t.Logf("dead process's static members: %v", got)

	// The restart: one poller.
	producePerPartition(t, kt, topic, parts, each)
	rec := newRecorder()
	cfg := testConfig(rec, nil)
	cfg.NodeID = node
	mg := newTestManager(t, cfg)
	start := time.Now()
	apply(t, mg, m)
	rec.waitAtLeastOnce(t, topic, parts, each)
	t.Logf("restart with 1 poller → every one of %d partitions delivered: %v", parts, time.Since(start).Round(time.Millisecond))
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		got, err := members()
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(got))
		for k := range got {
			ids = append(ids, k)
		}
		if !slices.Equal(ids, []string{id(0)}) {
			return fmt.Errorf("members %v, want %s alone", got, id(0))
		}
		return nil
	})
	if n := mg.Pollers(m.UUID); n != 1 {
		t.Fatalf("%d pollers, want 1", n)
	}
}
