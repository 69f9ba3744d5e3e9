package event

import (
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// AddResult says what Batch.Add did with a record.
type AddResult int

const (
	// Added: the record is in the batch.
	Added AddResult = iota
	// Full: the record would push the payload over the limit; deliver the batch and add the
	// record to the next one.
	Full
	// TooLarge: the record cannot fit even in an empty batch; it can never be delivered
	// (Lambda drops it: MaximumPayloadSizeExceeded).
	TooLarge
)

func (r AddResult) String() string {
	switch r {
	case Added:
		return "added"
	case Full:
		return "full"
	case TooLarge:
		return "too large"
	}
	return "unknown"
}

// ErrPartitionReopened is returned when records of a partition are added after another
// partition's: the payload's "records" object can hold each key only once.
var ErrPartitionReopened = errors.New("event: records of a partition must be added contiguously")

// bufPool recycles payload buffers between batches. Buffers grow to at most the limit (6 MB).
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

type topicPartition struct {
	topic     string
	partition int32
}

// Batch builds one invocation payload incrementally. The size of the closed payload is known
// after every Add, and never exceeds the encoder's limit. A Batch is not safe for concurrent
// use. Release it when the payload is no longer needed; Bytes is invalid afterwards.
type Batch struct {
	enc  *Encoder
	buf  *[]byte
	n    int
	cur  topicPartition
	head []byte           // appendHead of cur
	next []byte           // appendHead of a record opening another partition, until it is added
	done []topicPartition // partitions closed earlier in this payload
}

// NewBatch returns an empty batch using a pooled buffer.
func (e *Encoder) NewBatch() *Batch {
	b := &Batch{enc: e}
	b.Reset()
	return b
}

// Reset empties the batch for reuse (taking a buffer from the pool if it was released).
func (b *Batch) Reset() {
	if b.buf == nil {
		b.buf = bufPool.Get().(*[]byte)
	}
	*b.buf = append((*b.buf)[:0], b.enc.prefix...)
	b.n = 0
	b.done = b.done[:0]
}

// Release returns the buffer to the pool; Reset makes the batch usable again.
func (b *Batch) Release() {
	if b.buf == nil {
		return
	}
	if cap(*b.buf) <= 2*MaxPayloadBytes {
		bufPool.Put(b.buf)
	}
	b.buf = nil
}

// Len is the number of records in the batch.
func (b *Batch) Len() int { return b.n }

// closing is what Bytes appends to close the payload.
func (b *Batch) closing() int {
	if b.n == 0 {
		return len(`}}`)
	}
	return len(`]}}`)
}

// Size is the exact length of the payload Bytes returns.
func (b *Batch) Size() int { return len(*b.buf) + b.closing() }

// Add appends r if the payload stays within the limit. Records of one partition must be added
// in offset order and contiguously (ErrPartitionReopened otherwise).
func (b *Batch) Add(r *kgo.Record) (AddResult, error) {
	tp := topicPartition{r.Topic, r.Partition}
	first := b.n == 0
	same := !first && tp == b.cur
	if !first && !same {
		for _, d := range b.done {
			if d == tp {
				return 0, ErrPartitionReopened
			}
		}
	}
	// Every record of a partition starts with the same head: it is encoded once, when the
	// partition opens (into next, so that a record refused below leaves head as it was).
	head := b.head
	if !same {
		b.next = appendHead(b.next[:0], r.Topic, r.Partition)
		head = b.next
	}
	rs := len(head) + tailSize(r)
	sep := 1 // ","
	if !same {
		sep = partitionOpenSize(r, first)
	}
	if len(*b.buf)+sep+rs+len(`]}}`) > b.enc.limit {
		if first || !b.enc.FitsAlone(r) {
			return TooLarge, nil
		}
		return Full, nil
	}
	buf := *b.buf
	if need := len(buf) + sep + rs + len(`]}}`); need > cap(buf) {
		// Grow by doubling (capped at the limit) rather than append's 1.25x for large
		// slices: a 6 MB payload then costs a handful of copies, not dozens.
		nb := make([]byte, len(buf), min(max(2*cap(buf), need), b.enc.limit))
		copy(nb, buf)
		buf = nb
	}
	switch {
	case same:
		buf = append(buf, ',')
	default:
		if !first {
			buf = append(buf, ']', ',')
			b.done = append(b.done, b.cur)
		}
		buf = appendPartitionKey(buf, r.Topic, r.Partition)
		buf = append(buf, ':', '[')
		b.cur = tp
		b.head, b.next = b.next, b.head
	}
	*b.buf = appendTail(append(buf, head...), r)
	b.n++
	return Added, nil
}

// Bytes returns the closed payload. It stays valid until the next Add, Reset or Release; the
// batch can keep growing afterwards.
func (b *Batch) Bytes() []byte {
	buf := *b.buf
	l := len(buf)
	if b.n == 0 {
		buf = append(buf, '}', '}')
	} else {
		buf = append(buf, ']', '}', '}')
	}
	*b.buf = buf[:l] // keep the growth, not the closing
	return buf
}
