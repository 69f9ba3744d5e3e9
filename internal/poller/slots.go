package poller

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// slots bounds a mapping's concurrent invocations once its function throttles, fairly. Every
// worker of every poller of the mapping takes a slot before each invocation attempt. Until the
// first throttle the limit is unbounded and a slot costs one uncontended lock. A throttle lowers
// the limit to the concurrency the function just accepted (Limit); successes raise it by one
// again after limit·probeRounds of them, so it follows a limit that rises, at the price of one
// throttle per probe. Waiting workers are served in rounds: each attempt of a worker's belongs
// to the round after its previous one (or to the current round, for a worker that was idle), the
// line is ordered by round, first in first out within one, and a throttled attempt keeps its
// round and goes ahead of the others of that round. So no partition waits more than one round
// behind the others (the per-worker backoff this replaces let unlucky partitions wait up to 30 s
// again and again while lucky ones kept the slots; a line in plain arrival order let the attempt
// granted beside a throttled one gain a turn at every probe, the same partition every time). A
// throttle with nothing else of the mapping in flight (the node's limit, reached by other
// mappings, or a limit of 0) would find a free slot at once: the line then holds for a backoff
// that grows with such throttles in a row and ends at the first success, so that it does not
// become a busy loop.
type slots struct {
	backoff Backoff

	mu       sync.Mutex
	limit    int // math.MaxInt until the first throttle
	inUse    int
	line     []*slotWaiter // by round, then arrival
	round    uint64        // the round of the latest attempt given a slot
	ok       int           // successes since the limit last changed
	throttle int           // throttles in a row
	holdTill time.Time     // no slot is given before this
	timer    *time.Timer
}

type slotWaiter struct {
	ready chan struct{} // closed when the slot is given
	given bool          // under slots.mu
	round uint64
}

// turn is a worker's place in its mapping's rounds: the round of its latest attempt. Only the
// worker's goroutine uses it, under slots.mu.
type turn struct{ round uint64 }

// probeRounds: the limit rises by one after limit·probeRounds successes without a throttle.
const probeRounds = 4

func newSlots(b Backoff) *slots { return &slots{backoff: b, limit: math.MaxInt} }

// Limit returns the current limit of concurrent invocations (0: unbounded).
func (s *slots) Limit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit == math.MaxInt {
		return 0
	}
	return s.limit
}

// acquire waits for a slot, in line; t is the worker's turn. An attempt after a throttled one
// (retry) keeps its round and goes ahead of the others of that round; any other attempt
// belongs to the round after the worker's previous one, or to the current round if that is
// later. It returns false (holding no slot) when stop or ctx end first.
func (s *slots) acquire(ctx context.Context, stop <-chan struct{}, t *turn, retry bool) bool {
	s.mu.Lock()
	if !retry {
		t.round = max(s.round, t.round+1)
	}
	if len(s.line) == 0 && s.inUse < s.limit && !time.Now().Before(s.holdTill) {
		s.inUse++
		s.round = max(s.round, t.round)
		s.mu.Unlock()
		return true
	}
	w := &slotWaiter{ready: make(chan struct{}), round: t.round}
	i := len(s.line)
	for i > 0 && (s.line[i-1].round > w.round || retry && s.line[i-1].round == w.round) {
		i--
	}
	s.line = slices.Insert(s.line, i, w)
	s.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-stop:
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.given { // given while we gave up: hand it on
		s.inUse--
		s.grantLocked()
		return false
	}
	for i, x := range s.line {
		if x == w {
			s.line = append(s.line[:i], s.line[i+1:]...)
			break
		}
	}
	return false
}

// release gives the slot back with the attempt's outcome: throttled or not.
func (s *slots) release(throttled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	accepted := s.inUse - 1 // the attempts in flight beside this one
	s.inUse--
	if throttled {
		s.limit = nextLimit(s.limit, accepted, true)
		s.ok = 0
		if accepted > 0 {
			// The others in flight hold every slot: the next try waits for one of them.
			return
		}
		// Throttled with nothing else of ours in flight: the limit is someone else's (the
		// node's, shared with other mappings) or 0. Hold the line, or it would spin.
		d := s.backoff.Delay(s.throttle)
		s.throttle++
		s.holdTill = time.Now().Add(d)
		if s.timer == nil {
			s.timer = time.AfterFunc(d, s.grant)
		} else {
			s.timer.Reset(d)
		}
		return
	}
	s.throttle = 0
	s.holdTill = time.Time{}
	s.ok++
	if s.limit != math.MaxInt && s.ok >= s.limit*probeRounds {
		s.limit = nextLimit(s.limit, accepted, false)
		s.ok = 0
	}
	s.grantLocked()
}

// nextLimit is the limit after an attempt: a throttle lowers it to what the function accepted
// beside the throttled attempt (at least 1); enough successes raise it by one.
func nextLimit(limit, accepted int, throttled bool) int {
	if throttled {
		return max(1, min(limit, accepted))
	}
	if limit == math.MaxInt {
		return limit
	}
	return limit + 1
}

func (s *slots) grant() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grantLocked()
}

func (s *slots) grantLocked() {
	if time.Now().Before(s.holdTill) {
		return // the timer set with holdTill grants later
	}
	for len(s.line) > 0 && s.inUse < s.limit {
		w := s.line[0]
		s.line = s.line[1:]
		w.given = true
		s.inUse++
		s.round = max(s.round, w.round)
		close(w.ready)
	}
}

// stop ends the hold timer; the slots are not used afterwards.
func (s *slots) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
}

// ConcurrencyLimit returns how many invocations at a time a mapping allows itself since its
// function throttled; 0 while unbounded or when the mapping is unknown.
func (mg *Manager) ConcurrencyLimit(uuid string) int {
	mg.mu.Lock()
	e := mg.entries[uuid]
	mg.mu.Unlock()
	if e == nil {
		return 0
	}
	return e.slots.Limit()
}
