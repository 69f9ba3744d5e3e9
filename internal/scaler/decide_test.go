package scaler

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/poller"
)

func testModel() Model {
	cfg := Config{Target: nopTarget{}, Interval: 2 * time.Second}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return cfg.Model
}

// parts returns k partitions with the given lag each, nothing queued: the pollers hold the
// records back (they wait on fetching).
func parts(k int, lag int64) []Partition {
	ps := make([]Partition, k)
	for i := range ps {
		ps[i] = Partition{Lag: lag}
	}
	return ps
}

// behind returns k partitions with the given lag each whose queue is full and paused: the
// function is behind.
func behind(k int, lag int64) []Partition {
	ps := make([]Partition, k)
	for i := range ps {
		ps[i] = Partition{Lag: lag, Queued: 1000, Paused: true}
	}
	return ps
}

// TestDecide: one evaluation at a time.
func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		in     Input
		st     State
		want   int
		wantSt State
	}{
		{name: "lag spike, nothing delivered yet (no rate): hold",
			in: Input{Pollers: 2, Partitions: 12, Parts: parts(12, 5000), Polled: 300}, want: 2},
		{name: "lag, nothing fetched or delivered: stalled, hold",
			in: Input{Pollers: 2, Partitions: 12, Parts: parts(12, 5000)}, want: 2},
		{name: "lag spike: scale out at once to drain within 3 intervals",
			in:   Input{Pollers: 2, Partitions: 12, Parts: parts(12, 5000), Delivered: 8000},
			want: 5, wantSt: State{Capacity: 4000}}, // ⌈2·60000 / (8000·3)⌉
		{name: "never beyond the partitions that wait on fetching",
			in:   Input{Pollers: 2, Partitions: 12, Parts: append(parts(3, 50000), behind(9, 1000)...), Delivered: 100},
			want: 3, wantSt: State{Capacity: 50}},
		{name: "never beyond the partitions",
			in:   Input{Pollers: 8, Partitions: 12, Parts: parts(12, 50000), Delivered: 100},
			want: 12, wantSt: State{Capacity: 12.5}},
		{name: "one hot partition: no scale-out",
			in:   Input{Pollers: 1, Partitions: 12, Parts: append(parts(1, 100000), parts(11, 0)...), Delivered: 2000},
			want: 1, wantSt: State{Capacity: 2000}},
		{name: "one hot partition with two pollers: stay",
			in:   Input{Pollers: 2, Partitions: 12, Parts: append(parts(1, 100000), parts(11, 0)...), Delivered: 2000},
			want: 2, wantSt: State{Capacity: 1000}},
		{name: "function behind (paused, queued): no scale-out",
			in:   Input{Pollers: 1, Partitions: 12, Parts: behind(12, 5000), Delivered: 100},
			want: 1},
		{name: "failing batches drive nothing",
			in:   Input{Pollers: 1, Partitions: 3, Parts: []Partition{{Lag: 90000, Retrying: true}, {Lag: 10}, {Lag: 10}}, Delivered: 20},
			want: 1, wantSt: State{Capacity: 20}},
		{name: "one slow invocation drives nothing",
			in:   Input{Pollers: 1, Partitions: 3, Parts: []Partition{{Lag: 90000, InFlight: time.Minute}, {Lag: 10}, {Lag: 10}}, Delivered: 20},
			want: 1, wantSt: State{Capacity: 20}},
		{name: "lag drained fast enough: hold",
			in:   Input{Pollers: 4, Partitions: 12, Parts: parts(12, 200), Delivered: 30000},
			st:   State{Capacity: 10000},
			want: 4, wantSt: State{Capacity: 10000}},
		{name: "under-used, first time: hold",
			in:   Input{Pollers: 4, Partitions: 12, Parts: parts(12, 200), Delivered: 3000},
			st:   State{Capacity: 10000},
			want: 4, wantSt: State{Capacity: 10000, Under: 1}},
		{name: "under-used three times, even with lag above 100: scale in to what the rate needs",
			in:   Input{Pollers: 4, Partitions: 12, Parts: parts(12, 200), Delivered: 13000},
			st:   State{Capacity: 10000, Under: 2},
			want: 2, wantSt: State{Capacity: 10000}}, // ⌈13000 / 7000⌉
		{name: "idle, capacity unknown: halve",
			in: Input{Pollers: 4, Partitions: 12}, st: State{Under: 2}, want: 2},
		{name: "idle at one poller: stay",
			in: Input{Pollers: 1, Partitions: 12}, st: State{Under: 2}, want: 1},
		{name: "throttled: no scale-out, and a cooldown",
			in:   Input{Pollers: 2, Partitions: 12, Parts: parts(12, 9000), Delivered: 1000, Throttled: 3},
			want: 2, wantSt: State{Capacity: 500, Cooldown: 3}},
		{name: "throttled: no scale-in for it either",
			in:   Input{Pollers: 4, Partitions: 12, Parts: parts(12, 9000), Delivered: 1000, Throttled: 30},
			want: 4, wantSt: State{Capacity: 250, Cooldown: 3}},
		{name: "cooling down: no scale-out",
			in:   Input{Pollers: 2, Partitions: 12, Parts: parts(12, 9000), Delivered: 1000},
			st:   State{Cooldown: 3},
			want: 2, wantSt: State{Capacity: 500, Cooldown: 2}},
		{name: "settling after a change: hold, whatever the lag",
			in: Input{Pollers: 2, Partitions: 12, Parts: parts(12, 9000), Settling: true}, want: 2, wantSt: State{Unsettled: true}},
		{name: "settled, but the rate still covers the rebalance: hold",
			in: Input{Pollers: 2, Partitions: 12, Parts: parts(12, 9000)}, st: State{Unsettled: true}, want: 2},
		{name: "settling: bounds still apply",
			in: Input{Pollers: 2, Partitions: 12, Parts: parts(12, 9000), Settling: true, Max: 1}, want: 1, wantSt: State{Unsettled: true}},
		{name: "minimum pollers",
			in: Input{Pollers: 1, Partitions: 12, Min: 3}, want: 3},
		{name: "minimum capped by partitions",
			in: Input{Pollers: 1, Partitions: 2, Min: 5}, want: 2},
		{name: "minimum before the partitions are known",
			in: Input{Pollers: 1, Min: 3}, want: 3},
		{name: "maximum pollers",
			in: Input{Pollers: 4, Partitions: 12, Parts: parts(12, 9000), Delivered: 1000, Max: 5}, want: 5, wantSt: State{Capacity: 250}},
		{name: "above maximum: come down",
			in: Input{Pollers: 8, Partitions: 12, Max: 5}, want: 5, wantSt: State{Under: 1}},
		{name: "partitions unknown yet: no growth",
			in: Input{Pollers: 1, Parts: parts(1, 9000)}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			d := Decide(testModel(), tt.in, &st)
			if d.Pollers != tt.want {
				t.Errorf("Decide = %+v, want %d pollers", d, tt.want)
			}
			if (d.Reason == "") != (d.Pollers == max(tt.in.Pollers, 1)) || (d.Kind == "") != (d.Reason == "") {
				t.Errorf("reason %q for %d → %d", d.Reason, tt.in.Pollers, d.Pollers)
			}
			if st != tt.wantSt {
				t.Errorf("state %+v, want %+v", st, tt.wantSt)
			}
		})
	}
}

