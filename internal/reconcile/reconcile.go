// Package reconcile moves event source mappings from what the user asked for (the store) to
// what runs on this node (a Runner). The API changes a mapping in the store (State Creating,
// Enabling, Disabling, Updating or Deleting) and calls Notify; the Reconciler's goroutine then
// hands the mapping to the Runner and, once the Runner says the mapping got there, settles
// its state:
//
//	Creating, Enabling, Disabling, Updating → Enabled | Disabled (Enabled is the user's wish)
//	Deleting                                → removed from the store
//
// The Reconciler never waits for a mapping: the Runner returns at once and reports back
// through a callback, which only queues the settle for the Reconciler's goroutine. So one
// mapping that drains a long invocation, or whose cluster is unreachable, never delays the
// Create, Update or Delete of another. It owns the mapping's State and nothing else: status
// (StateTransitionReason, LastProcessingResult) is the Runner's.
package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// Runner runs mappings; the poller's AccessGate implements it. It is the one Runner interface
// of kafkaesm: the Reconciler is its only caller.
//
// Neither method waits for a mapping's consumer. done (possibly nil) is called once, from any
// goroutine, when the mapping has got where it was asked to go; it must be cheap (the
// Reconciler only queues a settle). A done that arrives after a newer Apply or Remove of the
// same mapping is harmless: the Reconciler settles only the revision it was given for.
// A Runner may never call done for a superseded request.
type Runner interface {
	// Apply makes the mapping run as m says. Enabled: it starts the mapping's pollers, or
	// reconfigures or restarts running ones (which members do what: docs/api.md), and calls
	// done once the first poller has joined the consumer group and received its assignment,
	// or once the mapping's Kafka access is found broken and reported (the mapping then
	// settles as Enabled with a StateTransitionReason, as on AWS). Not enabled: it stops the
	// pollers (in-flight batches finish, offsets are committed, the group is left) and calls
	// done then. Apply is called again for every mapping on every resync: for a mapping already
	// there it does nothing but call done. It returns an error only for a mapping that cannot
	// run at all (no topic, no servers); the mapping then keeps its transitional state.
	Apply(m *mapping.EventSourceMapping, done func()) error
	// Remove stops the mapping like Apply with Enabled false and forgets it; done is called
	// once it has left its group. Unknown mappings are not an error.
	Remove(uuid string, done func())
}

// NopRunner runs nothing: mappings still move through their states.
type NopRunner struct{}

func (NopRunner) Apply(_ *mapping.EventSourceMapping, done func()) error {
	if done != nil {
		done()
	}
	return nil
}

func (NopRunner) Remove(_ string, done func()) {
	if done != nil {
		done()
	}
}

// Config configures a Reconciler.
type Config struct {
	Store store.Store
	// Runner runs the mappings. Default NopRunner.
	Runner Runner
	// Resync is how often every mapping is reconciled even without a notification (retries
	// failed steps, restarts what a restart lost); default 30 s.
	Resync time.Duration
	Logger *slog.Logger
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Store == nil {
		return errors.New("reconcile: Store is required")
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

// Reconciler is described in the package comment. At start and every Resync it reconciles
// every mapping, so a restart resumes polling and a failed step is retried. It does not stop
// running mappings when the node shuts down: the Runner's owner does that.
type Reconciler struct {
	cfg  Config
	kick chan struct{}

	mu      sync.Mutex
	pending map[string]struct{}
	arrived map[string]int64 // uuid → revision the Runner reported as got there
}

// New builds a reconciler; Run starts it.
func New(cfg Config) (*Reconciler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Reconciler{cfg: cfg, kick: make(chan struct{}, 1), pending: map[string]struct{}{}, arrived: map[string]int64{}}, nil
}

// Notify tells the reconciler that mapping uuid changed. It never blocks.
func (r *Reconciler) Notify(uuid string) {
	r.mu.Lock()
	r.pending[uuid] = struct{}{}
	r.mu.Unlock()
	r.wake()
}

func (r *Reconciler) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// doneFor is the Runner's done callback for revision rev of mapping uuid.
func (r *Reconciler) doneFor(uuid string, rev int64) func() {
	return func() {
		r.mu.Lock()
		if cur, ok := r.arrived[uuid]; !ok || cur < rev {
			r.arrived[uuid] = rev
		}
		r.mu.Unlock()
		r.wake()
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
		batch, arrived := r.pending, r.arrived
		r.pending, r.arrived = map[string]struct{}{}, map[string]int64{}
		r.mu.Unlock()
		if len(batch) == 0 && len(arrived) == 0 {
			return
		}
		for id := range batch {
			r.reconcile(ctx, id)
		}
		for id, rev := range arrived {
			r.settle(ctx, id, rev)
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

// reconcile hands one mapping to the Runner. Errors are logged; the mapping keeps its
// transitional state and the next resync tries again.
func (r *Reconciler) reconcile(ctx context.Context, id string) {
	log := r.cfg.Logger.With("uuid", id)
	m, err := r.cfg.Store.GetMapping(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		r.cfg.Runner.Remove(id, nil)
		return
	}
	if err != nil {
		log.Error("reconciler: reading mapping", "err", err)
		return
	}
	done := r.doneFor(id, m.Revision)
	if m.State == mapping.StateDeleting {
		r.cfg.Runner.Remove(id, done)
		return
	}
	if err := r.cfg.Runner.Apply(m, done); err != nil {
		log.Error("reconciler: runner refused the mapping", "state", m.State, "err", err)
	}
}

// settle moves revision rev of mapping id out of its transitional state, now that the Runner
// got it there; a newer revision is left alone (its own reconcile follows).
func (r *Reconciler) settle(ctx context.Context, id string, rev int64) {
	log := r.cfg.Logger.With("uuid", id)
	m, err := r.cfg.Store.GetMapping(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			log.Error("reconciler: reading mapping", "err", err)
		}
		return
	}
	if m.Revision != rev || !m.Transitional() {
		return
	}
	if m.State == mapping.StateDeleting {
		if err := r.cfg.Store.DeleteMapping(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Error("reconciler: deleting mapping", "err", err)
		}
		return
	}
	_, err = r.cfg.Store.UpdateMapping(ctx, id, func(cur *mapping.EventSourceMapping) error {
		if cur.Revision != rev {
			return errStale
		}
		cur.State = cur.Settled()
		return nil
	})
	if err != nil && !errors.Is(err, errStale) && !errors.Is(err, store.ErrNotFound) {
		log.Error("reconciler: settling state", "err", err)
	}
}
