package poller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// blockingInvoker never returns until its context ends: a hung function.
type blockingInvoker struct{}

func (blockingInvoker) Invoke(ctx context.Context, _ invoke.Request) (invoke.Result, error) {
	<-ctx.Done()
	return invoke.Result{}, ctx.Err()
}

// TestRefreshLagWhilePaused: a partition paused behind a hung function stops fetching, so the
// high watermark its fetches carry goes stale; RefreshLag reads it from the broker, so the lag
// counts records produced since. The snapshot also shows the partition paused, what is queued
// and how long its invocation has been running.
func TestRefreshLagWhilePaused(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	// More than the worker takes at a time (takeMax) plus the queue's high water: fetching
	// stays paused while the function hangs.
	producePerPartition(t, kt, topic, 1, 2000)
	cfg := testConfig(blockingInvoker{}, nil)
	cfg.QueueRecords = 10
	cfg.DrainTimeout = time.Second
	mg := newTestManager(t, cfg)
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 5
	apply(t, mg, m)
	var ps PartitionStats
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		s := mg.Snapshots()
		if len(s) != 1 || len(s[0].Partitions) != 1 || !s[0].Partitions[0].Paused || s[0].Partitions[0].InFlight == 0 {
			return fmt.Errorf("snapshots %+v", s)
		}
		ps = s[0].Partitions[0]
		return nil
	})
	if ps.Lag != 2000 || ps.Queued != 2000 {
		t.Fatalf("paused partition %+v: want lag 2000, all queued", ps)
	}
	producePerPartition(t, kt, topic, 1, 30)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mg.RefreshLag(ctx, m.UUID); err != nil {
		t.Fatal(err)
	}
	s := mg.Snapshots()
	if got := s[0].Partitions[0].Lag; got != 2030 || s[0].TopicPartitions != 1 {
		t.Fatalf("after RefreshLag: lag %d (want 2030), topic partitions %d", got, s[0].TopicPartitions)
	}
}

// TestLagBeforeFirstFetch: a partition assigned but not fetched yet counts its lag from where
// delivery will start (here the log start: TRIM_HORIZON, nothing committed), not 0.
func TestLagBeforeFirstFetch(t *testing.T) {
	c := &consumer{cfg: &Config{QueueRecords: 10}}
	w := newWorker(c, nil, tp{"t", 0})
	w.hwm.Store(40)
	if got := w.lag(); got != 0 {
		t.Fatalf("lag with nothing known: %d", got)
	}
	w.base.Store(15)
	if got := w.lag(); got != 25 {
		t.Fatalf("lag from the base: %d, want 25", got)
	}
	w.next.Store(30)
	if got := w.lag(); got != 10 {
		t.Fatalf("lag once fetched: %d, want 10", got)
	}
	w.cancel()
}

// TestLagAfterRetentionEmptiedThePartition: the group's committed offset fell out of retention
// and nothing is left in the log, so there is nothing to deliver: the lag is 0. (From the
// committed offset it read 40 for good: with no record to fetch the partition never gets a
// delivery position, and the phantom lag kept the mapping "behind".)
func TestLagAfterRetentionEmptiedThePartition(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	producePerPartition(t, kt, topic, 1, 50)
	group := kafkatest.UniqueName("lagretention")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	commitOffset(t, kt, group, topic, 0, 10)
	deleteRecordsBefore(t, kt, topic, 0, 50)

	mg := newTestManager(t, testConfig(newRecorder(), nil))
	m := newMapping(kt.Plaintext, topic)
	m.SelfManagedKafkaEventSourceConfig = &mapping.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: group}
	apply(t, mg, m)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if err := mg.RefreshLag(ctx, m.UUID); err != nil {
			return err
		}
		if s := mg.Snapshots(); len(s) != 1 || len(s[0].Partitions) != 1 {
			return fmt.Errorf("snapshots %+v", s)
		}
		return nil
	})
	if got := mg.Snapshots()[0].Partitions[0].Lag; got != 0 {
		t.Fatalf("lag %d of a partition with nothing left to deliver, want 0", got)
	}
}
