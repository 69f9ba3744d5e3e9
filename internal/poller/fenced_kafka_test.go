package poller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestDuplicateNodeIDIsNotFencedForever: two nodes that share a node id (a data directory
// copied to a second machine) run the same mapping. Their first pollers have one
// group.instance.id, so each join fences the other: without a way out they take the
// partitions from each other forever, every time aborting the other's in-flight batches. A
// fenced poller must rejoin under an instance id of its own, so both end up members and every
// record is delivered.
func TestDuplicateNodeIDIsNotFencedForever(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 2, 50
	topic := kt.CreateTopic(t, parts, nil)
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 5
	rec := newRecorder()
	cfg := testConfig(rec, nil)
	cfg.NodeID = "twin"
	cfg.SessionTimeout = 6 * time.Second
	a, b := newTestManager(t, cfg), newTestManager(t, cfg)
	apply(t, a, m)
	apply(t, b, m)
	producePerPartition(t, kt, topic, parts, each)
	rec.waitAtLeastOnce(t, topic, parts, each)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		gs, err := kt.Admin(t).DescribeGroups(ctx, m.GroupID())
		if err != nil {
			return err
		}
		g := gs[m.GroupID()]
		if g.State != "Stable" || len(g.Members) != 2 {
			return fmt.Errorf("group %s with %d members, want Stable with 2", g.State, len(g.Members))
		}
		return nil
	})
}
