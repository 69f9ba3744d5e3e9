// Package scaler sizes each running event source mapping's pollers (members of the mapping's
// consumer group), as Lambda's on-demand mode does for Kafka: one poller at first, evaluated on
// an interval (Lambda: every minute), more pollers while they hold the lag back, fewer when
// they are under-used, within ProvisionedPollerConfig's bounds. It decides; poller.Manager's
// SetPollers does the work.
//
// The model is Decide (decide.go), a pure function of one evaluation's measurements: per
// partition, the lag from the broker's high watermark read at the evaluation (fresh even while
// the partition is paused), what is queued in the poller, whether fetching is paused, whether
// the batch is failing, and how long the current invocation has run; per mapping, the records
// delivered and the invocations throttled since the last evaluation.
//
// Note that each poller invokes all of its partitions concurrently (one worker per partition),
// so more pollers add fetch and decode parallelism, not invocation concurrency: the scaler adds
// pollers only when the pollers, not the function, hold the records back. Throttling lowers a
// mapping's concurrent invocations in the poller (its slot queue), not here; a throttle only
// stops scale-out for a while.
//
// Bounds apply from the first moment: a mapping seen for the first time, or whose
// ProvisionedPollerConfig changed, is brought within its bounds at once (the scaler looks every
// second), without waiting for an evaluation. Every change is logged once, with its reason.
//
// Mappings are evaluated one after the other; a scale-in waits for the leaving pollers to drain
// (bounded by the poller's DrainTimeout), which delays the next mappings' evaluation, not their
// consumption.
package scaler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/poller"
)

// Target is what the scaler sizes; *poller.Manager implements it.
type Target interface {
	// Snapshots lists the running mappings with their counters and partitions.
	Snapshots() []poller.Snapshot
	// SetPollers runs n pollers for the mapping.
	SetPollers(ctx context.Context, uuid string, n int) error
	// RefreshLag reads the mapping's high watermarks (and, for partitions not fetched yet, its
	// committed offsets) from the broker, so that the next snapshot's lag is fresh.
	RefreshLag(ctx context.Context, uuid string) error
}

// Config configures a Scaler. Zero values take the documented defaults.
type Config struct {
	// Target is sized. Required.
	Target Target
	// Interval between evaluations. Default 60 s, as Lambda; at least 1 s.
	Interval time.Duration
	// Model holds the decision's constants (DrainIntervals, QuietLag, UnderEvaluations,
	// Headroom, ThrottleCooldown, BlockedAfter); zero values take Model's defaults, BlockedAfter's
	// being Interval.
	Model
	// OnChange, when set, is called after each change of a mapping's poller count. Called
	// from the scaler's goroutine; it must be quick. Optional.
	OnChange func(Change)
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Validate fills defaults and reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.Target == nil {
		return errors.New("scaler: Config.Target is required")
	}
	if c.Interval == 0 {
		c.Interval = time.Minute
	}
	if c.Interval < time.Second {
		return errors.New("scaler: Interval below 1 s")
	}
	if c.DrainIntervals <= 0 {
		c.DrainIntervals = 3
	}
	if c.QuietLag <= 0 {
		c.QuietLag = 100
	}
	if c.UnderEvaluations <= 0 {
		c.UnderEvaluations = 3
	}
	if c.Headroom < 0 || c.Headroom > 1 {
		return errors.New("scaler: Headroom outside (0, 1]")
	}
	if c.Headroom == 0 {
		c.Headroom = 0.7
	}
	if c.ThrottleCooldown < 0 {
		return errors.New("scaler: ThrottleCooldown below 0")
	}
	if c.ThrottleCooldown == 0 {
		c.ThrottleCooldown = 3
	}
	if c.BlockedAfter <= 0 {
		c.BlockedAfter = c.Interval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// setPollersTimeout bounds one SetPollers call (poller.Config.DrainTimeout is 30 s by default,
// then a commit and a LeaveGroup).
const setPollersTimeout = time.Minute

// refreshTimeout bounds one RefreshLag call.
const refreshTimeout = 5 * time.Second

// boundsEvery is how often the scaler checks that every mapping is within its bounds.
const boundsEvery = time.Second

// Scaler evaluates mappings on an interval. Run owns states: one goroutine.
type Scaler struct {
	cfg    Config
	states map[string]*state

	mu     sync.Mutex
	status map[string]Status // read by Statuses from other goroutines

	evaluations atomic.Int64 // full evaluations of a mapping, for tests
}

// Status is a mapping's poller count as the scaler last set or found it, and why.
type Status struct {
	Pollers int
	Reason  string
	Changed time.Time
}

// Change is one change of a mapping's poller count.
type Change struct {
	UUID, Function string
	From, To       int
	Kind, Reason   string // Decision's
}

// state is what the scaler remembers of a mapping between evaluations.
type state struct {
	model                      State
	invoked, polled, throttled int64     // counters at the last evaluation (invoked: done(), every record done)
	partitions                 int       // most partitions ever seen assigned
	next                       time.Time // next full evaluation
	at                         time.Time // when invoked and throttled were read
}

// New validates cfg.
func New(cfg Config) (*Scaler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Scaler{cfg: cfg, states: make(map[string]*state), status: make(map[string]Status)}, nil
}

// Status returns a mapping's last scaling status; false when the scaler has not seen it.
func (s *Scaler) Status(uuid string) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.status[uuid]
	return st, ok
}

// Statuses returns every mapping's last scaling status, by UUID.
func (s *Scaler) Statuses() map[string]Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Status, len(s.status))
	for k, v := range s.status {
		out[k] = v
	}
	return out
}

