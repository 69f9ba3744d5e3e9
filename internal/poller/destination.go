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

// destination is a mapping's producer for its kafka:// on-failure destination: clients of
// its own on the same cluster, with the same access configuration (SASL, TLS) as the
// consumer, made on first use and closed when the consumer stops. Two clients: one with
// franz-go's default 1 MB produce batches for ordinary messages (a broker refuses a batch over
// the topic's max.message.bytes, Kafka's default 1 MB, and batching many messages must never
// cross it), and one for a message that is larger on its own (an oversized record is sent
// whole), which is produced alone.
type destination struct {
	c       *consumer
	mu      sync.Mutex
	cl, big *kgo.Client
}

// bigMessage is the size from which a destination message is produced alone, by the client
// whose batches may be as large as the message (below franz-go's default batch limit, with
// room for the batch's own overhead).
const bigMessage = 900 << 10

// destinationTryTimeout bounds one attempt to produce (and have acknowledged) a batch of
// destination messages; the worker then reports the problem and tries again.
const destinationTryTimeout = 15 * time.Second

func (d *destination) client(ctx context.Context, big bool) (*kgo.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := &d.cl
	if big {
		p = &d.big
	}
	if *p != nil {
		return *p, nil
	}
	c := d.c
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.spec.servers...),
		kgo.ClientID("kafkaesm-" + c.uuid + "-destination"),
		// acks=all and idempotence are franz-go's defaults: acknowledged means replicated.
		kgo.ProducerLinger(0),
		kgo.UnknownTopicRetries(2),
	}
	if big {
		opts = append(opts, kgo.ProducerBatchMaxBytes(64<<20))
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
	*p = cl
	return cl, nil
}

func (d *destination) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range []**kgo.Client{&d.cl, &d.big} {
		if *p != nil {
			(*p).Close()
			*p = nil
		}
	}
}

// destResult is how an attempt to hand records to the on-failure destination ended.
type destResult int

const (
	destWritten  destResult = iota // acknowledged by the broker (or, without a destination, dropped)
	destStopping                   // the worker is stopping: nothing is marked
	destChanged                    // an update changed the destination while the write failed
)

// produceToDestination produces msgs and waits for the broker's acknowledgement of every one,
// retrying with backoff for as long as it takes: the partition waits (its offsets are not
// committed past the records) and the mapping reports the problem meanwhile. It gives up only
// when the worker is stopping, or when an update changed the mapping's destination (the
// caller builds the messages again for the new one).
func (w *worker) produceToDestination(msgs []*kgo.Record) destResult {
	c := w.c
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	topic := msgs[0].Topic
	for attempt := 0; ; attempt++ {
		if w.isStopping() {
			return destStopping
		}
		if attempt > 0 && c.settings.Load().destination != topic {
			c.status.destinationFailed(w, "")
			c.log.Info("on-failure destination changed while it could not be written to", "destination", "kafka://"+topic,
				"topic", w.tp.topic, "partition", w.tp.partition, "records", len(msgs))
			return destChanged
		}
		err := c.dest.produce(w.ctx, msgs)
		if err == nil {
			c.status.destinationFailed(w, "")
			return destWritten
		}
		if w.ctx.Err() != nil {
			return destStopping
		}
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
			return destStopping
		case <-w.ctx.Done():
			return destStopping
		}
	}
}

// produce writes msgs in order, ordinary ones batched, big ones alone, each run acknowledged
// before the next starts. A try that fails is repeated whole by the caller (duplicates in the
// destination are possible; gaps are not).
func (d *destination) produce(ctx context.Context, msgs []*kgo.Record) error {
	ctx, cancel := context.WithTimeout(ctx, destinationTryTimeout)
	defer cancel()
	for len(msgs) > 0 {
		big := size(msgs[0]) >= bigMessage
		n := 1
		for !big && n < len(msgs) && size(msgs[n]) < bigMessage {
			n++
		}
		cl, err := d.client(ctx, big)
		if err != nil {
			return err
		}
		// Fresh records each try: a record that failed keeps producer state.
		rs := make([]*kgo.Record, n)
		for i, m := range msgs[:n] {
			rs[i] = &kgo.Record{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: m.Headers}
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

func size(r *kgo.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
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
