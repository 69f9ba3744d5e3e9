package poller

// A stand-in for test/kafkatest until it lands on main: same call shapes (Get, CreateTopic,
// Produce, Admin, Client, UniqueName, WaitFor), so switching is a rename.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type testCluster struct{ Plaintext string }

func getCluster(t testing.TB) *testCluster {
	t.Helper()
	addr := os.Getenv("KAFKA_TEST_BOOTSTRAP_PLAINTEXT")
	if addr == "" {
		addr = "127.0.0.1:19092"
	}
	return &testCluster{Plaintext: addr}
}

func (c *testCluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Plaintext)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (c *testCluster) Admin(t testing.TB) *kadm.Client { return kadm.NewClient(c.Client(t)) }

func uniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func (c *testCluster) CreateTopic(t testing.TB, partitions int32, configs map[string]*string) string {
	t.Helper()
	name := uniqueName("t")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	waitFor(t, 30*time.Second, func() error {
		md, err := adm.Metadata(ctx, name)
		if err != nil {
			return err
		}
		td, ok := md.Topics[name]
		if !ok || td.Err != nil || len(td.Partitions) != int(partitions) {
			return fmt.Errorf("topic %s not ready", name)
		}
		for _, p := range td.Partitions {
			if p.Leader < 0 || p.Err != nil {
				return fmt.Errorf("partition %d has no leader", p.Partition)
			}
		}
		return nil
	})
	return name
}

func (c *testCluster) producer(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	return c.Client(t, append([]kgo.Opt{kgo.ProducerLinger(5 * time.Millisecond), kgo.ProducerBatchMaxBytes(16 << 20), kgo.MaxBufferedRecords(1 << 20), kgo.MetadataMinAge(100 * time.Millisecond)}, opts...)...)
}

func (c *testCluster) ProduceWith(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func waitFor(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v: %v", timeout, err)
		}
		time.Sleep(wait)
		if wait < 250*time.Millisecond {
			wait *= 2
		}
	}
}
