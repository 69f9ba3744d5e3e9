package poller

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Retention. A partition that is paused (its function is failing or slow), or a mapping that
// is stopped, can fall behind the topic's retention: the next offset it needs is no longer in
// the log. The Kafka client then gets OffsetOutOfRange and, with franz-go's default reset
// policy (kept here: never AtEnd), resumes at the earliest offset still in the log, never at
// the end, so what still exists is delivered. The records in between are gone; checkRetention
// notices the jump, counts the skipped records (Stats.RetentionSkipped, the
// kafkaesm_RetentionSkippedEventCount metric), logs it, and puts it in the mapping's
// KafkaesmLastProcessingCause (LastProcessingResult keeps AWS's texts). A batch that keeps
// failing is retried from memory, but not past retention: before a retry, retentionCut checks
// the partition's log start (at most once per retentionCheckEvery) and drops the records that
// left the log, counted, logged and reported the same way, so the partition is where the log
// is.

// checkRetention is called by the poll loop for each fetched partition before its records
// are queued. *committed caches the client's committed offsets for this poll: the expected
// start of a partition's first fetch after it was assigned.
func (c *consumer) checkRetention(w *worker, p kgo.FetchTopicPartition, committed *map[string]map[int32]kgo.EpochOffset) {
	if len(p.Records) == 0 {
		return
	}
	expected := w.fetchNext
	if expected < 0 {
		if *committed == nil {
			*committed = c.cl.CommittedOffsets()
		}
		if o, ok := (*committed)[p.Topic][p.Partition]; ok {
			expected = o.Offset
		}
	}
	first := p.Records[0].Offset
	w.fetchNext = p.Records[len(p.Records)-1].Offset + 1
	// Compaction leaves gaps too, but never below the log start: only a log start past the
	// expected offset means retention (or DeleteRecords) removed records we had not delivered.
	if expected < 0 || first <= expected || p.LogStartOffset <= expected {
		return
	}
	upTo := min(first, p.LogStartOffset) // exclusive
	n := upTo - expected
	c.retentionSkipped.Add(n)
	c.log.Warn("records removed by retention before delivery were skipped; continuing at the earliest offset still in the log",
		"topic", p.Topic, "partition", p.Partition, "from", expected, "to", upTo-1, "skipped", n, "log_start", p.LogStartOffset)
	c.status.retentionSkipped(fmt.Sprintf("%d records of %s-%d (offsets %d to %d) left the log by retention before they were delivered; continued at offset %d, the earliest still in the log",
		n, p.Topic, p.Partition, expected, upTo-1, first))
}

// retentionSkipped records the last skip for the mapping's cause.
func (s *status) retentionSkipped(cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retentionCause = cleanCause(cause)
	s.publish()
}

// retentionCheckEvery bounds how often a retrying worker asks the broker for its partition's
// log start.
const retentionCheckEvery = time.Second

// retentionCut returns how many records at the head of rs (a batch being retried) are below
// the partition's log start, after counting, logging and reporting them. 0 when none, or when
// the log start cannot be read now (the check is made again at a later retry).
func (w *worker) retentionCut(rs []*kgo.Record) int {
	if len(rs) == 0 || time.Since(w.logStartAt) < retentionCheckEvery {
		return 0
	}
	w.logStartAt = time.Now()
	ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
	defer cancel()
	starts, err := kadm.NewClient(w.cl).ListStartOffsets(ctx, w.tp.topic)
	if err != nil {
		return 0
	}
	o, ok := starts.Lookup(w.tp.topic, w.tp.partition)
	if !ok || o.Err != nil || o.Offset <= rs[0].Offset {
		return 0
	}
	n := 0
	for n < len(rs) && rs[n].Offset < o.Offset {
		n++
	}
	c := w.c
	c.retentionSkipped.Add(int64(n))
	c.log.Warn("records of a retried batch left the log by retention; continuing at the earliest offset still in the log",
		"topic", w.tp.topic, "partition", w.tp.partition, "from", rs[0].Offset, "to", rs[n-1].Offset, "skipped", n, "log_start", o.Offset)
	c.status.retentionSkipped(fmt.Sprintf("%d records of %s-%d (offsets %d to %d) left the log by retention while their batch was retried; continued at offset %d, the earliest still in the log",
		n, w.tp.topic, w.tp.partition, rs[0].Offset, rs[n-1].Offset, o.Offset))
	return n
}
