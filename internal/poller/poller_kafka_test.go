package poller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestDeliversEverythingInOrder: 12 partitions, 100,000 keyed records, fault-free: every record
// delivered exactly once, per-partition offset order, per-key production order.
func TestDeliversEverythingInOrder(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, n = 12, 100_000
	topic := kt.CreateTopic(t, parts, nil)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i%997)), Value: []byte(strconv.Itoa(i))}
	}
	kt.ProduceWith(t, producer(t, kt), recs...)

	rec := newRecorder()
	rep := &reporter{}
	mg := newTestManager(t, testConfig(rec, rep))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 1000
	apply(t, mg, m)
	rec.waitDelivered(t, 60*time.Second, n)

	ends := endOffsets(t, kt, topic)
	lastSeq := map[string]int{}
	for p := int32(0); p < parts; p++ {
		ds := rec.partition(topic, p)
		checkPartition(t, fmt.Sprintf("partition %d", p), ds, 0, ends[p], true)
		for _, d := range ds {
			seq, _ := strconv.Atoi(d.value)
			if prev, ok := lastSeq[d.key]; ok && seq <= prev {
				t.Fatalf("key %s: value %d delivered after %d", d.key, seq, prev)
			}
			lastSeq[d.key] = seq
		}
	}
	if got := rec.total(); got != n {
		t.Fatalf("%d records delivered, want exactly %d", got, n)
	}
	for _, b := range rec.batches {
		if b > m.BatchSize {
			t.Fatalf("batch of %d records, BatchSize %d", b, m.BatchSize)
		}
	}
	kafkatest.WaitFor(t, 10*time.Second, func() error {
		st, _ := mg.Stats(m.UUID)
		if st.Invoked != n || st.Polled != n || st.Lag != 0 || st.Partitions != parts {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	if rep.last() != mapping.ResultOK {
		t.Fatalf("last result %q", rep.last())
	}
	// Offsets are committed: the group's lag goes to zero.
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, ends) })
}

func endOffsets(t *testing.T, kt *kafkatest.Cluster, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := kt.Admin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ls.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

func groupCaughtUp(kt *kafkatest.Cluster, group, topic string, ends map[int32]int64) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(kt.Plaintext))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	os, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		return err
	}
	for p, end := range ends {
		o, ok := os.Lookup(topic, p)
		if !ok || o.At != end {
			return fmt.Errorf("partition %d committed %v, end %d", p, o.At, end)
		}
	}
	return nil
}

// waitDelivered waits until rec has recorded at least n deliveries in all.
func (r *recorder) waitDelivered(t *testing.T, timeout time.Duration, n int) {
	t.Helper()
	kafkatest.WaitFor(t, timeout, func() error {
		if got := r.total(); got < n {
			return fmt.Errorf("%d of %d records delivered", got, n)
		}
		return nil
	})
}

// waitAtLeastOnce waits until every partition of topic has delivered up to offset each-1,
// checks each with checkAtLeastOnceInOrder and returns the number of redeliveries.
func (r *recorder) waitAtLeastOnce(t *testing.T, topic string, parts int32, each int64) (dups int) {
	t.Helper()
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		for p := int32(0); p < parts; p++ {
			ds := r.partition(topic, p)
			if len(ds) == 0 || ds[len(ds)-1].offset < each-1 {
				return fmt.Errorf("partition %d not complete", p)
			}
		}
		return nil
	})
	for p := int32(0); p < parts; p++ {
		dups += checkAtLeastOnceInOrder(t, fmt.Sprintf("partition %d", p), r.partition(topic, p), 0, each)
	}
	return dups
}

// waitReported waits until rep has seen the LastProcessingResult result.
func (r *reporter) waitReported(t *testing.T, timeout time.Duration, result string) {
	t.Helper()
	kafkatest.WaitFor(t, timeout, func() error {
		if !r.seen(result) {
			return fmt.Errorf("%q not reported; reports %v", result, r.all())
		}
		return nil
	})
}

func manualProducer(t *testing.T, kt *kafkatest.Cluster) *kgo.Client {
	return producer(t, kt, kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

func producePerPartition(t *testing.T, kt *kafkatest.Cluster, topic string, parts int32, each int) {
	t.Helper()
	var recs []*kgo.Record
	for i := 0; i < each; i++ {
		for p := int32(0); p < parts; p++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte("k"), Value: []byte(strconv.Itoa(i))})
		}
	}
	kt.ProduceWith(t, manualProducer(t, kt), recs...)
}

