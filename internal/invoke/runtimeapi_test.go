package invoke

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// fakeRuntime registers a function whose bootstrap only sleeps, so that the test itself can
// speak the Runtime API to the environment.
//
// The test process is not the environment, so the engine is told to accept any caller of its
// Runtime API (peer.go): these tests are about the protocol, TestRuntimeAPIRefusesOthers about
// who may speak it.
func fakeRuntime(t *testing.T, e *Engine, fns *MapFunctions, name string) {
	t.Helper()
	e.anyPeer = true
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fns.Put(&function.Function{FunctionName: name, Runtime: "provided", Timeout: 20, CodeDir: dir})
}

// envAddr waits for the single environment of the engine and returns its Runtime API base URL.
func envAddr(t *testing.T, e *Engine) string {
	t.Helper()
	var addr string
	waitFor(t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for v := range e.envs {
			addr = v.ln.Addr().String()
		}
		return addr != ""
	})
	return "http://" + addr + "/2018-06-01/runtime/"
}

func do(t *testing.T, method, url string, body []byte, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxT(t), method, url, bytes.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestRuntimeAPIProtocol(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	e, fns := newEngine(t, nil)
	fakeRuntime(t, e, fns, "fake")
	results := make(chan Result, 1)
	go func() {
		res, err := e.Invoke(ctxT(t), Request{Function: "fake", Payload: []byte(`{"n":1}`), TraceID: "Root=1-abc"})
		if err != nil {
			t.Error(err)
		}
		results <- res
	}()
	base := envAddr(t, e)

	resp, body := do(t, "POST", base[:len(base)-len("runtime/")]+"../2020-01-01/extension/register", []byte(`{"events":[]}`),
		"Lambda-Extension-Name", "GoLangEnableSIGTERM")
	// The path above is cleaned by the client to /2020-01-01/extension/register.
	if resp.StatusCode != 200 || resp.Header.Get("Lambda-Extension-Identifier") == "" {
		t.Errorf("extension register: %d %s", resp.StatusCode, body)
	}

	resp, body = do(t, "GET", base+"invocation/next", nil)
	id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
	if resp.StatusCode != 200 || body != `{"n":1}` || id == "" || resp.Header.Get("Lambda-Runtime-Deadline-Ms") == "" ||
		resp.Header.Get("Lambda-Runtime-Invoked-Function-Arn") != "arn:aws:lambda:us-east-1:000000000000:function:fake" ||
		resp.Header.Get("Lambda-Runtime-Trace-Id") != "Root=1-abc" {
		t.Fatalf("next: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, body := do(t, "POST", base+"invocation/not-the-id/response", []byte("x")); resp.StatusCode != 400 || !strings.Contains(body, "InvalidRequestID") {
		t.Errorf("wrong id: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", base+"init/error", []byte("{}")); resp.StatusCode != 403 {
		t.Errorf("init error after init: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", base+"invocation/"+id+"/response", []byte(`"ok"`)); resp.StatusCode != 202 || body != `{"status":"OK"}` {
		t.Errorf("response: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "POST", base+"invocation/"+id+"/response", []byte(`"again"`)); resp.StatusCode != 403 || !strings.Contains(body, "InvalidStateTransition") {
		t.Errorf("second response: %d %s", resp.StatusCode, body)
	}
	if res := <-results; string(res.Payload) != `"ok"` || res.FunctionError != "" || res.RequestID != id {
		t.Errorf("result: %+v", res)
	}

	// An error report, then an oversized response.
	go func() {
		res, _ := e.Invoke(ctxT(t), Request{Function: "fake", Payload: []byte(`{}`)})
		results <- res
	}()
	resp, _ = do(t, "GET", base+"invocation/next", nil)
	id = resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
	errBody := `{"errorMessage":"bad","errorType":"MyError"}`
	if resp, body := do(t, "POST", base+"invocation/"+id+"/error", []byte(errBody), "Lambda-Runtime-Function-Error-Type", "MyError"); resp.StatusCode != 202 {
		t.Errorf("error: %d %s", resp.StatusCode, body)
	}
	if res := <-results; string(res.Payload) != errBody || res.FunctionError != "Unhandled" {
		t.Errorf("error result: %+v", res)
	}

	go func() {
		res, _ := e.Invoke(ctxT(t), Request{Function: "fake", Payload: []byte(`{}`)})
		results <- res
	}()
	resp, _ = do(t, "GET", base+"invocation/next", nil)
	id = resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
	if resp, body := do(t, "POST", base+"invocation/"+id+"/response", make([]byte, function.MaxPayload+1)); resp.StatusCode != 413 || !strings.Contains(body, "RequestEntityTooLarge") {
		t.Errorf("oversized response: %d %s", resp.StatusCode, body)
	}
	if p := decodeErr(t, <-results); p.ErrorType != "Function.ResponseSizeTooLarge" {
		t.Errorf("oversized result: %+v", p)
	}
}

func TestRuntimeInitError(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	e, fns := newEngine(t, nil)
	fakeRuntime(t, e, fns, "fake")
	results := make(chan Result, 1)
	go func() {
		res, _ := e.Invoke(ctxT(t), Request{Function: "fake", Payload: []byte(`{}`), Tail: true})
		results <- res
	}()
	base := envAddr(t, e)
	body := `{"errorMessage":"Unable to import module 'x'","errorType":"Runtime.ImportModuleError"}`
	if resp, b := do(t, "POST", base+"init/error", []byte(body), "Lambda-Runtime-Function-Error-Type", "Runtime.ImportModuleError"); resp.StatusCode != 202 {
		t.Fatalf("init error: %d %s", resp.StatusCode, b)
	}
	res := <-results
	if res.FunctionError != "Unhandled" || string(res.Payload) != body {
		t.Errorf("init error result: %+v", res)
	}
}
