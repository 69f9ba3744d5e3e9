package event

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkEncode measures payload encoding throughput: b.SetBytes counts the records' key and
// value bytes (what a raw consumer would hand over), one op per record, so allocs/op is per record.
func BenchmarkEncode(b *testing.B) {
	for _, size := range []int{100, 1024, 10 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			enc := NewEncoder("", []string{"h1:9092", "h2:9092"})
			recs := make([]*kgo.Record, 1000)
			for i := range recs {
				recs[i] = &kgo.Record{
					Topic: "bench-topic", Partition: 7, Offset: int64(1_000_000 + i), Timestamp: time.Now(),
					Key: []byte("key-000000"), Value: make([]byte, size),
					Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("0123456789abcdef")}},
				}
			}
			batch := enc.NewBatch()
			defer batch.Release()
			b.SetBytes(int64(size + 10))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := recs[i%len(recs)]
				if res, _ := batch.Add(r); res != Added {
					batch.Reset()
					batch.Add(r)
				}
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1024 {
		return itoa64(int64(n>>10)) + "KB"
	}
	return itoa64(int64(n)) + "B"
}