// TestFailingPartitionDoesNotStopOthers: the function fails every batch of partition 3; the
// other eleven complete; once fixed, partition 3 completes from where it stopped (offset 0).
func TestFailingPartitionDoesNotStopOthers(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 12, 200
	topic := kt.CreateTopic(t, parts, nil)
	producePerPartition(t, kt, topic, parts, each)

	var broken atomic.Bool
	broken.Store(true)
	bad := topic + "-3"
	rec := newRecorder()
	rec.fail = func(ev *events.KafkaEvent) bool { _, ok := ev.Records[bad]; return ok && broken.Load() }
	rep := &reporter{}
	mg := newTestManager(t, testConfig(rec, rep))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 50
	apply(t, mg, m)

	kafkatest.WaitFor(t, 60*time.Second, func() error {
		for p := int32(0); p < parts; p++ {
			if got := len(rec.partition(topic, p)); p != 3 && got < each {
				return fmt.Errorf("partition %d: %d of %d", p, got, each)
			}
		}
		return nil
	})
	if got := rec.partition(topic, 3); len(got) != 0 {
		t.Fatalf("failing partition delivered %d records", len(got))
	}
	kafkatest.WaitFor(t, 10*time.Second, func() error {
		if st, _ := mg.Stats(m.UUID); st.Failed == 0 || rep.last() != mapping.ResultFunctionCallFailed {
			return fmt.Errorf("failed %d, last result %q", st.Failed, rep.last())
		}
		return nil
	})

	broken.Store(false)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if got := len(rec.partition(topic, 3)); got < each {
			return fmt.Errorf("partition 3: %d of %d", got, each)
		}
		return nil
	})
	for p := int32(0); p < parts; p++ {
		checkPartition(t, fmt.Sprintf("partition %d", p), rec.partition(topic, p), 0, each, true)
	}
	kafkatest.WaitFor(t, 10*time.Second, func() error {
		if rep.last() != mapping.ResultOK {
			return fmt.Errorf("last result %q", rep.last())
		}
		return nil
	})
}

// TestInvokeErrorsAreRetried: throttling (an invoke error, not a function error) retries too,
// and counts as throttles, not failures; a batch throttled again and again shows AWS's
// "PROBLEM: Function call failed" with a cause that says the function is throttled.
func TestInvokeErrorsAreRetried(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	producePerPartition(t, kt, topic, 1, 30)
	rec := newRecorder()
	rec.err = &invoke.ThrottleError{Reason: invoke.ReasonReservedConcurrency}
	rep := &reporter{}
	mg := newTestManager(t, testConfig(rec, rep))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 10
	apply(t, mg, m)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		for _, c := range rep.allCauses() {
			if strings.HasPrefix(c, mapping.ResultFunctionCallFailed+" | the function is throttled: it is running as many invocations as its ReservedConcurrentExecutions allows") {
				return nil
			}
		}
		return fmt.Errorf("reports %q", rep.allCauses())
	})
	rec.mu.Lock()
	rec.err = nil
	rec.mu.Unlock()
	rec.waitDelivered(t, 30*time.Second, 30)
	checkPartition(t, "partition 0", rec.partition(topic, 0), 0, 30, true)
	st, _ := mg.Stats(m.UUID)
	if st.Failed != 0 || st.Throttled < 3 {
		t.Fatalf("stats %+v: want throttles and no failures", st)
	}
	kafkatest.WaitFor(t, 10*time.Second, func() error {
		if rep.last() != mapping.ResultOK {
			return fmt.Errorf("last result %q", rep.last())
		}
		return nil
	})
}

// TestLatestSkipsEarlierRecords: records produced before the consumer starts are not delivered.
func TestLatestSkipsEarlierRecords(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 2, nil)
	prod := manualProducer(t, kt)
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 10; i++ {
			kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Partition: p, Value: []byte("before")})
		}
	}
	rec := newRecorder()
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.StartingPosition = "LATEST"
	apply(t, mg, m)
	// The start offset is resolved after the assignment; keep producing "after" records
	// until both partitions deliver one, then nothing "before" may have been seen.
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		for p := int32(0); p < 2; p++ {
			kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Partition: p, Value: []byte("after")})
		}
		for p := int32(0); p < 2; p++ {
			if len(rec.partition(topic, p)) == 0 {
				return fmt.Errorf("partition %d: nothing yet", p)
			}
		}
		return nil
	})
	for p := int32(0); p < 2; p++ {
		ds := rec.partition(topic, p)
		for _, d := range ds {
			if d.value != "after" || d.offset < 10 {
				t.Fatalf("partition %d: delivered %q at offset %d", p, d.value, d.offset)
			}
		}
		checkPartition(t, "latest", ds, ds[0].offset, ds[0].offset+int64(len(ds)), true)
	}
}

