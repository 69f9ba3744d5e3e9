package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/event"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
)

// deliverer POSTs payloads to a URL from a fixed set of sender goroutines, for the raw drain
// that measures the floor of delivery. It sends as kafkaesm's HTTP targets do (the same
// transport, so the same single write per payload). Batches circulate between a free list and the senders,
// so the poll goroutine encodes the next payload while earlier ones are on the wire.
type deliverer struct {
	url   string
	cl    *http.Client
	free  chan *event.Batch
	work  chan delivery
	wg    sync.WaitGroup
	inFly sync.WaitGroup
	err   atomic.Pointer[error]
}

type delivery struct {
	b   *event.Batch
	got *atomic.Int64
}

func newDeliverer(enc *event.Encoder, url string, senders int) *deliverer {
	senders = max(senders, 1)
	d := &deliverer{
		url:  url,
		cl:   &http.Client{Timeout: 5 * time.Minute, Transport: invoke.NewTransport(senders)},
		free: make(chan *event.Batch, 2*senders),
		work: make(chan delivery),
	}
	for range 2 * senders {
		d.free <- enc.NewBatch()
	}
	for range senders {
		d.wg.Go(d.sender)
	}
	return d
}

// batch returns an empty batch, waiting for a sender to hand one back if all are in use.
func (d *deliverer) batch() *event.Batch {
	b := <-d.free
	b.Reset()
	return b
}

// send hands b to a sender; got counts its records once delivered.
func (d *deliverer) send(b *event.Batch, got *atomic.Int64) {
	d.inFly.Add(1)
	d.work <- delivery{b, got}
}

func (d *deliverer) sender() {
	for w := range d.work {
		if err := d.post(w.b.Bytes()); err != nil {
			d.err.CompareAndSwap(nil, &err)
		} else {
			w.got.Add(int64(w.b.Len()))
		}
		d.free <- w.b
		d.inFly.Done()
	}
}

func (d *deliverer) post(payload []byte) error {
	req, err := invoke.NewPayloadRequest(context.Background(), d.url, payload)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sink: %s", resp.Status)
	}
	return nil
}

// failed is the first delivery error, if any.
func (d *deliverer) failed() error {
	if p := d.err.Load(); p != nil {
		return *p
	}
	return nil
}

// wait returns once every payload sent so far is delivered.
func (d *deliverer) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { d.inFly.Wait(); close(done) }()
	select {
	case <-done:
		return d.failed()
	case <-ctx.Done():
		return errors.Join(ctx.Err(), d.failed())
	}
}

func (d *deliverer) close() {
	close(d.work)
	d.wg.Wait()
	close(d.free)
	for b := range d.free {
		b.Release()
	}
	d.cl.CloseIdleConnections()
}
