package poller

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/kafkaesm/kafkaesm/internal/event"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// delivery is one record as the function saw it.
type delivery struct {
	offset int64
	key    string
	value  string
}

// recorder is an in-process function: it decodes every payload into events.KafkaEvent (so each
// payload is proven decodable) and records successful deliveries per "topic-partition".
type recorder struct {
	mu      sync.Mutex
	got     map[string][]delivery
	batches []int // sizes of successful batches
	calls   int
	fns     map[string]int // invocations per function name
	// fail decides whether a payload's invocation fails (FunctionError "Unhandled"). Called
	// with mu held.
	fail func(ev *events.KafkaEvent) bool
	err  error // a non-nil invoke error for every call (throttle, crash)
}

func newRecorder() *recorder { return &recorder{got: map[string][]delivery{}} }

func (r *recorder) Invoke(ctx context.Context, req invoke.Request) (invoke.Result, error) {
	if len(req.Payload) > event.MaxPayloadBytes {
		return invoke.Result{}, fmt.Errorf("payload of %d bytes over the 6 MB limit", len(req.Payload))
	}
	var ev events.KafkaEvent
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		return invoke.Result{}, fmt.Errorf("payload does not decode: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fns == nil {
		r.fns = map[string]int{}
	}
	r.fns[req.Function]++
	if r.err != nil {
		return invoke.Result{}, r.err
	}
	if r.fail != nil && r.fail(&ev) {
		return invoke.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"boom"}`)}, nil
	}
	n := 0
	for k, rs := range ev.Records {
		for _, kr := range rs {
			key, _ := b64decode(kr.Key)
			val, _ := b64decode(kr.Value)
			r.got[k] = append(r.got[k], delivery{kr.Offset, key, val})
			n++
		}
	}
	r.batches = append(r.batches, n)
	return invoke.Result{Payload: []byte("null")}, nil
}

func b64decode(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ds := range r.got {
		n += len(ds)
	}
	return n
}

func (r *recorder) partition(topic string, p int32) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got[fmt.Sprintf("%s-%d", topic, p)]...)
}

// reporter records every status report.
type reporter struct {
	mu      sync.Mutex
	reports []string
	causes  []string // "result | cause", one per report
}

func (r *reporter) Report(uuid, state, reason, lastResult, cause string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, lastResult)
	r.causes = append(r.causes, lastResult+" | "+cause)
}

func (r *reporter) allCauses() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.causes...)
}

func (r *reporter) seen(result string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.reports {
		if s == result {
			return true
		}
	}
	return false
}

func (r *reporter) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reports...)
}

func (r *reporter) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reports) == 0 {
		return ""
	}
	return r.reports[len(r.reports)-1]
}

func testConfig(inv invoke.Invoker, rep Reporter) Config {
	lvl := slog.LevelWarn
	if testing.Verbose() {
		lvl = slog.LevelInfo
	}
	return Config{
		Invoker:      inv,
		Reporter:     rep,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})),
		Backoff:      Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		DrainTimeout: 10 * time.Second,
		FetchMaxWait: 200 * time.Millisecond,
	}
}

func newTestManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	mg, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := mg.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return mg
}

func newMapping(servers, topic string) *mapping.EventSourceMapping {
	zero := 0
	return &mapping.EventSourceMapping{
		UUID:        uuid.NewString(),
		FunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:recorder",
		Topics:      []string{topic},
		SelfManagedEventSource: &mapping.SelfManagedEventSource{
			Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {servers}},
		},
		StartingPosition:               "TRIM_HORIZON",
		BatchSize:                      100,
		MaximumBatchingWindowInSeconds: &zero,
		Enabled:                        true,
	}
}

func apply(t *testing.T, mg *Manager, m *mapping.EventSourceMapping) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mg.Apply(ctx, m); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// checkPartition verifies one partition's deliveries: offsets strictly increasing (order), and,
// when contiguous is set, exactly from..to-1 with nothing missing or repeated.
func checkPartition(t *testing.T, name string, ds []delivery, from, to int64, contiguous bool) {
	t.Helper()
	for i := 1; i < len(ds); i++ {
		if ds[i].offset <= ds[i-1].offset && contiguous {
			t.Fatalf("%s: offset %d delivered after %d", name, ds[i].offset, ds[i-1].offset)
		}
	}
	if !contiguous {
		return
	}
	if int64(len(ds)) != to-from {
		t.Fatalf("%s: %d records delivered, want %d", name, len(ds), to-from)
	}
	for i, d := range ds {
		if d.offset != from+int64(i) {
			t.Fatalf("%s: record %d has offset %d, want %d", name, i, d.offset, from+int64(i))
		}
	}
}

// checkAtLeastOnceInOrder verifies a partition where duplicates are allowed (after a stop,
// crash or rebalance): every offset in [from, to) is present, and the sequence only goes back
// when a batch is redelivered, i.e. each offset's first delivery comes in offset order.
func checkAtLeastOnceInOrder(t *testing.T, name string, ds []delivery, from, to int64) (dups int) {
	t.Helper()
	seen := map[int64]bool{}
	next := from
	for _, d := range ds {
		if seen[d.offset] {
			dups++
			continue
		}
		if d.offset != next {
			t.Fatalf("%s: first delivery of offset %d while %d was expected next", name, d.offset, next)
		}
		seen[d.offset] = true
		next++
	}
	if next != to {
		var missing []int64
		for o := from; o < to && len(missing) < 10; o++ {
			if !seen[o] {
				missing = append(missing, o)
			}
		}
		sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
		t.Fatalf("%s: delivered up to %d, want %d; missing e.g. %v", name, next, to, missing)
	}
	return dups
}