// TestDecideOverTime: the scenarios as sequences of evaluations, each fed the pollers
// the previous one decided.
func TestDecideOverTime(t *testing.T) {
	md := testModel()
	// run feeds in(i, n) for rounds evaluations and returns the poller count after each.
	run := func(n int, st *State, rounds int, in func(i, n int) Input) []int {
		var out []int
		for i := range rounds {
			x := in(i, n)
			x.Pollers = n
			n = Decide(md, x, st).Pollers
			out = append(out, n)
		}
		return out
	}
	rng := rand.New(rand.NewPCG(1, 2))

	t.Run("steady healthy load with jitter: no change", func(t *testing.T) {
		// one poller delivered 20,000 per interval when it was the bottleneck; or three were
		// needed, at 2,500 each
		for _, c := range []struct {
			start    int
			capacity float64
		}{{1, 20000}, {3, 2500}} {
			start := c.start
			st := State{Capacity: c.capacity}
			got := run(start, &st, 300, func(i, n int) Input {
				// 2,000-2,400 records in the pollers at any time, 6,000 ± 10% delivered per interval
				lag := 2000 + rng.Int64N(400)
				ps := parts(12, lag/12)
				for j := range ps {
					ps[j].Queued = lag / 24 // half already fetched
				}
				return Input{Partitions: 12, Parts: ps, Delivered: 5400 + rng.Int64N(1200)}
			})
			for i, n := range got {
				if n != start {
					t.Fatalf("start %d: evaluation %d: %d pollers (%v)", start, i, n, got[:i+1])
				}
			}
		}
	})

	t.Run("lag spike: scale out within one interval, no more changes while it drains", func(t *testing.T) {
		st := State{}
		lag := int64(120000)
		got := run(1, &st, 10, func(i, n int) Input {
			d := int64(n) * 8000 // each poller delivers 8,000 per interval
			in := Input{Partitions: 12, Parts: parts(12, max(lag, 0)/12), Delivered: d}
			lag -= d
			if i == 0 {
				in.Delivered = 8000
			}
			return in
		})
		if got[0] <= 1 {
			t.Fatalf("no scale-out at the first evaluation: %v", got)
		}
		changes := 0
		for i := 1; i < len(got); i++ {
			if got[i] > got[i-1] {
				changes++
			}
		}
		if changes > 1 {
			t.Fatalf("%d further scale-outs: %v", changes, got)
		}
	})

	t.Run("load gone: scale in within 3 intervals", func(t *testing.T) {
		st := State{Capacity: 8000}
		got := run(6, &st, 3, func(i, n int) Input { return Input{Partitions: 12, Parts: parts(12, 0)} })
		if got[2] != 1 {
			t.Fatalf("pollers after 3 idle evaluations: %v", got)
		}
	})

	t.Run("function behind a backlog: scale in all the same", func(t *testing.T) {
		// A spike took the mapping to 12 pollers (each fetched 3,000 per interval); now the
		// function delivers 1,200 per interval, every partition is paused with a full queue
		// and 50,000 records behind. The pollers are under-used, whatever the lag: one would
		// do. (It kept 12 until the backlog drained: 500 intervals.)
		st := State{Capacity: 3000}
		got := run(12, &st, 4, func(i, n int) Input {
			return Input{Partitions: 12, Parts: behind(12, 50000), Delivered: 1200}
		})
		if got[2] != 1 || got[3] != 1 {
			t.Fatalf("pollers %v, want 1 after 3 evaluations", got)
		}
	})

	t.Run("one hot partition left after a spike: scale in to what the rest needs", func(t *testing.T) {
		// A spike took the mapping to 12 pollers (1,000 per interval each); now one partition
		// has a backlog the pollers cannot fetch fast enough and the 11 others keep up: 2,100
		// per interval in all. Only the hot partition's poller has a backlog to fetch; three
		// pollers deliver 2,100 with headroom. (All 12 stayed for as long as the hot
		// partition was behind.)
		st := State{Capacity: 1000}
		got := run(12, &st, 4, func(i, n int) Input {
			return Input{Partitions: 12, Parts: append(parts(1, 1000000+int64(i)*5000), parts(11, 20)...), Delivered: 2100}
		})
		if got[2] != 3 || got[3] != 3 {
			t.Fatalf("pollers %v, want 3 after 3 evaluations", got)
		}
	})

	t.Run("load just under a poller's capacity: no oscillation", func(t *testing.T) {
		st := State{Capacity: 10000}
		got := run(3, &st, 200, func(i, n int) Input {
			// 16,000 ± 5% per interval: two pollers at 80%, which scale-in (70% headroom)
			// never chooses, and the lag stays far below three intervals of it
			return Input{Partitions: 12, Parts: parts(12, 300), Delivered: 15200 + rng.Int64N(1600)}
		})
		changes := 0
		for i := 1; i < len(got); i++ {
			if got[i] != got[i-1] {
				changes++
			}
		}
		if got[len(got)-1] != 3 || changes > 0 {
			t.Fatalf("pollers %v", got)
		}
	})

	t.Run("throttling: no scale-out however large the lag", func(t *testing.T) {
		st := State{}
		got := run(2, &st, 20, func(i, n int) Input {
			return Input{Partitions: 12, Parts: parts(12, 10000), Delivered: 500, Polled: 500, Throttled: 10}
		})
		for _, n := range got {
			if n != 2 {
				t.Fatalf("pollers %v", got)
			}
		}
	})

	t.Run("one hot partition: no scale-out, ever", func(t *testing.T) {
		st := State{}
		got := run(1, &st, 20, func(i, n int) Input {
			return Input{Partitions: 12, Parts: append(parts(1, 500000), parts(11, 5)...), Delivered: 3000}
		})
		for _, n := range got {
			if n != 1 {
				t.Fatalf("pollers %v", got)
			}
		}
	})
}