// TestCustomGroupResumesFromCommittedOffsets: an existing group's commits win over
// StartingPosition; a partition it never committed follows StartingPosition.
func TestCustomGroupResumesFromCommittedOffsets(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 2, nil)
	producePerPartition(t, kt, topic, 2, 20)
	group := kafkatest.UniqueName("custom-group")
	commitOffset(t, kt, group, topic, 0, 12)

	rec := newRecorder()
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.SelfManagedKafkaEventSourceConfig = &mapping.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: group}
	apply(t, mg, m)
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		if a, b := len(rec.partition(topic, 0)), len(rec.partition(topic, 1)); a < 8 || b < 20 {
			return fmt.Errorf("delivered %d and %d", a, b)
		}
		return nil
	})
	checkPartition(t, "partition 0 (committed 12)", rec.partition(topic, 0), 12, 20, true)
	checkPartition(t, "partition 1 (no commit: TRIM_HORIZON)", rec.partition(topic, 1), 0, 20, true)
}

// TestAtTimestamp starts at the first record whose timestamp is at or after the given time.
func TestAtTimestamp(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i := 0; i < 10; i++ {
		ts := base
		if i >= 6 {
			ts = base.Add(30 * time.Second)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i)), Timestamp: ts})
	}
	kt.ProduceWith(t, producer(t, kt), recs...)
	rec := newRecorder()
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.StartingPosition = "AT_TIMESTAMP"
	m.StartingPositionTimestamp = &mapping.EpochTime{Time: base.Add(30 * time.Second)}
	apply(t, mg, m)
	rec.waitDelivered(t, 60*time.Second, 4)
	checkPartition(t, "at timestamp", rec.partition(topic, 0), 6, 10, true)
}

// TestOversizedRecordIsDropped: a record whose payload alone exceeds 6 MB is counted as dropped
// and the records after it are delivered.
func TestOversizedRecordIsDropped(t *testing.T) {
	kt := kafkatest.Get(t)
	maxBytes := strconv.Itoa(12 << 20)
	topic := kt.CreateTopic(t, 1, map[string]*string{"max.message.bytes": &maxBytes})
	prod := producer(t, kt, kgo.ProducerBatchCompression(kgo.NoCompression()))
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Value: []byte("small-0")})
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Value: make([]byte, 5<<20)}) // base64: 6.7 MB
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Value: []byte("small-2")})
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Value: make([]byte, 4<<20)}) // base64: 5.3 MB: fits
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Value: []byte("small-4")})

	rec := newRecorder()
	cfg := testConfig(rec, nil)
	var droppedAt atomic.Int64
	droppedAt.Store(-1)
	cfg.OnDrop = func(_ context.Context, _ string, r *kgo.Record) { droppedAt.Store(r.Offset) }
	mg := newTestManager(t, cfg)
	m := newMapping(kt.Plaintext, topic)
	apply(t, mg, m)
	rec.waitDelivered(t, 60*time.Second, 4)
	var offs []int64
	for _, d := range rec.partition(topic, 0) {
		offs = append(offs, d.offset)
	}
	if fmt.Sprint(offs) != "[0 2 3 4]" {
		t.Fatalf("delivered offsets %v, want [0 2 3 4]", offs)
	}
	st, _ := mg.Stats(m.UUID)
	if st.Dropped != 1 || droppedAt.Load() != 1 {
		t.Fatalf("dropped %d (OnDrop saw offset %d), want 1 at offset 1", st.Dropped, droppedAt.Load())
	}
	kafkatest.WaitFor(t, 10*time.Second, func() error { return groupCaughtUp(kt, m.GroupID(), topic, map[int32]int64{0: 5}) })
}

