package server

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
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeRunner records calls; fail makes Apply fail; gate, when set, blocks Apply until closed.
type fakeRunner struct {
	mu      sync.Mutex
	applied []string
	stopped []string
	fail    error
	gate    chan struct{}
}

func (r *fakeRunner) Apply(ctx context.Context, m *mapping.EventSourceMapping) error {
	r.mu.Lock()
	gate, fail := r.gate, r.fail
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	r.mu.Lock()
	r.applied = append(r.applied, m.UUID)
	r.mu.Unlock()
	return nil
}

func (r *fakeRunner) Stop(_ context.Context, uuid string) error {
	r.mu.Lock()
	r.stopped = append(r.stopped, uuid)
	r.mu.Unlock()
	return nil
}

func (r *fakeRunner) set(fn func(r *fakeRunner)) { r.mu.Lock(); fn(r); r.mu.Unlock() }

func startReconciler(t *testing.T, st store.Store, r Runner, resync time.Duration) *Reconciler {
	t.Helper()
	rec, err := NewReconciler(ReconcilerConfig{Store: st, Runner: r, Resync: resync, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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

func waitFor(t *testing.T, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
	waitFor(t, stateIs(st, "on", mapping.StateEnabled))
	waitFor(t, stateIs(st, "off", mapping.StateDisabled))

	if _, err := st.UpdateMapping(ctx, "on", func(m *mapping.EventSourceMapping) error {
		m.State, m.Revision = mapping.StateDeleting, m.Revision+1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rec.Notify("on")
	waitFor(t, func() error {
		if _, err := st.GetMapping(ctx, "on"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("mapping not removed: %v", err)
		}
		return nil
	})
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
	// While Apply is blocked on the Creating revision, the user updates the mapping.
	if _, err := st.UpdateMapping(ctx, "m", func(m *mapping.EventSourceMapping) error {
		m.State, m.BatchSize, m.Revision = mapping.StateUpdating, 7, m.Revision+1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r.set(func(r *fakeRunner) { r.gate = nil })
	close(gate)
	rec.Notify("m")
	waitFor(t, stateIs(st, "m", mapping.StateEnabled))
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
	waitFor(t, func() error {
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
	waitFor(t, stateIs(st, "m", mapping.StateEnabled))
}
