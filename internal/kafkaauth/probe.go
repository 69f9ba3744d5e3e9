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
// credentials and grants what Lambda requires (reference §4.9), without side effects:
//
//   - connect (TLS, SASL): cl.Ping;
//   - DescribeConfigs on Cluster: DescribeConfigs of the cluster-level broker config;
//   - Describe and Read on Topic: topic metadata with the principal's authorized operations,
//     then ListOffsets;
//   - Describe and Read on Group: OffsetFetch, then DescribeGroups with authorized operations.
//
// Read is checked through the authorized-operations sets Kafka reports (KIP-430) because the
// operations that need Read (Fetch, JoinGroup, OffsetCommit) would start consuming or change the
// group. Where no set is reported — brokers before Kafka 2.3, and any group that does not exist
// yet (a new mapping's group is GROUP_ID_NOT_FOUND without operations) — the check passes; the
// poll's JoinGroup then meets the error and Classify reports it the same way.
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

	md, err := adm.Metadata(kadm.WithAuthorizedOps(ctx), topic)
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	if td, ok := md.Topics[topic]; ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		if td.Err != nil {
			return fmt.Errorf("describe topic %s: %w", topic, td.Err)
		}
		if !mayRead(td.AuthorizedOperations) {
			return fmt.Errorf("topic %s: no Read permission: %w", topic, kerr.TopicAuthorizationFailed)
		}
		err := retryTransient(ctx, func() error {
			offs, err := adm.ListEndOffsets(ctx, topic)
			if err == nil {
				err = offs.Error()
			}
			if err != nil {
				return fmt.Errorf("list offsets of topic %s: %w", topic, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}

	// A group that does not exist yet has no offsets: Apache Kafka answers OffsetFetch with
	// none, kfake (the `kafkaesm dev` broker) with GROUP_ID_NOT_FOUND. Neither is an access problem.
	// Neither is a coordinator that is not ready yet (a fresh cluster still creating
	// __consumer_offsets answers COORDINATOR_NOT_AVAILABLE for a while): those are retried.
	return retryTransient(ctx, func() error {
		if _, err := adm.FetchOffsets(ctx, group); err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return fmt.Errorf("describe group %s: %w", group, err)
		}
		dg, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return fmt.Errorf("describe group %s: %w", group, err)
		}
		if g, ok := dg[group]; ok {
			if g.Err != nil && !errors.Is(g.Err, kerr.GroupIDNotFound) {
				return fmt.Errorf("describe group %s: %w", group, g.Err)
			}
			if !mayRead(g.AuthorizedOperations) {
				return fmt.Errorf("group %s: no Read permission: %w", group, kerr.GroupAuthorizationFailed)
			}
		}
		return nil
	})
}

// transientWait bounds how long Probe waits out retriable broker errors.
const transientWait = 20 * time.Second

// retryTransient runs fn until it returns nil or an error that is not a retriable Kafka error
// (kerr.IsRetriable), for at most transientWait.
func retryTransient(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(transientWait)
	wait := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || !kerr.IsRetriable(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		if wait < time.Second {
			wait *= 2
		}
	}
}

// mayRead reports whether an authorized-operations set allows Read. An empty set means the
// broker did not report one, which is not evidence of a missing permission.
func mayRead(ops []kadm.ACLOperation) bool {
	if len(ops) == 0 {
		return true
	}
	for _, op := range ops {
		if op == kadm.OpRead || op == kadm.OpAll {
			return true
		}
	}
	return false
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
