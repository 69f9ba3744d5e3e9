package poller

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/kafkaauth"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/outcome"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// dlqMessage is a destination message as a consumer of the destination topic decodes it.
type dlqMessage struct {
	key     []byte
	headers map[string]string
	body    outcome.Body[events.KafkaEvent]
}

// record is the one source record the message's payload holds, decoded.
func (m *dlqMessage) record(t *testing.T) (events.KafkaRecord, string) {
	t.Helper()
	var all []events.KafkaRecord
	for _, rs := range m.body.Payload.Records {
		all = append(all, rs...)
	}
	if len(all) != 1 {
		t.Fatalf("destination payload holds %d records, want 1", len(all))
	}
	v, err := base64.StdEncoding.DecodeString(all[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	return all[0], string(v)
}

// readDestination reads topic from the start until it holds at least n messages.
func readDestination(t *testing.T, kt *kafkatest.Cluster, topic string, n int) []*dlqMessage {
	t.Helper()
	cl := kt.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	var out []*dlqMessage
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("destination %s: %d of %d messages", topic, len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			m := &dlqMessage{key: r.Key, headers: map[string]string{}}
			for _, h := range r.Headers {
				m.headers[h.Key] = string(h.Value)
			}
			if err := json.Unmarshal(r.Value, &m.body); err != nil {
				t.Fatalf("destination message does not decode: %v: %s", err, r.Value)
			}
			out = append(out, m)
		})
	}
	return out
}

// destinationCount is the number of messages in topic (its end offset, one partition).
func destinationCount(t *testing.T, kt *kafkatest.Cluster, topic string) int64 {
	return endOffsets(t, kt, topic)[0]
}

func withDestination(m *mapping.EventSourceMapping, topic string) {
	m.DestinationConfig = &mapping.DestinationConfig{OnFailure: &mapping.Destination{Destination: "kafka://" + topic}}
}

func intp(v int) *int { return &v }

