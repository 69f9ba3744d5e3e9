package scaler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/metrics"
	"github.com/kafkaesm/kafkaesm/internal/poller"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// The tests below are the proof against the real broker, with a 1 s scale interval.
// They print their figures (go test -v -run TestScaling ./internal/scaler/) and assert only
// what does not depend on timing: every record delivered once, nothing counted as failed, no
// scale-out where the model forbids it. KAFKAESM_SCALE_SOAK=1 runs the steady-load test for
// ten minutes instead of 15 s.
//
// A poller's fetching is made the bottleneck, as it is when a cluster is far away or records
// are large: each Kafka connection of the pollers reads at most pollerBandwidth (a shaped
// net.Conn). Otherwise one poller here fetches hundreds of MB/s and no test load on this
// shared machine would ever need a second one.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pollerBandwidth caps each of a poller's Kafka connections, in bytes per second.
const pollerBandwidth = 1 << 20

// recordSize is the value size of the records the tests produce.
const recordSize = 200

// function is an in-process function: it takes delay per invocation, refuses invocations
// beyond limit at a time (0: none) as a throttle, and counts every delivered (partition,
// offset) and its concurrency.
type function struct {
	delay time.Duration
	limit int64
	hang  chan struct{} // when set, every invocation waits until it is closed

	running, peak, calls atomic.Int64
	attemptPeak          atomic.Int64 // attempts in flight at once, throttled ones included

	mu      sync.Mutex
	seen    map[string]int // "topic-partition/offset" → deliveries
	n       int
	perPart map[int64]int // batches delivered per partition
	spread  int           // largest gap in batches between two partitions, after each delivered once
}

func newFunction(delay time.Duration, limit int64) *function {
	return &function{delay: delay, limit: limit, seen: map[string]int{}, perPart: map[int64]int{}}
}

func (f *function) Invoke(ctx context.Context, req invoke.Request) (invoke.Result, error) {
	f.calls.Add(1)
	r := f.running.Add(1)
	defer f.running.Add(-1)
	for p := f.attemptPeak.Load(); r > p && !f.attemptPeak.CompareAndSwap(p, r); p = f.attemptPeak.Load() {
	}
	if f.limit > 0 && r > f.limit {
		return invoke.Result{}, &invoke.ThrottleError{Reason: invoke.ReasonReservedConcurrency}
	}
	for p := f.peak.Load(); r > p && !f.peak.CompareAndSwap(p, r); p = f.peak.Load() {
	}
	var ev events.KafkaEvent
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		return invoke.Result{}, err
	}
	if f.hang != nil {
		select {
		case <-f.hang:
		case <-ctx.Done():
			return invoke.Result{}, ctx.Err()
		}
	}
	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return invoke.Result{}, ctx.Err() // not delivered: the batch is redelivered
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, rs := range ev.Records {
		for _, r := range rs {
			f.seen[fmt.Sprintf("%s/%d", k, r.Offset)]++
			f.n++
			f.perPart[r.Partition]++
		}
	}
	if len(f.perPart) > 1 {
		vs := make([]int, 0, len(f.perPart))
		for _, v := range f.perPart {
			vs = append(vs, v)
		}
		f.spread = max(f.spread, slices.Max(vs)-slices.Min(vs))
	}
	return invoke.Result{Payload: []byte(`"ok"`)}, nil
}

func (f *function) delivered() (total int, dups []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, c := range f.seen {
		if c > 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", k, c))
		}
	}
	return f.n, dups
}

// shapedConn reads at most pollerBandwidth bytes per second.
type shapedConn struct {
	net.Conn
	next time.Time
}

func (c *shapedConn) Read(p []byte) (int, error) {
	if d := time.Until(c.next); d > 0 {
		time.Sleep(d) // the simulated link is busy: this is the bandwidth cap, not a test wait
	}
	n, err := c.Conn.Read(p[:min(len(p), 16<<10)])
	c.next = time.Now().Add(time.Duration(n) * time.Second / pollerBandwidth)
	return n, err
}