// TestStopAndReapplyResumes: Stop commits what was delivered and leaves the group; Apply again
// resumes from the commits: nothing is lost.
func TestStopAndReapplyResumes(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 3, 400
	topic := kt.CreateTopic(t, parts, nil)
	producePerPartition(t, kt, topic, parts, each)
	rec := newRecorder()
	slow := invokerFunc(func(ctx context.Context, req invoke.Request) (invoke.Result, error) {
		time.Sleep(5 * time.Millisecond) // so that Stop lands mid-stream
		return rec.Invoke(ctx, req)
	})
	mg := newTestManager(t, testConfig(slow, nil))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 10
	apply(t, mg, m)
	rec.waitDelivered(t, 60*time.Second, 300)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m.Enabled = false
	if err := mg.Apply(ctx, m); err != nil { // disabling = Stop
		t.Fatal(err)
	}
	if _, ok := mg.Stats(m.UUID); ok {
		t.Fatal("stats of a stopped mapping")
	}
	// Stopping left the group: no members remain.
	kafkatest.WaitFor(t, 10*time.Second, func() error {
		gs, err := kt.Admin(t).DescribeGroups(ctx, m.GroupID())
		if err != nil {
			return err
		}
		if g := gs[m.GroupID()]; len(g.Members) != 0 || g.State != "Empty" {
			return fmt.Errorf("group %s state %s with %d members", m.GroupID(), g.State, len(g.Members))
		}
		return nil
	})
	atStop := rec.total()
	m.Enabled = true
	apply(t, mg, m)
	dups := rec.waitAtLeastOnce(t, topic, parts, each)
	t.Logf("%d delivered before stop, %d duplicates after re-apply", atStop, dups)
	if dups != 0 {
		t.Errorf("a clean stop committed its deliveries, yet %d records were redelivered", dups)
	}
}

// TestReconfigureBatchSize: a new BatchSize applies to the running consumer.
func TestReconfigureBatchSize(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	producePerPartition(t, kt, topic, 1, 50)
	rec := newRecorder()
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 1
	apply(t, mg, m)
	rec.waitDelivered(t, 60*time.Second, 50)
	rec.mu.Lock()
	for _, b := range rec.batches {
		if b != 1 {
			t.Fatalf("batch of %d with BatchSize 1", b)
		}
	}
	rec.batches = nil
	rec.mu.Unlock()
	uuidBefore := m.UUID
	window := 1
	m.BatchSize = 100
	m.FunctionArn = "renamed"
	m.MaximumBatchingWindowInSeconds = &window
	apply(t, mg, m)
	producePerPartition(t, kt, topic, 1, 100) // one produce request: one fetch
	rec.waitDelivered(t, 60*time.Second, 150)
	rec.mu.Lock()
	maxB := 0
	for _, b := range rec.batches {
		maxB = max(maxB, b)
	}
	rec.mu.Unlock()
	if maxB <= 1 || maxB > 100 {
		t.Fatalf("largest batch after reconfiguration %d, want 2..100", maxB)
	}
	rec.mu.Lock()
	renamed := rec.fns["renamed"]
	rec.mu.Unlock()
	if renamed == 0 {
		t.Fatal("the new function name was never invoked")
	}
	st, _ := mg.Stats(uuidBefore)
	if st.Polled != 150 { // same consumer: not restarted
		t.Fatalf("polled %d: consumer restarted?", st.Polled)
	}
	checkPartition(t, "partition 0", rec.partition(topic, 0), 0, 150, true)
}

// TestSharedGroupRebalance: two managers (think two kafkaesm nodes) in one group share the
// partitions; stopping one hands its partitions to the other: all delivered, order kept.
func TestSharedGroupRebalance(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 6, 300
	topic := kt.CreateTopic(t, parts, nil)
	producePerPartition(t, kt, topic, parts, each/3)
	group := kafkatest.UniqueName("shared")
	rec := newRecorder()
	mg1 := newTestManager(t, testConfig(rec, nil))
	mg2 := newTestManager(t, testConfig(rec, nil))
	m1 := newMapping(kt.Plaintext, topic)
	m1.BatchSize = 10
	m1.SelfManagedKafkaEventSourceConfig = &mapping.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: group}
	m2 := *m1
	m2.UUID = m1.UUID + "-2"
	apply(t, mg1, m1)
	apply(t, mg2, &m2)
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		s1, _ := mg1.Stats(m1.UUID)
		s2, _ := mg2.Stats(m2.UUID)
		if s1.Partitions == 0 || s2.Partitions == 0 || s1.Partitions+s2.Partitions != parts {
			return fmt.Errorf("partitions %d + %d", s1.Partitions, s2.Partitions)
		}
		return nil
	})
	producePerPartition(t, kt, topic, parts, each/3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mg1.Stop(ctx, m1.UUID); err != nil {
		t.Fatal(err)
	}
	producePerPartition(t, kt, topic, parts, each/3)
	dups := rec.waitAtLeastOnce(t, topic, parts, each)
	// Revokes wait for in-flight batches and commit them, so handing partitions over (join,
	// then a clean stop) redelivers nothing.
	if dups != 0 {
		t.Errorf("%d records redelivered across clean rebalances", dups)
	}
}