// TestPoisonRecordRetriedThenToDestination: a record the function always fails on, with
// MaximumRetryAttempts 2 and a kafka:// destination: 3 attempts, then the record lands in the
// destination topic complete (AWS's message format, original key, source headers), the
// partition goes on, and every other record is delivered once, in order.
func TestPoisonRecordRetriedThenToDestination(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	dlq := kt.CreateTopic(t, 1, nil)
	const n, poison = 20, 7
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		v := "ok-" + strconv.Itoa(i)
		if i == poison {
			v = "poison"
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("key-" + strconv.Itoa(i)), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte{0xde, 0xad}}}})
	}
	kt.ProduceWith(t, producer(t, kt), recs...)

	rec := newRecorder()
	poisonCalls := 0
	rec.fail = func(ev *events.KafkaEvent) bool {
		for _, rs := range ev.Records {
			for _, r := range rs {
				if v, _ := b64decode(r.Value); v == "poison" {
					poisonCalls++
					return true
				}
			}
		}
		return false
	}
	noting := &notingInvoker{Invoker: rec}
	mg := newTestManager(t, testConfig(noting, nil))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 1
	m.MaximumRetryAttempts = intp(2)
	withDestination(m, dlq)
	apply(t, mg, m)

	rec.waitDelivered(t, 30*time.Second, n-1)
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: n}) })
	var want []int64
	for i := int64(0); i < n; i++ {
		if i != poison {
			want = append(want, i)
		}
	}
	var got []int64
	for _, d := range rec.partition(topic, 0) {
		got = append(got, d.offset)
		if d.value != "ok-"+strconv.FormatInt(d.offset, 10) {
			t.Fatalf("offset %d delivered %q", d.offset, d.value)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	rec.mu.Lock()
	calls := poisonCalls
	rec.mu.Unlock()
	if calls != 3 {
		t.Fatalf("the poison record was invoked %d times, want 3 (1 + MaximumRetryAttempts 2)", calls)
	}

	// The function's log says which attempt each invocation is.
	for i := 1; i <= 3; i++ {
		want := fmt.Sprintf("KAFKAESM batch %s-0 offsets 7-7 (1 record): attempt %d of 3", topic, i)
		if !noting.saw(want) {
			t.Errorf("no invocation noted %q", want)
		}
	}
	msgs := readDestination(t, kt, dlq, 1)
	if c := destinationCount(t, kt, dlq); c != 1 {
		t.Fatalf("destination holds %d messages, want 1", c)
	}
	msg := msgs[0]
	b := msg.body
	pr, val := msg.record(t)
	if string(msg.key) != "key-7" || msg.headers[outcome.HeaderSourceTopic] != topic || msg.headers[outcome.HeaderSourcePartition] != "0" ||
		msg.headers[outcome.HeaderSourceOffset] != "7" || msg.headers[outcome.HeaderCondition] != "RetryAttemptsExhausted" {
		t.Fatalf("key %q headers %v", msg.key, msg.headers)
	}
	if b.RequestContext.Condition != "RetryAttemptsExhausted" || b.RequestContext.ApproximateInvokeCount != 3 ||
		b.RequestContext.FunctionArn != m.FunctionArn || b.ResponseContext == nil || b.ResponseContext.FunctionError != "Unhandled" ||
		b.Version != "1.0" || b.KafkaBatchInfo.RecordInfo.Offset != "7" || b.KafkaBatchInfo.BatchSize != 1 ||
		b.KafkaBatchInfo.BootstrapServers != kt.Plaintext || b.Payload.EventSource != "SelfManagedKafka" {
		t.Fatalf("destination message %+v", b)
	}
	if val != "poison" || pr.Offset != poison || pr.Topic != topic || len(pr.Headers) != 1 || string(pr.Headers[0]["trace"]) != "\xde\xad" {
		t.Fatalf("destination payload record %+v (value %q)", pr, val)
	}
	kafkatest.WaitFor(t, 5*time.Second, func() error {
		st, _ := mg.Stats(m.UUID)
		if st.OnFailureDelivered != 1 || st.Retried != 2 || st.Invoked != n-1 || st.Dropped != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

// TestRetriesExhaustedWithoutDestination: no destination, MaximumRetryAttempts 0: the failing
// batch is skipped after one attempt, counted as dropped, and the partition goes on.
func TestRetriesExhaustedWithoutDestination(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	kt.ProduceWith(t, producer(t, kt), &kgo.Record{Topic: topic, Value: []byte("a")}, &kgo.Record{Topic: topic, Value: []byte("poison")},
		&kgo.Record{Topic: topic, Value: []byte("c")})
	rec := newRecorder()
	rec.fail = func(ev *events.KafkaEvent) bool {
		for _, rs := range ev.Records {
			for _, r := range rs {
				if v, _ := b64decode(r.Value); v == "poison" {
					return true
				}
			}
		}
		return false
	}
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 1
	m.MaximumRetryAttempts = intp(0)
	apply(t, mg, m)
	rec.waitDelivered(t, 30*time.Second, 2)
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 3}) })
	checkPartition(t, "p0", rec.partition(topic, 0), 0, 0, false)
	if ds := rec.partition(topic, 0); len(ds) != 2 || ds[0].value != "a" || ds[1].value != "c" {
		t.Fatalf("delivered %+v", ds)
	}
	st, _ := mg.Stats(m.UUID)
	if st.Dropped != 1 || st.OnFailureDelivered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBisectIsolatesOneBadRecord: one bad record among 1,000, MaximumRetryAttempts 0 and
// BisectBatchOnFunctionError: the failing halves take at most ⌈log2 1000⌉+1 invocations, the
// bad record alone goes to the destination, the 999 others are delivered once, in order.
func TestBisectIsolatesOneBadRecord(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	dlq := kt.CreateTopic(t, 1, nil)
	const n, bad = 1000, 637
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}
	}
	recs[bad].Value = []byte("bad")
	kt.ProduceWith(t, producer(t, kt), recs...)

	rec := newRecorder()
	failing, sizes := 0, []int{}
	rec.fail = func(ev *events.KafkaEvent) bool {
		for _, rs := range ev.Records {
			for _, r := range rs {
				if v, _ := b64decode(r.Value); v == "bad" {
					failing++
					sizes = append(sizes, len(rs))
					return true
				}
			}
		}
		return false
	}
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = n
	m.MaximumBatchingWindowInSeconds = intp(1)
	m.MaximumRetryAttempts = intp(0)
	yes := true
	m.BisectBatchOnFunctionError = &yes
	withDestination(m, dlq)
	apply(t, mg, m)

	rec.waitDelivered(t, 30*time.Second, n-1)
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: n}) })
	ds := rec.partition(topic, 0)
	if len(ds) != n-1 {
		t.Fatalf("%d delivered, want %d", len(ds), n-1)
	}
	for i, d := range ds {
		want := int64(i)
		if i >= bad {
			want++
		}
		if d.offset != want {
			t.Fatalf("delivery %d is offset %d, want %d", i, d.offset, want)
		}
	}
	rec.mu.Lock()
	got, sz := failing, fmt.Sprint(sizes)
	rec.mu.Unlock()
	limit := int(math.Ceil(math.Log2(n))) + 1
	t.Logf("invocations of failing halves: %d (sizes %s), bound %d", got, sz, limit)
	if got > limit {
		t.Fatalf("%d invocations of failing halves (sizes %s), want at most %d", got, sz, limit)
	}
	msgs := readDestination(t, kt, dlq, 1)
	if c := destinationCount(t, kt, dlq); c != 1 {
		t.Fatalf("destination holds %d messages, want 1", c)
	}
	if _, v := msgs[0].record(t); v != "bad" || msgs[0].headers[outcome.HeaderSourceOffset] != strconv.Itoa(bad) {
		t.Fatalf("destination got %q at %s", v, msgs[0].headers[outcome.HeaderSourceOffset])
	}
}

