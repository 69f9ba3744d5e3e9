package kafkaauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Probe checks, before a mapping starts consuming, that the cluster accepts the mapping's
// credentials and grants what Lambda requires (reference §4.9): it connects (TLS, SASL), then
// asks for the cluster-level broker configs (DescribeConfigs on Cluster), the topic's end
// offsets (Describe on Topic) and the group's committed offsets (Describe on Group). Read on
// Topic and Group is first exercised by the poll itself; those failures arrive as poll errors
// and go through Classify the same way.
//
// Connection-level failures (bad SASL, bad TLS) never surface in PollFetches — the client
// retries them forever — which is why this runs first. A topic that does not exist yet is not
// an error: Lambda waits for it. The returned error goes to Classify; Probe adds context but
// keeps the cause reachable with errors.Is/As.
func Probe(ctx context.Context, opts []kgo.Opt, brokers []string, topic, group string) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...), kgo.SeedBrokers(brokers...))...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.DescribeBrokerConfigs(ctx); err != nil {
		return fmt.Errorf("describe cluster configs: %w", err)
	}
	offs, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = offs.Error()
	}
	if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	if _, err := adm.FetchOffsets(ctx, group); err != nil {
		return fmt.Errorf("describe group %s: %w", group, err)
	}
	return nil
}

// ConnectErrors is a kgo.HookBrokerConnect that remembers the latest connection failure, so a
// poller whose fetches stall can tell why: connection errors never reach PollFetches. Add it
// with kgo.WithHooks; it is safe for concurrent use.
type ConnectErrors struct {
	mu     sync.Mutex
	last   error
	lastAt time.Time
}

var _ kgo.HookBrokerConnect = (*ConnectErrors)(nil)

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (c *ConnectErrors) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if isContextErr(err) || errors.Is(err, kgo.ErrClientClosed) {
			return // our own shutdown, not the cluster's fault
		}
		c.last, c.lastAt = err, time.Now()
		return
	}
	c.last = nil
}

// Last returns when the most recent connection error happened and the error, or a nil error
// after a successful connection.
func (c *ConnectErrors) Last() (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastAt, c.last
}
