package poller

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestPromptCommitsAndStaticMembers: offsets are committed right after each successful batch
// (autocommit is set to an hour here, so nothing else could commit them while the mapping
// runs); every poller is a static member with its own group.instance.id (node, mapping, slot);
// a poller removed by scale-in leaves the group at once, although franz-go sends no
// LeaveGroup for static members (the session timeout here is a minute).
func TestPromptCommitsAndStaticMembers(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 2, 50
	topic := kt.CreateTopic(t, parts, nil)
	producePerPartition(t, kt, topic, parts, each)
	rec := newRecorder()
	cfg := testConfig(rec, nil)
	cfg.AutoCommitInterval = time.Hour
	cfg.SessionTimeout = time.Minute
	cfg.NodeID = "node-a"
	mg := newTestManager(t, cfg)
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 10
	apply(t, mg, m)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := mg.SetPollers(ctx, m.UUID, 2); err != nil {
		t.Fatal(err)
	}
	rec.waitAtLeastOnce(t, topic, parts, each)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: each, 1: each})
	})
	members := func() ([]string, error) {
		gs, err := kt.Admin(t).DescribeGroups(ctx, m.GroupID())
		if err != nil {
			return nil, err
		}
		var ids []string
		for _, mb := range gs[m.GroupID()].Members {
			if mb.InstanceID != nil {
				ids = append(ids, *mb.InstanceID)
			} else {
				ids = append(ids, "dynamic:"+mb.MemberID)
			}
		}
		slices.Sort(ids)
		return ids, nil
	}
	want := func(ids ...string) func() error {
		return func() error {
			got, err := members()
			if err != nil {
				return err
			}
			if !slices.Equal(got, ids) {
				return fmt.Errorf("members %v, want %v", got, ids)
			}
			return nil
		}
	}
	id := func(slot int) string { return fmt.Sprintf("kafkaesm-node-a-%s-%d", m.UUID, slot) }
	kafkatest.WaitFor(t, 30*time.Second, want(id(0), id(1)))
	if err := mg.SetPollers(ctx, m.UUID, 1); err != nil {
		t.Fatal(err)
	}
	// Well within the minute-long session timeout: only an explicit LeaveGroup does this.
	kafkatest.WaitFor(t, 20*time.Second, want(id(0)))
	if err := mg.Stop(ctx, m.UUID); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 20*time.Second, want())
}
