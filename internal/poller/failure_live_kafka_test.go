package poller

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// failOn makes rec fail every payload holding a record with value v.
func failOn(rec *recorder, v string) {
	rec.fail = func(ev *events.KafkaEvent) bool {
		for _, rs := range ev.Records {
			for _, r := range rs {
				if s, _ := b64decode(r.Value); s == v {
					return true
				}
			}
		}
		return false
	}
}

// TestRetryLimitAppliesToABatchAlreadyRetrying: the user's way out of a poison record that
// blocks its partition (default MaximumRetryAttempts -1) is an update setting a retry limit and
// a destination. It must apply to the batch that is retrying now, not only to the next one
// (which never comes while that batch blocks the partition).
func TestRetryLimitAppliesToABatchAlreadyRetrying(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	dlq := kt.CreateTopic(t, 1, nil)
	kt.ProduceWith(t, producer(t, kt), &kgo.Record{Topic: topic, Value: []byte("poison")}, &kgo.Record{Topic: topic, Value: []byte("ok")})
	rec := newRecorder()
	failOn(rec, "poison")
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 1
	apply(t, mg, m)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if rec.calls < 3 {
			return fmt.Errorf("%d invocations", rec.calls)
		}
		return nil
	})

	m = m.Clone()
	m.Enabled = true
	m.MaximumRetryAttempts = intp(2)
	withDestination(m, dlq)
	apply(t, mg, m)
	rec.waitDelivered(t, 30*time.Second, 1)
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 2}) })
	if msgs := readDestination(t, kt, dlq, 1); msgs[0].body.RequestContext.Condition != "RetryAttemptsExhausted" {
		t.Fatalf("destination message %+v", msgs[0].body)
	}
}
