package bench

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/event"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// The latency probe reads the payload kafkaesm really sends: build it with internal/event.
func TestPayloadLatencies(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	stamp := func(ago time.Duration) []byte {
		return strconv.AppendInt([]byte{latencyPrefix}, now.Add(-ago).UnixNano(), 10)
	}
	b := event.NewEncoder("", []string{"b:9092"}).NewBatch()
	defer b.Release()
	for i, v := range [][]byte{stamp(3 * time.Millisecond), []byte(warmValue), nil, stamp(time.Millisecond), []byte("tnot-a-number")} {
		if res, err := b.Add(&kgo.Record{Topic: "t", Partition: 1, Offset: int64(i), Value: v}); err != nil || res != event.Added {
			t.Fatal(res, err)
		}
	}
	got, err := payloadLatencies(b.Bytes(), now)
	if err != nil {
		t.Fatal(err)
	}
	want := latencyReport{Seen: 5, Nanos: []int64{int64(3 * time.Millisecond), int64(time.Millisecond)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatal(diff)
	}
	if _, err := payloadLatencies([]byte("{"), now); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

func TestLatencySummary(t *testing.T) {
	var s latencySink
	var rep latencyReport
	for i := 100; i >= 1; i-- {
		rep.Nanos = append(rep.Nanos, int64(i)*int64(time.Millisecond))
	}
	s.add(rep)
	want := Latency{Records: 100, P50Ms: 50, P99Ms: 99, MaxMs: 100}
	if diff := cmp.Diff(want, s.summary()); diff != "" {
		t.Fatal(diff)
	}
	s.reset()
	if diff := cmp.Diff(Latency{}, s.summary()); diff != "" {
		t.Fatal(diff)
	}
}

func TestMedian(t *testing.T) {
	got := median([]Drain{{RecordsPerSec: 3, MBPerSec: 30}, {RecordsPerSec: 1, MBPerSec: 10}, {RecordsPerSec: 2, MBPerSec: 20}})
	want := Drain{RecordsPerSec: 2, MBPerSec: 20, Rounds: []float64{30, 10, 20}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatal(diff)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Bootstrap: "b:9092"}, true},
		{"no bootstrap", Config{}, false},
		{"tiny records", Config{Bootstrap: "b:9092", Size: 8}, false},
		{"batch too large", Config{Bootstrap: "b:9092", BatchSize: 10_001}, false},
		{"negative partitions", Config{Bootstrap: "b:9092", Partitions: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
	c := Config{Bootstrap: "b:9092"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Partitions != 12 || c.Records != 1_000_000 || c.Size != 1024 || c.BatchSize != 10_000 || c.Rounds != 3 || len(c.FunctionCommand) != 2 {
		t.Fatalf("defaults: %+v", c)
	}
}

// A function that cannot run makes the run fail at once with the function's log, instead of
// retrying until the timeout.
func TestRunFailingFunction(t *testing.T) {
	kt := kafkatest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, err := Run(ctx, Config{Bootstrap: kt.Plaintext, Partitions: 1, Records: 200, Rounds: 1,
		FunctionCommand: []string{"/bin/sh", "-c", "echo bench-function-broken >&2; exit 3"}})
	if err == nil || !strings.Contains(err.Error(), "the function failed") || !strings.Contains(err.Error(), "bench-function-broken") {
		t.Fatalf("Run: %v", err)
	}
	t.Log(err)
}
