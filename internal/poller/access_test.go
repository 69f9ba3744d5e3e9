package poller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// fakeInner records what the gate asks of the consumer side.
type fakeInner struct {
	mu       sync.Mutex
	running  map[string]bool
	applies  int
	stops    int
	closed   bool
	reporter Reporter
	pollers  map[string]int // the last SetPollers per mapping
}

func (f *fakeInner) Apply(_ context.Context, m *mapping.EventSourceMapping) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applies++
	f.running[m.UUID] = true
	return nil
}

func (f *fakeInner) Stop(_ context.Context, uuid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running[uuid] {
		f.stops++
	}
	f.running[uuid] = false
	return nil
}

func (f *fakeInner) SetPollers(_ context.Context, uuid string, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pollers == nil {
		f.pollers = map[string]int{}
	}
	f.pollers[uuid] = n
	return nil
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (f *fakeInner) Joined(uuid string) <-chan struct{} {
	if f.isRunning(uuid) {
		return closedChan
	}
	return nil
}

func (f *fakeInner) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeInner) isRunning(uuid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[uuid]
}

// switchProbe fails with its error until set to nil.
type switchProbe struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (p *switchProbe) probe(context.Context, *mapping.EventSourceMapping) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	return p.err
}

func (p *switchProbe) set(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

var (
	errAuthz = errors.New("authz")
	errAuthn = errors.New("authn")
	errDown  = errors.New("connection refused")
)

func classifyFake(err error) (string, string) {
	switch {
	case errors.Is(err, errAuthz):
		return mapping.ReasonAuthzError, "PROBLEM: Cluster failed to authorize Lambda."
	case errors.Is(err, errAuthn):
		return mapping.ReasonAuthnError, "PROBLEM: SASL authentication failed."
	}
	return "", ResultConnectionError
}

type statusLog struct {
	mu      sync.Mutex
	reports []string // "reason|result"
	causes  []string // one per report
}

func (s *statusLog) Report(_, _, reason, result, cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, reason+"|"+result)
	s.causes = append(s.causes, cause)
}

func (s *statusLog) lastCause() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.causes) == 0 {
		return ""
	}
	return s.causes[len(s.causes)-1]
}

func (s *statusLog) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reports) == 0 {
		return ""
	}
	return s.reports[len(s.reports)-1]
}

func newTestGate(t *testing.T, backoff Backoff) (*AccessGate, *fakeInner, *switchProbe, *statusLog) {
	t.Helper()
	inner := &fakeInner{running: map[string]bool{}}
	probe := &switchProbe{}
	st := &statusLog{}
	board := NewBoard()
	inner.reporter = board
	g, err := NewAccessGate(AccessConfig{Probe: probe.probe, Classify: classifyFake, Reporter: st, Backoff: backoff}, inner, board)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return g, inner, probe, st
}

func waitUntil(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func gateApply(t *testing.T, g *AccessGate, m *mapping.EventSourceMapping) {
	t.Helper()
	if err := g.Apply(m, nil); err != nil {
		t.Fatal(err)
	}
}

// gateRemove removes the mapping and waits until its consumer is stopped.
func gateRemove(t *testing.T, g *AccessGate, uuid string) {
	t.Helper()
	done := make(chan struct{})
	g.Remove(uuid, func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Remove did not finish")
	}
}

// A mapping whose access fails does not consume; it reports the classified problem and
// starts by itself once a later probe passes, clearing the reason.
func TestAccessGateWaitsUntilAccessWorks(t *testing.T) {
	g, inner, probe, st := newTestGate(t, Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond})
	probe.set(errAuthz)
	m := newMapping("h:9092", "t")
	gateApply(t, g, m)
	waitUntil(t, "the authz report", func() bool {
		return st.last() == mapping.ReasonAuthzError+"|PROBLEM: Cluster failed to authorize Lambda."
	})
	if c := st.lastCause(); c != errAuthz.Error() {
		t.Errorf("cause %q, want the probe's error %q", c, errAuthz)
	}
	waitUntil(t, "several probes", func() bool { probe.mu.Lock(); defer probe.mu.Unlock(); return probe.calls >= 3 })
	if inner.isRunning(m.UUID) {
		t.Fatal("consumer started while access fails")
	}
	probe.set(nil)
	waitUntil(t, "the consumer", func() bool { return inner.isRunning(m.UUID) })
	waitUntil(t, "the cleared reason", func() bool {
		return st.last() == mapping.ReasonUserInitiated+"|"+mapping.ResultNoRecordsProcessed
	})
	if c := st.lastCause(); c != "" {
		t.Errorf("cause %q after access works again", c)
	}
	// Resyncs with the same mapping change nothing.
	gateApply(t, g, m)
	gateApply(t, g, m)
	gateRemove(t, g, m.UUID)
	if inner.isRunning(m.UUID) {
		t.Fatal("Stop left the consumer running")
	}
}

