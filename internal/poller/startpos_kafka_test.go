package poller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestStartPositionResolvedOnce: a LATEST or AT_TIMESTAMP mapping whose partitions have no
// committed offset resolves their start when they are first assigned and commits it at once.
// Stopping it before any record arrived (a Disable, an update that restarts the consumer,
// access recovery, a rebalance, a crash all reassign the same way) and starting it again
// must not start from the log end again: the records produced in between are delivered.
func TestStartPositionResolvedOnce(t *testing.T) {
	for _, pos := range []string{"LATEST", "AT_TIMESTAMP"} {
		t.Run(pos, func(t *testing.T) {
			kt := kafkatest.Get(t)
			const parts = 2
			topic := kt.CreateTopic(t, parts, nil)
			prod := manualProducer(t, kt)
			for p := int32(0); p < parts; p++ {
				kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Partition: p, Value: []byte("before")})
			}
			rec := newRecorder()
			mg := newTestManager(t, testConfig(rec, nil))
			m := newMapping(kt.Plaintext, topic)
			m.StartingPosition = pos
			if pos == "AT_TIMESTAMP" {
				// After the "before" records: the start resolves to the log end, as LATEST.
				m.StartingPositionTimestamp = &mapping.EpochTime{Time: time.Now().Add(time.Second)}
			}
			apply(t, mg, m)
			waitAssigned(t, mg, m.UUID, parts)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := mg.Stop(ctx, m.UUID); err != nil {
				t.Fatal(err)
			}
			// Produced while the mapping is stopped, after its start was resolved.
			gapAt := time.Now().Add(2 * time.Second)
			for p := int32(0); p < parts; p++ {
				kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Partition: p, Value: []byte("gap"), Timestamp: gapAt})
			}
			apply(t, mg, m)
			kafkatest.WaitFor(t, 30*time.Second, func() error {
				for p := int32(0); p < parts; p++ {
					if len(rec.partition(topic, p)) == 0 {
						return fmt.Errorf("partition %d: nothing delivered", p)
					}
				}
				return nil
			})
			for p := int32(0); p < parts; p++ {
				ds := rec.partition(topic, p)
				if ds[0].offset != 1 || ds[0].value != "gap" {
					t.Errorf("partition %d: first delivery %q at offset %d, want \"gap\" at 1 (the start was resolved again at restart: skipped)", p, ds[0].value, ds[0].offset)
				}
			}
		})
	}
}

// TestStartPositionSurvivesRebalance: a LATEST mapping scaled out before any record arrived
// hands its partitions to new pollers, which start from the position resolved and committed
// at the first assignment, not from the log end at their own assignment: records produced
// meanwhile are delivered.
func TestStartPositionSurvivesRebalance(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts = 4
	topic := kt.CreateTopic(t, parts, nil)
	prod := manualProducer(t, kt)
	rec := newRecorder()
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.StartingPosition = "LATEST"
	apply(t, mg, m)
	waitAssigned(t, mg, m.UUID, parts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mg.SetPollers(ctx, m.UUID, parts); err != nil { // partitions move to new members
		t.Fatal(err)
	}
	for p := int32(0); p < parts; p++ { // produced while the group rebalances
		kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Partition: p, Value: []byte("during")})
	}
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		for _, s := range mg.Snapshots() {
			if s.UUID == m.UUID && s.Consuming == parts {
				return nil
			}
		}
		return fmt.Errorf("not every poller consumes yet")
	})
	for p := int32(0); p < parts; p++ { // after the rebalance
		kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Partition: p, Value: []byte("after")})
	}
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		for p := int32(0); p < parts; p++ {
			if n := len(rec.partition(topic, p)); n < 2 {
				return fmt.Errorf("partition %d: %d delivered", p, n)
			}
		}
		return nil
	})
	for p := int32(0); p < parts; p++ {
		if ds := rec.partition(topic, p); ds[0].offset != 0 || ds[0].value != "during" {
			t.Errorf("partition %d: first delivery %q at %d, want \"during\" at 0", p, ds[0].value, ds[0].offset)
		}
	}
}

// TestLatestNewPartitionStartsAtItsBeginning: a partition added to the topic after a LATEST
// mapping started has no committed offset when it is first assigned. Resolving LATEST there
// (its log end at that moment) skips every record produced to it before the poller noticed
// it: minutes, with the Kafka client's metadata refresh, or the time the mapping was
// disabled, as here. LATEST means "from when the mapping started": the new partition is read
// from its first record.
func TestLatestNewPartitionStartsAtItsBeginning(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	prod := manualProducer(t, kt)
	kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("before")})
	rec := newRecorder()
	mg := newTestManager(t, testConfig(rec, nil))
	m := newMapping(kt.Plaintext, topic)
	m.StartingPosition = "LATEST"
	apply(t, mg, m)
	waitAssigned(t, mg, m.UUID, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mg.Stop(ctx, m.UUID); err != nil { // Disable
		t.Fatal(err)
	}
	if _, err := kt.Admin(t).CreatePartitions(ctx, 1, topic); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		tds, err := kt.Admin(t).ListTopics(ctx, topic)
		if err != nil {
			return err
		}
		if n := len(tds[topic].Partitions); n != 2 {
			return fmt.Errorf("%d partitions", n)
		}
		return nil
	})
	prod = manualProducer(t, kt) // one that knows the new partition
	for p := int32(0); p < 2; p++ {
		kt.ProduceWith(t, prod, &kgo.Record{Topic: topic, Partition: p, Value: []byte("while disabled")})
	}
	apply(t, mg, m) // Enable
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		for p := int32(0); p < 2; p++ {
			if len(rec.partition(topic, p)) == 0 {
				return fmt.Errorf("partition %d: nothing delivered", p)
			}
		}
		return nil
	})
	for p, want := range []int64{1, 0} {
		if ds := rec.partition(topic, int32(p)); ds[0].offset != want || ds[0].value != "while disabled" {
			t.Errorf("partition %d: first delivery %q at offset %d, want \"while disabled\" at %d", p, ds[0].value, ds[0].offset, want)
		}
	}
}

// waitAssigned waits until mapping uuid's pollers on mg have n partitions assigned.
func waitAssigned(t *testing.T, mg *Manager, uuid string, n int) {
	t.Helper()
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		if s, _ := mg.Stats(uuid); s.Partitions != n {
			return fmt.Errorf("%d partitions assigned", s.Partitions)
		}
		return nil
	})
}
