package poller

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// countingInvoker is the cheapest possible function: it only counts payload bytes, so the
// benchmark measures the poller (fetch, queue, encode, commit), not a function.
type countingInvoker struct{ calls, bytes atomic.Int64 }

func (c *countingInvoker) Invoke(_ context.Context, req invoke.Request) (invoke.Result, error) {
	c.calls.Add(1)
	c.bytes.Add(int64(len(req.Payload)))
	return invoke.Result{}, nil
}

// BenchmarkThroughput compares the poller with a raw franz-go group consumer reading the same
// topic (12 partitions, 1 KB records, BatchSize 10,000, default 500 ms window). One iteration
// reads the whole topic; MB/s counts record values. Run with
//
//	go test -run XXX -bench Throughput -benchtime 3x ./internal/poller/
//
// KAFKAESM_BENCH_RECORDS sets the record count (default 200,000; small sets mostly measure the
// group join and, with the default window, the last batches' 500 ms wait).
func BenchmarkThroughput(b *testing.B) {
	kt := kafkatest.Get(b)
	const parts, size = 12, 1024
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("KAFKAESM_BENCH_RECORDS")); err == nil && v > 0 {
		n = v
	}
	topic := kt.CreateTopic(b, parts, nil)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = kt.Admin(b).DeleteTopics(ctx, topic)
	})
	prod := producer(b, kt)
	val := make([]byte, size)
	for i := range val {
		val[i] = byte('a' + i%26)
	}
	recs := make([]*kgo.Record, 0, 10_000)
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: val})
		if len(recs) == cap(recs) {
			kt.ProduceWith(b, prod, recs...)
			recs = recs[:0]
		}
	}

	b.Run("raw-franz-go", func(b *testing.B) {
		b.SetBytes(int64(n * size))
		for i := 0; i < b.N; i++ {
			cl := kt.Client(b, kgo.ConsumerGroup(kafkatest.UniqueName("raw")), kgo.ConsumeTopics(topic),
				kgo.FetchMaxWait(500*time.Millisecond), kgo.FetchMaxBytes(32<<20), kgo.FetchMaxPartitionBytes(8<<20),
				kgo.AutoCommitInterval(time.Second))
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			got := 0
			start := time.Now()
			var first time.Duration
			for got < n && ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				fs.EachRecord(func(r *kgo.Record) { got++ })
				if got > 0 && first == 0 {
					first = time.Since(start)
				}
			}
			b.Logf("raw: first record after %v, all after %v", first, time.Since(start))
			cancel()
			if got < n {
				b.Fatalf("raw consumer read %d of %d", got, n)
			}
			cl.Close()
		}
	})

	for _, window := range []int{-1, 0} {
		name := "poller-window-default"
		if window == 0 {
			name = "poller-window-0"
		}
		b.Run(name, func(b *testing.B) { benchPoller(b, kt, topic, n, size, window) })
	}
}

// benchPoller reads the whole topic through a Manager; window -1 is Lambda's 500 ms default.
func benchPoller(b *testing.B, kt *kafkatest.Cluster, topic string, n, size, window int) {
	{
		b.SetBytes(int64(n * size))
		for i := 0; i < b.N; i++ {
			inv := &countingInvoker{}
			cfg := testConfig(inv, nil)
			mg, err := NewManager(cfg)
			if err != nil {
				b.Fatal(err)
			}
			m := newMapping(kt.Plaintext, topic)
			m.BatchSize = 10_000
			m.MaximumBatchingWindowInSeconds = nil // Lambda's 500 ms default
			if window >= 0 {
				m.MaximumBatchingWindowInSeconds = &window
			}
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			if err := mg.Apply(ctx, m); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			var first, allPolled time.Duration
			for ctx.Err() == nil {
				st, _ := mg.Stats(m.UUID)
				if st.Polled > 0 && first == 0 {
					first = time.Since(start)
				}
				if st.Polled >= int64(n) && allPolled == 0 {
					allPolled = time.Since(start)
				}
				if st.Invoked >= int64(n) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.Logf("first record polled after %v, all polled after %v, all invoked after %v", first, allPolled, time.Since(start))
			st, _ := mg.Stats(m.UUID)
			b.StopTimer()
			if st.Invoked < int64(n) {
				b.Fatalf("poller delivered %d of %d", st.Invoked, n)
			}
			b.ReportMetric(float64(st.Invoked)/float64(st.Batches), "records/invoke")
			if err := mg.Close(ctx); err != nil {
				b.Fatal(err)
			}
			cancel()
			b.StartTimer()
		}
	}
}