// Run evaluates every Interval (and checks bounds every second) until ctx ends; it returns
// nil then.
func (s *Scaler) Run(ctx context.Context) error {
	t := time.NewTicker(min(boundsEvery, s.cfg.Interval))
	defer t.Stop()
	for {
		s.tick(ctx, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Evaluate runs one full evaluation of every mapping now. Not safe for concurrent use with Run.
func (s *Scaler) Evaluate(ctx context.Context) {
	s.tick(ctx, time.Time{})
}

// tick evaluates the mappings that are due at now (all of them when now is zero) and brings
// the others within their bounds.
func (s *Scaler) tick(ctx context.Context, now time.Time) {
	seen := make(map[string]bool)
	for _, snap := range s.cfg.Target.Snapshots() {
		seen[snap.UUID] = true
		st := s.states[snap.UUID]
		if st == nil {
			// First seen: the first full evaluation after one interval (counters need one to
			// mean a rate); the bounds apply now.
			// Its first interval is a start-up (joining the group, the first fetches): it
			// counts as settling.
			st = &state{invoked: done(snap.Stats), polled: snap.Stats.Polled, throttled: snap.Stats.Throttled, next: now.Add(s.cfg.Interval), at: time.Now(),
				model: State{Unsettled: true}}
			s.states[snap.UUID] = st
			s.setStatus(snap.UUID, snap.Pollers, "started", now)
		}
		var d Decision
		// Ticks come every boundsEvery, give or take: one that comes a little early is on time.
		if now.IsZero() || !now.Add(boundsEvery/2).Before(st.next) {
			st.next = now.Add(s.cfg.Interval)
			snap = s.refreshed(ctx, snap)
			in := inputOf(snap, st, time.Now(), s.cfg.Interval)
			d = Decide(s.cfg.Model, in, &st.model)
			s.evaluations.Add(1)
			if s.cfg.Logger.Enabled(ctx, slog.LevelDebug) {
				var lag, queued int64
				paused, blocked := 0, 0
				for _, p := range in.Parts {
					lag, queued = lag+p.Lag, queued+p.Queued
					if p.Paused {
						paused++
					}
					if p.Retrying || p.InFlight >= s.cfg.BlockedAfter {
						blocked++
					}
				}
				s.cfg.Logger.Debug("scaler evaluation", "uuid", snap.UUID, "pollers", in.Pollers, "decision", d.Pollers,
					"lag", lag, "queued", queued, "paused", paused, "blocked", blocked, "delivered", in.Delivered, "polled", in.Polled,
					"throttled", in.Throttled, "partitions", in.Partitions, "capacity", st.model.Capacity)
			}
		} else {
			st.partitions = max(st.partitions, len(snap.Partitions), snap.TopicPartitions)
			d = Bounds(Input{Pollers: snap.Pollers, Partitions: st.partitions, Min: snap.MinimumPollers, Max: snap.MaximumPollers})
		}
		if d.Pollers == snap.Pollers || d.Pollers == 0 {
			continue
		}
		s.cfg.Logger.Info("mapping pollers changed", "uuid", snap.UUID, "from", snap.Pollers, "to", d.Pollers, "kind", d.Kind, "reason", d.Reason)
		// A member leaving drains its in-flight batches and commits: shutting down mid-way
		// must not cut that short (it would redeliver), so the call outlives ctx, bounded.
		setCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), setPollersTimeout)
		err := s.cfg.Target.SetPollers(setCtx, snap.UUID, d.Pollers)
		cancel()
		if err != nil {
			s.cfg.Logger.Warn("setting mapping pollers", "uuid", snap.UUID, "to", d.Pollers, "err", err)
			continue
		}
		s.setStatus(snap.UUID, d.Pollers, d.Reason, time.Now())
		if s.cfg.OnChange != nil {
			s.cfg.OnChange(Change{UUID: snap.UUID, Function: snap.Function, From: snap.Pollers, To: d.Pollers, Kind: d.Kind, Reason: d.Reason})
		}
	}
	for u := range s.states {
		if !seen[u] {
			delete(s.states, u)
			s.mu.Lock()
			delete(s.status, u)
			s.mu.Unlock()
		}
	}
}

func (s *Scaler) setStatus(uuid string, n int, reason string, at time.Time) {
	if at.IsZero() {
		at = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[uuid] = Status{Pollers: n, Reason: reason, Changed: at}
}

// refreshed reads fresh high watermarks for the mapping and returns its new snapshot (snap
// itself when the broker does not answer: the lag is then as the pollers last saw it).
func (s *Scaler) refreshed(ctx context.Context, snap poller.Snapshot) poller.Snapshot {
	rctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	if err := s.cfg.Target.RefreshLag(rctx, snap.UUID); err != nil {
		s.cfg.Logger.Debug("reading high watermarks", "uuid", snap.UUID, "err", err)
		return snap
	}
	for _, fresh := range s.cfg.Target.Snapshots() {
		if fresh.UUID == snap.UUID {
			return fresh
		}
	}
	return snap
}

// inputOf reads a snapshot at now and advances st's counters. Delivered is per interval: the
// records done (delivered, filtered out, given up on) since the last evaluation, scaled by how
// long ago it was.
func inputOf(snap poller.Snapshot, st *state, now time.Time, interval time.Duration) Input {
	st.partitions = max(st.partitions, len(snap.Partitions), snap.TopicPartitions)
	in := Input{Pollers: max(snap.Pollers, 1), Partitions: st.partitions, Min: snap.MinimumPollers, Max: snap.MaximumPollers}
	in.Settling = st.partitions == 0 || snap.Consuming < min(in.Pollers, st.partitions)
	for _, p := range snap.Partitions {
		in.Parts = append(in.Parts, Partition{Lag: p.Lag, Queued: p.Queued, Paused: p.Paused, Retrying: p.Retrying, InFlight: p.InFlight})
	}
	// Counters only grow while the mapping runs; a smaller value means it was recreated.
	in.Delivered = max(done(snap.Stats)-st.invoked, 0)
	in.Polled = max(snap.Stats.Polled-st.polled, 0)
	if el := now.Sub(st.at); !st.at.IsZero() && el > 0 {
		in.Delivered = int64(float64(in.Delivered) * float64(interval) / float64(el))
		in.Polled = int64(float64(in.Polled) * float64(interval) / float64(el))
	}
	in.Throttled = max(snap.Stats.Throttled-st.throttled, 0)
	st.invoked, st.polled, st.throttled, st.at = done(snap.Stats), snap.Stats.Polled, snap.Stats.Throttled, now
	return in
}

// done counts the records that left the lag: delivered, filtered out, dropped or acknowledged
// by the on-failure destination. Lag counts every record, so its drain rate must too: with
// delivered records only, a filter that keeps 1% made the lag look a hundred times slower to
// drain than it was. (Records skipped by retention leave the lag too, but all at once: they
// say nothing of the pollers' rate.)
func done(s poller.Stats) int64 { return s.Invoked + s.Filtered + s.Dropped + s.OnFailureDelivered }
