package kafkaauth

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// kfake (the `kafkaesm dev` broker) answers OffsetFetch for a group that does not exist yet with
// GROUP_ID_NOT_FOUND where Apache Kafka answers with no offsets: a new mapping must still pass.
func TestProbeNewGroupOnKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Probe(ctx, nil, c.ListenAddrs(), "demo", "a-new-group"); err != nil {
		t.Errorf("Probe of a new group on kfake: %v", err)
	}
}
