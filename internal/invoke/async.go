package invoke

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// MaxAsyncPayload is Lambda's limit for an Event (asynchronous) invocation: 1 MB.
const MaxAsyncPayload = 1 << 20

// ErrQueueFull is returned by Async.Enqueue when the queue is at capacity.
var ErrQueueFull = errors.New("asynchronous invocation queue is full")

// AsyncConfig configures Async.
type AsyncConfig struct {
	// Invoker runs the invocations. Required.
	Invoker Invoker
	// Workers is how many queued events are invoked at once; default 4.
	Workers int
	// QueueSize bounds the events waiting (including those waiting to be retried); default 10,000.
	QueueSize int
	// QueueBytes bounds the payload bytes of the events held (waiting, retrying or running);
	// default 256 MiB. Beyond either bound Enqueue refuses with ErrQueueFull (the API's 429):
	// the queue is in memory, and 10,000 events of 1 MB would be 10 GB.
	QueueBytes int64
	// MaxRetries after a function error; default 2, as Lambda's MaximumRetryAttempts.
	MaxRetries int
	// RetryDelays are the waits before each retry after a function error; default 1 and 2
	// minutes, as Lambda. The last one repeats.
	RetryDelays []time.Duration
	// ThrottleDelay is the first wait after a throttle; it doubles up to 5 minutes. Throttles do
	// not count as retries, as in Lambda. Default 1 s.
	ThrottleDelay time.Duration
	// MaxEventAge drops an event that is still not processed; default 6 hours, as Lambda's
	// MaximumEventAgeInSeconds.
	MaxEventAge time.Duration
	Logger      *slog.Logger
}

// Validate fills defaults and checks the configuration.
func (c *AsyncConfig) Validate() error {
	if c.Invoker == nil {
		return errors.New("invoke: AsyncConfig.Invoker is required")
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 10000
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 256 << 20
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 2
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if len(c.RetryDelays) == 0 {
		c.RetryDelays = []time.Duration{time.Minute, 2 * time.Minute}
	}
	if c.ThrottleDelay <= 0 {
		c.ThrottleDelay = time.Second
	}
	if c.MaxEventAge <= 0 {
		c.MaxEventAge = 6 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Async runs Event invocations: queued in memory, invoked by a few workers, retried as Lambda
// retries asynchronous invocations. The queue is not persisted: events still queued when the
// process stops are lost (Close logs how many). This is weaker than Lambda, which keeps its
// queue durably; the event source mappings do not use it (they invoke synchronously and keep
// their position in Kafka).
type Async struct {
	cfg    AsyncConfig
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	cond    *sync.Cond
	pending eventHeap // ordered by due time
	held    int64     // payload bytes of the events enqueued and not yet done
	closed  bool
}

type asyncEvent struct {
	req       Request
	received  time.Time
	due       time.Time
	attempts  int // function errors so far
	throttles int
}

// NewAsync starts the workers.
func NewAsync(cfg AsyncConfig) (*Async, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Async{cfg: cfg}
	a.cond = sync.NewCond(&a.mu)
	a.ctx, a.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		a.wg.Add(1)
		go a.work()
	}
	// The timer goroutine wakes workers when the earliest delayed event is due.
	a.wg.Add(1)
	go a.tick()
	return a, nil
}

// Enqueue accepts an event. The payload is kept until the event is done: the caller must not
// modify it.
func (a *Async) Enqueue(req Request) error {
	if len(req.Payload) > MaxAsyncPayload {
		return ErrRequestTooLarge
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	if len(a.pending) >= a.cfg.QueueSize || a.held+int64(len(req.Payload)) > a.cfg.QueueBytes {
		return ErrQueueFull
	}
	a.held += int64(len(req.Payload))
	heap.Push(&a.pending, &asyncEvent{req: req, received: now, due: now})
	a.cond.Signal()
	return nil
}

// Len is the number of events waiting.
func (a *Async) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending)
}

// Close stops the workers, cancelling invocations in progress, and drops the queue.
func (a *Async) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	n := len(a.pending)
	a.pending = nil
	a.cond.Broadcast()
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
	if n > 0 {
		a.cfg.Logger.Warn("asynchronous invocations dropped at shutdown", "events", n)
	}
	return nil
}

// next blocks until an event is due or the queue is closed.
func (a *Async) next() *asyncEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		if a.closed {
			return nil
		}
		if len(a.pending) > 0 && !a.pending[0].due.After(time.Now()) {
			return heap.Pop(&a.pending).(*asyncEvent)
		}
		a.cond.Wait()
	}
}

func (a *Async) tick() {
	defer a.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		if len(a.pending) > 0 && !a.pending[0].due.After(time.Now()) {
			a.cond.Broadcast()
		}
		a.mu.Unlock()
	}
}

func (a *Async) work() {
	defer a.wg.Done()
	for {
		ev := a.next()
		if ev == nil {
			return
		}
		a.run(ev)
	}
}

// Held is the payload bytes of the events enqueued and not yet done.
func (a *Async) Held() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held
}

func (a *Async) run(ev *asyncEvent) {
	if a.attempt(ev) {
		return
	}
	a.mu.Lock()
	a.held -= int64(len(ev.req.Payload))
	a.mu.Unlock()
}

// attempt invokes ev once and reports whether it was queued again for a retry.
func (a *Async) attempt(ev *asyncEvent) bool {
	log := a.cfg.Logger.With("function", ev.req.Function, "request_id", ev.req.RequestID)
	res, err := a.cfg.Invoker.Invoke(a.ctx, ev.req)
	now := time.Now()
	switch {
	case err == nil && res.FunctionError == "":
		return false
	case a.ctx.Err() != nil:
		return false
	case errors.Is(err, ErrFunctionNotFound):
		log.Warn("asynchronous invocation dropped: function not found")
		return false
	case err == nil:
		ev.attempts++
		if ev.attempts > a.cfg.MaxRetries {
			log.Warn("asynchronous invocation failed after retries", "attempts", ev.attempts, "error", string(res.Payload))
			return false
		}
		d := a.cfg.RetryDelays[min(ev.attempts-1, len(a.cfg.RetryDelays)-1)]
		ev.due = now.Add(d)
	default: // throttled or a system error: retried until the event is too old
		d := a.cfg.ThrottleDelay << min(ev.throttles, 16)
		ev.throttles++
		ev.due = now.Add(min(d, 5*time.Minute))
	}
	if ev.due.Sub(ev.received) > a.cfg.MaxEventAge {
		log.Warn("asynchronous invocation dropped: event too old", "error", err)
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	heap.Push(&a.pending, ev)
	return true
}

type eventHeap []*asyncEvent

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(*asyncEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}
