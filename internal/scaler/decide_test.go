package scaler

import (
	"context"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/poller"
)

func TestDecide(t *testing.T) {
	cfg := Config{Target: nopTarget{}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   input
		st   state
		want int
		// state afterwards
		quiet, cooldown int
	}{
		{name: "backlog, nothing delivered yet: double", in: input{pollers: 1, partitions: 12, lag: 5000}, want: 2},
		{name: "backlog drained too slowly: double at most", in: input{pollers: 4, partitions: 12, lag: 5000, prevLag: 6000, delivered: 400}, want: 8},
		{name: "backlog needs a few more", in: input{pollers: 4, partitions: 12, lag: 5000, prevLag: 6000, delivered: 1200}, want: 6}, // ⌈5000 / (300·3)⌉
		{name: "never beyond the partitions", in: input{pollers: 8, partitions: 12, lag: 50000, prevLag: 40000}, want: 12},
		{name: "lag growing, though drained fast", in: input{pollers: 2, partitions: 12, lag: 500, prevLag: 400, delivered: 10000}, want: 3},
		{name: "lag shrinking fast enough: hold", in: input{pollers: 4, partitions: 12, lag: 500, prevLag: 900, delivered: 1000}, want: 4},
		{name: "small lag is quiet, first time: hold", in: input{pollers: 4, partitions: 12, lag: 50}, want: 4, quiet: 1},
		{name: "quiet long enough: halve", in: input{pollers: 4, partitions: 12}, st: state{quiet: 2}, want: 2},
		{name: "quiet at one poller: stay", in: input{pollers: 1, partitions: 12}, st: state{quiet: 2}, want: 1},
		{name: "throttled: halve and cool down", in: input{pollers: 12, partitions: 12, lag: 9000, throttled: 3}, want: 6, cooldown: 3},
		{name: "cooling down: no scale-out", in: input{pollers: 6, partitions: 12, lag: 9000, prevLag: 8000}, st: state{cooldown: 3}, want: 6, cooldown: 2},
		{name: "minimum pollers", in: input{pollers: 1, partitions: 12, min: 3}, want: 3, quiet: 1},
		{name: "minimum capped by partitions", in: input{pollers: 1, partitions: 2, min: 5}, want: 2, quiet: 1},
		{name: "maximum pollers", in: input{pollers: 4, partitions: 12, lag: 9000, max: 5}, want: 5},
		{name: "above maximum: come down", in: input{pollers: 8, partitions: 12, max: 5}, want: 5, quiet: 1},
		{name: "partitions unknown yet: one", in: input{pollers: 1, lag: 9000}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			if got := decide(&cfg, tt.in, &st); got != tt.want {
				t.Errorf("decide = %d, want %d", got, tt.want)
			}
			if st.quiet != tt.quiet || st.cooldown != tt.cooldown {
				t.Errorf("state quiet=%d cooldown=%d, want %d %d", st.quiet, st.cooldown, tt.quiet, tt.cooldown)
			}
		})
	}
}

// TestInputExcludesRetrying: a partition stuck on a failing batch does not count as lag.
func TestInputExcludesRetrying(t *testing.T) {
	st := &state{invoked: 100}
	in := inputOf(poller.Snapshot{Pollers: 2, Stats: poller.Stats{Invoked: 150, Throttled: 1}, Partitions: []poller.PartitionStats{
		{Partition: 0, Lag: 10}, {Partition: 1, Lag: 5000, Retrying: true}, {Partition: 2, Lag: 20},
	}}, st)
	if in.lag != 30 || in.delivered != 50 || in.throttled != 1 || in.partitions != 3 {
		t.Fatalf("input %+v", in)
	}
	if st.lag != 30 || st.invoked != 150 || st.partitions != 3 {
		t.Fatalf("state %+v", st)
	}
}

type nopTarget struct{}

func (nopTarget) Snapshots() []poller.Snapshot { return nil }
func (nopTarget) SetPollers(context.Context, string, int) error {
	return nil
}
