package poller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// destination is a mapping's producer for its kafka:// on-failure destination: a client of
// its own on the same cluster, with the same access configuration (SASL, TLS) as the
// consumer, made on first use and closed when the consumer stops.
type destination struct {
	c  *consumer
	mu sync.Mutex
	cl *kgo.Client
}

// destinationTryTimeout bounds one attempt to produce (and have acknowledged) a batch of
// destination messages; the worker then reports the problem and tries again.
const destinationTryTimeout = 15 * time.Second

func (d *destination) client(ctx context.Context) (*kgo.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl != nil {
		return d.cl, nil
	}
	c := d.c
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.spec.servers...),
		kgo.ClientID("kafkaesm-" + c.uuid + "-destination"),
		// acks=all and idempotence are franz-go's defaults: acknowledged means replicated.
		kgo.ProducerBatchMaxBytes(64 << 20), // an oversized record is sent whole
		kgo.ProducerLinger(0),
		kgo.UnknownTopicRetries(2),
	}
	if c.cfg.ClientOpts != nil {
		extra, err := c.cfg.ClientOpts(ctx, c.m)
		if err != nil {
			return nil, fmt.Errorf("client options: %w", err)
		}
		opts = append(opts, extra...)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	d.cl = cl
	return cl, nil
}

func (d *destination) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl != nil {
		d.cl.Close()
		d.cl = nil
	}
}

// produceToDestination produces msgs and waits for the broker's acknowledgement of every one,
// retrying with backoff for as long as it takes: the partition waits (its offsets are not
// committed past the records) and the mapping reports the problem meanwhile. It returns false
// only when the worker is stopping.
func (w *worker) produceToDestination(msgs []*kgo.Record) bool {
	c := w.c
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for attempt := 0; ; attempt++ {
		if w.isStopping() {
			return false
		}
		err := func() error {
			ctx, cancel := context.WithTimeout(w.ctx, destinationTryTimeout)
			defer cancel()
			cl, err := c.dest.client(ctx)
			if err != nil {
				return err
			}
			// Fresh records each try: a record that failed keeps producer state.
			rs := make([]*kgo.Record, len(msgs))
			for i, m := range msgs {
				rs[i] = &kgo.Record{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: m.Headers}
			}
			return cl.ProduceSync(ctx, rs...).FirstErr()
		}()
		if err == nil {
			c.status.destinationFailed(w, "")
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		topic := msgs[0].Topic
		c.status.destinationFailed(w, fmt.Sprintf("PROBLEM: OnFailure destination kafka://%s cannot be written to: %s", topic, shortErr(err)))
		delay := c.cfg.Backoff.Delay(attempt)
		c.log.Warn("cannot write to the on-failure destination; the partition waits", "destination", "kafka://"+topic,
			"topic", w.tp.topic, "partition", w.tp.partition, "records", len(msgs), "retry_in", delay, "err", err)
		if timer == nil {
			timer = time.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		select {
		case <-timer.C:
		case <-w.stopping:
			return false
		case <-w.ctx.Done():
			return false
		}
	}
}

// shortErr names a Kafka error by its code (stable, so the reported text does not change on
// every retry), or gives the error's text.
func shortErr(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out waiting for the broker's acknowledgement"
	}
	return err.Error()
}
