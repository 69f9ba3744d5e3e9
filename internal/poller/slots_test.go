package poller

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

func TestNextLimit(t *testing.T) {
	for _, tt := range []struct {
		limit, accepted int
		throttled       bool
		want            int
	}{
		{math.MaxInt, 3, true, 3},            // first throttle: what the function accepted beside it
		{math.MaxInt, 0, true, 1},            // never below one
		{5, 7, true, 5},                      // a throttle never raises it
		{5, 2, true, 2},                      // someone else took some of the function's limit
		{3, 2, false, 4},                     // enough successes: probe one more
		{math.MaxInt, 9, false, math.MaxInt}, // never throttled: unbounded
	} {
		if got := nextLimit(tt.limit, tt.accepted, tt.throttled); got != tt.want {
			t.Errorf("nextLimit(%d, %d, %v) = %d, want %d", tt.limit, tt.accepted, tt.throttled, got, tt.want)
		}
	}
}

// TestSlotsFair: twelve partitions share a function that accepts three invocations at a time.
// The mapping's concurrency falls to three, and the partitions take turns: none falls more
// than a round behind the others.
func TestSlotsFair(t *testing.T) {
	const workers, limit, rounds = 12, 3, 50
	s := newSlots(Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond})
	defer s.stop()
	var (
		running, throttles atomic.Int64
		mu                 sync.Mutex
		done               = make([]int, workers)
		spread             int // largest gap between two partitions' deliveries, after the first round
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			var tn turn
			throttled := false
			for {
				mu.Lock()
				finished := done[i] >= rounds
				mu.Unlock()
				if finished || !s.acquire(context.Background(), stop, &tn, throttled) {
					return
				}
				throttled = running.Add(1) > limit
				if throttled {
					throttles.Add(1)
				} else {
					time.Sleep(100 * time.Microsecond) // the function runs
				}
				running.Add(-1)
				s.release(throttled)
				if !throttled {
					mu.Lock()
					done[i]++
					if slices.Min(done) > 0 {
						spread = max(spread, slices.Max(done)-slices.Min(done))
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if got := s.Limit(); got < 1 || got > limit+1 {
		t.Errorf("limit %d, want about %d", got, limit)
	}
	t.Logf("throttles %d for %d deliveries; largest gap between partitions %d", throttles.Load(), workers*rounds, spread)
	if spread > 5 { // one round is up to 2 as measured here (deliveries finish in any order), plus scheduling noise

		t.Errorf("a partition fell %d deliveries behind another", spread)
	}
}

// TestSlotsFairProbing: five partitions share a function that accepts one invocation at a
// time, so every probe for a higher limit (after 4 successes at a limit of 1) grants two
// attempts and one is throttled. The attempt granted with the throttled one must not gain a
// turn at every probe: with the line in arrival order, the same partition was the probe's
// partner every time (one goroutine scheduler, which runs the last one woken first) and
// delivered a third more than the others, the gap growing without bound (26 deliveries in 100
// rounds).
func TestSlotsFairProbing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const workers, limit, rounds = 5, 1, 100
	s := newSlots(Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond})
	defer s.stop()
	var (
		running atomic.Int64
		mu      sync.Mutex
		done    = make([]int, workers)
		spread  int // largest gap between two partitions' deliveries while all are busy
	)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			var tn turn
			throttled := false
			for {
				mu.Lock()
				finished := done[i] >= rounds
				mu.Unlock()
				if finished || !s.acquire(context.Background(), nil, &tn, throttled) {
					return
				}
				throttled = running.Add(1) > limit
				time.Sleep(50 * time.Microsecond) // the function runs
				running.Add(-1)
				s.release(throttled)
				if !throttled {
					mu.Lock()
					done[i]++
					if slices.Max(done) < rounds {
						spread = max(spread, slices.Max(done)-slices.Min(done))
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	t.Logf("largest gap between partitions %d deliveries", spread)
	if spread > 3 {
		t.Errorf("a partition fell %d deliveries behind another", spread)
	}
}

// TestSlotsGiveUp: a waiting worker told to stop leaves the line and holds nothing.
func TestSlotsGiveUp(t *testing.T) {
	s := newSlots(Backoff{Initial: time.Millisecond, Max: time.Millisecond})
	s.limit = 1
	if !s.acquire(context.Background(), nil, &turn{}, false) {
		t.Fatal("first acquire")
	}
	stop := make(chan struct{})
	got := make(chan bool)
	go func() { got <- s.acquire(context.Background(), stop, &turn{}, false) }()
	close(stop)
	if <-got {
		t.Fatal("acquired after stop")
	}
	s.release(false)
	if !s.acquire(context.Background(), nil, &turn{}, false) {
		t.Fatal("slot lost")
	}
}

// TestSlotsOrder: waiting workers get slots in the order they asked, and a throttled retry
// keeps its turn.
func TestSlotsOrder(t *testing.T) {
	s := newSlots(Backoff{Initial: time.Millisecond, Max: time.Millisecond})
	s.limit = 1
	if !s.acquire(context.Background(), nil, &turn{}, false) {
		t.Fatal("first acquire")
	}
	order := make(chan string, 4)
	wait := func(name string, retry bool) {
		n := len(s.waiting())
		go func() {
			if s.acquire(context.Background(), nil, &turn{}, retry) {
				order <- name
			}
		}()
		kafkatest.WaitFor(t, 10*time.Second, func() error {
			if k := len(s.waiting()); k != n+1 {
				return fmt.Errorf("%d waiting", k)
			}
			return nil
		})
	}
	wait("a", false)
	wait("b", false)
	wait("retry", true)
	wait("c", false)
	var got []string
	for range 4 {
		s.release(false)
		got = append(got, <-order)
	}
	s.release(false)
	if want := []string{"retry", "a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func (s *slots) waiting() []*slotWaiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.line)
}
