package invoke

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// actionServer is an HTTP target that behaves like the Go test handler, so that both kinds of
// function pass the same conformance checks.
func actionServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Action string `json:"action"`
			Ms     int    `json:"ms"`
			URL    string `json:"url"`
		}
		_ = json.Unmarshal(body, &ev)
		switch ev.Action {
		case "error":
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		case "sleep":
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Duration(ev.Ms) * time.Millisecond):
			}
		case "wait":
			resp, err := http.Get(ev.URL)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		w.Write(body)
	}))
	t.Cleanup(func() {
		srv.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return srv
}

// TestConformance runs the same invocation contract against both kinds of function: an
// execution environment (aws-lambda-go handler) and an HTTP target.
func TestConformance(t *testing.T) {
	kinds := map[string]func(t *testing.T, name string) *function.Function{
		"process": func(t *testing.T, name string) *function.Function { return goFunction(name) },
		"http": func(t *testing.T, name string) *function.Function {
			return &function.Function{FunctionName: name, Timeout: 10, HTTPTarget: &function.HTTPTarget{URL: actionServer(t).URL}}
		},
	}
	for kind, mk := range kinds {
		t.Run(kind, func(t *testing.T) {
			e, fns := newEngine(t, nil)
			fn := mk(t, "c")
			fn.Timeout = 1
			fns.Put(fn)

			res := invoke(t, e, "c", `{"action":"echo","k":[1,2]}`)
			if res.FunctionError != "" || string(res.Payload) != `{"action":"echo","k":[1,2]}` || res.ExecutedVersion != "$LATEST" {
				t.Errorf("echo: %+v %s", res, res.Payload)
			}
			for _, want := range []string{"START RequestId: " + res.RequestID + " Version: $LATEST", "END RequestId: " + res.RequestID,
				"REPORT RequestId: " + res.RequestID + "\tDuration: "} {
				if !strings.Contains(string(res.LogTail), want) {
					t.Errorf("tail lacks %q:\n%s", want, res.LogTail)
				}
			}
			// A LogNote follows the START line (the poller's "which attempt" line).
			noted, err := e.Invoke(ctxT(t), Request{Function: "c", Payload: []byte(`{"action":"echo"}`), Tail: true, LogNote: "KAFKAESM batch t-0 offsets 0-1 (2 records): attempt 2 of 3"})
			if err != nil || !strings.Contains(string(noted.LogTail), "START RequestId: "+noted.RequestID+" Version: $LATEST\nKAFKAESM batch t-0 offsets 0-1 (2 records): attempt 2 of 3\n") {
				t.Errorf("LogNote: %v\n%s", err, noted.LogTail)
			}
			if p := decodeErr(t, invoke(t, e, "c", `{"action":"error"}`)); !strings.Contains(p.ErrorMessage, "boom") {
				t.Errorf("error: %+v", p)
			}
			if p := decodeErr(t, invoke(t, e, "c", `{"action":"sleep","ms":5000}`)); !strings.Contains(p.ErrorMessage, "Task timed out after 1.00 seconds") {
				t.Errorf("timeout: %+v", p)
			}
			if res := invoke(t, e, "c", `{"action":"echo"}`); res.FunctionError != "" {
				t.Errorf("after timeout: %s", res.Payload)
			}
			if _, err := e.Invoke(ctxT(t), Request{Function: "c", Payload: make([]byte, function.MaxPayload+1)}); !errors.Is(err, ErrRequestTooLarge) {
				t.Errorf("oversized: %v", err)
			}
			if _, err := e.Invoke(ctxT(t), Request{Function: "c:2"}); !errors.Is(err, ErrFunctionNotFound) {
				t.Errorf("unknown version: %v", err)
			}

			b := newBlocker(t)
			payload := `{"action":"wait","url":"` + b.srv.URL + `"}`
			blockers.Store(payload, b)
			two := 2
			limited := mk(t, "limited")
			limited.ReservedConcurrentExecutions = &two
			fns.Put(limited)
			testConcurrencyLimit(t, e, "limited", payload)
		})
	}
}