func shapedDialer() kgo.Opt {
	var d net.Dialer
	return kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, host)
		if err != nil {
			return nil, err
		}
		return &shapedConn{Conn: c}, nil
	})
}

// change is one poller count change the scaler made.
type change struct {
	at       time.Time
	from, to int
	reason   string
}

// rig is one mapping on the real broker, its pollers, and a scaler with a 1 s interval.
type rig struct {
	t       *testing.T
	kt      *kafkatest.Cluster
	topic   string
	fn      *function
	mg      *poller.Manager
	reg     *metrics.Metrics
	m       *mapping.EventSourceMapping
	prod    *kgo.Client
	scaler  *Scaler
	mu      sync.Mutex
	changes []change
}

// newRig starts the mapping and the scaler, and returns once the scaler has evaluated the
// running mapping. shaped caps the pollers' bandwidth (pollerBandwidth).
func newRig(t *testing.T, partitions int32, fn *function, batchSize int, sessionTimeout time.Duration, shaped bool) *rig {
	kt := kafkatest.Get(t)
	r := &rig{t: t, kt: kt, fn: fn, topic: kt.CreateTopic(t, partitions, nil)}
	r.reg = metrics.New(metrics.Config{NoProcessMetrics: true})
	mg, err := poller.NewManager(poller.Config{
		Invoker:      fn,
		Logger:       logger(),
		Backoff:      poller.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		DrainTimeout: 10 * time.Second,
		FetchMaxWait: 200 * time.Millisecond,
		// Small fetches, so that a shaped link delivers records steadily rather than a
		// 2 MiB-per-partition response every few seconds.
		FetchMaxBytes:          256 << 10,
		FetchMaxPartitionBytes: 32 << 10,
		OnBatch:                r.reg.OnBatch,
		SessionTimeout:         sessionTimeout,
		ClientOpts: func(context.Context, *mapping.EventSourceMapping) ([]kgo.Opt, error) {
			if !shaped {
				return nil, nil
			}
			return []kgo.Opt{shapedDialer()}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.mg = mg
	r.reg.SetMappings(mg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := mg.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	zero := 0
	r.m = &mapping.EventSourceMapping{
		UUID:        uuid.NewString(),
		FunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:scaled",
		Topics:      []string{r.topic},
		SelfManagedEventSource: &mapping.SelfManagedEventSource{
			Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {kt.Plaintext}},
		},
		StartingPosition:               "TRIM_HORIZON",
		BatchSize:                      batchSize,
		MaximumBatchingWindowInSeconds: &zero,
		Enabled:                        true,
	}
	if err := mg.Apply(context.Background(), r.m); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if s := mg.Snapshots(); len(s) != 1 || len(s[0].Partitions) != int(partitions) {
			return fmt.Errorf("snapshots %+v", s)
		}
		return nil
	})
	r.prod = kt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	r.scaler = r.startScaler()
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if n := r.scaler.evaluations.Load(); n < 2 {
			return fmt.Errorf("%d evaluations", n)
		}
		return nil
	})
	return r
}

func (r *rig) startScaler() *Scaler {
	s, err := New(Config{Target: r.mg, Interval: time.Second, Logger: logger(), OnChange: func(c Change) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.changes = append(r.changes, change{time.Now(), c.From, c.To, c.Reason})
	}})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	r.t.Cleanup(func() { cancel(); <-done })
	return s
}

func (r *rig) changesSince(t0 time.Time) []change {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []change
	for _, c := range r.changes {
		if !c.at.Before(t0) {
			out = append(out, c)
		}
	}
	return out
}

// produce writes perPartition records to each of the given partitions.
func (r *rig) produce(partitions []int32, perPartition int) {
	var recs []*kgo.Record
	for _, p := range partitions {
		for range perPartition {
			recs = append(recs, &kgo.Record{Topic: r.topic, Partition: p, Value: value()})
		}
	}
	r.kt.ProduceWith(r.t, r.prod, recs...)
}

