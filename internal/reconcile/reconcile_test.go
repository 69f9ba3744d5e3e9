package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/store"
	"github.com/kafkaesm/kafkaesm/internal/store/storetest"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeRunner records calls; fail makes Apply fail; while gate is set, done callbacks wait for
// it to close (the mapping "is still starting"); hold, per uuid, never calls done.
type fakeRunner struct {
	mu      sync.Mutex
	applied []string
	stopped []string
	fail    error
	gate    chan struct{}
	hold    map[string]bool
}

func (r *fakeRunner) finish(uuid string, done func()) {
	r.mu.Lock()
	gate, hold := r.gate, r.hold[uuid]
	r.mu.Unlock()
	switch {
	case hold || done == nil:
	case gate != nil:
		go func() { <-gate; done() }()
	default:
		done()
	}
}

func (r *fakeRunner) Apply(m *mapping.EventSourceMapping, done func()) error {
	r.mu.Lock()
	fail := r.fail
	if fail == nil {
		r.applied = append(r.applied, m.UUID)
		if !m.Enabled {
			r.stopped = append(r.stopped, m.UUID)
		}
	}
	r.mu.Unlock()
	if fail != nil {
		return fail
	}
	r.finish(m.UUID, done)
	return nil
}

func (r *fakeRunner) Remove(uuid string, done func()) {
	r.mu.Lock()
	r.stopped = append(r.stopped, uuid)
	r.mu.Unlock()
	r.finish(uuid, done)
}

func (r *fakeRunner) set(fn func(r *fakeRunner)) { r.mu.Lock(); fn(r); r.mu.Unlock() }

func startReconciler(t *testing.T, st store.Store, r Runner, resync time.Duration) *Reconciler {
	t.Helper()
	rec, err := New(Config{Store: st, Runner: r, Resync: resync, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rec.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return rec
}

func openStore(t *testing.T) store.Store {
	st, err := store.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// deleteMapping marks mapping id Deleting, as DeleteEventSourceMapping does, tells rec, and
// waits until rec has removed it.
func deleteMapping(t *testing.T, st store.Store, rec *Reconciler, id string) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.UpdateMapping(ctx, id, func(m *mapping.EventSourceMapping) error {
		m.State, m.Revision = mapping.StateDeleting, m.Revision+1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rec.Notify(id)
	kafkatest.WaitFor(t, 20*time.Second, func() error {
		if _, err := st.GetMapping(ctx, id); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s not removed: %v", id, err)
		}
		return nil
	})
}

func stateIs(st store.Store, id, want string) func() error {
	return func() error {
		m, err := st.GetMapping(context.Background(), id)
		if err != nil {
			return err
		}
		if m.State != want {
			return fmt.Errorf("state %s, want %s", m.State, want)
		}
		return nil
	}
}

const fn = "arn:aws:lambda:us-east-1:000000000000:function:f"

func TestReconcilerSettlesStates(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := &fakeRunner{}
	rec := startReconciler(t, st, r, time.Hour)

	on := storetest.NewMapping("on", fn)
	off := storetest.NewMapping("off", fn)
	off.Enabled = false
	for _, m := range []*mapping.EventSourceMapping{on, off} {
		if err := st.CreateMapping(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
		rec.Notify(m.UUID)
	}
	kafkatest.WaitFor(t, 20*time.Second, stateIs(st, "on", mapping.StateEnabled))
	kafkatest.WaitFor(t, 20*time.Second, stateIs(st, "off", mapping.StateDisabled))

	deleteMapping(t, st, rec, "on")
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.applied) == 0 || len(r.stopped) < 2 {
		t.Fatalf("runner calls: applied %v stopped %v", r.applied, r.stopped)
	}
}

// A user update that lands while the runner works must not be overwritten by the settle.
func TestReconcilerLeavesNewerRevisionAlone(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	gate := make(chan struct{})
	r := &fakeRunner{gate: gate}
	rec := startReconciler(t, st, r, time.Hour)
	if err := st.CreateMapping(ctx, storetest.NewMapping("m", fn), nil); err != nil {
		t.Fatal(err)
	}
	rec.Notify("m")
	// While the Creating revision is still starting, the user updates the mapping.
	kafkatest.WaitFor(t, 20*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.applied) == 0 {
			return errors.New("not applied yet")
		}
		return nil
	})
	if _, err := st.UpdateMapping(ctx, "m", func(m *mapping.EventSourceMapping) error {
		m.State, m.BatchSize, m.Revision = mapping.StateUpdating, 7, m.Revision+1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := stateIs(st, "m", mapping.StateUpdating)(); err != nil {
		t.Fatal(err)
	}
	r.set(func(r *fakeRunner) { r.gate = nil })
	close(gate)
	rec.Notify("m")
	kafkatest.WaitFor(t, 20*time.Second, stateIs(st, "m", mapping.StateEnabled))
	m, _ := st.GetMapping(ctx, "m")
	if m.BatchSize != 7 || m.Revision != 2 {
		t.Fatalf("user update lost: %+v", m)
	}
}

// A failed Apply leaves the transitional state; the periodic resync retries it.
func TestReconcilerRetriesOnResync(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := &fakeRunner{fail: errors.New("broker down")}
	rec := startReconciler(t, st, r, 20*time.Millisecond)
	if err := st.CreateMapping(ctx, storetest.NewMapping("m", fn), nil); err != nil {
		t.Fatal(err)
	}
	rec.Notify("m")
	kafkatest.WaitFor(t, 20*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail == nil {
			return nil
		}
		m, _ := st.GetMapping(ctx, "m")
		if m.State != mapping.StateCreating {
			return fmt.Errorf("state moved on a failed Apply: %s", m.State)
		}
		r.fail = nil // the next resync succeeds
		return errors.New("retrying")
	})
	kafkatest.WaitFor(t, 20*time.Second, stateIs(st, "m", mapping.StateEnabled))
}

// TestReconcilerWaitsForRunnerAndNeverBlocks: a mapping stays Creating until the Runner says it
// runs (its first poller joined and got its assignment), and a mapping that never gets there
// (a Disable draining a long invocation, a cluster that does not answer) delays no other.
func TestReconcilerWaitsForRunnerAndNeverBlocks(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := &fakeRunner{hold: map[string]bool{"stuck": true}}
	rec := startReconciler(t, st, r, time.Hour)
	for _, id := range []string{"stuck", "a", "b"} {
		if err := st.CreateMapping(ctx, storetest.NewMapping(id, fn), nil); err != nil {
			t.Fatal(err)
		}
		rec.Notify(id)
	}
	kafkatest.WaitFor(t, 20*time.Second, stateIs(st, "a", mapping.StateEnabled))
	kafkatest.WaitFor(t, 20*time.Second, stateIs(st, "b", mapping.StateEnabled))
	// Deleting b while stuck still has not started.
	deleteMapping(t, st, rec, "b")
	if err := stateIs(st, "stuck", mapping.StateCreating)(); err != nil {
		t.Fatalf("a mapping the runner has not got running: %v", err)
	}
}
