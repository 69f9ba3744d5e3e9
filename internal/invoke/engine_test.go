package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/invoke/invoketest"
)

func newEngine(t *testing.T, mod func(*Config)) (*Engine, *MapFunctions) {
	t.Helper()
	fns := &MapFunctions{}
	cfg := Config{Functions: fns, DataDir: t.TempDir()}
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, fns
}

func goFunction(name string) *function.Function {
	return &function.Function{FunctionName: name, Runtime: "provided.al2023", Handler: "bootstrap",
		Timeout: 10, MemorySize: 128, CodeDir: goDir, RevisionId: "r1"}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func invoke(t *testing.T, e *Engine, name, payload string) Result {
	t.Helper()
	res, err := e.Invoke(ctxT(t), Request{Function: name, Payload: []byte(payload), Tail: true})
	if err != nil {
		t.Fatalf("invoke %s %s: %v", name, payload, err)
	}
	return res
}

type errPayload struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

func decodeErr(t *testing.T, res Result) errPayload {
	t.Helper()
	if res.FunctionError != "Unhandled" {
		t.Fatalf("FunctionError = %q, want Unhandled (payload %s)", res.FunctionError, res.Payload)
	}
	var p errPayload
	if err := json.Unmarshal(res.Payload, &p); err != nil {
		t.Fatalf("error payload %s: %v", res.Payload, err)
	}
	return p
}

func TestGoHandlerOutcomes(t *testing.T) {
	e, fns := newEngine(t, nil)
	fn := goFunction("gofn")
	fn.Timeout = 1
	fns.Put(fn)

	res := invoke(t, e, "gofn", `{"action":"echo","x":1}`)
	if res.FunctionError != "" || string(res.Payload) != `{"action":"echo","x":1}` {
		t.Fatalf("echo: %+v / %s", res, res.Payload)
	}
	if res.ExecutedVersion != "$LATEST" || res.RequestID == "" {
		t.Fatalf("echo: version %q id %q", res.ExecutedVersion, res.RequestID)
	}
	tail := string(res.LogTail)
	for _, want := range []string{"START RequestId: " + res.RequestID + " Version: $LATEST", "handling echo",
		"END RequestId: " + res.RequestID, "REPORT RequestId: " + res.RequestID + "\tDuration: ", "Memory Size: 128 MB"} {
		if !strings.Contains(tail, want) {
			t.Errorf("tail lacks %q:\n%s", want, tail)
		}
	}

	p := decodeErr(t, invoke(t, e, "gofn", `{"action":"error"}`))
	if p.ErrorMessage != "boom" {
		t.Errorf("returned error: %+v", p)
	}

	res = invoke(t, e, "gofn", `{"action":"panic"}`)
	if p := decodeErr(t, res); !strings.Contains(p.ErrorMessage, "kaboom") {
		t.Errorf("panic: %+v", p)
	}
	if res := invoke(t, e, "gofn", `{"action":"echo"}`); res.FunctionError != "" {
		t.Errorf("after panic: %s", res.Payload)
	}

	res = invoke(t, e, "gofn", `{"action":"exit"}`)
	p = decodeErr(t, res)
	if p.ErrorType != "Runtime.ExitError" || !strings.Contains(p.ErrorMessage, "Runtime exited with error: exit status 3") ||
		!strings.Contains(p.ErrorMessage, res.RequestID) {
		t.Errorf("exit: %+v", p)
	}
	if !strings.Contains(string(res.LogTail), "exiting now") {
		t.Errorf("exit tail lacks stderr output:\n%s", res.LogTail)
	}
	if res := invoke(t, e, "gofn", `{"action":"echo"}`); res.FunctionError != "" {
		t.Errorf("after exit: %s", res.Payload)
	}

	res = invoke(t, e, "gofn", `{"action":"sleep","ms":5000}`)
	p = decodeErr(t, res)
	if !strings.Contains(p.ErrorMessage, "Task timed out after 1.00 seconds") || p.ErrorType != "Sandbox.Timedout" {
		t.Errorf("timeout: %+v", p)
	}
	if !strings.Contains(string(res.LogTail), res.RequestID+" Task timed out after 1.00 seconds") {
		t.Errorf("timeout tail:\n%s", res.LogTail)
	}
	if res := invoke(t, e, "gofn", `{"action":"echo"}`); res.FunctionError != "" {
		t.Errorf("after timeout: %s", res.Payload)
	}

	res = invoke(t, e, "gofn", `{"action":"big"}`)
	if p := decodeErr(t, res); p.ErrorType != "Function.ResponseSizeTooLarge" {
		t.Errorf("big: %+v", p)
	}
	if res := invoke(t, e, "gofn", `{"action":"echo"}`); res.FunctionError != "" {
		t.Errorf("after big: %s", res.Payload)
	}

	if _, err := e.Invoke(ctxT(t), Request{Function: "gofn", Payload: make([]byte, function.MaxPayload+1)}); !errors.Is(err, ErrRequestTooLarge) {
		t.Errorf("oversized request: %v", err)
	}
	if _, err := e.Invoke(ctxT(t), Request{Function: "nope"}); !errors.Is(err, ErrFunctionNotFound) {
		t.Errorf("unknown function: %v", err)
	}
	if _, err := e.Invoke(ctxT(t), Request{Function: "gofn", Qualifier: "1"}); !errors.Is(err, ErrFunctionNotFound) {
		t.Errorf("unknown qualifier: %v", err)
	}
}

type envOut struct {
	Pid         int    `json:"pid"`
	RequestID   string `json:"requestId"`
	Arn         string `json:"arn"`
	DeadlineSet bool   `json:"deadlineSet"`
	Cwd         string `json:"cwd"`
	Name        string `json:"AWS_LAMBDA_FUNCTION_NAME"`
	Version     string `json:"AWS_LAMBDA_FUNCTION_VERSION"`
	Memory      string `json:"AWS_LAMBDA_FUNCTION_MEMORY_SIZE"`
	LogGroup    string `json:"AWS_LAMBDA_LOG_GROUP_NAME"`
	LogStream   string `json:"AWS_LAMBDA_LOG_STREAM_NAME"`
	Region      string `json:"AWS_REGION"`
	DefRegion   string `json:"AWS_DEFAULT_REGION"`
	Handler     string `json:"_HANDLER"`
	TaskRoot    string `json:"LAMBDA_TASK_ROOT"`
	ExecEnv     string `json:"AWS_EXECUTION_ENV"`
	TZ          string `json:"TZ"`
	UserVar     string `json:"USER_VAR"`
	Trace       string `json:"_X_AMZN_TRACE_ID"`
}

func invokeEnv(t *testing.T, e *Engine, name string) envOut {
	t.Helper()
	res := invoke(t, e, name, `{"action":"env"}`)
	var out envOut
	if err := json.Unmarshal(res.Payload, &out); err != nil || res.FunctionError != "" {
		t.Fatalf("env: %s %v", res.Payload, err)
	}
	if out.RequestID != res.RequestID {
		t.Errorf("request id %q, result says %q", out.RequestID, res.RequestID)
	}
	return out
}

func TestEnvironmentAndReuse(t *testing.T) {
	e, fns := newEngine(t, func(c *Config) { c.Region = "eu-west-1" })
	fn := goFunction("envfn")
	fn.MemorySize = 256
	fn.Environment = &function.Environment{Variables: map[string]string{"USER_VAR": "v1", "AWS_REGION": "mars-1"}}
	fns.Put(fn)

	a := invokeEnv(t, e, "envfn")
	want := envOut{Pid: a.Pid, RequestID: a.RequestID, Arn: "arn:aws:lambda:eu-west-1:000000000000:function:envfn",
		DeadlineSet: true, Cwd: goDir, Name: "envfn", Version: "$LATEST", Memory: "256", LogGroup: "/aws/lambda/envfn",
		LogStream: a.LogStream, Region: "eu-west-1", DefRegion: "eu-west-1", Handler: "bootstrap", TaskRoot: goDir,
		ExecEnv: "AWS_Lambda_provided.al2023", TZ: ":UTC", UserVar: "v1", Trace: a.Trace}
	if a != want {
		t.Errorf("environment:\n got %+v\nwant %+v", a, want)
	}
	if !strings.Contains(a.LogStream, "[$LATEST]") || !strings.HasPrefix(a.Trace, "Root=1-") {
		t.Errorf("log stream %q trace %q", a.LogStream, a.Trace)
	}

	b := invokeEnv(t, e, "envfn")
	if b.Pid != a.Pid {
		t.Errorf("warm environment not reused: pid %d then %d", a.Pid, b.Pid)
	}

	// A new revision (configuration change) gets a new environment.
	fn2 := *fn
	fn2.RevisionId = "r2"
	fn2.Environment = &function.Environment{Variables: map[string]string{"USER_VAR": "v2"}}
	fns.Put(&fn2)
	c := invokeEnv(t, e, "envfn")
	if c.Pid == a.Pid || c.UserVar != "v2" {
		t.Errorf("new revision: pid %d (old %d), USER_VAR %q", c.Pid, a.Pid, c.UserVar)
	}
}

// blocker is an HTTP server whose requests wait until released, to hold invocations open
// without timing.
type blocker struct {
	srv     *httptest.Server
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlocker(t *testing.T) *blocker {
	b := &blocker{arrived: make(chan struct{}, 100), release: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.arrived <- struct{}{}
		select {
		case <-b.release:
		case <-r.Context().Done():
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(func() { b.open(); b.srv.Close() })
	return b
}

func (b *blocker) open() { b.once.Do(func() { close(b.release) }) }

func testConcurrencyLimit(t *testing.T, e *Engine, name, payload string) {
	const n = 6
	type out struct {
		res Result
		err error
	}
	outs := make(chan out, n)
	for range n {
		go func() {
			res, err := e.Invoke(ctxT(t), Request{Function: name, Payload: []byte(payload)})
			outs <- out{res, err}
		}()
	}
	// Four are throttled at once; two are held by the blocker.
	for range n - 2 {
		o := <-outs
		var te *ThrottleError
		if !errors.As(o.err, &te) || !errors.Is(o.err, ErrThrottled) || te.Reason != ReasonReservedConcurrency {
			t.Fatalf("want throttled, got %v / %s", o.err, o.res.Payload)
		}
	}
	b := blockerOf(t, payload)
	<-b.arrived
	<-b.arrived
	select {
	case <-b.arrived:
		t.Fatal("a third invocation ran")
	default:
	}
	b.open()
	for range 2 {
		o := <-outs
		if o.err != nil || o.res.FunctionError != "" {
			t.Fatalf("held invocation: %v %s", o.err, o.res.Payload)
		}
	}
}

var blockers sync.Map // payload → *blocker

func blockerOf(t *testing.T, payload string) *blocker {
	v, _ := blockers.Load(payload)
	return v.(*blocker)
}

func TestReservedConcurrency(t *testing.T) {
	e, fns := newEngine(t, nil)
	two := 2

	t.Run("process", func(t *testing.T) {
		b := newBlocker(t)
		payload := `{"action":"wait","url":"` + b.srv.URL + `"}`
		blockers.Store(payload, b)
		fn := goFunction("limited")
		fn.ReservedConcurrentExecutions = &two
		fns.Put(fn)
		testConcurrencyLimit(t, e, "limited", payload)
	})
	t.Run("http", func(t *testing.T) {
		b := newBlocker(t)
		blockers.Store("{}", b)
		fns.Put(&function.Function{FunctionName: "limitedhttp", Timeout: 10, ReservedConcurrentExecutions: &two,
			HTTPTarget: &function.HTTPTarget{URL: b.srv.URL}})
		testConcurrencyLimit(t, e, "limitedhttp", "{}")
	})
	t.Run("zero", func(t *testing.T) {
		zero := 0
		fn := goFunction("disabled")
		fn.ReservedConcurrentExecutions = &zero
		fns.Put(fn)
		if _, err := e.Invoke(ctxT(t), Request{Function: "disabled"}); !errors.Is(err, ErrThrottled) {
			t.Fatalf("reserved 0: %v", err)
		}
	})
}

func TestServerWideLimit(t *testing.T) {
	e, fns := newEngine(t, func(c *Config) { c.MaxConcurrency = 1 })
	b := newBlocker(t)
	fns.Put(&function.Function{FunctionName: "h", Timeout: 10, HTTPTarget: &function.HTTPTarget{URL: b.srv.URL}})
	done := make(chan error, 1)
	go func() {
		_, err := e.Invoke(ctxT(t), Request{Function: "h"})
		done <- err
	}()
	<-b.arrived
	var te *ThrottleError
	if _, err := e.Invoke(ctxT(t), Request{Function: "h"}); !errors.As(err, &te) || te.Reason != ReasonConcurrency {
		t.Fatalf("want ConcurrentInvocationLimitExceeded, got %v", err)
	}
	b.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestInitFailures(t *testing.T) {
	e, fns := newEngine(t, nil)

	dir := t.TempDir()
	script := "#!/bin/sh\necho starting up\nexit 2\n"
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	fns.Put(&function.Function{FunctionName: "dies", Runtime: "provided", Timeout: 3, CodeDir: dir})
	res := invoke(t, e, "dies", "{}")
	if p := decodeErr(t, res); p.ErrorType != "Runtime.ExitError" || !strings.Contains(p.ErrorMessage, "exit status 2") {
		t.Errorf("exit during init: %+v", p)
	}

	fns.Put(&function.Function{FunctionName: "missing", Runtime: "provided.al2", Timeout: 3, CodeDir: t.TempDir()})
	res = invoke(t, e, "missing", "{}")
	if p := decodeErr(t, res); p.ErrorType != "Runtime.InvalidEntrypoint" {
		t.Errorf("missing bootstrap: %+v", p)
	}
	if !strings.Contains(string(res.LogTail), "REPORT RequestId: "+res.RequestID) {
		t.Errorf("missing bootstrap tail: %s", res.LogTail)
	}
}

func TestHTTPTarget(t *testing.T) {
	e, fns := newEngine(t, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Lambda-Runtime-Aws-Request-Id") == "" {
				w.WriteHeader(400)
				return
			}
			body := make([]byte, r.ContentLength)
			_, _ = r.Body.Read(body)
			w.Write(append([]byte(`{"got":`), append(body, '}')...))
		case "/fail":
			http.Error(w, "nope", http.StatusInternalServerError)
		case "/busy":
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case "/slow":
			_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client leaving
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}
	}))
	defer srv.Close()
	put := func(name, path string) {
		fns.Put(&function.Function{FunctionName: name, Timeout: 1, HTTPTarget: &function.HTTPTarget{URL: srv.URL + path}})
	}
	put("ok", "/ok")
	put("fail", "/fail")
	put("slow", "/slow")
	put("busy", "/busy")
	put("down", "/ok")
	fns.Put(&function.Function{FunctionName: "down", Timeout: 1, HTTPTarget: &function.HTTPTarget{URL: "http://127.0.0.1:1/"}})

	res := invoke(t, e, "ok", `{"a":1}`)
	if res.FunctionError != "" || string(res.Payload) != `{"got":{"a":1}}` {
		t.Errorf("ok: %q %s", res.FunctionError, res.Payload)
	}
	if !strings.Contains(string(res.LogTail), "REPORT RequestId: "+res.RequestID) {
		t.Errorf("ok tail: %s", res.LogTail)
	}
	if p := decodeErr(t, invoke(t, e, "fail", `{}`)); !strings.Contains(p.ErrorMessage, "500") {
		t.Errorf("fail: %+v", p)
	}
	if p := decodeErr(t, invoke(t, e, "slow", `{}`)); !strings.Contains(p.ErrorMessage, "Task timed out after 1.00 seconds") {
		t.Errorf("slow: %+v", p)
	}
	if p := decodeErr(t, invoke(t, e, "down", `{}`)); p.ErrorType != "HTTPTarget.TransportError" {
		t.Errorf("down: %+v", p)
	}
	// 429: a throttle, as the function's own concurrency limit is, not a function error.
	var te *ThrottleError
	if _, err := e.Invoke(ctxT(t), Request{Function: "busy", Payload: []byte(`{}`)}); !errors.Is(err, ErrThrottled) ||
		!errors.As(err, &te) || te.Reason != ReasonHTTPTarget {
		t.Errorf("busy: %v", err)
	}
}

func TestCloseKillsBusyEnvironments(t *testing.T) {
	fns := &MapFunctions{}
	e, err := New(Config{Functions: fns, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	fns.Put(goFunction("busy"))
	done := make(chan Result, 1)
	go func() {
		res, _ := e.Invoke(ctxT(t), Request{Function: "busy", Payload: []byte(`{"action":"sleep","ms":20000}`)})
		done <- res
	}()
	// Wait until the invocation is running, then close.
	waitFor(t, func() bool {
		lines, _ := TailLogs(e.cfg.DataDir, "busy", 0)
		return strings.Contains(strings.Join(lines, "\n"), "handling sleep")
	})
	e.Close()
	res := <-done
	if p := decodeErr(t, res); p.ErrorType != "Runtime.ExitError" {
		t.Errorf("busy at close: %+v", p)
	}
	if _, err := e.Invoke(ctxT(t), Request{Function: "busy"}); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v", err)
	}
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPythonHandler(t *testing.T) {
	if !invoketest.AwslambdaricAvailable("") {
		if os.Getenv("CI") == "true" {
			t.Fatal("awslambdaric is not importable by python3; CI must run: pip install awslambdaric")
		}
		t.Skip("awslambdaric not installed (pip install awslambdaric)")
	}
	e, fns := newEngine(t, nil)
	fns.Put(&function.Function{FunctionName: "py", Runtime: "python3.12", Handler: "app.handler", Timeout: 1,
		CodeDir: invoketest.PythonHandlerDir()})

	res := invoke(t, e, "py", `{"action":"echo","n":1}`)
	if res.FunctionError != "" || !strings.Contains(string(res.Payload), `"n": 1`) && !strings.Contains(string(res.Payload), `"n":1`) {
		t.Fatalf("python echo: %q %s", res.FunctionError, res.Payload)
	}
	if !strings.Contains(string(res.LogTail), "handling echo") {
		t.Errorf("python tail:\n%s", res.LogTail)
	}
	var env struct {
		RequestID string `json:"requestId"`
		Function  string `json:"function"`
		Remaining bool   `json:"remaining"`
		Pid       int    `json:"pid"`
	}
	res = invoke(t, e, "py", `{"action":"env"}`)
	if err := json.Unmarshal(res.Payload, &env); err != nil || env.RequestID != res.RequestID || env.Function != "py" || !env.Remaining {
		t.Errorf("python env: %s %v", res.Payload, err)
	}
	if p := decodeErr(t, invoke(t, e, "py", `{"action":"error"}`)); p.ErrorType != "ValueError" || p.ErrorMessage != "boom" {
		t.Errorf("python error: %+v", p)
	}
	if p := decodeErr(t, invoke(t, e, "py", `{"action":"sleep","ms":5000}`)); !strings.Contains(p.ErrorMessage, "Task timed out after 1.00 seconds") {
		t.Errorf("python timeout: %+v", p)
	}
	if p := decodeErr(t, invoke(t, e, "py", `{"action":"exit"}`)); p.ErrorType != "Runtime.ExitError" {
		t.Errorf("python exit: %+v", p)
	}
	if res := invoke(t, e, "py", `{"action":"echo"}`); res.FunctionError != "" {
		t.Errorf("python after exit: %s", res.Payload)
	}

	fns.Put(&function.Function{FunctionName: "pybad", Runtime: "python3.12", Handler: "nosuchmodule.handler", Timeout: 3,
		CodeDir: invoketest.PythonHandlerDir()})
	if p := decodeErr(t, invoke(t, e, "pybad", `{}`)); p.ErrorType != "Runtime.ImportModuleError" {
		t.Errorf("python import error: %+v", p)
	}
}