// partialFn answers with a partial batch response naming failOffset while fail is set; it
// records every invocation's offsets and the records it accepted.
type partialFn struct {
	mu         sync.Mutex
	failOffset int64
	fail       bool
	calls      [][]int64
	accepted   []int64
	topicPart  string
}

func (f *partialFn) Invoke(_ context.Context, req invoke.Request) (invoke.Result, error) {
	var ev events.KafkaEvent
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		return invoke.Result{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var offs []int64
	for _, rs := range ev.Records {
		for _, r := range rs {
			offs = append(offs, r.Offset)
		}
	}
	f.calls = append(f.calls, offs)
	resp := `{"batchItemFailures":[]}`
	for _, o := range offs {
		if f.fail && o == f.failOffset {
			resp = fmt.Sprintf(`{"batchItemFailures":[{"itemIdentifier":{"topic-partition":%q,"offset":%d}},{"itemIdentifier":{"topic-partition":%q,"offset":%d}}]}`,
				f.topicPart, o+2, f.topicPart, o)
			break
		}
		f.accepted = append(f.accepted, o)
	}
	return invoke.Result{Payload: []byte(resp)}, nil
}

// TestPartialBatchCommitsUpToFirstFailure: the function reports offsets 8 and 6 as failed (in
// that order) of a batch of 0..9: the group's committed offset becomes exactly 6, and the
// retries start at 6; once the function accepts them, everything is committed.
func TestPartialBatchCommitsUpToFirstFailure(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	const n = 10
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
	}
	kt.ProduceWith(t, producer(t, kt), recs...)
	fn := &partialFn{failOffset: 6, fail: true, topicPart: topic + "-0"}
	mg := newTestManager(t, testConfig(fn, nil))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = n
	m.MaximumBatchingWindowInSeconds = intp(1)
	m.FunctionResponseTypes = []string{"ReportBatchItemFailures"}
	apply(t, mg, m)

	kafkatest.WaitFor(t, 20*time.Second, func() error {
		fn.mu.Lock()
		calls := len(fn.calls)
		fn.mu.Unlock()
		if calls < 3 {
			return fmt.Errorf("%d calls", calls)
		}
		return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 6})
	})
	fn.mu.Lock()
	first, later := fn.calls[0], fn.calls[1:]
	for _, c := range later {
		if c[0] != 6 {
			t.Errorf("a retry starts at offset %d, want 6: %v", c[0], c)
		}
	}
	fn.fail = false
	fn.mu.Unlock()
	if len(first) != n || first[0] != 0 {
		t.Fatalf("first batch %v", first)
	}
	kafkatest.WaitFor(t, 20*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: n}) })
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if fmt.Sprint(fn.accepted) != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Fatalf("accepted %v", fn.accepted)
	}
	st, _ := mg.Stats(m.UUID)
	if st.Invoked != n {
		t.Fatalf("stats %+v", st)
	}
}

