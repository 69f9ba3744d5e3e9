package invoke

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// invokeHTTP POSTs the event to the function's HTTP target. A 2xx answer is success with the
// body as the result; 429 is a throttle (*ThrottleError); anything else, a transport error or
// the timeout is an Unhandled error.
// The request carries the Runtime API's invocation headers so that a target can use them.
func (e *Engine) invokeHTTP(ctx context.Context, fn *function.Function, inv *invocation, tail bool) (Result, error) {
	timeout := time.Duration(fn.Timeout) * time.Second
	if fn.Timeout <= 0 {
		timeout = function.DefaultTimeout * time.Second
	}
	log := e.fnLog(fn.FunctionName)
	v := &env{e: e, fn: fn, log: log}
	var capture *tailBuf
	if tail {
		capture = &tailBuf{}
	}
	start := time.Now()
	inv.deadline = start.Add(timeout)
	startLine := "START RequestId: " + inv.id + " Version: " + versionOf(fn)
	log.writeLine(start, []byte(startLine))
	if capture != nil {
		capture.writeLine([]byte(startLine))
	}
	if inv.note != "" {
		log.writeLine(start, []byte(inv.note))
		if capture != nil {
			capture.writeLine([]byte(inv.note))
		}
	}

	hctx, cancel := context.WithDeadline(ctx, inv.deadline)
	defer cancel()
	req, err := NewPayloadRequest(hctx, fn.HTTPTarget.URL, inv.payload)
	if err != nil {
		res := Result{FunctionError: "Unhandled", Payload: errorJSON("HTTPTarget.InvalidURL", err.Error())}
		e.report(v, inv, capture, &res, start, 0, 0, "", "")
		return res, nil
	}
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	inv.setRuntimeHeaders(h)

	var res Result
	var before, after string
	resp, err := e.cfg.HTTPClient.Do(req)
	if err == nil {
		body, ok := ReadPayload(resp.Body, resp.ContentLength, function.MaxPayload)
		err = hctx.Err() // a body cut short by the deadline is a timeout
		resp.Body.Close()
		switch {
		case err != nil:
		case !ok:
			res = Result{FunctionError: "Unhandled", Payload: errorJSON("Function.ResponseSizeTooLarge",
				fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", function.MaxPayload))}
		case resp.StatusCode/100 == 2:
			res = Result{Payload: body}
		case resp.StatusCode == http.StatusTooManyRequests:
			// The target's own concurrency or rate limit: a throttle, as Lambda's
			// TooManyRequestsException, not a function error (callers back off and retry).
			msg := fmt.Sprintf("RequestId: %s Error: HTTP target answered %s (throttled)", inv.id, resp.Status)
			res = Result{FunctionError: "Unhandled", Payload: errorJSON("HTTPTarget.Status429", msg)}
			e.report(v, inv, capture, &res, start, 0, 0, msg, "")
			return Result{}, &ThrottleError{Reason: ReasonHTTPTarget}
		default:
			snippet := body
			if len(snippet) > 256 {
				snippet = snippet[:256]
			}
			msg := fmt.Sprintf("RequestId: %s Error: HTTP target answered %s: %s", inv.id, resp.Status, snippet)
			res = Result{FunctionError: "Unhandled", Payload: errorJSON("HTTPTarget.Status"+strconv.Itoa(resp.StatusCode), msg)}
			before = msg
		}
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return Result{}, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			secs := fmt.Sprintf("%.2f", timeout.Seconds())
			res = Result{FunctionError: "Unhandled", Payload: errorJSON("Sandbox.Timedout",
				"RequestId: "+inv.id+" Error: Task timed out after "+secs+" seconds")}
			after = time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + " " + inv.id + " Task timed out after " + secs + " seconds"
		default:
			msg := "RequestId: " + inv.id + " Error: HTTP target unreachable: " + err.Error()
			res = Result{FunctionError: "Unhandled", Payload: errorJSON("HTTPTarget.TransportError", msg)}
			before = msg
		}
	}
	e.report(v, inv, capture, &res, start, 0, 0, before, after)
	return res, nil
}