// TestBounds: between evaluations, only the bounds move the pollers.
func TestBounds(t *testing.T) {
	for _, tt := range []struct {
		in     Input
		want   int
		reason string
	}{
		{Input{Pollers: 1, Min: 3}, 3, "MinimumPollers 3"},
		{Input{Pollers: 1, Min: 3, Partitions: 2}, 2, "MinimumPollers 3, capped at one poller per partition (2)"},
		{Input{Pollers: 6, Max: 4, Partitions: 12}, 4, "MaximumPollers 4"},
		{Input{Pollers: 6, Partitions: 4}, 4, "at most one poller per partition (4)"},
		{Input{Pollers: 2, Min: 1, Max: 4, Partitions: 12}, 2, ""},
		{Input{Pollers: 5}, 5, ""},
	} {
		if d := Bounds(tt.in); d.Pollers != tt.want || d.Reason != tt.reason || (d.Kind == "") != (d.Reason == "") {
			t.Errorf("Bounds(%+v) = %+v, want %d %q", tt.in, d, tt.want, tt.reason)
		}
	}
}

// TestInputOf: an evaluation's input from a snapshot.
func TestInputOf(t *testing.T) {
	st := &state{invoked: 100}
	in := inputOf(poller.Snapshot{Pollers: 2, TopicPartitions: 4, Stats: poller.Stats{Invoked: 150, Throttled: 1}, Partitions: []poller.PartitionStats{
		{Partition: 0, Lag: 10}, {Partition: 1, Lag: 5000, Retrying: true}, {Partition: 2, Lag: 20, Queued: 5, Paused: true, InFlight: time.Second},
	}}, st, time.Time{}, time.Second)
	if in.Delivered != 50 || in.Throttled != 1 || in.Partitions != 4 || len(in.Parts) != 3 ||
		in.Parts[1] != (Partition{Lag: 5000, Retrying: true}) || in.Parts[2] != (Partition{Lag: 20, Queued: 5, Paused: true, InFlight: time.Second}) {
		t.Fatalf("input %+v", in)
	}
	if st.invoked != 150 || st.throttled != 1 || st.partitions != 4 {
		t.Fatalf("state %+v", st)
	}
}

