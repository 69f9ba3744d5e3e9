package poller

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// goid is the calling goroutine's id (tests only: it tells which goroutine did what).
func goid() string {
	var b [64]byte
	return strings.Fields(string(b[:runtime.Stack(b[:], false)]))[1]
}

// ownerInner is a consumer side that records, in one log, every call of the gate and every
// status write with the goroutine that made it. Calls for a mapping listed in hold wait until
// its channel is closed. A stopping consumer's last batch reports OK to the board from another
// goroutine (a worker) while it drains.
type ownerInner struct {
	board *Board

	mu      sync.Mutex
	events  []string // "<call> <uuid>[ arg] @<goroutine>"
	busy    map[string]bool
	overlap []string // calls for a mapping made while another one for it was under way
	hold    map[string]chan struct{}
	entered chan string
}

func (f *ownerInner) call(what, uuid string) func() {
	f.mu.Lock()
	if f.busy[uuid] {
		f.overlap = append(f.overlap, what+" "+uuid)
	}
	f.busy[uuid] = true
	f.events = append(f.events, what+" "+uuid+" @"+goid())
	h := f.hold[uuid]
	f.mu.Unlock()
	if h != nil {
		f.entered <- what + " " + uuid
		<-h
	}
	return func() { f.mu.Lock(); f.busy[uuid] = false; f.mu.Unlock() }
}

func (f *ownerInner) setHold(uuid string, h chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h == nil {
		delete(f.hold, uuid)
	} else {
		f.hold[uuid] = h
	}
}

func (f *ownerInner) Apply(_ context.Context, m *mapping.EventSourceMapping) error {
	defer f.call("apply", m.UUID)()
	return nil
}

func (f *ownerInner) Stop(_ context.Context, uuid string) error {
	defer f.call("stop", uuid)()
	reported := make(chan struct{})
	go func() { f.board.Report(uuid, "", "", mapping.ResultOK, ""); close(reported) }()
	<-reported
	return nil
}

func (f *ownerInner) SetPollers(_ context.Context, uuid string, n int) error {
	defer f.call("pollers", uuid)()
	return nil
}

func (f *ownerInner) Joined(string) <-chan struct{} { return closedChan }
func (f *ownerInner) Close(context.Context) error   { return nil }

// Report is the store: the status writes go into the same log.
func (f *ownerInner) Report(uuid, _, _, result, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, "report "+uuid+" "+result+" @"+goid())
}

// log returns the events of uuid, and the goroutine of each.
func (f *ownerInner) log(uuid string) (events, gs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.events {
		if !strings.Contains(e, " "+uuid) {
			continue
		}
		i := strings.LastIndex(e, " @")
		events, gs = append(events, e[:i]), append(gs, e[i+2:])
	}
	return events, gs
}