// value is a record value that does not compress (the producer compresses batches).
func value() []byte {
	b := make([]byte, recordSize)
	for i := 0; i < len(b); i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func (r *rig) waitDelivered(total int, timeout time.Duration) {
	r.t.Helper()
	kafkatest.WaitFor(r.t, timeout, func() error {
		if n, _ := r.fn.delivered(); n < total {
			return fmt.Errorf("%d of %d delivered", n, total)
		}
		return nil
	})
	n, dups := r.fn.delivered()
	if len(dups) > 0 || n != total {
		r.t.Fatalf("%d deliveries of %d records; duplicates: %s", n, total, strings.Join(dups, " "))
	}
}

func (r *rig) pollers() int { return r.mg.Pollers(r.m.UUID) }

func all(n int32) []int32 {
	ps := make([]int32, n)
	for i := range ps {
		ps[i] = int32(i)
	}
	return ps
}

func logger() *slog.Logger {
	lvl := slog.LevelWarn
	if testing.Verbose() {
		lvl = slog.LevelInfo
	}
	if os.Getenv("KAFKAESM_SCALE_DEBUG") == "1" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// TestScalingSpike: a 12-partition backlog far beyond what one poller fetches in three
// intervals scales out at the first evaluation that sees it; once drained and idle, the
// pollers come back to one within three evaluations. With serve's default 45 s session
// timeout (members learn of a rebalance from their heartbeats, every 4.5 s).
func TestScalingSpike(t *testing.T) {
	const partitions, perPartition = 12, 3000 // 7.2 MB: about 7 s for one poller
	r := newRig(t, partitions, newFunction(0, 0), 500, 45*time.Second, true)
	t0 := time.Now()
	r.produce(all(partitions), perPartition)
	produced := time.Since(t0)
	var decided time.Duration
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		cs := r.changesSince(t0)
		if len(cs) == 0 || cs[0].to <= 1 {
			return fmt.Errorf("no scale-out yet")
		}
		decided = cs[0].at.Sub(t0)
		return nil
	})
	var consumed time.Duration
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if n := assignedMembers(t, r.kt, r.m.GroupID()); n < 2 {
			return fmt.Errorf("%d members own partitions", n)
		}
		consumed = time.Since(t0)
		return nil
	})
	peak := 0
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		peak = max(peak, r.pollers())
		if n, _ := r.fn.delivered(); n < partitions*perPartition {
			return fmt.Errorf("%d of %d delivered", n, partitions*perPartition)
		}
		return nil
	})
	drained := time.Since(t0)
	r.waitDelivered(partitions*perPartition, time.Second)
	tIdle := time.Now()
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		if n := r.pollers(); n != 1 {
			return fmt.Errorf("%d pollers", n)
		}
		return nil
	})
	t.Logf("spike: %d records (%.1f MB) produced in %v; scale-out decided %v after the spike began (%s), "+
		"a second poller consuming after %v; at most %d pollers; drained after %v; back to 1 poller %v after draining",
		partitions*perPartition, float64(partitions*perPartition*recordSize)/1e6, produced.Round(10*time.Millisecond),
		decided.Round(10*time.Millisecond), r.changesSince(t0)[0].reason, consumed.Round(10*time.Millisecond), peak,
		drained.Round(10*time.Millisecond), time.Since(tIdle).Round(10*time.Millisecond))
	for _, c := range r.changesSince(t0) {
		t.Logf("  %v: %d → %d: %s", c.at.Sub(t0).Round(10*time.Millisecond), c.from, c.to, c.reason)
	}
	got := gather(t, r.reg, r.m.UUID)
	if got["kafkaesm_InvokedEventCount"] != partitions*perPartition || got["kafkaesm_Pollers"] != 1 ||
		got["kafkaesm_FailedInvokeEventCount"] != 0 {
		t.Fatalf("metrics %v", got)
	}
}