type nopTarget struct{}

func (nopTarget) Snapshots() []poller.Snapshot { return nil }
func (nopTarget) SetPollers(context.Context, string, int) error {
	return nil
}
func (nopTarget) RefreshLag(context.Context, string) error { return nil }

// TestInputOfCountsEveryRecordDone: lag counts every record, so its drain rate must too:
// records filtered out, dropped or sent to the on-failure destination leave the lag as
// delivered ones do. Counting only invoked records, a mapping whose filter keeps 1% of 3,000
// records per interval, 250 behind on each of 12 partitions, read 30 per interval and went
// from 1 poller to 12 (and a 1% filter kept 11 of 12 pollers for good in a simulation where 4
// do).
func TestInputOfCountsEveryRecordDone(t *testing.T) {
	st := &state{}
	in := inputOf(poller.Snapshot{Pollers: 1, TopicPartitions: 12, Consuming: 1,
		Stats: poller.Stats{Invoked: 30, Filtered: 2950, Dropped: 15, OnFailureDelivered: 5}}, st, time.Time{}, time.Second)
	if in.Delivered != 3000 {
		t.Fatalf("Delivered %d, want 3000 (invoked, filtered, dropped, to the destination)", in.Delivered)
	}
	in.Parts = parts(12, 250)
	var ms State
	if d := Decide(testModel(), in, &ms); d.Pollers != 1 {
		t.Fatalf("Decide = %+v: 3,000 records of lag drain in one interval at 3,000 per interval", d)
	}
}
