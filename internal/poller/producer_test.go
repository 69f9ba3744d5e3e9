package poller

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// producer returns a producing client for the test broker that takes records up to 16 MB (the
// oversized-record test) and refreshes metadata quickly (new topics).
func producer(t testing.TB, kt *kafkatest.Cluster, opts ...kgo.Opt) *kgo.Client {
	return kt.Client(t, append([]kgo.Opt{kgo.ProducerLinger(5 * time.Millisecond), kgo.ProducerBatchMaxBytes(16 << 20),
		kgo.MaxBufferedRecords(1 << 20), kgo.MetadataMinAge(100 * time.Millisecond)}, opts...)...)
}