// A consumer that reports a stop-class problem is stopped and resumes after a passing probe;
// transient problems pass through without stopping it.
func TestAccessGateStopsOnConsumerProblem(t *testing.T) {
	g, inner, probe, st := newTestGate(t, Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond})
	m := newMapping("h:9092", "t")
	gateApply(t, g, m)
	waitUntil(t, "the consumer", func() bool { return inner.isRunning(m.UUID) })

	inner.reporter.Report(m.UUID, "", "", ResultConnectionError, "dial tcp: connection refused")
	waitUntil(t, "the connection report", func() bool { return st.last() == "|"+ResultConnectionError })
	inner.reporter.Report(m.UUID, "", "", mapping.ResultOK, "")
	waitUntil(t, "the OK report", func() bool { return st.last() == "|"+mapping.ResultOK })
	if !inner.isRunning(m.UUID) {
		t.Fatal("a transient report stopped the consumer")
	}

	probe.set(errAuthn)
	inner.reporter.Report(m.UUID, "", mapping.ReasonAuthnError, "PROBLEM: SASL authentication failed.", "sasl")
	waitUntil(t, "the consumer to stop", func() bool { return !inner.isRunning(m.UUID) })
	probe.set(nil)
	waitUntil(t, "the consumer to resume", func() bool { return inner.isRunning(m.UUID) })
	// The result before the problem comes back with the reason.
	waitUntil(t, "the cleared reason", func() bool { return st.last() == mapping.ReasonUserInitiated+"|"+mapping.ResultOK })
}

// A changed secret probes at once, whatever the backoff: it stops a running consumer whose
// secret broke and resumes a waiting one whose secret was fixed.
func TestAccessGateSecretChangedProbesAtOnce(t *testing.T) {
	g, inner, probe, st := newTestGate(t, Backoff{Initial: time.Hour, Max: time.Hour})
	const arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka/alice-AbCdEf"
	m := newMapping("h:9092", "t")
	m.SourceAccessConfigurations = []mapping.SourceAccessConfiguration{{Type: "SASL_SCRAM_512_AUTH", URI: arn}}
	other := newMapping("h:9092", "t2")
	gateApply(t, g, m)
	gateApply(t, g, other)
	waitUntil(t, "the consumers", func() bool { return inner.isRunning(m.UUID) && inner.isRunning(other.UUID) })

	probe.set(errAuthn)
	g.SecretChanged(arn)
	waitUntil(t, "the consumer to stop", func() bool { return !inner.isRunning(m.UUID) })
	if !inner.isRunning(other.UUID) {
		t.Fatal("a mapping not using the secret was stopped")
	}
	waitUntil(t, "the report", func() bool { return st.last() == mapping.ReasonAuthnError+"|PROBLEM: SASL authentication failed." })

	probe.set(nil)
	g.SecretChanged(arn)
	waitUntil(t, "the consumer to resume", func() bool { return inner.isRunning(m.UUID) })
}

