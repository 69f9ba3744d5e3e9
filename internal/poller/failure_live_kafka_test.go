package poller

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/outcome"
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

// TestOversizedRecordKeepsOrderInTheDestination: a failing record, then one too large for a
// payload, in one batch, with MaximumRetryAttempts 0: the destination receives them in the
// partition's order (the oversized record used to be sent while its batch was still being
// collected, ahead of the earlier record that failed).
func TestOversizedRecordKeepsOrderInTheDestination(t *testing.T) {
	kt := kafkatest.Get(t)
	maxBytes := strconv.Itoa(12 << 20)
	topic := kt.CreateTopic(t, 1, map[string]*string{"max.message.bytes": &maxBytes})
	dlq := kt.CreateTopic(t, 1, map[string]*string{"max.message.bytes": &maxBytes})
	prod := producer(t, kt, kgo.ProducerBatchCompression(kgo.NoCompression()))
	big := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), (5<<20)/26) // base64: over 6 MB
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Value: []byte("poison")}, &kgo.Record{Topic: topic, Value: big},
		&kgo.Record{Topic: topic, Value: []byte("ok")})
	rec := newRecorder()
	failOn(rec, "poison")
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.MaximumBatchingWindowInSeconds = intp(1)
	m.MaximumRetryAttempts = intp(0)
	withDestination(m, dlq)
	apply(t, mg, m)
	kafkatest.WaitFor(t, 60*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 3}) })
	var got []string
	for _, msg := range readDestination(t, kt, dlq, 2)[:2] {
		got = append(got, msg.headers[outcome.HeaderSourceOffset]+":"+msg.body.RequestContext.Condition)
	}
	if want := "0:RetryAttemptsExhausted,1:MaximumPayloadSizeExceeded"; strings.Join(got, ",") != want {
		t.Fatalf("destination holds %v, want %s", got, want)
	}
}

// TestDestinationUpdateAppliesToAWaitingPartition: a partition waits because its on-failure
// destination cannot be written to (here: the topic does not exist). The user's fix is an
// update: another destination topic, or none. It must apply to the messages waiting now, not
// only to later ones (there are none while the partition waits).
func TestDestinationUpdateAppliesToAWaitingPartition(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remove bool
	}{{"another topic", false}, {"no destination", true}} {
		t.Run(tc.name, func(t *testing.T) {
			kt := kafkatest.Get(t)
			topic := kt.CreateTopic(t, 1, nil)
			missing := kafkatest.UniqueName("missing-dlq")
			kt.ProduceWith(t, producer(t, kt), &kgo.Record{Topic: topic, Value: []byte("poison")}, &kgo.Record{Topic: topic, Value: []byte("ok")})
			rec := newRecorder()
			failOn(rec, "poison")
			rep := &reporter{}
			mg := newTestManager(t, testConfig(rec, rep))
			m := newMapping(kt.Plaintext, topic)
			m.BatchSize = 1
			m.MaximumRetryAttempts = intp(0)
			withDestination(m, missing)
			apply(t, mg, m)
			problem := "PROBLEM: OnFailure destination kafka://" + missing + " cannot be written to: "
			kafkatest.WaitFor(t, 30*time.Second, func() error {
				if !strings.HasPrefix(rep.last(), problem) {
					return fmt.Errorf("last result %q", rep.last())
				}
				return nil
			})

			m = m.Clone()
			m.Enabled = true
			dlq := ""
			if tc.remove {
				m.DestinationConfig = nil
			} else {
				dlq = kt.CreateTopic(t, 1, nil)
				withDestination(m, dlq)
			}
			apply(t, mg, m)
			rec.waitDelivered(t, 30*time.Second, 1)
			kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 2}) })
			st, _ := mg.Stats(m.UUID)
			if tc.remove {
				if st.Dropped != 1 || st.OnFailureDelivered != 0 {
					t.Fatalf("stats %+v", st)
				}
			} else {
				if msgs := readDestination(t, kt, dlq, 1); msgs[0].headers[outcome.HeaderSourceOffset] != "0" {
					t.Fatalf("destination message %v", msgs[0].headers)
				}
				if st.OnFailureDelivered != 1 {
					t.Fatalf("stats %+v", st)
				}
			}
			if strings.HasPrefix(rep.last(), problem) {
				t.Fatalf("still reporting %q", rep.last())
			}
		})
	}
}

