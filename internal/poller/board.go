package poller

import (
	"sync"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// Board is where a mapping's pollers leave their status reports for the mapping's owner (the
// AccessGate's supervisor) to act on and write to the store. Pollers report from their worker,
// poll and connection goroutines, often under their own status lock; Report only records the
// latest report and wakes the owner, so no store write, network call or callback into the
// gate ever runs there. It is the Manager's Reporter; the gate reads it. Nothing else.
//
// Reports are coalesced: the owner sees the latest one (each report is a whole status), plus
// sticky facts about the ones it missed: that one carried a StateTransitionReason (trouble:
// the consumer must stop), the last processing result that was OK or a function failure, and
// whether a batch succeeded.
type Board struct {
	mu sync.Mutex // a leaf: held only to read or write entries
	m  map[string]*boardEntry
}

type boardEntry struct {
	wake chan struct{} // cap 1
	taken
}

type boardReport struct{ state, reason, result, cause string }

// NewBoard returns an empty board.
func NewBoard() *Board { return &Board{m: map[string]*boardEntry{}} }

var _ Reporter = (*Board)(nil)

// Report implements Reporter. Reports of a mapping no owner watches are dropped.
func (b *Board) Report(uuid, state, reason, lastResult, cause string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[uuid]
	if e == nil {
		return
	}
	e.rep, e.pending = boardReport{state, reason, lastResult, cause}, true
	switch {
	case reason != "":
		e.trouble = true
	case lastResult == mapping.ResultOK || lastResult == mapping.ResultFunctionCallFailed:
		e.lastGood = lastResult
		e.okSeen = e.okSeen || lastResult == mapping.ResultOK
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// watch registers the owner of a mapping and returns the channel that wakes it when a report
// arrives. Watching a mapping already watched returns the same channel.
func (b *Board) watch(uuid string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[uuid]
	if e == nil {
		e = &boardEntry{wake: make(chan struct{}, 1)}
		b.m[uuid] = e
	}
	return e.wake
}

// forget drops a mapping's entry: its reports are dropped from now on.
func (b *Board) forget(uuid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, uuid)
}

// taken is a mapping's reports since the last take: what take hands the owner.
type taken struct {
	rep      boardReport
	pending  bool   // rep not yet taken
	trouble  bool   // a report with a reason arrived since the last take
	okSeen   bool   // an OK result arrived since the last take
	lastGood string // the last OK or Function call failed result, "" when none yet
}

// take returns what arrived since the last take and clears it (lastGood stays).
func (b *Board) take(uuid string) taken {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[uuid]
	if e == nil {
		return taken{}
	}
	t := e.taken
	e.pending, e.trouble, e.okSeen = false, false, false
	return t
}
