package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// FunctionSubcommand is the hidden kafkaesm subcommand that runs RunFunction, so that the
// benchmark needs no compiler: the kafkaesm binary is its own no-op function.
const FunctionSubcommand = "__bench-function"

// RunFunction runs the benchmark's aws-lambda-go function against the Runtime API in
// AWS_LAMBDA_RUNTIME_API; it returns only if the runtime loop ends. It does nothing with the
// event (a raw lambda.Handler: no decoding), unless KAFKAESM_BENCH_REPORT_URL is set: then it
// decodes the event and POSTs the produce→invoke latency of each timed record there.
func RunFunction() {
	lambda.Start(noopFunction{reportURL: os.Getenv("KAFKAESM_BENCH_REPORT_URL")})
}

type noopFunction struct{ reportURL string }

var nullResult = []byte("null")

func (f noopFunction) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if f.reportURL == "" {
		return nullResult, nil
	}
	rep, err := payloadLatencies(payload, time.Now())
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.reportURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return nullResult, nil
}