// TestScalingHotPartition: the same backlog on one partition of twelve: one poller owns it
// whatever the count, so the scaler adds none.
func TestScalingHotPartition(t *testing.T) {
	const partitions, records = 12, 20000 // 4 MB: about 4 s for one poller
	r := newRig(t, partitions, newFunction(0, 0), 500, 10*time.Second, true)
	t0 := time.Now()
	r.produce([]int32{0}, records)
	peak := 0
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		peak = max(peak, r.pollers())
		if n, _ := r.fn.delivered(); n < records {
			return fmt.Errorf("%d of %d delivered", n, records)
		}
		return nil
	})
	r.waitDelivered(records, time.Second)
	cs := r.changesSince(t0)
	t.Logf("hot partition: %d records on 1 of %d partitions drained in %v with at most %d poller(s); %d poller changes",
		records, partitions, time.Since(t0).Round(10*time.Millisecond), peak, len(cs))
	if peak != 1 || len(cs) != 0 {
		t.Fatalf("useless scale-out: at most %d pollers, changes %+v", peak, cs)
	}
}

// TestScalingHungFunction: a backlog on every partition while the function's first
// invocations hang: the pollers are not what holds the records back, so none is added; once the
// function answers, the backlog drains.
func TestScalingHungFunction(t *testing.T) {
	const partitions, perPartition = 12, 2000
	fn := newFunction(0, 0)
	fn.hang = make(chan struct{})
	r := newRig(t, partitions, fn, 500, 10*time.Second, true)
	t0 := time.Now()
	r.produce(all(partitions), perPartition)
	// Hung for five evaluations, each of which sees the whole backlog.
	before := r.scaler.evaluations.Load()
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		if n := r.scaler.evaluations.Load() - before; n < 5 {
			return fmt.Errorf("%d evaluations", n)
		}
		return nil
	})
	hung := r.changesSince(t0)
	var lag int64
	if s := r.mg.Snapshots(); len(s) == 1 {
		lag = s[0].Stats.Lag
	}
	hungFor := time.Since(t0)
	close(fn.hang)
	r.waitDelivered(partitions*perPartition, 60*time.Second)
	t.Logf("hung function: %d records on %d partitions, lag %d after %v hung (5 evaluations): %d poller changes while hung; "+
		"drained %v after the start, with %d changes in all",
		partitions*perPartition, partitions, lag, hungFor.Round(10*time.Millisecond), len(hung),
		time.Since(t0).Round(10*time.Millisecond), len(r.changesSince(t0)))
	if len(hung) != 0 {
		t.Fatalf("scale-out for a hung function: %+v", hung)
	}
}

// TestScalingThrottle: a function that accepts 3 invocations at a time, 12 partitions with
// work. The mapping's concurrency falls to the limit, every partition keeps its turn, no
// record counts as failed, and the throttles stop scale-out.
func TestScalingThrottle(t *testing.T) {
	const partitions, perPartition, limit = 12, 200, 3
	fn := newFunction(20*time.Millisecond, limit)
	r := newRig(t, partitions, fn, 5, 10*time.Second, false)
	t0 := time.Now()
	r.produce(all(partitions), perPartition)
	r.waitDelivered(partitions*perPartition, 60*time.Second)
	st, _ := r.mg.Stats(r.m.UUID)
	fn.mu.Lock()
	spread := fn.spread
	fn.mu.Unlock()
	t.Logf("throttle: %d records from %d partitions in batches of 5 through a function accepting %d at a time, in %v: "+
		"the mapping's concurrency limit settled at %d (attempts in flight at most %d, invocations run at most %d); "+
		"%d calls, %d throttled (ThrottledInvokeCount), %d failed (FailedInvokeEventCount); largest gap between two "+
		"partitions %d records (%d batches); %d poller changes",
		partitions*perPartition, partitions, limit, time.Since(t0).Round(10*time.Millisecond), r.mg.ConcurrencyLimit(r.m.UUID),
		fn.attemptPeak.Load(), fn.peak.Load(), fn.calls.Load(), st.Throttled, st.Failed, spread, spread/5, len(r.changesSince(t0)))
	got := gather(t, r.reg, r.m.UUID)
	if st.Failed != 0 || got["kafkaesm_FailedInvokeEventCount"] != 0 || st.Throttled == 0 ||
		got["kafkaesm_ThrottledInvokeCount"] != float64(st.Throttled) {
		t.Fatalf("stats %+v, metrics %v: want throttles and no failures", st, got)
	}
	for _, c := range r.changesSince(t0) {
		if c.to > c.from {
			t.Fatalf("scale-out while throttled: %+v", c)
		}
	}
}

