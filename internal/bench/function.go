package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// FunctionSubcommand is the hidden kafkaesm subcommand that runs RunFunction, so that the
// benchmark needs no compiler: the kafkaesm binary is its own no-op function.
const FunctionSubcommand = "__bench-function"

// RunFunction runs the benchmark's aws-lambda-go function against the Runtime API in
// AWS_LAMBDA_RUNTIME_API; it returns only if the runtime loop ends. It does nothing with the
// event (a raw lambda.Handler: no decoding), unless KAFKAESM_BENCH_REPORT_URL is set: then it
// decodes the event and reports the produce→invoke latency of each timed record there.
func RunFunction() {
	f := &noopFunction{reportURL: os.Getenv("KAFKAESM_BENCH_REPORT_URL")}
	if f.reportURL != "" {
		go f.reportLoop()
	}
	lambda.Start(f)
}

type noopFunction struct {
	reportURL string
	mu        sync.Mutex
	pending   latencyReport
}

var nullResult = []byte("null")

func (f *noopFunction) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	if f.reportURL == "" {
		return nullResult, nil
	}
	rep, err := payloadLatencies(payload, time.Now())
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.pending.Seen += rep.Seen
	f.pending.Nanos = append(f.pending.Nanos, rep.Nanos...)
	f.mu.Unlock()
	return nullResult, nil
}

// reportLoop sends what the invocations measured every 20 ms, off the invoke path: reporting
// inside Invoke would lengthen each invocation and so delay the partition's next batch, which
// is latency the benchmark would then measure. It runs until the process is killed.
func (f *noopFunction) reportLoop() {
	for range time.Tick(20 * time.Millisecond) {
		f.mu.Lock()
		rep := f.pending
		f.pending = latencyReport{}
		f.mu.Unlock()
		if rep.Seen == 0 {
			continue
		}
		body, err := json.Marshal(rep)
		if err != nil {
			continue
		}
		if resp, err := http.Post(f.reportURL, "application/json", bytes.NewReader(body)); err == nil {
			resp.Body.Close()
		}
	}
}
