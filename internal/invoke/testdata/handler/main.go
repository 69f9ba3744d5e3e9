// Command handler is a Lambda function built with aws-lambda-go for the invoke tests. The
// event's "action" chooses what it does, so one build covers every case.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Action string `json:"action"`
	Ms     int    `json:"ms"`
	URL    string `json:"url"`
	Lines  int    `json:"lines"`
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	if len(raw) > 64<<10 { // large events (benchmarks): answer small, as a batch consumer does
		return map[string]int{"size": len(raw)}, nil
	}
	var ev event
	_ = json.Unmarshal(raw, &ev)
	fmt.Println("handling", ev.Action)
	switch ev.Action {
	case "error":
		return nil, errors.New("boom")
	case "panic":
		panic("kaboom")
	case "exit":
		fmt.Fprintln(os.Stderr, "exiting now")
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Duration(ev.Ms) * time.Millisecond)
	case "wait": // blocks until the test's server answers
		resp, err := http.Get(ev.URL)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	case "print":
		for i := 0; i < ev.Lines; i++ {
			fmt.Printf("line %d\n", i)
		}
		fmt.Fprintln(os.Stderr, "to stderr")
	case "big":
		return strings.Repeat("x", 7<<20), nil
	case "env":
		lc, _ := lambdacontext.FromContext(ctx)
		dl, _ := ctx.Deadline()
		out := map[string]any{"pid": os.Getpid(), "requestId": lc.AwsRequestID, "arn": lc.InvokedFunctionArn,
			"deadlineSet": !dl.IsZero(), "cwd": must(os.Getwd())}
		for _, k := range []string{"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
			"AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_DEFAULT_REGION", "_HANDLER",
			"LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV", "TZ", "USER_VAR", "_X_AMZN_TRACE_ID"} {
			out[k] = os.Getenv(k)
		}
		return out, nil
	}
	return raw, nil
}

func must(s string, _ error) string { return s }

func main() {
	lambda.StartWithOptions(handle, lambda.WithEnableSIGTERM(func() {}))
}
