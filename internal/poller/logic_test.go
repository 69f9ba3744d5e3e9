package poller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/event"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second}
	tests := []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, time.Second, 2 * time.Second}, // 3.2 s capped
		{60, time.Second, 2 * time.Second},
		{1 << 20, time.Second, 2 * time.Second}, // no overflow
	}
	for _, tt := range tests {
		for range 200 {
			if d := b.Delay(tt.attempt); d < tt.lo || d > tt.hi {
				t.Fatalf("Delay(%d) = %v, want [%v, %v]", tt.attempt, d, tt.lo, tt.hi)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	inv := invokerFunc(func(context.Context, invoke.Request) (invoke.Result, error) { return invoke.Result{}, nil })
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{Invoker: inv}, true},
		{"no invoker", Config{}, false},
		{"backoff inverted", Config{Invoker: inv, Backoff: Backoff{Initial: time.Minute, Max: time.Second}}, false},
		{"rebalance below drain", Config{Invoker: inv, DrainTimeout: time.Minute, RebalanceTimeout: time.Second}, false},
		{"seed event source", Config{Invoker: inv, EventSource: event.SourceAWSSelfManagedKafka}, true},
		{"bad event source", Config{Invoker: inv, EventSource: "aws:kafka"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

type invokerFunc func(context.Context, invoke.Request) (invoke.Result, error)

func (f invokerFunc) Invoke(ctx context.Context, r invoke.Request) (invoke.Result, error) {
	return f(ctx, r)
}

func TestNewSpec(t *testing.T) {
	base := func() *mapping.EventSourceMapping { return newMapping("h:9092", "t") }
	ts := mapping.EpochTime{Time: time.UnixMilli(1_700_000_000_000)}
	tests := []struct {
		name   string
		mod    func(m *mapping.EventSourceMapping)
		err    bool
		start  kgo.Offset
		window time.Duration
	}{
		{"trim horizon", func(m *mapping.EventSourceMapping) {}, false, kgo.NewOffset().AtStart(), 0},
		{"latest", func(m *mapping.EventSourceMapping) { m.StartingPosition = "LATEST" }, false, kgo.NewOffset().AtEnd(), 0},
		{"at timestamp", func(m *mapping.EventSourceMapping) {
			m.StartingPosition, m.StartingPositionTimestamp = "AT_TIMESTAMP", &ts
		}, false, kgo.NewOffset().AfterMilli(1_700_000_000_000), 0},
		{"at timestamp without time", func(m *mapping.EventSourceMapping) { m.StartingPosition = "AT_TIMESTAMP" }, true, kgo.Offset{}, 0},
		{"unknown position", func(m *mapping.EventSourceMapping) { m.StartingPosition = "EARLIEST" }, true, kgo.Offset{}, 0},
		{"default window", func(m *mapping.EventSourceMapping) { m.MaximumBatchingWindowInSeconds = nil }, false, kgo.NewOffset().AtStart(), 500 * time.Millisecond},
		{"no servers", func(m *mapping.EventSourceMapping) { m.SelfManagedEventSource = nil }, true, kgo.Offset{}, 0},
		{"no topic", func(m *mapping.EventSourceMapping) { m.Topics = nil }, true, kgo.Offset{}, 0},
		{"no function", func(m *mapping.EventSourceMapping) { m.FunctionArn = "" }, true, kgo.Offset{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.mod(m)
			sp, err := newSpec(m)
			if (err != nil) != tt.err {
				t.Fatalf("newSpec err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if sp.start.String() != tt.start.String() {
				t.Errorf("start %v, want %v", sp.start, tt.start)
			}
			if sp.settings.window != tt.window || sp.group != m.UUID || sp.settings.batchSize != 100 {
				t.Errorf("settings %+v group %s", sp.settings, sp.group)
			}
		})
	}

	// Settings changes keep the identity (reconfigure in place); client inputs change it.
	a, _ := newSpec(base())
	same := base()
	same.UUID = a.group
	same.BatchSize, same.FunctionArn = 10_000, "other"
	b, _ := newSpec(same)
	if a.identity != b.identity {
		t.Error("BatchSize/function change alters identity: would restart the consumer")
	}
	for _, mod := range []func(m *mapping.EventSourceMapping){
		func(m *mapping.EventSourceMapping) { m.Topics = []string{"u"} },
		func(m *mapping.EventSourceMapping) {
			m.SelfManagedKafkaEventSourceConfig = &mapping.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: "g"}
		},
		func(m *mapping.EventSourceMapping) {
			m.SourceAccessConfigurations = []mapping.SourceAccessConfiguration{{Type: "BASIC_AUTH", URI: "arn"}}
		},
		func(m *mapping.EventSourceMapping) { m.StartingPosition = "LATEST" },
	} {
		m := base()
		m.UUID = a.group
		mod(m)
		if c, _ := newSpec(m); c.identity == a.identity {
			t.Errorf("identity unchanged by %+v", m)
		}
	}
}

func TestApplyRejectsBadMappings(t *testing.T) {
	mg := newTestManager(t, testConfig(newRecorder(), nil))
	ctx := context.Background()
	if err := mg.Apply(ctx, &mapping.EventSourceMapping{Enabled: true}); err == nil {
		t.Error("mapping without UUID accepted")
	}
	m := newMapping("h:9092", "t")
	m.Topics = nil
	if err := mg.Apply(ctx, m); err == nil {
		t.Error("mapping without topic accepted")
	}
	if err := mg.Stop(ctx, "unknown"); err != nil {
		t.Errorf("Stop(unknown) = %v", err)
	}
	if err := mg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mg.Apply(ctx, newMapping("h:9092", "t")); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close = %v", err)
	}
}

// TestStatusReports walks the status machine: reports only on change; a connection problem
// outranks a fetch problem, which outranks the processing result; clearing restores it.
func TestStatusReports(t *testing.T) {
	rep := &reporter{}
	cfg := testConfig(newRecorder(), rep)
	cfg.setDefaults()
	cfg.ClassifyError = func(err error) (string, string) {
		if err.Error() == "sasl" {
			return mapping.ReasonAuthnError, "PROBLEM: SASL authentication failed."
		}
		if err.Error() == "topic acl" {
			return mapping.ReasonAuthzError, "PROBLEM: Cluster failed to authorize Lambda."
		}
		return "", ""
	}
	c := &consumer{cfg: &cfg, uuid: "u", log: cfg.Logger}
	c.status.c = c
	s := &c.status
	w1, w2 := &worker{}, &worker{}

	s.connected(nil) // nothing to report yet
	s.batchDone(w1, true, "")
	s.batchDone(w2, true, "") // unchanged: no second report
	s.batchDone(w2, false, "Runtime.ExitError: exit status 1")
	s.batchDone(w2, false, "Runtime.ExitError: exit status 1") // unchanged
	s.batchDone(w2, false, "Error: boom")                      // another cause: reported
	s.batchDone(w1, true, "")                                  // w2 still failing
	s.connected(errors.New("refused"))                         // unclassified: AWS's connection text
	s.connected(errors.New("sasl"))                            // classified
	s.fetchFailed(errors.New("topic acl"))                     // hidden behind the connection problem
	s.connected(nil)
	s.fetchFailed(nil)
	s.fetchFailed(errors.New("unclassified")) // only logged
	s.batchDone(w2, true, "")
	s.closing.Store(true)
	s.connected(errors.New("refused")) // stopping: ignored

	want := []string{
		mapping.ResultOK + " | ",
		mapping.ResultFunctionCallFailed + " | Runtime.ExitError: exit status 1",
		mapping.ResultFunctionCallFailed + " | Error: boom",
		ResultConnectionError + " | refused",
		"PROBLEM: SASL authentication failed. | sasl",
		"PROBLEM: Cluster failed to authorize Lambda. | topic acl",
		mapping.ResultFunctionCallFailed + " | Error: boom",
		mapping.ResultOK + " | ",
	}
	if d := cmp.Diff(want, rep.allCauses()); d != "" {
		t.Fatalf("reports (-want +got):\n%s", d)
	}
}

// TestCause: what is kept of an error or a function's error object.
func TestCause(t *testing.T) {
	for _, c := range []struct{ name, got, want string }{
		{"unwrapped", errorCause(fmt.Errorf("poller: client options for mapping u-1: %w", errors.New("The secret s does not exist."))), "The secret s does not exist."},
		{"one line", errorCause(errors.New("a\n\tb\r\nc")), "a b c"},
		{"pem", errorCause(errors.New("bad key -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY----- end")), "bad key [redacted] end"},
		{"json password", errorCause(errors.New(`secret {"username":"u","password":"hunter2"} rejected`)), `secret {"username":"u","password":[redacted]} rejected`},
		{"function", functionCause([]byte(`{"errorMessage":"RequestId: 1a-2b Error: Runtime exited with error: exit status 1","errorType":"Runtime.ExitError"}`), nil),
			"Runtime.ExitError: Runtime exited with error: exit status 1"},
		{"function message only", functionCause([]byte(`{"errorMessage":"boom"}`), nil), "boom"},
		{"not json", functionCause([]byte("oops"), nil), "oops"},
		{"invoke error", functionCause(nil, errors.New("throttled")), "throttled"},
		{"nil", errorCause(nil), ""},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	long := errorCause(errors.New(strings.Repeat("é", 600)))
	if !utf8.ValidString(long) || len(long) > maxCauseLen+len("…") {
		t.Errorf("long cause: %d bytes, valid UTF-8 %v", len(long), utf8.ValidString(long))
	}
}

// TestDrainAndRebalanceBounds: a drain waits up to the function's timeout + 5 s (DrainTimeout
// when the timeout is unknown), and the group's rebalance timeout covers it.
func TestDrainAndRebalanceBounds(t *testing.T) {
	tests := []struct {
		name      string
		fnTimeout time.Duration // 0: FunctionTimeout unset
		rebalance time.Duration
		wantDrain time.Duration
		wantRebal time.Duration
	}{
		// The rebalance timeout covers Lambda's longest function timeout whatever the current
		// one: a timeout raised after the client was built must not make a drain outlast it.
		{"function timeout 3 s", 3 * time.Second, 0, 8 * time.Second, 15*time.Minute + 35*time.Second},
		{"function timeout 15 min", 15 * time.Minute, 0, 15*time.Minute + 5*time.Second, 15*time.Minute + 35*time.Second},
		{"unknown: DrainTimeout", 0, 0, 15 * time.Minute, 15*time.Minute + 35*time.Second},
		{"configured floor", 3 * time.Second, 20 * time.Minute, 8 * time.Second, 20 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Invoker: newRecorder(), RebalanceTimeout: tt.rebalance}
			if tt.fnTimeout > 0 {
				cfg.FunctionTimeout = func(context.Context, string) time.Duration { return tt.fnTimeout }
			}
			cfg.setDefaults()
			c := &consumer{cfg: &cfg, hurry: context.Background()}
			c.settings.Store(&settings{function: "f"})
			if d := c.drainBound(); d != tt.wantDrain {
				t.Errorf("drain bound %v, want %v", d, tt.wantDrain)
			}
			if r := c.rebalanceTimeout(); r != tt.wantRebal {
				t.Errorf("rebalance timeout %v, want %v", r, tt.wantRebal)
			}
		})
	}
}

// TestStaleMembers: only this node's ids of this mapping with a slot number that no poller
// runs are stale; other nodes' members, a fenced poller's id (slot plus a suffix) and odd
// spellings of a slot number are never touched.
func TestStaleMembers(t *testing.T) {
	p := instancePrefix("n1", "u-1")
	ids := []string{p + "0", p + "1", p + "2", p + "3", p + "1-abcd1234", p + "01", p + "-1", p + "x",
		instancePrefix("n2", "u-1") + "2", instancePrefix("n1", "u-2") + "2", instancePrefix("n1-x", "u-1") + "2"}
	got := staleMembers(ids, p, map[int]bool{0: true, 3: true})
	if want := []string{p + "1", p + "2"}; !cmp.Equal(got, want) {
		t.Fatalf("staleMembers = %v, want %v", got, want)
	}
}
