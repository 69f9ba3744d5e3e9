package poller

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/event"
	"github.com/kafkaesm/kafkaesm/internal/filter"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/outcome"
)

// This file is the worker's batch-outcome seam: what happens to a batch's records after (and
// instead of) invoking them. The worker builds a batch of one partition's records in offset
// order, skipping filtered and oversized records (filtered: counted, never delivered;
// oversized: to the on-failure destination, or counted and logged), and hands the records to
// process. Offsets are marked only past records that were delivered, filtered, or acknowledged
// by the destination, so a crash anywhere re-runs only what was in flight.

// segment is a run of a batch's records that is invoked together: the whole batch at first,
// then what remains after a partial batch response, or one half of a bisected segment.
type segment struct {
	recs     []*kgo.Record
	failures int // failed invocations that count against the retry budget
	invokes  int // invocations that included these records (approximateInvokeCount)
	last     *lastInvoke
}

// lastInvoke is the latest failed invocation of a segment, for the destination message.
type lastInvoke struct {
	requestID     string
	functionError string
	version       string
	batchSize     int
	payloadSize   int
}

// process delivers recs (encoded in b, which it may re-encode) under the mapping's failure
// policy. It returns false when the worker is stopping: nothing more is marked and the rest
// is delivered again by the partition's next owner.
func (w *worker) process(b *event.Batch, recs []*kgo.Record) bool {
	c := w.c
	queue := []segment{{recs: recs}}
	encoded := true // b holds queue[0].recs
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	wait := func(d time.Duration) bool {
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-timer.C:
			return true
		case <-w.stopping:
			return false
		case <-w.ctx.Done():
			return false
		}
	}
	throttles, serviceErrors := 0, 0
	for len(queue) > 0 {
		if w.isStopping() {
			return false
		}
		sg := &queue[0]
		// The policy is read at every attempt: an update (a retry limit, a destination, a
		// record age) applies to the batch retrying now, which may be what blocks the
		// partition, not only to the next one.
		pol := c.settings.Load().policy
		if pol.MaxAge > 0 {
			live, old := splitExpired(sg.recs, pol, time.Now())
			if len(old) > 0 {
				c.log.Warn("records older than MaximumRecordAgeInSeconds are not invoked", "topic", w.tp.topic, "partition", w.tp.partition,
					"records", len(old), "first_offset", old[0].Offset, "max_age", pol.MaxAge)
				if !w.giveUp(old, outcome.RecordAgeExceeded, sg) {
					return false
				}
				sg.recs, encoded = live, false
				if len(live) == 0 {
					w.mark(old[len(old)-1]) // every record before is done
					queue = queue[1:]
					continue
				}
			}
		}
		// A retried batch whose first records left the log by retention moves on to the
		// earliest offset still in the log (retention.go).
		if sg.failures > 0 {
			if gone := w.retentionCut(sg.recs); gone > 0 {
				w.mark(sg.recs[gone-1])
				sg.recs, encoded = sg.recs[gone:], false
				if len(sg.recs) == 0 {
					queue = queue[1:]
					continue
				}
			}
		}
		if !encoded {
			b.Reset()
			for _, r := range sg.recs {
				if res, err := b.Add(r); err != nil || res != event.Added {
					// Cannot happen: a subset of records that fit one payload fits too.
					c.log.Error("re-encoding a batch", "err", err, "result", res)
					return false
				}
			}
			encoded = true
		}
		fn := c.settings.Load().function
		attempt := sg.invokes + 1
		// Each attempt takes one of the mapping's slots (slots.go); a throttled one keeps its
		// turn in the mapping's line.
		if !c.slots.acquire(w.ctx, w.stopping, &w.turn, throttles > 0) {
			return false
		}
		w.invoking.Store(time.Now().UnixNano())
		res, err := c.cfg.Invoker.Invoke(w.ctx, invoke.Request{Function: fn, Payload: b.Bytes(), LogNote: attemptNote(w.tp, sg, attempt, pol)})
		w.invoking.Store(0)
		throttled := errors.Is(err, invoke.ErrThrottled)
		c.slots.release(throttled)
		if w.ctx.Err() != nil {
			return false
		}
		if throttled {
			// Throttling is not the records' fault and not a failure: it is counted as a
			// throttle, uses no retry, splits nothing, and lowers the mapping's concurrency.
			c.throttled.Add(1)
			throttles++
			if throttles == throttledProblemAfter {
				limit := c.slots.Limit()
				c.log.Warn("function throttled; the batch waits for a free slot", "function", fn, "topic", w.tp.topic,
					"partition", w.tp.partition, "records", len(sg.recs), "concurrent_invocations", limit, "err", err)
				c.status.batchThrottled(w, throttleCause(err, limit))
			}
			continue
		}
		if err != nil {
			// The invocation never reached the function (it does not exist, the node could
			// not start it): a service error, not the records' fault. As on Lambda it uses no
			// retry and splits nothing ("this doesn't apply to service errors or throttles
			// where the batch didn't reach the function"): the batch waits and is tried again,
			// and the mapping reports why.
			throttles = 0
			serviceErrors++
			c.failed.Add(int64(len(sg.recs)))
			w.retrying.Store(true)
			c.status.batchDone(w, false, functionCause(nil, err))
			delay := c.cfg.Backoff.Delay(serviceErrors - 1)
			c.log.Warn("invocation did not reach the function; retrying (uses no retry)", "function", fn, "topic", w.tp.topic,
				"partition", w.tp.partition, "records", len(sg.recs), "first_offset", sg.recs[0].Offset, "err", err, "retry_in", delay)
			if !wait(delay) {
				return false
			}
			continue
		}
		serviceErrors = 0
		sg.invokes++
		n := len(sg.recs)
		failedAt := 0 // records before failedAt were delivered
		if res.FunctionError == "" {
			failedAt = n
			if pol.PartialBatch {
				pf := outcome.ParseItemFailures(res.Payload, w.tp.topic+"-"+strconv.Itoa(int(w.tp.partition)), offsets(sg.recs))
				failedAt = pf.FailedAt
				if pf.Invalid {
					c.log.Warn("partial batch response not honoured: the whole batch failed", "function", fn, "topic", w.tp.topic,
						"partition", w.tp.partition, "reason", pf.Reason, "payload", truncate(res.Payload, 256))
				}
			}
		}
		if failedAt > 0 {
			c.invoked.Add(int64(failedAt))
			c.batches.Add(1)
			if c.cfg.OnBatch != nil && failedAt == n {
				c.cfg.OnBatch(c.uuid, fn, n, len(b.Bytes()))
			}
			if failedAt == n {
				w.mark(sg.recs[n-1])
			} else {
				// The checkpoint is the first failed record: records between the last
				// delivered one and it were filtered or given up on while batching.
				f := sg.recs[failedAt]
				w.mark(&kgo.Record{Topic: f.Topic, Partition: f.Partition, Offset: f.Offset - 1, LeaderEpoch: f.LeaderEpoch})
			}
		}
		throttles = 0
		if failedAt == n {
			w.retrying.Store(false)
			c.status.batchDone(w, true, "")
			queue = queue[1:]
			encoded = false
			continue
		}
		// The records from failedAt on failed.
		c.failed.Add(int64(n - failedAt))
		w.retrying.Store(true)
		c.status.batchDone(w, false, functionCause(res.Payload, nil))
		sg.last = &lastInvoke{requestID: res.RequestID, functionError: res.FunctionError, version: res.ExecutedVersion,
			batchSize: n, payloadSize: len(b.Bytes())}
		if failedAt > 0 {
			sg.recs = sg.recs[failedAt:] // the partial response's checkpoint
			encoded = false
		}
		sg.failures++
		d := pol.AfterFailure(len(sg.recs), sg.failures)
		logArgs := []any{"function", fn, "topic", w.tp.topic, "partition", w.tp.partition, "records", len(sg.recs),
			"first_offset", sg.recs[0].Offset, "attempt", attempt, "decision", d.String()}
		if pol.RetryLimit >= 0 {
			logArgs = append(logArgs, "max_attempts", pol.RetryLimit+1)
		}
		logArgs = append(logArgs, "function_error", res.FunctionError, "payload", truncate(res.Payload, 256))
		switch d {
		case outcome.Split:
			c.log.Warn("batch failed; bisecting", logArgs...)
			half := (len(sg.recs) + 1) / 2
			// A split uses no retry: each half has the budget the segment had before this failure.
			a := segment{recs: sg.recs[:half], failures: sg.failures - 1, invokes: sg.invokes, last: sg.last}
			z := segment{recs: sg.recs[half:], failures: sg.failures - 1, invokes: sg.invokes, last: sg.last}
			queue = append([]segment{a, z}, queue[1:]...)
			encoded = false
			c.retried.Add(int64(len(a.recs) + len(z.recs)))
		case outcome.GiveUp:
			c.log.Warn("batch failed; retries exhausted", logArgs...)
			if !w.giveUp(sg.recs, outcome.RetryAttemptsExhausted, sg) {
				return false
			}
			w.mark(sg.recs[len(sg.recs)-1])
			w.retrying.Store(false) // the partition moves on; the result stays PROBLEM until a batch succeeds
			queue = queue[1:]
			encoded = false
		case outcome.Retry:
			delay := c.cfg.Backoff.Delay(sg.failures - 1)
			c.log.Warn("batch failed; retrying", append(logArgs, "retry_in", delay)...)
			c.retried.Add(int64(len(sg.recs)))
			if !wait(delay) {
				return false
			}
		}
	}
	return true
}

