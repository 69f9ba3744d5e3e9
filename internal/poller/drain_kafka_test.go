package poller

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// slowInvoker delivers through rec, each invocation taking d (or until its context ends, which
// it counts as a killed invocation).
type slowInvoker struct {
	rec      *recorder
	d        time.Duration
	inFlight atomic.Int32
	killed   atomic.Int32
}

func (s *slowInvoker) Invoke(ctx context.Context, req invoke.Request) (invoke.Result, error) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	t := time.NewTimer(s.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		s.killed.Add(1)
		return invoke.Result{}, ctx.Err()
	}
	return s.rec.Invoke(ctx, req)
}

// TestDrainWaitsForTheFunction: stopping a mapping (Disable, Delete, scale-in, an update that
// restarts the consumer) lets an in-flight invocation run to its end, within the function's
// own timeout, however short the housekeeping bound (DrainTimeout) is; its batch is committed
// and not run again.
func TestDrainWaitsForTheFunction(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	producePerPartition(t, kt, topic, 1, 5)
	rec := newRecorder()
	slow := &slowInvoker{rec: rec, d: 700 * time.Millisecond}
	cfg := testConfig(slow, nil)
	cfg.DrainTimeout = 50 * time.Millisecond // shorter than the invocation: only the fallback
	cfg.FunctionTimeout = func(context.Context, string) time.Duration { return 5 * time.Second }
	mg := newTestManager(t, cfg)
	m := newMapping(kt.Plaintext, topic)
	apply(t, mg, m)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if slow.inFlight.Load() == 0 {
			return fmt.Errorf("no invocation in flight")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mg.Stop(ctx, m.UUID); err != nil {
		t.Fatal(err)
	}
	if k := slow.killed.Load(); k != 0 {
		t.Fatalf("%d invocations killed by the drain", k)
	}
	if err := groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 5}); err != nil {
		t.Fatalf("the drained batch was not committed: %v", err)
	}
}

// TestStopPastGraceStillCommitsAndLeaves: when the shutdown grace period is over (Stop's
// context is already done), the in-flight invocation is ended, but what was delivered before
// is committed and the static member leaves the group at once: the final commit and the
// LeaveGroup run on a live context of their own.
func TestStopPastGraceStillCommitsAndLeaves(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	producePerPartition(t, kt, topic, 1, 3)
	rec := newRecorder()
	var calls atomic.Int32
	inv := invokerFunc(func(ctx context.Context, req invoke.Request) (invoke.Result, error) {
		if calls.Add(1) == 1 {
			return rec.Invoke(ctx, req)
		}
		<-ctx.Done() // the second batch hangs until the grace period ends
		return invoke.Result{}, ctx.Err()
	})
	cfg := testConfig(inv, nil)
	cfg.AutoCommitInterval = time.Hour
	cfg.SessionTimeout = time.Minute
	cfg.NodeID = "grace"
	mg := newTestManager(t, cfg)
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 2
	apply(t, mg, m)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if calls.Load() < 2 {
			return fmt.Errorf("%d invocations", calls.Load())
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the grace period is over
	_ = mg.Stop(ctx, m.UUID)
	if err := groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 2}); err != nil {
		t.Fatalf("the first batch is not committed: %v", err)
	}
	kafkatest.WaitFor(t, 20*time.Second, func() error {
		gs, err := kt.Admin(t).DescribeGroups(context.Background(), m.GroupID())
		if err != nil {
			return err
		}
		if n := len(gs[m.GroupID()].Members); n != 0 {
			return fmt.Errorf("%d members left in the group", n)
		}
		return nil
	})
}

// TestScaleInDrainsInTheBackground: a scale-in does not wait for the leaving poller's drain
// (the scaler would wait for one mapping's long invocation before evaluating the next), does
// not end that poller's in-flight invocations, and a poller started meanwhile gets a slot of
// its own: two live members never share a group.instance.id.
func TestScaleInDrainsInTheBackground(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 4, 12
	topic := kt.CreateTopic(t, parts, nil)
	producePerPartition(t, kt, topic, parts, each)
	rec := newRecorder()
	slow := &slowInvoker{rec: rec, d: 400 * time.Millisecond}
	cfg := testConfig(slow, nil)
	cfg.DrainTimeout = 50 * time.Millisecond // only the fallback
	cfg.FunctionTimeout = func(context.Context, string) time.Duration { return 10 * time.Second }
	cfg.NodeID = "scale"
	mg := newTestManager(t, cfg)
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 3
	apply(t, mg, m)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mg.SetPollers(ctx, m.UUID, 2); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		for _, s := range mg.Snapshots() {
			if s.UUID == m.UUID && s.Consuming == 2 && slow.inFlight.Load() > 0 {
				return nil
			}
		}
		return fmt.Errorf("two pollers not consuming yet")
	})
	if err := mg.SetPollers(ctx, m.UUID, 1); err != nil { // returns while slot 1 drains
		t.Fatal(err)
	}
	if err := mg.SetPollers(ctx, m.UUID, 2); err != nil { // slot 1 may still be leaving: slot 2
		t.Fatal(err)
	}
	rec.waitAtLeastOnce(t, topic, parts, each)
	if k := slow.killed.Load(); k != 0 {
		t.Fatalf("%d invocations killed by the scale-in", k)
	}
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		gs, err := kt.Admin(t).DescribeGroups(ctx, m.GroupID())
		if err != nil {
			return err
		}
		ids := map[string]bool{}
		for _, mb := range gs[m.GroupID()].Members {
			if mb.InstanceID == nil || ids[*mb.InstanceID] {
				return fmt.Errorf("member %s without or with a shared instance id", mb.MemberID)
			}
			ids[*mb.InstanceID] = true
		}
		if len(ids) != 2 {
			return fmt.Errorf("members %v", ids)
		}
		return nil
	})
}