// TestPartialBatchInvalidIdentifierFailsWholeBatch: an identifier naming another partition
// fails the whole batch: nothing is committed past its start.
func TestPartialBatchInvalidIdentifierFailsWholeBatch(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	kt.ProduceWith(t, producer(t, kt), &kgo.Record{Topic: topic, Value: []byte("0")}, &kgo.Record{Topic: topic, Value: []byte("1")})
	fn := &partialFn{failOffset: 1, fail: true, topicPart: topic + "-9"} // a partition not in the batch
	mg := newTestManager(t, testConfig(fn, nil))
	m := newMapping(kt.Plaintext, topic)
	m.MaximumBatchingWindowInSeconds = intp(1)
	m.FunctionResponseTypes = []string{"ReportBatchItemFailures"}
	apply(t, mg, m)
	kafkatest.WaitFor(t, 20*time.Second, func() error {
		fn.mu.Lock()
		defer fn.mu.Unlock()
		if len(fn.calls) < 3 {
			return fmt.Errorf("%d calls", len(fn.calls))
		}
		return nil
	})
	fn.mu.Lock()
	for _, c := range fn.calls {
		if c[0] != 0 {
			t.Errorf("a retry starts at %d: the whole batch must be retried", c[0])
		}
	}
	fn.fail = false
	fn.mu.Unlock()
	kafkatest.WaitFor(t, 20*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 2}) })
	st, _ := mg.Stats(m.UUID)
	if st.Invoked != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRecordAgeExpiryRoutesOldRecords: records produced with timestamps two hours in the past
// and MaximumRecordAgeInSeconds 60 are never invoked; they go to the destination with
// condition RecordAgeExceeded, and the recent ones are delivered.
func TestRecordAgeExpiryRoutesOldRecords(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	dlq := kt.CreateTopic(t, 1, nil)
	old := time.Now().Add(-2 * time.Hour)
	var recs []*kgo.Record
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Topic: topic, Value: []byte("new-" + strconv.Itoa(i))}
		if i%3 == 0 {
			r.Value, r.Timestamp = []byte("old-"+strconv.Itoa(i)), old
		}
		recs = append(recs, r)
	}
	kt.ProduceWith(t, producer(t, kt), recs...)
	rec := newRecorder()
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.MaximumBatchingWindowInSeconds = intp(1)
	m.MaximumRecordAgeInSeconds = intp(60)
	withDestination(m, dlq)
	apply(t, mg, m)

	rec.waitDelivered(t, 30*time.Second, 6)
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 10}) })
	var got []string
	for _, d := range rec.partition(topic, 0) {
		got = append(got, d.value)
	}
	if strings.Join(got, ",") != "new-1,new-2,new-4,new-5,new-7,new-8" {
		t.Fatalf("delivered %v", got)
	}
	msgs := readDestination(t, kt, dlq, 4)
	var routed []string
	for _, msg := range msgs {
		_, v := msg.record(t)
		routed = append(routed, v)
		if msg.body.RequestContext.Condition != "RecordAgeExceeded" || msg.body.ResponseContext != nil || msg.body.RequestContext.ApproximateInvokeCount != 0 {
			t.Fatalf("message %+v", msg.body)
		}
	}
	if strings.Join(routed, ",") != "old-0,old-3,old-6,old-9" {
		t.Fatalf("routed %v", routed)
	}
	st, _ := mg.Stats(m.UUID)
	if st.OnFailureDelivered != 4 || st.Invoked != 6 {
		t.Fatalf("stats %+v", st)
	}
}