// TestConnectionErrorReported: an unreachable cluster shows AWS's connection-error text.
func TestConnectionErrorReported(t *testing.T) {
	rep := &reporter{}
	mg := newTestManager(t, testConfig(newRecorder(), rep))
	m := newMapping("127.0.0.1:1", "nowhere")
	apply(t, mg, m)
	rep.waitReported(t, 30*time.Second, ResultConnectionError)
}

// TestBackpressurePauseResume forces the pause/resume path on every few records (tiny queue,
// slow function) and checks exactly-once, in-order delivery through it.
func TestBackpressurePauseResume(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 4, 1000
	topic := kt.CreateTopic(t, parts, nil)
	// Small record batches and one-batch fetches: data arrives a few records at a time.
	var recs []*kgo.Record
	for i := 0; i < each; i++ {
		for p := int32(0); p < parts; p++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: make([]byte, 100)})
		}
	}
	kt.ProduceWith(t, producer(t, kt, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1000)), recs...)
	rec := newRecorder()
	slow := invokerFunc(func(ctx context.Context, req invoke.Request) (invoke.Result, error) {
		time.Sleep(time.Millisecond)
		return rec.Invoke(ctx, req)
	})
	cfg := testConfig(slow, nil)
	cfg.QueueRecords = 1
	cfg.QueueBytes = 64
	cfg.FetchMaxPartitionBytes = 1
	mg := newTestManager(t, cfg)
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 7
	apply(t, mg, m)
	rec.waitDelivered(t, 60*time.Second, parts*each)
	for p := int32(0); p < parts; p++ {
		checkPartition(t, fmt.Sprintf("partition %d", p), rec.partition(topic, p), 0, each, true)
	}
	if st, _ := mg.Stats(m.UUID); st.Pauses == 0 {
		t.Fatal("no partition was ever paused: the test did not exercise backpressure")
	} else {
		t.Logf("%d pauses", st.Pauses)
	}
}

// TestClientOptsFailureReportedThenRetried: a mapping whose client options fail (a secret that
// does not exist yet) is started anyway, reports the classified problem, and consumes once the
// options succeed.
func TestClientOptsFailureReportedThenRetried(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	producePerPartition(t, kt, topic, 1, 10)
	rec := newRecorder()
	rep := &reporter{}
	cfg := testConfig(rec, rep)
	var calls atomic.Int64
	errSecret := errors.New("secret missing")
	cfg.ClientOpts = func(context.Context, *mapping.EventSourceMapping) ([]kgo.Opt, error) {
		if calls.Add(1) <= 3 {
			return nil, errSecret
		}
		return nil, nil
	}
	cfg.ClassifyError = func(err error) (string, string) {
		if errors.Is(err, errSecret) {
			return mapping.ReasonConfigNotValid, "PROBLEM: The secret does not exist."
		}
		return "", ""
	}
	mg := newTestManager(t, cfg)
	m := newMapping(kt.Plaintext, topic)
	apply(t, mg, m) // does not fail: the mapping settles and shows the problem
	rec.waitDelivered(t, 60*time.Second, 10)
	checkPartition(t, "partition 0", rec.partition(topic, 0), 0, 10, true)
	if !rep.seen("PROBLEM: The secret does not exist.") || rep.last() != mapping.ResultOK {
		t.Fatalf("reports %v", rep.all())
	}
}

// TestStopWhileClientCannotBeBuilt: Stop of a mapping still waiting for its client returns.
func TestStopWhileClientCannotBeBuilt(t *testing.T) {
	cfg := testConfig(newRecorder(), nil)
	cfg.ClientOpts = func(context.Context, *mapping.EventSourceMapping) ([]kgo.Opt, error) {
		return nil, errors.New("never")
	}
	mg := newTestManager(t, cfg)
	m := newMapping("127.0.0.1:1", "t")
	apply(t, mg, m)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mg.Stop(ctx, m.UUID); err != nil {
		t.Fatal(err)
	}
}
