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
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Action string   `json:"action"`
	Ms     int      `json:"ms"`
	URL    string   `json:"url"`
	Lines  int      `json:"lines"`
	Paths  []string `json:"paths"`
	MB     int      `json:"mb"`
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
	case "whoami": // who the function runs as, what it sees, and whether its TMPDIR is writable
		groups, _ := os.Getgroups()
		werr := os.WriteFile(filepath.Join(os.TempDir(), fmt.Sprintf("probe-%d", os.Getuid())), []byte("x"), 0o644)
		return map[string]any{"uid": os.Getuid(), "gid": os.Getgid(), "groups": groups, "tmpdir": os.TempDir(),
			"tmpWritable": werr == nil, "environ": os.Environ()}, nil
	case "read": // which of the paths it can read (file or directory listing)
		out := map[string]string{}
		for _, p := range ev.Paths {
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				_, err = os.ReadDir(p)
				out[p] = errText(err)
				continue
			}
			_, err := os.ReadFile(p)
			out[p] = errText(err)
		}
		return out, nil
	case "alloc": // touches MB megabytes and holds them
		buf := make([][]byte, 0, ev.MB)
		for i := 0; i < ev.MB; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			buf = append(buf, b)
		}
		return len(buf), nil
	case "spawn": // a detached child (its own session) that outlives the handler unless killed
		cmd := exec.Command("sleep", "600")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return cmd.Process.Pid, nil
	case "get": // GETs ev.URL on a new connection within ev.Ms: its status, or the error
		c := &http.Client{Timeout: time.Duration(ev.Ms) * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(ev.URL)
		if err != nil {
			return "error: " + err.Error(), nil
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	case "poll": // calls another environment's Runtime API (ev.URL = its AWS_LAMBDA_RUNTIME_API)
		c := &http.Client{Timeout: time.Duration(ev.Ms) * time.Millisecond}
		resp, err := c.Get("http://" + ev.URL + "/2018-06-01/runtime/invocation/next")
		if err != nil {
			return "error: " + err.Error(), nil
		}
		resp.Body.Close()
		return resp.StatusCode, nil
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

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func main() {
	lambda.StartWithOptions(handle, lambda.WithEnableSIGTERM(func() {}))
}
