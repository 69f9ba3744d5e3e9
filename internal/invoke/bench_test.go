package invoke

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// benchInvoke measures warm invocations one after another and reports latency percentiles.
func benchInvoke(b *testing.B, e *Engine, name string, payload []byte) {
	ctx := context.Background()
	req := Request{Function: name, Payload: payload}
	if res, err := e.Invoke(ctx, req); err != nil || res.FunctionError != "" { // warm up
		b.Fatalf("warm-up: %v %s", err, res.Payload)
	}
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		res, err := e.Invoke(ctx, req)
		lat = append(lat, time.Since(start))
		if err != nil || res.FunctionError != "" {
			b.Fatalf("invoke: %v %s", err, res.Payload)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

func benchEngine(b *testing.B) (*Engine, *MapFunctions) {
	fns := &MapFunctions{}
	e, err := New(Config{Functions: fns, DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e, fns
}

var benchPayloads = []struct {
	name    string
	payload []byte
}{
	{"1KiB", append(append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), 1000)...), `"}`...)},
	{"1MiB", append(append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), 1<<20)...), `"}`...)},
}

// BenchmarkInvokeRuntimeAPI: an aws-lambda-go handler that returns its event.
func BenchmarkInvokeRuntimeAPI(b *testing.B) {
	e, fns := benchEngine(b)
	fn := goFunction("bench")
	fns.Put(fn)
	for _, p := range benchPayloads {
		b.Run(p.name, func(b *testing.B) { benchInvoke(b, e, "bench", p.payload) })
	}
}

// BenchmarkInvokeHTTPTarget: an HTTP target that answers {}.
func BenchmarkInvokeHTTPTarget(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = r.Body.Read(make([]byte, 0))
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	e, fns := benchEngine(b)
	fns.Put(&function.Function{FunctionName: "benchhttp", Timeout: 10, HTTPTarget: &function.HTTPTarget{URL: srv.URL}})
	for _, p := range benchPayloads {
		b.Run(p.name, func(b *testing.B) { benchInvoke(b, e, "benchhttp", p.payload) })
	}
}

// BenchmarkInvokeRuntimeAPIParallel: concurrent warm invocations of one function, as several
// partitions' pollers do; environments are started on demand up to the parallelism.
func BenchmarkInvokeRuntimeAPIParallel(b *testing.B) {
	e, fns := benchEngine(b)
	fns.Put(goFunction("benchpar"))
	payload := benchPayloads[0].payload
	b.SetParallelism(2) // 2×GOMAXPROCS callers
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			res, err := e.Invoke(ctx, Request{Function: "benchpar", Payload: payload})
			if err != nil || res.FunctionError != "" {
				b.Errorf("invoke: %v %s", err, res.Payload)
				return
			}
		}
	})
}
