package poller

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/event"
)

// worker owns one assigned partition: it alone builds and delivers that partition's batches, so
// records are delivered in offset order with at most one batch in flight.
type worker struct {
	c     *consumer
	cl    *kgo.Client // the consumer's client, as handed to OnPartitionsAssigned
	tp    tp
	tpMap map[string][]int32 // for Pause/ResumeFetchPartitions

	// mu guards the queue the poll loop fills and the paused flag. Pause and resume happen
	// under it so that a resume can never overtake the pause it undoes.
	mu     sync.Mutex
	queue  []*kgo.Record // records not yet taken are queue[head:]
	head   int
	qBytes int // key+value bytes of queue[head:]
	paused bool

	wake     chan struct{} // cap 1: records arrived
	stopping chan struct{} // closed: finish the in-flight invoke, start nothing new
	stopOnce sync.Once
	ctx      context.Context // cancelled: abort the in-flight invoke too
	cancel   context.CancelFunc
	done     chan struct{}

	// fetchNext is the offset the next fetch of the partition should start at (the last
	// enqueued record's + 1), -1 before the first; only the poll goroutine uses it.
	fetchNext int64
	// logStartAt is when retentionCut last read the partition's log start (worker goroutine).
	logStartAt time.Time

	hwm     atomic.Int64 // partition high watermark, -1 unknown (only grows: fetches and RefreshLag race)
	next    atomic.Int64 // next offset to deliver, -1 unknown
	fetched atomic.Int64 // offset after the last record handed to the worker, -1 none
	// base is where delivery will start before the first fetch (the committed offset, or the
	// starting position's), -1 unknown; RefreshLag sets it so that lag is not 0 until then.
	base atomic.Int64
	// invoking is when the current invocation attempt started (UnixNano), 0 when none: the
	// scaler does not count a partition held up by one slow invocation.
	invoking atomic.Int64

	// turn is the worker's place in the mapping's invocation slots (slots.go); used only by
	// the worker goroutine.
	turn turn

	// retrying is set while the worker's batch fails: the scaler leaves such partitions out of
	// the lag that drives scale-out (more pollers cannot fix a failing function).
	retrying atomic.Bool
}

func newWorker(c *consumer, cl *kgo.Client, k tp) *worker {
	w := &worker{
		c:        c,
		cl:       cl,
		tp:       k,
		tpMap:    map[string][]int32{k.topic: {k.partition}},
		wake:     make(chan struct{}, 1),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.hwm.Store(-1)
	w.fetchNext = -1
	w.next.Store(-1)
	w.base.Store(-1)
	w.fetched.Store(-1)
	return w
}

// enqueue is called by the poll loop; it never blocks on the worker.
func (w *worker) enqueue(rs []*kgo.Record, hwm int64) {
	storeMax(&w.hwm, hwm)
	if len(rs) == 0 {
		return
	}
	w.next.CompareAndSwap(-1, rs[0].Offset)
	storeMax(&w.fetched, rs[len(rs)-1].Offset+1)
	w.mu.Lock()
	w.queue = append(w.queue, rs...)
	for _, r := range rs {
		w.qBytes += len(r.Key) + len(r.Value)
	}
	if !w.paused && (len(w.queue)-w.head >= w.highWater() || w.qBytes >= w.c.cfg.QueueBytes) {
		w.cl.PauseFetchPartitions(w.tpMap)
		w.paused = true
		w.c.pauses.Add(1)
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) highWater() int {
	return max(w.c.cfg.QueueRecords, 2*w.c.settings.Load().batchSize)
}

// takeMax is how many records the worker takes from its queue at a time.
const takeMax = 1024

// take hands the worker up to takeMax queued records, and resumes fetching once the queue has
// drained below half the high water. Resuming only then (not at every take) matters: pausing
// discards the partition's already-fetched buffered data, which is fetched and decoded again
// after the resume.
//
// The returned slice aliases the queue: enqueue only appends past it, and compaction happens
// here, when the worker has finished with the previous chunk.
func (w *worker) take() []*kgo.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.head > 0 && w.head >= len(w.queue)/2 {
		n := copy(w.queue, w.queue[w.head:])
		clear(w.queue[n:]) // let delivered records be collected
		w.queue, w.head = w.queue[:n], 0
	}
	n := min(len(w.queue)-w.head, takeMax)
	chunk := w.queue[w.head : w.head+n : w.head+n]
	w.head += n
	for _, r := range chunk {
		w.qBytes -= len(r.Key) + len(r.Value)
	}
	if w.paused && len(w.queue)-w.head < w.highWater()/2 && w.qBytes < w.c.cfg.QueueBytes/2 {
		w.cl.ResumeFetchPartitions(w.tpMap)
		w.paused = false
	}
	return chunk
}

func (w *worker) lag() int64 {
	h, n := w.hwm.Load(), w.next.Load()
	if n < 0 {
		n = w.base.Load()
	}
	if h < 0 || n < 0 || h < n {
		return 0
	}
	return h - n
}

// storeMax stores v in a unless a already holds more.
func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if old >= v || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// queueState returns the records fetched and not yet delivered (queued, or taken by the worker
// and not yet marked), and whether fetching is paused.
func (w *worker) queueState() (queued int64, paused bool) {
	w.mu.Lock()
	paused = w.paused
	w.mu.Unlock()
	if f, n := w.fetched.Load(), w.next.Load(); f >= 0 && n >= 0 && f > n {
		queued = f - n
	}
	return queued, paused
}

// inFlight is how long the current invocation attempt has been running (0: none).
func (w *worker) inFlight() time.Duration {
	if t := w.invoking.Load(); t != 0 {
		return time.Since(time.Unix(0, t))
	}
	return 0
}

func (w *worker) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}

