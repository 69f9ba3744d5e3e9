package poller

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// deleteRecordsBefore moves the partition's log start to offset, as retention does.
func deleteRecordsBefore(t *testing.T, kt *kafkatest.Cluster, topic string, p int32, offset int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: p, At: offset, LeaderEpoch: -1})
	resp, err := kt.Admin(t).DeleteRecords(ctx, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// commitOffset commits offset for group on topic's partition p, as an earlier consumer would have.
func commitOffset(t *testing.T, kt *kafkatest.Cluster, group, topic string, p int32, offset int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: p, At: offset, LeaderEpoch: -1})
	resp, err := kt.Admin(t).CommitOffsets(ctx, group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// causeLog records the cause of every report.
type causeLog struct {
	reporter
	causes atomic.Value
}

func (c *causeLog) Report(uuid, state, reason, lastResult, cause string) {
	c.reporter.Report(uuid, state, reason, lastResult, cause)
	if cause != "" {
		c.causes.Store(cause)
	}
}

// TestRetentionMovesToLogStart: a mapping stopped while its committed offset falls out of the
// topic's retention resumes at the earliest offset still in the log (not at the end), and
// counts, logs and reports the skipped records.
func TestRetentionMovesToLogStart(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	producePerPartition(t, kt, topic, 1, 20)
	group := kafkatest.UniqueName("retention")
	commitOffset(t, kt, group, topic, 0, 5)
	deleteRecordsBefore(t, kt, topic, 0, 12)

	rec := newRecorder()
	rep := &causeLog{}
	mg := newTestManager(t, testConfig(rec, rep))
	m := newMapping(kt.Plaintext, topic)
	m.SelfManagedKafkaEventSourceConfig = &mapping.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: group}
	apply(t, mg, m)
	rec.waitDelivered(t, 30*time.Second, 8)
	checkPartition(t, "after retention", rec.partition(topic, 0), 12, 20, true)
	if s, _ := mg.Stats(m.UUID); s.RetentionSkipped != 7 {
		t.Fatalf("RetentionSkipped %d, want 7 (offsets 5 to 11)", s.RetentionSkipped)
	}
	kafkatest.WaitFor(t, 10*time.Second, func() error {
		if c, _ := rep.causes.Load().(string); !strings.Contains(c, "7 records") || !strings.Contains(c, "retention") {
			return fmt.Errorf("cause %q", c)
		}
		return nil
	})
}

// TestRetentionWhilePaused: a partition paused because its function fails falls behind
// retention; once the function recovers, the records already fetched are delivered from
// memory, the ones retention removed are skipped and counted, and the partition continues at
// the earliest offset still in the log.
func TestRetentionWhilePaused(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	const total, deleteBefore = 4000, 3000
	// Small uncompressed producer batches, so that a fetch returns few records.
	prod := producer(t, kt, kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(64<<10))
	var recs []*kgo.Record
	for i := 0; i < total; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%d-%s", i, strings.Repeat("x", 2000)))})
	}
	kt.ProduceWith(t, prod, recs...)
	rec := newRecorder()
	var failing atomic.Bool
	failing.Store(true)
	rec.fail = func(*events.KafkaEvent) bool { return failing.Load() }
	cfg := testConfig(rec, nil)
	cfg.QueueRecords = 1
	cfg.FetchMaxPartitionBytes = 256 << 10 // a fetch holds ~120 records: the queue fills, the partition pauses
	mg := newTestManager(t, cfg)
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 10
	apply(t, mg, m)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if s, _ := mg.Stats(m.UUID); s.Pauses == 0 {
			return fmt.Errorf("not paused yet")
		}
		return nil
	})
	deleteRecordsBefore(t, kt, topic, 0, deleteBefore)
	failing.Store(false)
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		ds := rec.partition(topic, 0)
		if len(ds) == 0 || ds[len(ds)-1].offset != total-1 {
			return fmt.Errorf("%d delivered", len(ds))
		}
		return nil
	})
	// The batch that was failing (retried) when retention moved is dropped too; the records
	// fetched behind it were never attempted and are delivered from memory, in order.
	ds := rec.partition(topic, 0)
	var before int64
	for i, d := range ds {
		if d.offset < deleteBefore {
			if d.offset != ds[0].offset+int64(i) {
				t.Fatalf("record %d has offset %d", i, d.offset)
			}
			before++
		}
	}
	checkPartition(t, "after the skip", ds[before:], deleteBefore, total, true)
	s, _ := mg.Stats(m.UUID)
	if before == 0 || before >= deleteBefore || s.RetentionSkipped != deleteBefore-before {
		t.Fatalf("delivered %d from memory, skipped %d; want %d skipped", before, s.RetentionSkipped, deleteBefore-before)
	}
	t.Logf("%d records delivered from memory, %d skipped by retention", before, s.RetentionSkipped)
}

// TestRetentionWhileRetrying: a batch that keeps failing is retried from memory, but not past
// retention: once its first records left the log, the poller drops them (counted and
// reported) and goes on from the earliest offset still in the log.
func TestRetentionWhileRetrying(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	producePerPartition(t, kt, topic, 1, 20)
	rec := newRecorder()
	var failing atomic.Bool
	failing.Store(true)
	rec.fail = func(*events.KafkaEvent) bool { return failing.Load() }
	rep := &causeLog{}
	mg := newTestManager(t, testConfig(rec, rep))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 10
	apply(t, mg, m)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if s, _ := mg.Stats(m.UUID); s.Failed == 0 {
			return fmt.Errorf("no failed attempt yet")
		}
		return nil
	})
	// The failing batch 0-9 leaves the log (and 10-14, already fetched: they have not been
	// attempted, so they are still delivered from memory).
	deleteRecordsBefore(t, kt, topic, 0, 15)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if s, _ := mg.Stats(m.UUID); s.RetentionSkipped < 10 {
			return fmt.Errorf("%d skipped", s.RetentionSkipped)
		}
		return nil
	})
	failing.Store(false)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		ds := rec.partition(topic, 0)
		if len(ds) == 0 || ds[len(ds)-1].offset != 19 {
			return fmt.Errorf("%d delivered", len(ds))
		}
		return nil
	})
	ds := rec.partition(topic, 0)
	if ds[0].offset < 10 {
		t.Fatalf("offset %d delivered after it left the log", ds[0].offset)
	}
	s, _ := mg.Stats(m.UUID)
	t.Logf("skipped %d by retention, delivered offsets %d to %d", s.RetentionSkipped, ds[0].offset, ds[len(ds)-1].offset)
	if c, _ := rep.causes.Load().(string); !strings.Contains(c, "retention") {
		t.Fatalf("cause %q", c)
	}
}