// attemptNote is the line the function's log gets after START: which records and which attempt
// ("KAFKAESM batch orders-0 offsets 5-9 (5 records): attempt 2 of 3").
func attemptNote(k tp, sg *segment, attempt int, pol outcome.Policy) string {
	var b strings.Builder
	b.WriteString("KAFKAESM batch ")
	b.WriteString(k.topic + "-" + strconv.Itoa(int(k.partition)))
	first, last := sg.recs[0].Offset, sg.recs[len(sg.recs)-1].Offset
	b.WriteString(" offsets " + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10))
	noun := " records"
	if len(sg.recs) == 1 {
		noun = " record"
	}
	b.WriteString(" (" + strconv.Itoa(len(sg.recs)) + noun + "): attempt " + strconv.Itoa(attempt))
	if pol.RetryLimit >= 0 && !pol.Bisect {
		b.WriteString(" of " + strconv.Itoa(pol.RetryLimit+1))
	}
	return b.String()
}

func offsets(rs []*kgo.Record) []int64 {
	os := make([]int64, len(rs))
	for i, r := range rs {
		os[i] = r.Offset
	}
	return os
}

// splitExpired separates the records older than the policy's MaxAge, keeping order in both.
func splitExpired(rs []*kgo.Record, pol outcome.Policy, now time.Time) (live, old []*kgo.Record) {
	for i, r := range rs {
		if pol.Expired(r.Timestamp, now) {
			if old == nil {
				live = append(live, rs[:i]...)
			}
			old = append(old, r)
		} else if old != nil {
			live = append(live, r)
		}
	}
	if old == nil {
		return rs, nil
	}
	return live, old
}