// A node restarting with a problem still recorded on the mapping clears it once access works.
func TestAccessGateClearsProblemRecordedBeforeRestart(t *testing.T) {
	g, inner, _, st := newTestGate(t, Backoff{Initial: time.Millisecond, Max: time.Millisecond})
	m := newMapping("h:9092", "t")
	m.StateTransitionReason = mapping.ReasonConfigNotValid
	gateApply(t, g, m)
	waitUntil(t, "the consumer", func() bool { return inner.isRunning(m.UUID) })
	waitUntil(t, "the cleared reason", func() bool {
		return st.last() == mapping.ReasonUserInitiated+"|"+mapping.ResultNoRecordsProcessed
	})
}

// Transient probe failures (the cluster is unreachable) are reported without a reason and
// retried; Close ends the supervisors and closes the inner runner; Apply afterwards fails.
func TestAccessGateTransientProbeAndClose(t *testing.T) {
	g, inner, probe, st := newTestGate(t, Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond})
	probe.set(errDown)
	m := newMapping("h:9092", "t")
	gateApply(t, g, m)
	waitUntil(t, "the connection report", func() bool { return st.last() == "|"+ResultConnectionError })
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	inner.mu.Lock()
	closed := inner.closed
	inner.mu.Unlock()
	if !closed {
		t.Fatal("inner runner not closed")
	}
	if err := g.Apply(newMapping("h:9092", "t"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close = %v", err)
	}
	disabled := newMapping("h:9092", "t")
	disabled.Enabled = false
	if err := g.Apply(disabled, nil); err != nil {
		t.Fatalf("Apply(disabled) after Close = %v", err)
	}
}

func TestRefersTo(t *testing.T) {
	const arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka/alice-AbCdEf"
	tests := []struct {
		id   string
		want bool
	}{
		{arn, true},
		{"arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka/alice", true},
		{"kafka/alice", true},
		{"kafka/ali", false},
		{"arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka/bob-AbCdEf", false},
		{"alice", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.id), func(t *testing.T) {
			if got := refersTo(tt.id, arn); got != tt.want {
				t.Fatalf("refersTo(%q) = %v", tt.id, got)
			}
		})
	}
}

// TestAccessGateSettles: Apply's done is called once the consumer runs (the inner runner's
// Joined), on every later Apply (a resync), and once a failing probe is reported; Remove's
// done once the consumer is stopped. Nothing waits in Apply or Remove.
func TestAccessGateSettles(t *testing.T) {
	g, inner, probe, _ := newTestGate(t, Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond})
	m := newMapping("h:9092", "t")
	dones := make(chan string, 10)
	if err := g.Apply(m, func() { dones <- "applied" }); err != nil {
		t.Fatal(err)
	}
	if got := <-dones; got != "applied" || !inner.isRunning(m.UUID) {
		t.Fatalf("done %q before the consumer ran", got)
	}
	if err := g.Apply(m, func() { dones <- "resync" }); err != nil {
		t.Fatal(err)
	}
	if got := <-dones; got != "resync" {
		t.Fatal(got)
	}
	g.Remove(m.UUID, func() { dones <- "removed" })
	if got := <-dones; got != "removed" || inner.isRunning(m.UUID) {
		t.Fatalf("done %q with the consumer running", got)
	}
	probe.set(errAuthz)
	broken := newMapping("h:9092", "t")
	if err := g.Apply(broken, func() { dones <- "reported" }); err != nil {
		t.Fatal(err)
	}
	if got := <-dones; got != "reported" || inner.isRunning(broken.UUID) {
		t.Fatal(got)
	}
}

// TestAccessGateSetPollersThroughTheOwner: the scaler's poller count reaches the consumer
// through the mapping's owner, without blocking the caller; unknown mappings are ignored.
func TestAccessGateSetPollersThroughTheOwner(t *testing.T) {
	g, inner, _, _ := newTestGate(t, Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond})
	m := newMapping("h:9092", "t")
	gateApply(t, g, m)
	waitUntil(t, "the consumer", func() bool { return inner.isRunning(m.UUID) })
	if err := g.SetPollers(context.Background(), m.UUID, 3); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "three pollers", func() bool { inner.mu.Lock(); defer inner.mu.Unlock(); return inner.pollers[m.UUID] == 3 })
	if err := g.SetPollers(context.Background(), "unknown", 2); err != nil {
		t.Fatal(err)
	}
}