// TestFiltersDeliverExactlyTheMatchingRecords: two filters (JSON value field, plain-string
// prefix) over a mix of JSON and plain records: exactly the matching ones are delivered (by
// count and content), the others are counted as filtered, and all offsets are committed.
func TestFiltersDeliverExactlyTheMatchingRecords(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 2, nil)
	const n = 300
	var recs []*kgo.Record
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		var v string
		switch i % 3 {
		case 0:
			v = fmt.Sprintf(`{"kind":"a","n":%d}`, i)
			want[v] = true
		case 1:
			v = fmt.Sprintf(`{"kind":"b","n":%d}`, i)
		case 2:
			v = fmt.Sprintf("hello %d", i)
			if i%2 == 0 {
				v = fmt.Sprintf("bye %d", i)
			} else {
				want[v] = true
			}
		}
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(v)})
	}
	kt.ProduceWith(t, producer(t, kt, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)
	rec := newRecorder()
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 7
	m.FilterCriteria = &mapping.FilterCriteria{Filters: []mapping.Filter{
		{Pattern: `{"value":{"kind":["a"]}}`},
		{Pattern: `{"value":[{"prefix":"hello"}]}`},
	}}
	apply(t, mg, m)
	rec.waitDelivered(t, 30*time.Second, len(want))
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: n / 2, 1: n / 2}) })
	got := map[string]bool{}
	for p := int32(0); p < 2; p++ {
		ds := rec.partition(topic, p)
		checkPartition(t, "filtered", ds, 0, 0, false)
		for i := 1; i < len(ds); i++ {
			if ds[i].offset <= ds[i-1].offset {
				t.Fatalf("partition %d: offset %d after %d", p, ds[i].offset, ds[i-1].offset)
			}
		}
		for _, d := range ds {
			if !want[d.value] || got[d.value] {
				t.Fatalf("delivered %q (unexpected or twice)", d.value)
			}
			got[d.value] = true
		}
	}
	if len(got) != len(want) || rec.total() != len(want) {
		t.Fatalf("delivered %d records (%d distinct), want %d", rec.total(), len(got), len(want))
	}
	st, _ := mg.Stats(m.UUID)
	if st.Filtered != int64(n-len(want)) || st.Invoked != int64(len(want)) {
		t.Fatalf("stats %+v, want %d filtered", st, n-len(want))
	}
}

// TestUnwritableDestinationWaits: a destination topic that does not exist: the partition
// waits with a PROBLEM result and commits nothing past the failed record; once the topic
// exists, the record lands there and the partition goes on.
func TestUnwritableDestinationWaits(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	dlq := kafkatest.UniqueName("missing-dlq")
	kt.ProduceWith(t, producer(t, kt), &kgo.Record{Topic: topic, Value: []byte("poison")}, &kgo.Record{Topic: topic, Value: []byte("ok")})
	rec := newRecorder()
	rec.fail = func(ev *events.KafkaEvent) bool {
		for _, rs := range ev.Records {
			for _, r := range rs {
				if v, _ := b64decode(r.Value); v == "poison" {
					return true
				}
			}
		}
		return false
	}
	rep := &reporter{}
	mg := newTestManager(t, testConfig(rec, rep))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 1
	m.MaximumRetryAttempts = intp(0)
	withDestination(m, dlq)
	apply(t, mg, m)
	problem := "PROBLEM: OnFailure destination kafka://" + dlq + " cannot be written to: "
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if !strings.HasPrefix(rep.last(), problem) {
			return fmt.Errorf("last result %q", rep.last())
		}
		return nil
	})
	if rec.total() != 0 {
		t.Fatalf("a record after the failed one was delivered while the destination was unwritable")
	}
	if err := groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 1}); err == nil {
		t.Fatal("the failed record's offset was committed before the destination took it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kt.Admin(t).CreateTopic(ctx, 1, 1, nil, dlq); err != nil {
		t.Fatal(err)
	}
	rec.waitDelivered(t, 60*time.Second, 1)
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 2}) })
	if msgs := readDestination(t, kt, dlq, 1); msgs[0].headers[outcome.HeaderSourceOffset] != "0" {
		t.Fatalf("destination message %v", msgs[0].headers)
	}
	if strings.HasPrefix(rep.last(), problem) {
		t.Fatalf("still reporting %q", rep.last())
	}
}

// TestOversizedRecordToDestination: with a destination, a record too large for one payload
// goes there (condition MaximumPayloadSizeExceeded, responseContext null), whole.
func TestOversizedRecordToDestination(t *testing.T) {
	kt := kafkatest.Get(t)
	maxBytes := strconv.Itoa(12 << 20)
	topic := kt.CreateTopic(t, 1, map[string]*string{"max.message.bytes": &maxBytes})
	dlq := kt.CreateTopic(t, 1, map[string]*string{"max.message.bytes": &maxBytes})
	prod := producer(t, kt, kgo.ProducerBatchCompression(kgo.NoCompression()))
	big := make([]byte, 5<<20)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Value: []byte("small-0")})
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Key: []byte("big"), Value: big}) // base64: 6.7 MB
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Value: []byte("small-2")})
	rec := newRecorder()
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	withDestination(m, dlq)
	apply(t, mg, m)
	rec.waitDelivered(t, 60*time.Second, 2)
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 3}) })
	msgs := readDestination(t, kt, dlq, 1)
	_, v := msgs[0].record(t)
	if msgs[0].body.RequestContext.Condition != "MaximumPayloadSizeExceeded" || msgs[0].body.ResponseContext != nil ||
		v != string(big) || string(msgs[0].key) != "big" {
		t.Fatalf("destination message: condition %q, %d value bytes", msgs[0].body.RequestContext.Condition, len(v))
	}
	st, _ := mg.Stats(m.UUID)
	if st.OnFailureDelivered != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// notingInvoker keeps every invocation's LogNote.