// TestErrorsBeforeTheFunctionUseNoRetries: an invocation that never reached the function (it
// does not exist for a while: an alias deleted and made again) is a service error, not the
// records' fault: as on Lambda ("this doesn't apply to service errors or throttles where the
// batch didn't reach the function"), it uses up no retry, so MaximumRetryAttempts 0 does not
// skip the records; the partition waits until the function is back.
func TestErrorsBeforeTheFunctionUseNoRetries(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	kt.ProduceWith(t, producer(t, kt), &kgo.Record{Topic: topic, Value: []byte("a")}, &kgo.Record{Topic: topic, Value: []byte("b")})
	rec := newRecorder()
	rec.err = fmt.Errorf("resolve: %w", invoke.ErrFunctionNotFound)
	rep := &reporter{}
	mg := newTestManager(t, testConfig(rec, rep))
	m := newMapping(kt.Plaintext, topic)
	m.MaximumRetryAttempts = intp(0)
	apply(t, mg, m)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		rec.mu.Lock()
		calls := rec.calls
		rec.mu.Unlock()
		if st, _ := mg.Stats(m.UUID); st.Dropped > 0 {
			return nil
		}
		if calls < 3 {
			return fmt.Errorf("%d invocations", calls)
		}
		return nil
	})
	if st, _ := mg.Stats(m.UUID); st.Dropped != 0 {
		t.Fatalf("records skipped although the function was never reached: stats %+v", st)
	}
	if !strings.HasPrefix(rep.last(), "PROBLEM") {
		t.Fatalf("last result %q, want a PROBLEM while the function cannot be invoked", rep.last())
	}
	rec.mu.Lock()
	rec.err = nil
	rec.mu.Unlock()
	rec.waitDelivered(t, 30*time.Second, 2)
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 2}) })
	if st, _ := mg.Stats(m.UUID); st.Dropped != 0 || st.Invoked != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRetryingPartitionMovesToAnotherPoller: a partition whose batch is being retried moves to
// another poller of the group (the first stops). Nothing is lost or skipped: the new owner
// starts the batch again from the committed offset with a fresh retry budget (retry counts
// live in the poller, not in Kafka), gives the poison record up to the destination once its
// own budget is spent, and goes on.
func TestRetryingPartitionMovesToAnotherPoller(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	dlq := kt.CreateTopic(t, 1, nil)
	kt.ProduceWith(t, producer(t, kt), &kgo.Record{Topic: topic, Value: []byte("ok-0")}, &kgo.Record{Topic: topic, Value: []byte("poison")},
		&kgo.Record{Topic: topic, Value: []byte("ok-2")})
	rec := newRecorder()
	failOn(rec, "poison")
	cfg1 := testConfig(rec, nil)
	cfg1.Backoff = Backoff{Initial: time.Hour, Max: time.Hour} // its retry waits until it is stopped
	mg1 := newTestManager(t, cfg1)
	mg2 := newTestManager(t, testConfig(rec, nil))
	group := kafkatest.UniqueName("moving")
	m1 := newMapping(kt.Plaintext, topic)
	m1.BatchSize = 1
	m1.MaximumRetryAttempts = intp(1)
	withDestination(m1, dlq)
	m1.SelfManagedKafkaEventSourceConfig = &mapping.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: group}
	m2 := m1.Clone()
	m2.Enabled = true
	m2.UUID = m1.UUID + "-2"
	apply(t, mg1, m1)
	kafkatest.WaitFor(t, 30*time.Second, func() error { // ok-0 delivered, poison failed once
		if st, _ := mg1.Stats(m1.UUID); st.Failed < 1 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	apply(t, mg2, m2)
	st1, _ := mg1.Stats(m1.UUID)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mg1.Stop(ctx, m1.UUID); err != nil {
		t.Fatal(err)
	}
	rec.waitDelivered(t, 30*time.Second, 2)
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, group, topic, map[int32]int64{0: 3}) })
	if ds := rec.partition(topic, 0); len(ds) != 2 || ds[0].value != "ok-0" || ds[1].value != "ok-2" {
		t.Fatalf("delivered %+v", ds)
	}
	msgs := readDestination(t, kt, dlq, 1)
	if _, v := msgs[0].record(t); v != "poison" || destinationCount(t, kt, dlq) != 1 {
		t.Fatalf("destination: %q, %d messages", v, destinationCount(t, kt, dlq))
	}
	st2, _ := mg2.Stats(m2.UUID)
	t.Logf("attempts of the poison record: %d on the first poller, %d on the second (MaximumRetryAttempts 1 each)", st1.Failed, st2.Failed)
	if st2.Failed != 2 {
		t.Fatalf("second poller: %d failed attempts, want 2 (a fresh budget)", st2.Failed)
	}
}
