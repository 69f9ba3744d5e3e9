// Package scaler sizes each running event source mapping's pollers (members of the mapping's
// consumer group) from its consumer lag, as Lambda's on-demand mode does for Kafka: one poller
// at first, lag evaluated on an interval (Lambda: every minute), more pollers while the lag is
// more than the current pollers drain, at most one per partition, fewer when the lag stays near
// zero or the function is throttled. It decides; poller.Manager.SetPollers does the work.
//
// # The formula
//
// Every Interval, per mapping, with n pollers, P partitions (the most ever seen assigned),
// L = lag summed over the assigned partitions whose batch is not failing (a partition stuck
// retrying a failing batch cannot be helped by more pollers, so it never drives scale-out),
// D = records delivered since the last evaluation and T = throttled invocations since then:
//
//	lo = max(1, MinimumPollers), hi = min(P, MaximumPollers) (bounds only when set; lo ≤ hi)
//	T > 0                                  → n/2, and no scale-out for ThrottleCooldown evaluations
//	L > QuietLag and (L > L_prev or L > D·DrainIntervals)
//	                                       → clamp(min(2n, ⌈L / (D/n · DrainIntervals)⌉), n+1, …)
//	                                         (2n when D = 0): enough pollers, at the current
//	                                         per-poller rate, to drain L within DrainIntervals
//	                                         evaluations, at most doubling per evaluation
//	L ≤ QuietLag for QuietEvaluations evaluations in a row → n/2
//	otherwise                              → n
//
// and the result is clamped to [lo, hi]. With the defaults (60 s, 3 intervals) scale-out
// begins at the first evaluation that sees the backlog and completes within about three
// minutes, as Lambda documents. Doubling and halving bound the number of rebalances: 1 → 12
// takes four evaluations. Adding or removing a poller rebalances the group; the poller commits
// delivered offsets on revoke and before leaving, so scaling redelivers nothing in a
// fault-free run.
//
// Mappings are evaluated one after the other; a scale-in waits for the leaving pollers to drain
// (bounded by the poller's DrainTimeout), which delays the next mappings' evaluation, not their
// consumption. ProvisionedPollerConfig's MinimumPollers takes effect at the first evaluation.
//
// Note that each poller already invokes all of its partitions concurrently (one worker per
// partition), so more pollers add fetch and decode parallelism (connections, fetch sessions,
// poll loops) rather than invocation concurrency.
package scaler

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/poller"
)

// Target is what the scaler sizes; *poller.Manager implements it.
type Target interface {
	// Snapshots lists the running mappings with their counters and partitions.
	Snapshots() []poller.Snapshot
	// SetPollers runs n pollers for the mapping.
	SetPollers(ctx context.Context, uuid string, n int) error
}

// Config configures a Scaler. Zero values take the documented defaults.
type Config struct {
	// Target is sized. Required.
	Target Target
	// Interval between evaluations. Default 60 s, as Lambda; at least 1 s.
	Interval time.Duration
	// DrainIntervals: scale out while the lag would take the current pollers more than this
	// many intervals to drain. Default 3 (Lambda: scaling completes within three minutes).
	DrainIntervals int
	// QuietLag is the lag (records) at or below which a mapping counts as idle. Default 100.
	QuietLag int64
	// QuietEvaluations is how many idle evaluations in a row halve the pollers. Default 3.
	QuietEvaluations int
	// ThrottleCooldown is how many evaluations after a throttle may not scale out. Default 3.
	ThrottleCooldown int
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
	if c.QuietEvaluations <= 0 {
		c.QuietEvaluations = 3
	}
	if c.ThrottleCooldown < 0 {
		return errors.New("scaler: ThrottleCooldown below 0")
	}
	if c.ThrottleCooldown == 0 {
		c.ThrottleCooldown = 3
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// setPollersTimeout bounds one SetPollers call (poller.Config.DrainTimeout is 30 s by default,
// then a commit and a LeaveGroup).
const setPollersTimeout = time.Minute

// Scaler evaluates mappings on an interval. Run owns all its state: one goroutine.
type Scaler struct {
	cfg    Config
	states map[string]*state
}

// state is what the scaler remembers of a mapping between evaluations.
type state struct {
	lag, invoked, throttled int64 // at the last evaluation
	partitions              int   // most partitions ever seen assigned
	quiet                   int   // idle evaluations in a row
	cooldown                int   // evaluations left without scale-out after a throttle
}

// New validates cfg.
func New(cfg Config) (*Scaler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Scaler{cfg: cfg, states: make(map[string]*state)}, nil
}

// Run evaluates every Interval until ctx ends; it returns nil then.
func (s *Scaler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Evaluate(ctx)
		}
	}
}