type notingInvoker struct {
	invoke.Invoker
	mu    sync.Mutex
	notes []string
}

func (n *notingInvoker) Invoke(ctx context.Context, req invoke.Request) (invoke.Result, error) {
	n.mu.Lock()
	n.notes = append(n.notes, req.LogNote)
	n.mu.Unlock()
	return n.Invoker.Invoke(ctx, req)
}

func (n *notingInvoker) saw(note string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.notes {
		if s == note {
			return true
		}
	}
	return false
}

// TestFailureSettingsApplyLive: FilterCriteria changed by a re-Apply (an
// UpdateEventSourceMapping) take effect for the next batch, without a restart. (Retry limits
// and destinations changed live: TestRetryLimitAppliesToABatchAlreadyRetrying and
// TestDestinationUpdateAppliesToAWaitingPartition.)
func TestFailureSettingsApplyLive(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	prod := producer(t, kt)
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Value: []byte("a-0")}, &kgo.Record{Topic: topic, Value: []byte("b-1")})
	rec := newRecorder()
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	apply(t, mg, m)
	rec.waitDelivered(t, 30*time.Second, 2)

	m = m.Clone()
	m.Enabled = true
	m.FilterCriteria = &mapping.FilterCriteria{Filters: []mapping.Filter{{Pattern: `{"value":[{"prefix":"b-"}]}`}}}
	apply(t, mg, m)
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Value: []byte("a-2")}, &kgo.Record{Topic: topic, Value: []byte("b-3")})
	rec.waitDelivered(t, 30*time.Second, 3)
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 4}) })
	var got []string
	for _, d := range rec.partition(topic, 0) {
		got = append(got, d.value)
	}
	if strings.Join(got, ",") != "a-0,b-1,b-3" {
		t.Fatalf("delivered %v", got)
	}
	st, _ := mg.Stats(m.UUID)
	if st.Filtered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDestinationUsesTheMappingsCredentials: a mapping over SASL/SCRAM with TLS writes its
