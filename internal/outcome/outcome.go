// Package outcome decides what happens to a batch after its invocation: the failure-handling
// policy of a mapping (MaximumRetryAttempts, MaximumRecordAgeInSeconds,
// BisectBatchOnFunctionError), the parsing of partial batch responses (ReportBatchItemFailures),
// and the message an on-failure destination receives for each record given up on. It is pure:
// the poller does the invoking, producing and committing.
package outcome

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// Conditions, as the on-failure destination message's requestContext.condition.
//
// Lambda's pages disagree on the retries one: the generic destination record (SQS, SNS, S3,
// and Kinesis/DynamoDB) says RetryAttemptsExhausted, the Kafka-topic page's example says
// RetriesExhausted. We send RetryAttemptsExhausted, the name every other event source uses.
const (
	RetryAttemptsExhausted     = "RetryAttemptsExhausted"
	RecordAgeExceeded          = "RecordAgeExceeded"
	MaximumPayloadSizeExceeded = "MaximumPayloadSizeExceeded"
)

// Policy is a mapping's failure handling.
type Policy struct {
	// RetryLimit is the number of retries after the first attempt, -1 for no limit
	// (mapping.RetryLimit: -1 with a destination is already 10 here).
	RetryLimit int
	// MaxAge: records older than this are not invoked; 0 = no limit.
	MaxAge time.Duration
	// Bisect splits a failing batch in two (BisectBatchOnFunctionError).
	Bisect bool
	// PartialBatch: the function reports batchItemFailures (ReportBatchItemFailures).
	PartialBatch bool
}

// PolicyOf returns m's policy.
func PolicyOf(m *mapping.EventSourceMapping) Policy {
	return Policy{RetryLimit: m.RetryLimit(), MaxAge: m.MaxRecordAge(), Bisect: m.Bisect(), PartialBatch: m.ReportsBatchItemFailures()}
}

// Decision is what to do with a segment of a batch after a failed invocation.
type Decision int

const (
	// Retry the same records after a backoff.
	Retry Decision = iota
	// Split the records in two halves, retried one after the other (first half first), each
	// with the retry budget the segment had left. The failed invocation does not use it up.
	Split
	// GiveUp: the retries are exhausted; the records go to the on-failure destination, or are
	// skipped (counted and logged) when there is none.
	GiveUp
)

func (d Decision) String() string {
	return [...]string{"retry", "split", "give up"}[d]
}

// AfterFailure decides for a segment of n records that has now failed `failures` times (this
// failure included; failures inherited from the segment it was split from count too). A
// segment of more than one record is split while bisecting, without using a retry, so one bad
// record among n is isolated in at most ⌈log2 n⌉+1 invocations of failing halves; single
// records (or every batch, without bisect) use up the retries.
func (p Policy) AfterFailure(n, failures int) Decision {
	if p.Bisect && n > 1 {
		return Split
	}
	if p.RetryLimit >= 0 && failures > p.RetryLimit {
		return GiveUp
	}
	return Retry
}

// Expired reports whether a record with timestamp ts is older than MaxAge at now.
func (p Policy) Expired(ts, now time.Time) bool {
	return p.MaxAge > 0 && now.Sub(ts) > p.MaxAge
}

// ItemFailures is the result of parsing a partial batch response.
type ItemFailures struct {
	// FailedAt is the index (into the invoked records) of the lowest failed offset: the
	// checkpoint. It equals the number of records when the whole batch succeeded.
	FailedAt int
	// Invalid is set when the response cannot be honoured (a malformed identifier, another
	// partition, an offset not in the batch): the whole batch failed. Reason says why.
	Invalid bool
	Reason  string
}

// ParseItemFailures reads a function's response as Lambda's partial batch response for a
// batch of one partition, named topicPartition ("orders-0"), holding offsets (ascending):
//
//	{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"orders-0","offset":42}}]}
//
// An empty response, null, a response without batchItemFailures, or an empty or null list
// mean success. Each identifier must name this partition and an offset of the batch (a JSON
// number, or a string of digits); anything else fails the whole batch. The lowest failed
// offset becomes the checkpoint: it and everything after it are retried. This follows
// Lambda's stream sources (Kinesis, DynamoDB); for Kafka AWS documents only "retry the failed
// records".
func ParseItemFailures(resp []byte, topicPartition string, offsets []int64) ItemFailures {
	all := ItemFailures{FailedAt: len(offsets)}
	fail := func(reason string) ItemFailures { return ItemFailures{FailedAt: 0, Invalid: true, Reason: reason} }
	resp = bytes.TrimSpace(resp)
	if len(resp) == 0 || bytes.Equal(resp, []byte("null")) {
		return all
	}
	if resp[0] != '{' {
		if !json.Valid(resp) {
			return fail("the response is not JSON")
		}
		return all // a string or a number: not a batch response
	}
	var r struct {
		BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		return fail("batchItemFailures is not a list: " + err.Error())
	}
	lowest := -1 // index into offsets of the lowest failed offset
	for _, raw := range r.BatchItemFailures {
		var item struct {
			ItemIdentifier json.RawMessage `json:"itemIdentifier"`
		}
		if err := json.Unmarshal(raw, &item); err != nil || len(item.ItemIdentifier) == 0 || string(item.ItemIdentifier) == "null" {
			return fail("a batchItemFailures entry has no itemIdentifier")
		}
		var id map[string]json.RawMessage
		if err := json.Unmarshal(item.ItemIdentifier, &id); err != nil || len(id) != 2 {
			return fail(`an itemIdentifier is not {"topic-partition": …, "offset": …}`)
		}
		var name string
		if err := json.Unmarshal(id["topic-partition"], &name); err != nil || name != topicPartition {
			return fail("an itemIdentifier names a partition that is not in the batch: " + string(id["topic-partition"]))
		}
		off, ok := parseOffset(id["offset"])
		if !ok {
			return fail("an itemIdentifier's offset is not an integer: " + string(id["offset"]))
		}
		i, found := slices.BinarySearch(offsets, off)
		if !found {
			return fail("an itemIdentifier names offset " + strconv.FormatInt(off, 10) + ", which is not in the batch")
		}
		if lowest < 0 || i < lowest {
			lowest = i
		}
	}
	if lowest < 0 {
		return all
	}
	return ItemFailures{FailedAt: lowest}
}

func parseOffset(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}