// giveUp sends records to the on-failure destination with condition cond, waiting until the
// broker acknowledged them, or, without a destination, counts and logs them as dropped. It
// returns false when the worker is stopping before the destination took them.
//
// The destination is read again while the partition waits for an unwritable one: an update
// naming another topic, or removing the destination, applies to these records.
func (w *worker) giveUp(rs []*kgo.Record, cond string, sg *segment) bool {
	c := w.c
	for {
		switch w.giveUpTo(c.settings.Load(), rs, cond, sg) {
		case destWritten:
			return true
		case destStopping:
			return false
		}
	}
}

func (w *worker) giveUpTo(s *settings, rs []*kgo.Record, cond string, sg *segment) destResult {
	c := w.c
	if s.destination == "" {
		c.dropped.Add(int64(len(rs)))
		for _, r := range rs {
			c.log.Warn("record skipped: no on-failure destination", "condition", cond, "topic", r.Topic, "partition", r.Partition,
				"offset", r.Offset, "key_bytes", len(r.Key), "value_bytes", len(r.Value))
		}
		return destWritten
	}
	now := time.Now()
	msgs := make([]*kgo.Record, 0, len(rs))
	for _, r := range rs {
		f := outcome.Failure{Condition: cond, FunctionArn: s.function, Time: now, BatchSize: 1, PayloadSize: event.RecordSize(r)}
		if sg != nil {
			f.InvokeCount = sg.invokes
			if l := sg.last; l != nil {
				f.RequestID, f.BatchSize, f.PayloadSize = l.requestID, l.batchSize, l.payloadSize
				v := l.version
				if v == "" {
					v = "$LATEST"
				}
				fe := l.functionError
				if fe == "" {
					fe = "Unhandled" // a partial batch response that could not be honoured
				}
				f.Response = &outcome.Response{StatusCode: 200, ExecutedVersion: v, FunctionError: fe}
			}
		}
		if f.RequestID == "" {
			f.RequestID = uuid.NewString()
		}
		msgs = append(msgs, outcome.Message(s.destination, c.cfg.EventSource, c.spec.servers, r, f))
	}
	if res := w.produceToDestination(msgs); res != destWritten {
		return res
	}
	c.toDestination.Add(int64(len(rs)))
	if h := c.cfg.AfterDestination; h != nil {
		h(c.uuid, rs)
	}
	return destWritten
}

// tooLarge handles a record that cannot fit in one invocation payload: it goes to the
// destination with condition MaximumPayloadSizeExceeded, or is counted and logged.
func (w *worker) tooLarge(r *kgo.Record) bool {
	c := w.c
	if !w.giveUp([]*kgo.Record{r}, outcome.MaximumPayloadSizeExceeded, nil) {
		return false
	}
	if c.cfg.OnDrop != nil {
		c.cfg.OnDrop(w.ctx, c.uuid, r)
	}
	return true
}

// filteredOut reports whether the mapping's FilterCriteria leave r out (and counts it).
func (w *worker) filteredOut(m *filter.Matcher, r *kgo.Record) bool {
	if m.Empty() {
		return false
	}
	tt := "CREATE_TIME"
	if r.Attrs.TimestampType() == 1 {
		tt = "LOG_APPEND_TIME"
	}
	if m.Match(&filter.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(),
		TimestampType: tt, Key: r.Key, Value: r.Value}) {
		return false
	}
	w.c.filtered.Add(1)
	return true
}
