package poller

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// newRealGate is an AccessGate over a real Manager whose probe always passes.
func newRealGate(t *testing.T, cfg Config) (*AccessGate, *Manager) {
	t.Helper()
	board := NewBoard()
	cfg.Reporter = board
	mg, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewAccessGate(AccessConfig{
		Probe:    func(context.Context, *mapping.EventSourceMapping) error { return nil },
		Classify: func(error) (string, string) { return "", "" },
		Logger:   cfg.Logger,
	}, mg, board)
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

// blockingStore is a status store whose writes hang until released.
type blockingStore struct {
	release chan struct{}
	writes  atomic.Int32
}

func (b *blockingStore) Report(_, _, _, _, _ string) {
	b.writes.Add(1)
	<-b.release
}

// TestStatusWritesNeverStallPollers: status reaches the store only from the mapping's owner
// (its supervisor), never from a poller's goroutine, so a store that hangs delays status, not
// delivery: every record is delivered while the first status write is still stuck.
func TestStatusWritesNeverStallPollers(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 3, 200
	topic := kt.CreateTopic(t, parts, nil)
	producePerPartition(t, kt, topic, parts, each)
	rec := newRecorder()
	board := NewBoard()
	mg, err := NewManager(testConfig(rec, board))
	if err != nil {
		t.Fatal(err)
	}
	store := &blockingStore{release: make(chan struct{})}
	g, err := NewAccessGate(AccessConfig{
		Probe:    func(context.Context, *mapping.EventSourceMapping) error { return nil },
		Classify: func(error) (string, string) { return "", "" },
		Reporter: store,
	}, mg, board)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(store.release)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_ = g.Close(ctx)
	})
	m := newMapping(kt.Plaintext, topic)
	m.BatchSize = 10
	if err := g.Apply(m, nil); err != nil {
		t.Fatal(err)
	}
	rec.waitAtLeastOnce(t, topic, parts, each)
	if store.writes.Load() != 1 {
		t.Fatalf("%d status writes started; want exactly 1 (stuck) from the owner", store.writes.Load())
	}
}

// TestAppliedMeansJoined: the gate reports a LATEST mapping as got there (the reconciler then
// settles it Enabled) only once its first poller has its assignment and the start positions
// of its partitions are committed, so a record produced from that moment is delivered. Calling
// done as soon as the consumer was started (as before) fails this at once: nothing is assigned
// or committed yet.
func TestAppliedMeansJoined(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts = 3
	topic := kt.CreateTopic(t, parts, nil)
	producePerPartition(t, kt, topic, parts, 5) // before: not delivered (LATEST)
	rec := newRecorder()
	g, mg := newRealGate(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.StartingPosition = "LATEST"
	type atDone struct {
		partitions int
		committed  int
	}
	seen := make(chan atDone, 1)
	if err := g.Apply(m, func() {
		s, _ := mg.Stats(m.UUID)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		os, _ := kt.Admin(t).FetchOffsets(ctx, m.GroupID())
		n := 0
		for _, ps := range os.Offsets() {
			n += len(ps)
		}
		seen <- atDone{s.Partitions, n}
	}); err != nil {
		t.Fatal(err)
	}
	var d atDone
	select {
	case d = <-seen:
	case <-time.After(60 * time.Second):
		t.Fatal("the mapping never got running")
	}
	if d.partitions != parts || d.committed != parts {
		t.Fatalf("done with %d partitions assigned and %d start positions committed, want %d and %d", d.partitions, d.committed, parts, parts)
	}
	producePerPartition(t, kt, topic, parts, 1) // right after: delivered
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		for p := int32(0); p < parts; p++ {
			if ds := rec.partition(topic, p); len(ds) != 1 || ds[0].offset != 5 {
				return fmt.Errorf("partition %d: %v", p, ds)
			}
		}
		return nil
	})
}
