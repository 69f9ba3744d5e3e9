package poller

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestHundredMappingsLeaveNoGoroutines starts 100 mappings against the real broker (each with
// its consumer group), waits until each has joined, disables half, enables them again,
// deletes all of them and closes the gate: no goroutine is left behind.
func TestHundredMappingsLeaveNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("100 consumer groups")
	}
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 2, nil)
	before := goleak.IgnoreCurrent()
	rec := newRecorder()
	board := NewBoard()
	mg, err := NewManager(testConfig(rec, board))
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewAccessGate(AccessConfig{
		Probe:    func(context.Context, *mapping.EventSourceMapping) error { return nil },
		Classify: func(error) (string, string) { return "", "" },
	}, mg, board)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	ms := make([]*mapping.EventSourceMapping, n)
	for i := range ms {
		ms[i] = newMapping(kt.Plaintext, topic)
	}
	// each runs step on every mapping in ms and waits for all the done callbacks.
	each := func(what string, ms []*mapping.EventSourceMapping, step func(m *mapping.EventSourceMapping, done func())) {
		t.Helper()
		var wg sync.WaitGroup
		wg.Add(len(ms))
		for _, m := range ms {
			step(m, wg.Done)
		}
		ch := make(chan struct{})
		go func() { wg.Wait(); close(ch) }()
		select {
		case <-ch:
		case <-time.After(120 * time.Second):
			t.Fatalf("%s: not every mapping got there", what)
		}
	}
	apply := func(m *mapping.EventSourceMapping, done func()) {
		if err := g.Apply(m, done); err != nil {
			t.Error(err)
			done()
		}
	}
	each("start", ms, apply)
	if got := len(mg.Snapshots()); got != n {
		t.Fatalf("%d mappings running, want %d", got, n)
	}
	disabled := make([]*mapping.EventSourceMapping, n/2)
	for i := range disabled {
		disabled[i] = ms[i].Clone()
		disabled[i].Enabled = false
	}
	each("disable", disabled, apply)
	each("enable", ms[:n/2], apply)
	each("delete", ms, func(m *mapping.EventSourceMapping, done func()) { g.Remove(m.UUID, done) })
	if got := len(mg.Snapshots()); got != 0 {
		t.Fatalf("%d mappings still running after delete", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before)
}