// TestScalingSteadyLoad: records arrive at a steady rate with ±20% jitter, above what one
// poller fetches. The pollers settle and stay: the figure is the number of changes (each a
// rebalance). KAFKAESM_SCALE_SOAK=1: ten minutes; otherwise 15 s.
func TestScalingSteadyLoad(t *testing.T) {
	const partitions = 12
	duration := 15 * time.Second
	if os.Getenv("KAFKAESM_SCALE_SOAK") == "1" {
		duration = 10 * time.Minute
	}
	r := newRig(t, partitions, newFunction(0, 0), 500, 10*time.Second, true)
	// one poller fetches about 4,000 of these records per second here
	const rate = 6000 // records per second
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(7, 11))
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		p := int32(0)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			n := rate/10*8/10 + rng.IntN(rate/10*4/10+1) // ±20%
			recs := make([]*kgo.Record, n)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: r.topic, Partition: p, Value: value()}
				p = (p + 1) % partitions
			}
			if err := r.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			sent.Add(int64(n))
		}
	}()
	t0 := time.Now()
	var lags []int64
	counts := map[int]time.Duration{}
	last := time.Now()
	for {
		select {
		case <-done:
		case <-time.After(500 * time.Millisecond): // a sampling period, not a wait for a condition
			if s := r.mg.Snapshots(); len(s) == 1 {
				lags = append(lags, s[0].Stats.Lag)
			}
			counts[r.pollers()] += time.Since(last)
			last = time.Now()
			continue
		}
		break
	}
	r.waitDelivered(int(sent.Load()), 60*time.Second)
	cs := r.changesSince(t0)
	settled := 0 * time.Second
	if len(cs) > 0 {
		settled = cs[len(cs)-1].at.Sub(t0)
	}
	slices.Sort(lags)
	pct := func(q float64) int64 {
		if len(lags) == 0 {
			return 0
		}
		return lags[int(q*float64(len(lags)-1))]
	}
	t.Logf("steady load: %v at %d records/s ±20%% (%d records): %d poller changes (rebalances), the last %v after the start; "+
		"time at each poller count %v; lag p50 %d, p99 %d, max %d", duration, rate, sent.Load(), len(cs),
		settled.Round(10*time.Millisecond), counts, pct(0.5), pct(0.99), pct(1))
	for _, c := range cs {
		t.Logf("  %v: %d → %d: %s", c.at.Sub(t0).Round(10*time.Millisecond), c.from, c.to, c.reason)
	}
}

// assignedMembers counts the group's members that own partitions: pollers that consume.
func assignedMembers(t *testing.T, kt *kafkatest.Cluster, group string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gs, err := kt.Admin(t).DescribeGroups(ctx, group)
	if err != nil {
		return -1
	}
	n := 0
	for _, m := range gs[group].Members {
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range a.Topics {
				if len(tp.Partitions) > 0 {
					n++
					break
				}
			}
		}
	}
	return n
}

// gather reads the registry's series of one mapping: counters and gauges by name, histograms
// as name_count.
func gather(t *testing.T, m *metrics.Metrics, uuid string) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			if !hasLabel(s, metrics.LabelUUID, uuid) {
				continue
			}
			switch {
			case s.Counter != nil:
				out[mf.GetName()] += s.Counter.GetValue()
			case s.Gauge != nil:
				out[mf.GetName()] += s.Gauge.GetValue()
			case s.Histogram != nil:
				out[mf.GetName()+"_count"] += float64(s.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
