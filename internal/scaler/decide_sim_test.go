package scaler

import (
	"math/rand/v2"
	"testing"
)

// plant is a crude mapping: P partitions, each poller fetches up to F records per interval
// spread over its partitions, the function delivers up to G records per interval per
// partition, a partition's queue holds up to Q records (then fetching pauses), and R records
// arrive per interval, jittered, spread evenly.
type plant struct {
	P          int
	F, G, Q, R float64
	jitter     float64
	unf, q     []float64
}

func (pl *plant) step(rng *rand.Rand, n int) Input {
	if pl.unf == nil {
		pl.unf, pl.q = make([]float64, pl.P), make([]float64, pl.P)
	}
	r := pl.R * (1 + pl.jitter*(2*rng.Float64()-1))
	perPoller := make([]int, n)
	for p := range pl.P {
		perPoller[p%n]++
	}
	var delivered, polled float64
	in := Input{Pollers: n, Partitions: pl.P}
	for p := range pl.P {
		pl.unf[p] += r / float64(pl.P)
		f := min(pl.unf[p], pl.F/float64(perPoller[p%n]), max(pl.Q-pl.q[p], 0))
		pl.unf[p] -= f
		pl.q[p] += f
		polled += f
		d := min(pl.q[p], pl.G)
		pl.q[p] -= d
		delivered += d
	}
	for p := range pl.P {
		in.Parts = append(in.Parts, Partition{Lag: int64(pl.unf[p] + pl.q[p]), Queued: int64(pl.q[p]), Paused: pl.q[p] >= pl.Q})
	}
	in.Delivered, in.Polled = int64(delivered), int64(polled)
	return in
}

// TestDecideConverges feeds Decide a simulated mapping (plant) under steady load with jitter
// for 600 intervals, 20 seeds per case, applying each decision (a change makes the next
// evaluation settle), and counts changes after the first 30 intervals: at most 2. At ±50%
// jitter around exactly the capacity of 3 pollers (the "critical" case) the count flips
// between 3 and 4 about once per 100 intervals: printed, not asserted.
func TestDecideConverges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pl     plant
		assert bool
	}{
		{"fetch-bound", plant{P: 12, F: 3000, G: 2000, Q: 1000, R: 9000, jitter: 0.2}, true},
		{"function-bound", plant{P: 12, F: 30000, G: 100, Q: 1000, R: 1100, jitter: 0.2}, true},
		{"light", plant{P: 12, F: 3000, G: 2000, Q: 1000, R: 500, jitter: 0.5}, true},
		{"critical", plant{P: 12, F: 1000, G: 2000, Q: 1000, R: 3000, jitter: 0.3}, true},
		{"critical-24", plant{P: 24, F: 1000, G: 2000, Q: 500, R: 4100, jitter: 0.2}, true},
		{"below-critical", plant{P: 12, F: 1000, G: 2000, Q: 1000, R: 2500, jitter: 0.5}, true},
		{"critical-50%", plant{P: 12, F: 1000, G: 2000, Q: 1000, R: 3000, jitter: 0.5}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			most, total := 0, 0
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 1))
				pl := tc.pl
				md := testModel()
				var st State
				n, late := 1, 0
				for i := range 600 {
					d := Decide(md, pl.step(rng, n), &st)
					if d.Pollers != n {
						if i >= 30 {
							late++
						}
						st.Unsettled = true // the group rebalances
						n = d.Pollers
					}
				}
				most, total = max(most, late), total+late
				if tc.assert && late > 2 {
					t.Errorf("seed %d: %d changes after the first 30 intervals", seed, late)
				}
			}
			t.Logf("%s: changes after the first 30 of 600 intervals: at most %d, %.1f on average", tc.name, most, float64(total)/20)
		})
	}
}

// TestDecideOddInputs: inputs the scaler should not see, but must survive: the answer stays
// within [1, partitions] and never panics.
func TestDecideOddInputs(t *testing.T) {
	huge := int64(1e12) // a trillion records per partition (sums of lags near 2^63 would overflow: not a real input)
	for _, tc := range []struct {
		name string
		in   Input
		st   State
		want int
	}{
		{"zero partitions, zero pollers", Input{}, State{}, 1},
		{"MaximumPollers below MinimumPollers", Input{Pollers: 1, Partitions: 10, Min: 5, Max: 3, Delivered: 10}, State{}, 3},
		{"negative lag and queue", Input{Pollers: 2, Partitions: 4, Parts: []Partition{{Lag: -5, Queued: -7}, {Lag: 300, Queued: 900}}, Delivered: 1}, State{}, 2},
		{"huge lag", Input{Pollers: 2, Partitions: 4, Parts: parts(4, huge), Delivered: 1}, State{}, 4},
		{"pollers beyond partitions", Input{Pollers: 9, Partitions: 4, Parts: parts(4, 0)}, State{}, 4},
		{"capacity NaN-free with nothing delivered", Input{Pollers: 3, Partitions: 4, Parts: parts(4, 0)}, State{Capacity: 1e-300, Under: 2}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			d := Decide(testModel(), tc.in, &st)
			if d.Pollers != tc.want {
				t.Errorf("Decide = %+v, want %d pollers", d, tc.want)
			}
		})
	}
}
