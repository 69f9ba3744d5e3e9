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

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/event"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
)

// deliverer encodes records into Lambda payloads and POSTs them to a URL, from a fixed set of
// sender goroutines, for the raw drain that measures the floor of delivery: each sender takes
// one partition's records of a fetch at a time, encodes them (in parallel, as kafkaesm's
// partition workers do) and sends each payload as kafkaesm's HTTP targets do (the same
// transport, so the same single write per payload).
type deliverer struct {
	url   string
	cl    *http.Client
	enc   *event.Encoder
	got   *atomic.Int64 // records delivered
	work  chan []*kgo.Record
	wg    sync.WaitGroup
	inFly sync.WaitGroup
	err   atomic.Pointer[error]
}

func newDeliverer(enc *event.Encoder, url string, senders int, got *atomic.Int64) *deliverer {
	senders = max(senders, 1)
	d := &deliverer{
		url:  url,
		cl:   &http.Client{Timeout: 5 * time.Minute, Transport: invoke.NewTransport(senders)},
		enc:  enc,
		got:  got,
		work: make(chan []*kgo.Record),
	}
	for range senders {
		d.wg.Go(d.sender)
	}
	return d
}

// send hands one partition's records to a sender, waiting for one to be free.
func (d *deliverer) send(records []*kgo.Record) {
	d.inFly.Add(1)
	d.work <- records
}

func (d *deliverer) sender() {
	b := d.enc.NewBatch()
	defer b.Release()
	flush := func() {
		if b.Len() == 0 {
			return
		}
		if err := d.post(b.Bytes()); err != nil {
			d.err.CompareAndSwap(nil, &err)
		} else {
			d.got.Add(int64(b.Len()))
		}
		b.Reset()
	}
	for records := range d.work {
		for _, r := range records {
			if res, _ := b.Add(r); res != event.Added {
				flush()
				b.Add(r)
			}
		}
		flush()
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

// wait returns once every record sent so far is delivered.
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
	d.cl.CloseIdleConnections()
}