// stopWorkers signals every worker, then waits up to grace (or until hurry ends) for their
// in-flight invokes (or aborts them at once when abort is set), then cancels and waits for
// them all.
func stopWorkers(hurry context.Context, ws []*worker, grace time.Duration, abort bool) {
	for _, w := range ws {
		w.stopOnce.Do(func() { close(w.stopping) })
		if abort {
			w.cancel()
		}
	}
	t := time.NewTimer(max(grace, 0))
	defer t.Stop()
	for _, w := range ws {
		select {
		case <-w.done:
			continue
		case <-t.C:
		case <-hurry.Done():
		}
		// Past the drain bound or the grace period: abort the rest. Their batches are not
		// marked, so they are redelivered by whoever owns the partition next.
		for _, w := range ws {
			w.cancel()
		}
		for _, w := range ws {
			<-w.done
		}
		return
	}
	for _, w := range ws {
		w.cancel()
	}
}

func (w *worker) run() {
	defer close(w.done)
	defer w.cancel()
	c := w.c
	batch := c.enc.NewBatch()
	defer batch.Release()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		chunk []*kgo.Record
		ci    int
	)
	// next returns the next record to batch, or nil when none is queued.
	next := func() *kgo.Record {
		if ci == len(chunk) {
			chunk, ci = w.take(), 0
			if len(chunk) == 0 {
				return nil
			}
		}
		r := chunk[ci]
		return r
	}
	var recs []*kgo.Record // the batch's records, as process needs them
	for {
		s := c.settings.Load()
		batch.Reset()
		clear(recs)
		recs = recs[:0]
		var (
			last     *kgo.Record // the last record this batch accounts for (delivered or dropped)
			deadline time.Time
		)
	collect:
		for batch.Len() < s.batchSize {
			r := next()
			if r == nil {
				var tc <-chan time.Time
				if batch.Len() > 0 {
					if s.window <= 0 {
						break collect
					}
					wait := time.Until(deadline)
					if wait <= 0 {
						break collect
					}
					timer.Reset(wait)
					tc = timer.C
				}
				select {
				case <-w.wake:
					timer.Stop()
				case <-tc:
					break collect
				case <-w.stopping:
					timer.Stop()
					return
				}
				continue
			}
			if w.filteredOut(c.settings.Load().filter, r) { // failure.go; the latest filters, even mid-wait
				ci++
				if batch.Len() == 0 {
					w.mark(r) // nothing undelivered precedes it
				} else {
					last = r
				}
				continue
			}
			res, err := batch.Add(r)
			if err != nil { // cannot happen: one partition per batch
				c.log.Error("batch add", "err", err)
				return
			}
			switch res {
			case event.Added:
				ci++
				last = r
				recs = append(recs, r)
				if batch.Len() == 1 {
					deadline = time.Now().Add(s.window)
				}
			case event.Full:
				break collect // r stays first in line for the next batch
			case event.TooLarge:
				if batch.Len() > 0 {
					// The records before it are processed first: giving it up now would put it
					// in the destination ahead of any of them that fail.
					break collect // r stays first in line for the next batch
				}
				// To the on-failure destination, or counted and logged (failure.go).
				if !w.tooLarge(r) {
					return
				}
				ci++
				w.mark(r) // nothing undelivered precedes it
			}
		}
		if batch.Len() == 0 {
			continue
		}
		// The invoke/outcome seam: process (failure.go) invokes the batch and decides what
		// happens to its records (retries, bisect, partial response, destination). true means
		// every record up to last was delivered, filtered, or acknowledged by the destination,
		// so its offset may be committed; false means the worker is stopping and the batch is
		// left unmarked, to be redelivered by the partition's next owner. Nothing else here
		// depends on how process got there.
		ok := w.process(batch, recs)
		// An idle partition should not pin a 6 MB buffer: hand it back to the pool.
		batch.Release()
		if !ok {
			return
		}
		w.mark(last)
	}
}

// mark records r as delivered (or deliberately dropped) and asks for a prompt commit.
func (w *worker) mark(r *kgo.Record) {
	w.cl.MarkCommitRecords(r)
	if n := r.Offset + 1; n > w.next.Load() { // marks never go back, and nor does the lag
		w.next.Store(n)
	}
	w.c.kickCommit()
}

// throttledProblemAfter: a batch throttled this many times in a row makes the mapping's
// LastProcessingResult a problem (fewer are the slot queue finding the function's limit).
const throttledProblemAfter = 3

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