// Evaluate runs one evaluation of every mapping. Not safe for concurrent use with Run.
func (s *Scaler) Evaluate(ctx context.Context) {
	seen := make(map[string]bool)
	for _, snap := range s.cfg.Target.Snapshots() {
		seen[snap.UUID] = true
		st := s.states[snap.UUID]
		if st == nil {
			st = &state{}
			s.states[snap.UUID] = st
		}
		in := inputOf(snap, st)
		n := decide(&s.cfg, in, st)
		if n == snap.Pollers {
			continue
		}
		s.cfg.Logger.Info("scaling mapping pollers", "uuid", snap.UUID, "from", snap.Pollers, "to", n,
			"lag", in.lag, "delivered", in.delivered, "throttled", in.throttled, "partitions", in.partitions)
		// A member leaving drains its in-flight batches and commits: shutting down mid-way
		// must not cut that short (it would redeliver), so the call outlives ctx, bounded.
		setCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), setPollersTimeout)
		err := s.cfg.Target.SetPollers(setCtx, snap.UUID, n)
		cancel()
		if err != nil {
			s.cfg.Logger.Warn("scaling mapping pollers", "uuid", snap.UUID, "err", err)
		}
	}
	for u := range s.states {
		if !seen[u] {
			delete(s.states, u)
		}
	}
}

// input is one evaluation's view of a mapping.
type input struct {
	pollers    int
	partitions int   // P: most partitions seen
	lag        int64 // L: over non-retrying partitions
	prevLag    int64
	delivered  int64 // D
	throttled  int64 // T
	min, max   int   // ProvisionedPollerConfig, 0 = unset
}

// inputOf reads a snapshot and advances st's counters.
func inputOf(snap poller.Snapshot, st *state) input {
	in := input{pollers: max(snap.Pollers, 1), prevLag: st.lag, min: snap.MinimumPollers, max: snap.MaximumPollers}
	for _, p := range snap.Partitions {
		if !p.Retrying {
			in.lag += p.Lag
		}
	}
	st.partitions = max(st.partitions, len(snap.Partitions))
	in.partitions = st.partitions
	// Counters only grow while the mapping runs; a smaller value means it was recreated.
	in.delivered = max(snap.Stats.Invoked-st.invoked, 0)
	in.throttled = max(snap.Stats.Throttled-st.throttled, 0)
	st.lag, st.invoked, st.throttled = in.lag, snap.Stats.Invoked, snap.Stats.Throttled
	return in
}

// decide applies the package comment's formula and updates st's quiet and cooldown counts.
func decide(cfg *Config, in input, st *state) int {
	n := in.pollers
	target := n
	cooling := st.cooldown > 0
	if cooling {
		st.cooldown--
	}
	switch {
	case in.throttled > 0:
		st.quiet = 0
		st.cooldown = cfg.ThrottleCooldown
		target = n / 2
	case in.lag > cfg.QuietLag && (in.lag > in.prevLag || in.lag > in.delivered*int64(cfg.DrainIntervals)):
		st.quiet = 0
		if cooling {
			break
		}
		target = 2 * n
		if perPoller := in.delivered / int64(n); perPoller > 0 {
			need := ceilDiv(in.lag, perPoller*int64(cfg.DrainIntervals))
			target = int(min(need, int64(2*n)))
		}
		target = max(target, n+1)
	case in.lag <= cfg.QuietLag:
		st.quiet++
		if st.quiet >= cfg.QuietEvaluations {
			st.quiet = 0
			target = n / 2
		}
	default:
		st.quiet = 0
	}
	lo, hi := 1, max(in.partitions, 1)
	if in.min > 0 {
		lo = in.min
	}
	if in.max > 0 {
		hi = min(hi, in.max)
	}
	lo = min(lo, hi) // Lambda caps even the minimum at the partition count
	return min(max(target, lo), hi)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
