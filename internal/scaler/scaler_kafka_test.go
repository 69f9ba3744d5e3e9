package scaler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
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

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// slowFunction is an in-process function that takes delay per invocation, refuses every
// invocation while throttle is set, and counts every delivered (topic-partition, offset).
type slowFunction struct {
	delay    time.Duration
	throttle atomic.Bool

	mu   sync.Mutex
	seen map[string]int // "topic-partition/offset" → deliveries
	n    int
}

func (f *slowFunction) Invoke(ctx context.Context, req invoke.Request) (invoke.Result, error) {
	if f.throttle.Load() {
		return invoke.Result{}, &invoke.ThrottleError{Reason: invoke.ReasonReservedConcurrency}
	}
	var ev events.KafkaEvent
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		return invoke.Result{}, err
	}
	t := time.NewTimer(f.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return invoke.Result{}, ctx.Err() // not delivered: the batch is redelivered
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, rs := range ev.Records {
		for _, r := range rs {
			f.seen[fmt.Sprintf("%s/%d", k, r.Offset)]++
			f.n++
		}
	}
	return invoke.Result{Payload: []byte(`"ok"`)}, nil
}

func (f *slowFunction) delivered() (total int, dups []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, c := range f.seen {
		if c > 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", k, c))
		}
	}
	return f.n, dups
}

func produceBacklog(t *testing.T, kt *kafkatest.Cluster, topic string, partitions, perPartition int) {
	t.Helper()
	cl := kt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	var recs []*kgo.Record
	for p := range partitions {
		for i := range perPartition {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: fmt.Appendf(nil, "v%d-%d", p, i)})
		}
	}
	kt.ProduceWith(t, cl, recs...)
}

func logger() *slog.Logger {
	lvl := slog.LevelWarn
	if testing.Verbose() {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// assignedMembers counts the group's members that own partitions: pollers that consume.
func assignedMembers(ctx context.Context, t *testing.T, kt *kafkatest.Cluster, group string) int {
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

func startScaler(t *testing.T, cfg Config) (stop func()) {
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	return func() { cancel(); <-done }
}

// TestScaleOutInThrottle drives one mapping through the three scenarios against the
// real broker, with a 1 s interval: a 12-partition backlog for a slow function raises the
// pollers to 12 and drains; idle brings them back to one; a throttled function brings them
// down from 12. Every record is delivered exactly once across all the rebalances, and the
// metrics count what was produced and delivered.
func TestScaleOutInThrottle(t *testing.T) {
	const partitions, perPartition = 12, 100
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, partitions, nil)
	fn := &slowFunction{delay: 150 * time.Millisecond, seen: map[string]int{}}
	reg := metrics.New(metrics.Config{NoProcessMetrics: true})
	mg, err := poller.NewManager(poller.Config{
		Invoker:      fn,
		Logger:       logger(),
		Backoff:      poller.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		DrainTimeout: 10 * time.Second,
		FetchMaxWait: 200 * time.Millisecond,
		OnBatch:      reg.OnBatch,
		// As serve's default (--kafka-session-timeout 45s, heartbeats every 4.5 s): the
		// reaction time below is what a node shows, since members learn of a rebalance from
		// their heartbeats.
		SessionTimeout: 45 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	reg.SetMappings(mg)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := mg.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	zero := 0
	m := &mapping.EventSourceMapping{
		UUID:        uuid.NewString(),
		FunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:slow",
		Topics:      []string{topic},
		SelfManagedEventSource: &mapping.SelfManagedEventSource{
			Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {kt.Plaintext}},
		},
		StartingPosition:               "TRIM_HORIZON",
		BatchSize:                      1,
		MaximumBatchingWindowInSeconds: &zero,
		Enabled:                        true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := mg.Apply(ctx, m); err != nil {
		t.Fatal(err)
	}
	// One poller owns all partitions of the empty topic.
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if s := mg.Snapshots(); len(s) != 1 || len(s[0].Partitions) != partitions {
			return fmt.Errorf("snapshots %+v", s)
		}
		return nil
	})
	stop := startScaler(t, Config{Target: mg, Interval: time.Second, UnderEvaluations: 2, Logger: logger()})
	scalerStopped := false
	defer func() {
		if !scalerStopped {
			stop()
		}
	}()

	// Scale-out: a backlog, measured from the moment it is produced until a second poller owns
	// partitions (the reaction time), then until twelve do.
	t0 := time.Now()
	produceBacklog(t, kt, topic, partitions, perPartition)
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if n := assignedMembers(ctx, t, kt, m.GroupID()); n < 2 {
			return fmt.Errorf("%d members own partitions", n)
		}
		return nil
	})
	reaction := time.Since(t0)
	maxPollers := 0
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		maxPollers = max(maxPollers, mg.Pollers(m.UUID))
		if maxPollers < partitions {
			return fmt.Errorf("%d pollers at most", maxPollers)
		}
		return nil
	})
	t.Logf("reaction: a second poller consumed %v after the lag spike (1 s interval); %d pollers after %v",
		reaction.Round(10*time.Millisecond), maxPollers, time.Since(t0).Round(10*time.Millisecond))
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		if n, _ := fn.delivered(); n < partitions*perPartition {
			return fmt.Errorf("%d of %d delivered", n, partitions*perPartition)
		}
		return nil
	})
	// Idle: back to one poller.
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		if n := mg.Pollers(m.UUID); n != 1 {
			return fmt.Errorf("%d pollers", n)
		}
		return nil
	})
	stop()
	scalerStopped = true

	// Throttled: twelve pollers, a throttled function, a scaler that would never scale in for
	// idleness: the throttles alone bring the pollers down.
	if err := mg.SetPollers(ctx, m.UUID, partitions); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if n := assignedMembers(ctx, t, kt, m.GroupID()); n != partitions {
			return fmt.Errorf("%d members own partitions", n)
		}
		return nil
	})
	fn.throttle.Store(true)
	produceBacklog(t, kt, topic, partitions, 10)
	stop = startScaler(t, Config{Target: mg, Interval: time.Second, UnderEvaluations: 1 << 20, Logger: logger()})
	defer stop()
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		if n := mg.Pollers(m.UUID); n != 1 {
			return fmt.Errorf("%d pollers", n)
		}
		return nil
	})
	fn.throttle.Store(false)
	total := partitions * (perPartition + 10)
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		if n, _ := fn.delivered(); n < total {
			return fmt.Errorf("%d of %d delivered", n, total)
		}
		return nil
	})

	n, dups := fn.delivered()
	if len(dups) > 0 || n != total {
		t.Fatalf("%d deliveries of %d records; duplicates: %s", n, total, strings.Join(dups, " "))
	}
	st, _ := mg.Stats(m.UUID)
	if st.Invoked != int64(total) || st.Polled < int64(total) || st.Throttled == 0 {
		t.Fatalf("stats %+v, want Invoked = Polled-or-less = %d and throttles", st, total)
	}
	got := gather(t, reg, m.UUID)
	if got["kafkaesm_InvokedEventCount"] != float64(total) || got["kafkaesm_PolledEventCount"] < float64(total) ||
		got["kafkaesm_BatchSize_count"] != float64(total) || got["kafkaesm_Pollers"] != 1 {
		t.Fatalf("metrics %v", got)
	}
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
