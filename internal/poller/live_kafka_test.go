package poller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// newRealGate is an AccessGate over a real Manager whose probe always passes.
func newRealGate(t *testing.T, cfg Config) (*AccessGate, *Manager) {
	t.Helper()
	var mg *Manager
	g, err := NewAccessGate(AccessConfig{
		Probe:    func(context.Context, *mapping.EventSourceMapping) error { return nil },
		Classify: func(error) (string, string) { return "", "" },
		Logger:   cfg.Logger,
	}, func(r Reporter) (GatedRunner, error) {
		cfg.Reporter = r
		m, err := NewManager(cfg)
		mg = m
		return m, err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return g, mg
}

// applyAndWait applies m through the gate and waits for its done.
func applyAndWait(t *testing.T, g *AccessGate, m *mapping.EventSourceMapping) {
	t.Helper()
	done := make(chan struct{})
	if err := g.Apply(m, func() { close(done) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("mapping %s did not get running", m.UUID)
	}
}

// TestProvisionedPollerConfigAppliesLive: an update of ProvisionedPollerConfig alone reaches
// the running mapping (the scaler reads its bounds from the Manager's snapshot every second)
// without a restart of the consumer. The gate used to pass an update on only when what the
// consumer is built from changed, so the bounds stayed at their old values until a restart.
func TestProvisionedPollerConfigAppliesLive(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 2, nil)
	rec := newRecorder()
	g, mg := newRealGate(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	applyAndWait(t, g, m)
	before := mg.Joined(m.UUID)
	two, three := 2, 3
	m = m.Clone()
	m.ProvisionedPollerConfig = &mapping.ProvisionedPollerConfig{MinimumPollers: &two, MaximumPollers: &three}
	applyAndWait(t, g, m)
	kafkatest.WaitFor(t, 10*time.Second, func() error {
		for _, s := range mg.Snapshots() {
			if s.UUID == m.UUID && s.MinimumPollers == 2 && s.MaximumPollers == 3 {
				return nil
			}
		}
		return fmt.Errorf("snapshots %+v", mg.Snapshots())
	})
	if mg.Joined(m.UUID) != before {
		t.Fatal("the consumer was restarted for a ProvisionedPollerConfig update")
	}
}
