package poller

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Retention. A partition that is paused (its function is failing or slow), or a mapping that
// is stopped, can fall behind the topic's retention: the next offset it needs is no longer in
// the log. The Kafka client then gets OffsetOutOfRange and, with franz-go's default reset
// policy (kept here: never AtEnd), resumes at the earliest offset still in the log, never at
// the end, so what still exists is delivered. The records in between are gone; checkRetention
// notices the jump, counts the skipped records (Stats.RetentionSkipped, the
// kafkaesm_RetentionSkippedEventCount metric), logs it, and puts it in the mapping's
// KafkaesmLastProcessingCause (LastProcessingResult keeps AWS's texts). A batch already
// fetched keeps being retried from memory until it succeeds or the failure policy gives up
// on it: it is not lost by retention.

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