// TestAccessGateOwnerDrains: the mapping's owner goroutine does the whole lifecycle. Remove
// returns at once; the owner drains (the inner Stop), writes the status the draining
// consumer reported, and calls Remove's done only then; an Apply arriving during the drain is
// handled by the same owner after it (the consumer starts again); a Remove queued behind a
// restart (a blocking inner Apply) and a resize runs after them, on the same goroutine, never
// at the same time; another mapping is started, resized and updated while this one drains.
func TestAccessGateOwnerDrains(t *testing.T) {
	board := NewBoard()
	inner := &ownerInner{board: board, busy: map[string]bool{}, hold: map[string]chan struct{}{}, entered: make(chan string, 4)}
	g, err := NewAccessGate(AccessConfig{Probe: func(context.Context, *mapping.EventSourceMapping) error { return nil },
		Classify: classifyFake, Reporter: inner, Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond}}, inner, board)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close(context.Background()) })
	await := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	applied := func(m *mapping.EventSourceMapping) <-chan struct{} {
		ch := make(chan struct{})
		var once sync.Once
		if err := g.Apply(m, func() { once.Do(func() { close(ch) }) }); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	removeNow := func(uuid string) <-chan struct{} { // Remove must not wait for the drain
		t.Helper()
		done, returned := make(chan struct{}), make(chan struct{})
		go func() { g.Remove(uuid, func() { close(done) }); close(returned) }()
		await(returned, "Remove to return while the consumer drains")
		return done
	}
	entered := func(want string) {
		t.Helper()
		select {
		case got := <-inner.entered:
			if got != want {
				t.Fatalf("%s began, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %s", want)
		}
	}

	m, other := newMapping("h:9092", "t"), newMapping("h:9092", "t2")
	await(applied(m), "the mapping to run")
	await(applied(other), "the other mapping to run")

	// Remove during nothing; the drain is held. Meanwhile the other mapping goes on, and
	// this mapping is enabled again (Disable then Enable).
	release := make(chan struct{})
	inner.setHold(m.UUID, release)
	removed := removeNow(m.UUID)
	entered("stop " + m.UUID)
	if err := g.SetPollers(context.Background(), other.UUID, 2); err != nil {
		t.Fatal(err)
	}
	upd := other.Clone()
	upd.BatchSize = 7
	await(applied(upd), "the other mapping's update while this one drains")
	waitUntil(t, "the other mapping's resize", func() bool {
		ev, _ := inner.log(other.UUID)
		return strings.Contains(strings.Join(ev, ","), "pollers")
	})
	reenabled := applied(m)
	select {
	case <-removed:
		t.Fatal("Remove's done before the drain ended")
	default:
	}
	inner.setHold(m.UUID, nil)
	close(release)
	await(removed, "Remove's done")
	await(reenabled, "the mapping to run again")

	// A Remove queued behind a restart's drain (the inner Apply blocks) and a resize: the
	// owner finishes the restart first.
	release = make(chan struct{})
	inner.setHold(m.UUID, release)
	restarted := m.Clone()
	restarted.Topics = []string{"t3"}
	if err := g.Apply(restarted, nil); err != nil {
		t.Fatal(err)
	}
	entered("apply " + m.UUID)
	if err := g.SetPollers(context.Background(), m.UUID, 3); err != nil {
		t.Fatal(err)
	}
	removed = removeNow(m.UUID)
	inner.setHold(m.UUID, nil)
	close(release)
	await(removed, "Remove's done after the restart")

	events, gs := inner.log(m.UUID)
	want := []string{
		"apply " + m.UUID,
		"stop " + m.UUID, "report " + m.UUID + " " + mapping.ResultOK, // the drain's report, written after the drain by the owner
		"apply " + m.UUID, // enabled again: the same owner
		"apply " + m.UUID, // the restart
	}
	got := strings.Join(events, "\n")
	if !strings.HasPrefix(got, strings.Join(want, "\n")+"\n") {
		t.Fatalf("calls and writes of the mapping:\n%s\nwant them to begin with:\n%s", got, strings.Join(want, "\n"))
	}
	rest := events[len(want):]
	if n := len(rest); n < 2 || rest[n-2] != "stop "+m.UUID || rest[n-1] != "report "+m.UUID+" "+mapping.ResultOK {
		t.Fatalf("after the restart %q, want an optional resize, then the stop and its report", rest)
	}
	for i, gr := range gs {
		if gr != gs[0] {
			t.Fatalf("%q ran on goroutine %s, the owner is %s: %q", events[i], gr, gs[0], events)
		}
	}
	if len(inner.overlap) > 0 {
		t.Fatalf("calls for one mapping at the same time: %q", inner.overlap)
	}
	g.mu.Lock()
	_, owned := g.sups[m.UUID]
	g.mu.Unlock()
	if owned {
		t.Fatal("the owner did not end after its consumer stopped")
	}
	if _, gsOther := inner.log(other.UUID); gsOther[0] == gs[0] {
		t.Fatal("two mappings share an owner")
	}
}
