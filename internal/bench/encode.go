package bench

import (
	"runtime"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/event"
)

// measureEncoding encodes records of size value bytes into 6 MB payloads with internal/event's
// encoder for about d, as the poller does, and counts allocations per record.
func measureEncoding(size int, d time.Duration) Encoding {
	enc := event.NewEncoder("", []string{"broker-1:9092", "broker-2:9092"})
	recs := make([]*kgo.Record, 1000)
	now := time.Now()
	for i := range recs {
		val := make([]byte, size)
		for j := range val {
			val[j] = byte(i + j)
		}
		recs[i] = &kgo.Record{Topic: "kafkaesm-bench", Partition: 7, Offset: int64(1_000_000 + i), Timestamp: now,
			Key: []byte("key-000000"), Value: val}
	}
	batch := enc.NewBatch()
	defer batch.Release()
	// Warm the buffer to its full size so the measurement is the steady state.
	for i := 0; ; i++ {
		if res, _ := batch.Add(recs[i%len(recs)]); res != event.Added {
			break
		}
	}
	batch.Reset()

	var in, out int64
	var n int64
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	deadline := start.Add(d)
	for {
		for i := 0; i < 1000; i++ {
			r := recs[i]
			res, _ := batch.Add(r)
			if res != event.Added {
				out += int64(len(batch.Bytes()))
				batch.Reset()
				batch.Add(r)
			}
			in += int64(len(r.Key) + len(r.Value))
		}
		n += 1000
		if time.Now().After(deadline) {
			break
		}
	}
	out += int64(batch.Size())
	el := time.Since(start)
	runtime.ReadMemStats(&after)
	return Encoding{
		Records:          n,
		MBPerSec:         float64(in) / el.Seconds() / 1e6,
		PayloadMBPerSec:  float64(out) / el.Seconds() / 1e6,
		AllocsPerRecord:  float64(after.Mallocs-before.Mallocs) / float64(n),
		BytesPerRecord:   float64(after.TotalAlloc-before.TotalAlloc) / float64(n),
		NanosPerRecord:   float64(el.Nanoseconds()) / float64(n),
		PayloadBytesEach: float64(out) / float64(n),
	}
}