// on-failure destination with the same credentials: while its principal may not write the
// destination topic, the partition waits with a PROBLEM result; once allowed, the record lands
// there and the partition goes on.
func TestDestinationUsesTheMappingsCredentials(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	dlq := kt.CreateTopic(t, 1, nil)
	kt.ProduceWith(t, producer(t, kt), &kgo.Record{Topic: topic, Value: []byte("poison")}, &kgo.Record{Topic: topic, Value: []byte("ok")})
	src := mapSecrets{
		"ca":    fmt.Sprintf(`{"certificate":%q}`, kt.ReadFile(t, "ca.crt")),
		"alice": fmt.Sprintf(`{"username":%q,"password":%q}`, kafkatest.AliceUser, kafkatest.AlicePassword),
	}
	deny := kadm.NewACLs().Topics(dlq).Deny("User:" + kafkatest.AliceUser).Operations(kadm.OpWrite).
		ResourcePatternType(kadm.ACLPatternLiteral)
	kt.CreateACLs(t, deny)

	rec := newRecorder()
	rec.fail = func(ev *events.KafkaEvent) bool {
		for _, rs := range ev.Records {
			for _, r := range rs {
				if v, _ := b64decode(r.Value); v == "poison" {
					return true
				}
			}
		}
		return false
	}
	rep := &reporter{}
	cfg := testConfig(rec, rep)
	cfg.ClientOpts = func(ctx context.Context, m *mapping.EventSourceMapping) ([]kgo.Opt, error) {
		return kafkaauth.Options(ctx, m.SourceAccessConfigurations, src)
	}
	mg := newTestManager(t, cfg)
	m := newMapping(kt.SASLSSL, topic)
	m.SourceAccessConfigurations = []mapping.SourceAccessConfiguration{{Type: "SASL_SCRAM_512_AUTH", URI: "alice"}, {Type: "SERVER_ROOT_CA_CERTIFICATE", URI: "ca"}}
	m.BatchSize = 1
	m.MaximumRetryAttempts = intp(0)
	withDestination(m, dlq)
	apply(t, mg, m)
	problem := "PROBLEM: OnFailure destination kafka://" + dlq + " cannot be written to: TOPIC_AUTHORIZATION_FAILED"
	rep.waitReported(t, 30*time.Second, problem)
	if rec.total() != 0 {
		t.Fatal("the next record was delivered while the failed one waited for the destination")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kt.Admin(t).DeleteACLs(ctx, deny); err != nil {
		t.Fatal(err)
	}
	rec.waitDelivered(t, 60*time.Second, 1)
	if msgs := readDestination(t, kt, dlq, 1); msgs[0].headers[outcome.HeaderSourceOffset] != "0" {
		t.Fatalf("destination message %v", msgs[0].headers)
	}
}

// TestLargeBatchToDestination: a failing batch of 2,000 records of 1 KB goes to the destination
// whole (more than the broker's default 1 MB per produce batch, so the destination producer must
// split it), in order.
func TestLargeBatchToDestination(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	kafkaDefault := "1048588" // Kafka's default max.message.bytes (the test broker allows more)
	dlq := kt.CreateTopic(t, 1, map[string]*string{"max.message.bytes": &kafkaDefault})
	const n = 2000
	recs := make([]*kgo.Record, n)
	for i := range recs {
		v := make([]byte, 1024)
		_, _ = crand.Read(v) // incompressible: the destination producer compresses
		copy(v, strconv.Itoa(i))
		recs[i] = &kgo.Record{Topic: topic, Value: v}
	}
	kt.ProduceWith(t, producer(t, kt), recs...)
	rec := newRecorder()
	rec.fail = func(*events.KafkaEvent) bool { return true }
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = n
	m.MaximumBatchingWindowInSeconds = intp(1)
	m.MaximumRetryAttempts = intp(0)
	withDestination(m, dlq)
	apply(t, mg, m)
	kafkatest.WaitFor(t, 60*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: n}) })
	msgs := readDestination(t, kt, dlq, n)
	for i, msg := range msgs {
		if msg.headers[outcome.HeaderSourceOffset] != strconv.Itoa(i) {
			t.Fatalf("destination message %d is source offset %s", i, msg.headers[outcome.HeaderSourceOffset])
		}
	}
	if c := destinationCount(t, kt, dlq); c != n {
		t.Fatalf("destination holds %d messages, want %d", c, n)
	}
}

// TestThrottlesUseNoRetry: with MaximumRetryAttempts 0, BisectBatchOnFunctionError and an
// on-failure destination, a batch throttled again and again is neither split nor sent to the
// destination nor counted as failed: once the function accepts it, every record is delivered,
// in order, in whole batches.
func TestThrottlesUseNoRetry(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	dlq := kt.CreateTopic(t, 1, nil)
	producePerPartition(t, kt, topic, 1, 30)
	rec := newRecorder()
	rec.err = &invoke.ThrottleError{Reason: invoke.ReasonReservedConcurrency}
	cfg := testConfig(rec, nil)
	cfg.Backoff = Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}
	mg := newTestManager(t, cfg)
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 10
	m.MaximumRetryAttempts = intp(0)
	yes := true
	m.BisectBatchOnFunctionError = &yes
	withDestination(m, dlq)
	apply(t, mg, m)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if st, _ := mg.Stats(m.UUID); st.Throttled < 10 {
			return fmt.Errorf("%d throttles", st.Throttled)
		}
		return nil
	})
	rec.mu.Lock()
	rec.err = nil
	rec.mu.Unlock()
	rec.waitDelivered(t, 30*time.Second, 30)
	checkPartition(t, "partition 0", rec.partition(topic, 0), 0, 30, true)
	st, _ := mg.Stats(m.UUID)
	if st.Failed != 0 || st.Retried != 0 || st.Dropped != 0 || st.OnFailureDelivered != 0 || destinationCount(t, kt, dlq) != 0 {
		t.Fatalf("stats %+v, %d in the destination: a throttle is not a failure", st, destinationCount(t, kt, dlq))
	}
}
