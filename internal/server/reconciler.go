package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// Runner runs mappings; the poller implements it. Both methods are called from the
// reconciler's single goroutine, never concurrently.
type Runner interface {
	// Apply makes the mapping run with exactly this configuration: it starts polling when the
	// mapping is not running, reconfigures it when its configuration changed, and does nothing
	// when it already runs this configuration (Apply is called again on every resync). An
	// error leaves the mapping in its transitional state; the next resync retries.
	Apply(ctx context.Context, m *mapping.EventSourceMapping) error
	// Stop stops polling for the mapping and returns once its consumer has left the group.
	// Stopping a mapping that does not run is not an error.
	Stop(ctx context.Context, uuid string) error
}

// NopRunner runs nothing: mappings still move through their states. The default until a
// poller is wired in.
type NopRunner struct{}

func (NopRunner) Apply(context.Context, *mapping.EventSourceMapping) error { return nil }
func (NopRunner) Stop(context.Context, string) error                       { return nil }

// ReconcilerConfig configures a Reconciler.
type ReconcilerConfig struct {
	Store  store.Store
	Runner Runner
	// Resync is how often every mapping is reconciled even without a notification (retries
	// failed steps, restarts what a restart lost); default 30 s.
	Resync time.Duration
	Logger *slog.Logger
}

// Validate fills defaults and checks the configuration.
func (c *ReconcilerConfig) Validate() error {
	if c.Store == nil {
		return errors.New("reconciler: Store is required")
	}
	if c.Runner == nil {
		c.Runner = NopRunner{}
	}
	if c.Resync <= 0 {
		c.Resync = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Reconciler moves mappings from what the user asked for to what runs. The API changes a
// mapping in the store (State Creating, Enabling, Disabling, Updating or Deleting) and calls
// Notify; the reconciler's one goroutine then calls the Runner (Apply when the mapping is
// enabled, Stop when it is disabled or being deleted) and settles the state:
//
//	Creating, Enabling, Disabling, Updating → Enabled | Disabled (Enabled is the user's wish)
//	Deleting                                → removed from the store
//
// A user change that lands while the Runner works bumps the mapping's Revision; the
// reconciler then leaves the newer state alone (its own Notify follows) instead of
// overwriting it. At start and every Resync it reconciles every mapping, so a restart resumes
// polling and a failed step is retried. It does not stop running mappings when the node shuts
// down: the Runner's owner does that.
type Reconciler struct {
	cfg  ReconcilerConfig
	kick chan struct{}

	mu      sync.Mutex
	pending map[string]struct{}
}

// NewReconciler builds a reconciler; Run starts it.
func NewReconciler(cfg ReconcilerConfig) (*Reconciler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Reconciler{cfg: cfg, kick: make(chan struct{}, 1), pending: map[string]struct{}{}}, nil
}

// Notify tells the reconciler that mapping uuid changed. It never blocks.
func (r *Reconciler) Notify(uuid string) {
	r.mu.Lock()
	r.pending[uuid] = struct{}{}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx ends. It returns nil on cancellation.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Resync)
	defer t.Stop()
	r.resync(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
			r.drain(ctx)
		case <-t.C:
			r.resync(ctx)
		}
	}
}

func (r *Reconciler) drain(ctx context.Context) {
	for ctx.Err() == nil {
		r.mu.Lock()
		batch := r.pending
		r.pending = map[string]struct{}{}
		r.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for id := range batch {
			r.reconcile(ctx, id)
		}
	}
}

func (r *Reconciler) resync(ctx context.Context) {
	marker := ""
	for ctx.Err() == nil {
		ms, next, err := r.cfg.Store.ListMappings(ctx, store.MappingFilter{}, store.Page{Marker: marker, Limit: 100})
		if err != nil {
			r.cfg.Logger.Error("reconciler: listing mappings", "err", err)
			return
		}
		for _, m := range ms {
			r.reconcile(ctx, m.UUID)
		}
		if next == "" {
			return
		}
		marker = next
	}
}

var errStale = errors.New("mapping changed while reconciling")

// reconcile brings one mapping to its wished state. Errors are logged; the mapping keeps its
// transitional state and the next resync tries again.
func (r *Reconciler) reconcile(ctx context.Context, id string) {
	log := r.cfg.Logger.With("uuid", id)
	m, err := r.cfg.Store.GetMapping(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		if err := r.cfg.Runner.Stop(ctx, id); err != nil {
			log.Error("reconciler: stopping removed mapping", "err", err)
		}
		return
	}
	if err != nil {
		log.Error("reconciler: reading mapping", "err", err)
		return
	}
	switch {
	case m.State == mapping.StateDeleting:
		if err := r.cfg.Runner.Stop(ctx, id); err != nil {
			log.Error("reconciler: stopping mapping for deletion", "err", err)
			return
		}
		if err := r.cfg.Store.DeleteMapping(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Error("reconciler: deleting mapping", "err", err)
		}
		return
	case m.Enabled:
		err = r.cfg.Runner.Apply(ctx, m)
	default:
		err = r.cfg.Runner.Stop(ctx, id)
	}
	if err != nil {
		log.Error("reconciler: runner failed", "state", m.State, "err", err)
		return
	}
	if !m.Transitional() {
		return
	}
	_, err = r.cfg.Store.UpdateMapping(ctx, id, func(cur *mapping.EventSourceMapping) error {
		if cur.Revision != m.Revision {
			return errStale
		}
		cur.State = cur.Settled()
		return nil
	})
	if err != nil && !errors.Is(err, errStale) && !errors.Is(err, store.ErrNotFound) {
		log.Error("reconciler: settling state", "err", err)
	}
}
