package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Latency records carry their produce time: value "t<unix nanoseconds>". Warm-up records
// ("w") only prove that the mapping's consumer is assigned.
const (
	latencyPrefix = 't'
	warmValue     = "w"
)

// latencyReport is what the Runtime API function POSTs to the collector after each invoke.
type latencyReport struct {
	Seen  int64   `json:"seen"`
	Nanos []int64 `json:"nanos"`
}

// payloadLatencies decodes a Kafka event and returns how many records it held and the
// produce→now latency of each timed one.
func payloadLatencies(payload []byte, now time.Time) (latencyReport, error) {
	var ev struct {
		Records map[string][]struct {
			Value string `json:"value"`
		} `json:"records"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return latencyReport{}, err
	}
	var rep latencyReport
	for _, recs := range ev.Records {
		for _, r := range recs {
			rep.Seen++
			v, err := base64.StdEncoding.DecodeString(r.Value)
			if err != nil || len(v) < 2 || v[0] != latencyPrefix {
				continue
			}
			ns, err := strconv.ParseInt(string(v[1:]), 10, 64)
			if err != nil {
				continue
			}
			rep.Nanos = append(rep.Nanos, now.UnixNano()-ns)
		}
	}
	return rep, nil
}

// latencySink collects latencies from the HTTP target and the function's reports.
type latencySink struct {
	seen atomic.Int64
	mu   sync.Mutex
	lat  []int64
}

func (s *latencySink) addPayload(body []byte, now time.Time) error {
	rep, err := payloadLatencies(body, now)
	if err != nil {
		return err
	}
	s.add(rep)
	return nil
}

func (s *latencySink) add(rep latencyReport) {
	s.mu.Lock()
	s.lat = append(s.lat, rep.Nanos...)
	s.mu.Unlock()
	s.seen.Add(rep.Seen)
}

func (s *latencySink) reset() {
	s.mu.Lock()
	s.lat = s.lat[:0]
	s.mu.Unlock()
	s.seen.Store(0)
}

func (s *latencySink) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.lat))
}

func (s *latencySink) summary() Latency {
	s.mu.Lock()
	lat := slices.Clone(s.lat)
	s.mu.Unlock()
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(p*float64(len(lat))+0.5) - 1
		i = max(0, min(i, len(lat)-1))
		return float64(lat[i]) / 1e6
	}
	return Latency{Records: len(lat), P50Ms: pct(0.50), P99Ms: pct(0.99), MaxMs: float64(lat[len(lat)-1]) / 1e6}
}

// Latency targets.
const (
	targetRaw = iota
	targetRuntime
	targetHTTP
)

// latency produces at cfg.LatencyRate into topic for cfg.LatencyDuration and measures when each
// record arrives: at a raw franz-go consumer (the floor: producer, broker and fetch), or through a
// mapping with MaximumBatchingWindowInSeconds 0 at the Runtime API function or the HTTP target.
func (r *runner) latency(ctx context.Context, topic string, target int) (Latency, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var fn string
	var err error
	sink := r.node.lat
	switch target {
	case targetRaw:
		sink = &latencySink{}
		fn = "raw consumer"
		stopRaw, err := r.rawLatencyConsumer(ctx, topic, sink)
		if err != nil {
			return Latency{}, err
		}
		defer stopRaw()
	case targetRuntime:
		fn, err = r.node.runtimeFunction(ctx, "bench-latency-runtime", map[string]string{"KAFKAESM_BENCH_REPORT_URL": r.node.repURL})
	default:
		fn, err = r.node.httpFunction(ctx, "bench-latency-http", r.node.latURL)
	}
	if err != nil {
		return Latency{}, err
	}
	sink.reset()
	if target != targetRaw {
		uuid, err := r.node.createMapping(ctx, fn, topic, "LATEST", 100, 0)
		if err != nil {
			return Latency{}, err
		}
		r.groups = append(r.groups, uuid)
		defer func() {
			dctx, dcancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer dcancel()
			_ = r.node.deleteMapping(dctx, uuid)
		}()
	}
	// Linger 0: a latency producer sends each record at once.
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.seeds()...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	if err != nil {
		return Latency{}, err
	}
	defer cl.Close()
	var failed atomic.Int64
	cb := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	// Warm up until the consumer is assigned every partition (LATEST skips what came before):
	// one warm record per partition per round, until a round arrives whole.
	warm := time.NewTicker(200 * time.Millisecond)
	defer warm.Stop()
	for {
		before := sink.seen.Load()
		for p := range r.cfg.Partitions {
			cl.Produce(ctx, &kgo.Record{Value: []byte(warmValue), Partition: int32(p)}, cb)
		}
		select {
		case <-ctx.Done():
			return Latency{}, fmt.Errorf("latency warm-up into %s: %w", fn, ctx.Err())
		case <-warm.C:
		}
		if sink.seen.Load()-before >= int64(r.cfg.Partitions) {
			break
		}
	}
	// Then warm records at the measured rate for a while: the function's process pool grows to
	// the concurrency this rate needs (a new process is a cold start, which is not what this
	// phase measures), and the last warm records drain before timing starts.
	interval := time.Second / time.Duration(r.cfg.LatencyRate)
	paced := func(d time.Duration, value func() []byte) {
		start := time.Now()
		for i := 0; ctx.Err() == nil; i++ {
			at := start.Add(time.Duration(i) * interval)
			if at.Sub(start) >= d {
				return
			}
			if w := time.Until(at); w > 0 {
				time.Sleep(w)
			}
			cl.Produce(ctx, &kgo.Record{Value: value()}, cb)
		}
	}
	paced(r.cfg.LatencyWarmup, func() []byte { return []byte(warmValue) })
	time.Sleep(100 * time.Millisecond)
	sink.reset()
	cold := 0
	if target == targetRuntime {
		cold = r.node.coldStarts(fn)
	}

	total := int(int64(r.cfg.LatencyRate) * int64(r.cfg.LatencyDuration) / int64(time.Second))
	stop := r.startProgress("timed records delivered", sink.count)
	defer stop()
	paced(r.cfg.LatencyDuration, func() []byte {
		return strconv.AppendInt([]byte{latencyPrefix}, time.Now().UnixNano(), 10)
	})
	if err := cl.Flush(ctx); err != nil {
		return Latency{}, err
	}
	want := int64(total) - failed.Load()
	for sink.count() < want && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if ctx.Err() != nil {
		return Latency{}, fmt.Errorf("latency into %s: %d of %d records seen: %w", fn, sink.count(), want, ctx.Err())
	}
	l := sink.summary()
	if target == targetRuntime {
		l.ColdStarts = r.node.coldStarts(fn) - cold
	}
	return l, nil
}

// rawLatencyConsumer reads topic from its end with a plain franz-go consumer (no group, the
// poller's fetch settings) and records each record's latency into sink.
func (r *runner) rawLatencyConsumer(ctx context.Context, topic string, sink *latencySink) (stop func(), err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.seeds()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			var rep latencyReport
			fs.EachRecord(func(rec *kgo.Record) {
				rep.Seen++
				if len(rec.Value) > 1 && rec.Value[0] == latencyPrefix {
					if ns, err := strconv.ParseInt(string(rec.Value[1:]), 10, 64); err == nil {
						rep.Nanos = append(rep.Nanos, now.UnixNano()-ns)
					}
				}
			})
			sink.add(rep)
		}
	}()
	return func() { cancel(); <-done; cl.Close() }, nil
}
