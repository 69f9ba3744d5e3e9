package scaler

import (
	"fmt"
	"math"
	"time"
)

// Partition is one partition of a mapping as an evaluation measures it.
type Partition struct {
	// Lag is the broker's high watermark (read at the evaluation, so fresh even while the
	// partition is paused) minus the next offset to deliver (or the committed offset before
	// the partition's first fetch).
	Lag int64
	// Queued records are fetched and waiting in the poller (part of Lag): the function, not
	// the pollers, has to get through them.
	Queued int64
	// Paused: the poller stopped fetching the partition because its queue is full (the
	// function is behind).
	Paused bool
	// Retrying: the partition's batch is failing and being retried.
	Retrying bool
	// InFlight is how long the partition's current invocation has been running (0: none).
	InFlight time.Duration
}

// Input is what one evaluation of a mapping measured.
type Input struct {
	// Pollers running now (at least 1).
	Pollers int
	// Partitions of the mapping's topics (0: not known yet).
	Partitions int
	// Min and Max are ProvisionedPollerConfig's MinimumPollers and MaximumPollers, 0 when unset.
	Min, Max int
	// Parts are the assigned partitions.
	Parts []Partition
	// Delivered records since the last evaluation (one interval): invoked, filtered out, or given
	// up on (dropped, sent to the on-failure destination); every record that left the lag.
	Delivered int64
	// Polled records (fetched by the pollers) since the last evaluation (for the log).
	Polled int64
	// Throttled invocation attempts since the last evaluation.
	Throttled int64
	// Settling: the group is rebalancing after a change (some pollers own no partition yet).
	// Rates measured across a rebalance say nothing about the pollers.
	Settling bool
}

// State is what the model remembers of a mapping between evaluations. The zero value is a
// mapping seen for the first time.
type State struct {
	// Capacity is the records one poller delivered per interval the last time the pollers
	// were the bottleneck (0: never measured).
	Capacity float64
	// Under counts evaluations in a row in which fewer pollers would have done.
	Under int
	// Cooldown counts evaluations left without scale-out after a throttle.
	Cooldown int
	// Unsettled: the last evaluation found the group settling, so this one's rates still
	// cover part of the rebalance.
	Unsettled bool
}

// Decision is the model's answer: how many pollers, and why (empty when unchanged).
type Decision struct {
	Pollers int
	// Kind is the reason's category, a metric label: KindLag, KindUnderUsed, KindMinimum,
	// KindMaximum or KindPartitions.
	Kind string
	// Reason says why in words, with the figures.
	Reason string
}

// Decision kinds.
const (
	KindLag        = "lag"
	KindUnderUsed  = "under-used"
	KindMinimum    = "MinimumPollers"
	KindMaximum    = "MaximumPollers"
	KindPartitions = "partitions"
)

// Model holds the constants of the decision; Config fills it with its defaults.
type Model struct {
	// DrainIntervals: the pollers are too few when the lag they could help with would take
	// more than this many intervals to drain at the delivery rate measured. Default 3.
	DrainIntervals int
	// QuietLag: lag at or below this never drives scale-out. Default 100.
	QuietLag int64
	// UnderEvaluations: evaluations in a row that must find the pollers under-used before
	// some are removed (hysteresis). Default 3.
	UnderEvaluations int
	// Headroom: scale-in keeps enough pollers to deliver the current rate at this fraction of
	// their measured capacity. Default 0.7.
	Headroom float64
	// ThrottleCooldown: evaluations after a throttle without scale-out. Default 3.
	ThrottleCooldown int
	// BlockedAfter: a partition whose invocation has run this long is blocked on the function
	// (a hung or slow invocation), and its lag drives nothing. Default: the interval.
	BlockedAfter time.Duration
}

// Decide is the scaling model, a pure function of what was measured and what was remembered
// (st is updated). With n pollers, per partition p that is not blocked (Retrying, or InFlight
// ≥ BlockedAfter):
//
//	L = Σ Lag                                         the lag the pollers could work on
//	U = Σ (Lag − Queued) over p not Paused            the part waiting on fetching, not on the function
//	h = #{p not Paused with Lag − Queued > QuietLag}  partitions a new poller could take over
//	D = Delivered                                     records per interval
//
//	bounds:    lo = max(1, Min), hi = min(Max, Partitions) (each when known); lo ≤ hi
//	saturated: L > QuietLag and L > D·DrainIntervals  (cannot drain within DrainIntervals)
//	scale out: saturated and 2U > L (the pollers, not the function, hold the records back)
//	           and no throttle in the last ThrottleCooldown evaluations
//	           and D > 0 (a measured rate: with none, the pollers are stalled or the function
//	           has not answered yet, and more pollers help neither)
//	           → min(max(n, h), ⌈n·L / (D·DrainIntervals)⌉);
//	           Capacity := D/n (when h ≥ n or Capacity is unknown: every poller held records back)
//	scale in:  (when not saturated, Capacity := max(Capacity, D/n): it did at least that much)
//	           not saturated, or saturated on the function (2U ≤ L), or saturated with h < n
//	           and Capacity known (one hot partition: the pollers beyond h fetch no backlog),
//	           and m < n for UnderEvaluations evaluations in a row, where
//	           m = ⌈D / (Capacity·Headroom)⌉ (⌈n/2⌉ when Capacity is unknown), and when
//	           saturated at least min(h, n) → m
//	otherwise: n
//
// clamped to [lo, hi]. While the group settles after a change (Settling), and for one
// evaluation after, only the bounds apply: a rate measured across a rebalance says nothing
// about the pollers. Scale-out reacts at the first evaluation that sees the backlog; it
// cannot exceed the partitions that wait on fetching (one hot partition is one poller's work
// however many there are), and a function that is behind (paused partitions), failing or hung
// never drives it: more pollers add fetching, not invocations; such a function, however far
// behind, does not keep pollers it does not need either, and nor does a hot partition. Scale-in needs UnderEvaluations
// evaluations and leaves Headroom, so steady load with jitter holds the count.
func Decide(md Model, in Input, st *State) Decision {
	n := max(in.Pollers, 1)
	lo, hi := bounds(in)

	var l, u, h int64
	for _, p := range in.Parts {
		if p.Retrying || (md.BlockedAfter > 0 && p.InFlight >= md.BlockedAfter) {
			continue
		}
		l += max(p.Lag, 0)
		if w := p.Lag - p.Queued; !p.Paused && w > 0 {
			u += w
			if w > md.QuietLag {
				h++
			}
		}
	}
	d := in.Delivered
	if in.Settling || st.Unsettled {
		st.Unsettled = in.Settling
		if in.Throttled > 0 {
			st.Cooldown = md.ThrottleCooldown
		}
		return clamp(in, n, lo, hi) // wait for the last change to take effect
	}
	cooling := st.Cooldown > 0
	if cooling {
		st.Cooldown--
	}
	if in.Throttled > 0 {
		st.Cooldown = md.ThrottleCooldown
		cooling = true
	}
	drain := int64(md.DrainIntervals)
	saturated := l > md.QuietLag && l > d*drain

	target, kind, reason := n, "", ""
	// fewer: the pollers are not all the bottleneck, so fewer may do, whatever the lag.
	fewer := true
	if saturated && 2*u > l {
		// The pollers hold records back. When fewer partitions wait on fetching than there
		// are pollers (one hot partition), the pollers beyond them have no backlog to fetch
		// and, with a measured capacity, may still be too many; otherwise every poller is
		// the bottleneck and its rate is the capacity.
		if h >= int64(n) || st.Capacity == 0 {
			fewer = false
			st.Under = 0
			if d > 0 {
				st.Capacity = float64(d) / float64(n)
			}
		}
		switch {
		case cooling:
			// throttled: more pollers would only be throttled too
		case d == 0:
			// Nothing delivered: the pollers are stalled (a rebalance, a starved machine) or
			// the function has not answered yet (hung, or the backlog arrived this very
			// interval). More pollers help none of these; the next evaluation has a rate.
		default:
			need := ceilDiv(int64(n)*l, d*drain)
			target = int(min(need, max(int64(n), h)))
			if target > n {
				kind, reason = KindLag, fmt.Sprintf("lag %d would take more than %d intervals to drain at %d records per interval", l, drain, d)
			}
		}
	}
	if fewer && target == n {
		// Not saturated, behind on the function (most of the lag is fetched and waits on it),
		// or a backlog on fewer partitions than pollers. Only when not saturated did each
		// poller deliver D/n with nothing held back: it can do at least that much.
		if !saturated {
			st.Capacity = max(st.Capacity, float64(d)/float64(n))
		}
		m := (n + 1) / 2
		if st.Capacity > 0 {
			m = int(math.Ceil(float64(d) / (st.Capacity * md.Headroom)))
		}
		if saturated {
			m = max(m, int(min(h, int64(n)))) // a poller for each partition waiting on fetching
		}
		m = max(m, lo, 1)
		switch {
		case m >= n:
			st.Under = 0
		case st.Under+1 < md.UnderEvaluations:
			st.Under++
		default:
			st.Under = 0
			target = m
			kind, reason = KindUnderUsed, fmt.Sprintf("under-used: %d records per interval need %d poller(s)", d, m)
		}
	}
	if target < lo || target > hi {
		return clamp(in, target, lo, hi)
	}
	if target == n {
		kind, reason = "", ""
	}
	return Decision{Pollers: target, Kind: kind, Reason: reason}
}

// Bounds brings the pollers within the mapping's bounds and changes nothing else: the scaler
// applies it between evaluations, so that bounds take effect at once.
func Bounds(in Input) Decision {
	lo, hi := bounds(in)
	return clamp(in, max(in.Pollers, 1), lo, hi)
}

// bounds: lo = max(1, Min), hi = min(Max, Partitions), each when known; lo ≤ hi. While the
// partitions are not known, hi does not exceed the pollers there are (or lo).
func bounds(in Input) (lo, hi int) {
	lo, hi = 1, math.MaxInt
	if in.Min > 0 {
		lo = in.Min
	}
	if in.Max > 0 {
		hi = in.Max
	}
	if in.Partitions > 0 {
		hi = min(hi, in.Partitions) // Lambda caps even the minimum at the partition count
	} else {
		hi = min(hi, max(in.Pollers, lo, 1))
	}
	return min(lo, hi), hi
}

func clamp(in Input, target, lo, hi int) Decision {
	n := max(in.Pollers, 1)
	d := Decision{Pollers: min(max(target, lo), hi)}
	switch {
	case d.Pollers == n:
	case target < lo && in.Min > 0 && lo == in.Min:
		d.Kind, d.Reason = KindMinimum, fmt.Sprintf("MinimumPollers %d", in.Min)
	case target < lo && in.Min > 0:
		d.Kind, d.Reason = KindPartitions, fmt.Sprintf("MinimumPollers %d, capped at one poller per partition (%d)", in.Min, lo)
	case target > hi && in.Max > 0 && hi == in.Max:
		d.Kind, d.Reason = KindMaximum, fmt.Sprintf("MaximumPollers %d", in.Max)
	case target > hi:
		d.Kind, d.Reason = KindPartitions, fmt.Sprintf("at most one poller per partition (%d)", hi)
	}
	return d
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
