package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// maxStaleRetries bounds how often an invocation moves on from a warm environment that died
// between invocations (a Go runtime exits right after reporting a panic).
const maxStaleRetries = 3

func (e *Engine) invokeProcess(ctx context.Context, fn *function.Function, p *pool, inv *invocation, tail bool) (Result, error) {
	for attempt := 0; ; attempt++ {
		v := e.popIdle(p)
		cold := v == nil
		if cold {
			var err error
			v, err = e.startEnv(fn, revision(fn))
			if err != nil {
				e.release(p, nil, false)
				var se errStart
				if errors.As(err, &se) {
					return e.startFailure(fn, inv, tail, se), nil
				}
				return Result{}, err
			}
		}
		res, healthy, stale, err := e.run(ctx, fn, v, cold, inv, tail)
		if stale && attempt < maxStaleRetries {
			e.releaseKeepSlot(v)
			continue
		}
		e.release(p, v, healthy)
		return res, err
	}
}

// releaseKeepSlot kills a dead warm environment without giving back the slot the caller holds.
func (e *Engine) releaseKeepSlot(v *env) { v.kill() }

// run performs one invocation on v. healthy says whether v can be reused; stale says v died
// before it took the invocation, so another environment may be tried.
func (e *Engine) run(ctx context.Context, fn *function.Function, v *env, cold bool, inv *invocation, tail bool) (res Result, healthy, stale bool, err error) {
	timeout := time.Duration(fn.Timeout) * time.Second
	if fn.Timeout <= 0 {
		timeout = function.DefaultTimeout * time.Second
	}
	var initDur time.Duration
	if cold {
		t := time.NewTimer(e.cfg.InitTimeout)
		select {
		case <-v.ready:
			t.Stop()
			initDur = time.Since(v.started)
		case <-v.initFailed:
			t.Stop()
			v.kill()
			v.mu.Lock()
			body, typ := v.initErr, v.initErrType
			v.mu.Unlock()
			if len(body) == 0 {
				body = errorJSON(typ, "RequestId: "+inv.id+" Error: init failed")
			}
			return e.failReport(v, inv, tail, body, ""), false, false, nil
		case <-v.exited:
			t.Stop()
			v.kill()
			return e.failReport(v, inv, tail, v.exitPayload(inv.id), ""), false, false, nil
		case <-t.C:
			v.kill()
			msg := fmt.Sprintf("RequestId: %s Error: Runtime init timed out after %.2f seconds", inv.id, e.cfg.InitTimeout.Seconds())
			return e.failReport(v, inv, tail, errorJSON("Runtime.InitTimeout", msg), ""), false, false, nil
		case <-ctx.Done():
			t.Stop()
			v.kill()
			return Result{}, false, false, ctx.Err()
		}
	}

	var capture *tailBuf
	if tail {
		capture = &tailBuf{}
	}
	v.mu.Lock()
	v.tail = capture
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.tail = nil
		v.mu.Unlock()
	}()

	start := time.Now()
	inv.deadline = start.Add(timeout)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case v.invCh <- inv:
	case <-v.exited:
		if !cold {
			return Result{}, false, true, nil
		}
		v.kill()
		return e.failReport(v, inv, tail, v.exitPayload(inv.id), ""), false, false, nil
	case <-timer.C:
		return e.timedOut(v, inv, capture, start, timeout, initDur), false, false, nil
	case <-ctx.Done():
		v.kill()
		return Result{}, false, false, ctx.Err()
	}

	var o outcome
	select {
	case o = <-inv.done:
	case <-v.exited:
		var ok bool
		if o, ok = v.outcomeAfterExit(inv, timer.C); !ok {
			v.kill()
			res = Result{Payload: v.exitPayload(inv.id), FunctionError: "Unhandled"}
			e.report(v, inv, capture, &res, start, initDur, v.maxMemory(), "", "")
			return res, false, false, nil
		}
	case <-timer.C:
		return e.timedOut(v, inv, capture, start, timeout, initDur), false, false, nil
	case <-ctx.Done():
		v.kill()
		return Result{}, false, false, ctx.Err()
	}
	mem := v.maxMemory()
	healthy = true
	switch {
	case o.tooLarge:
		healthy = false // the runtime got a 413 and exits
		res = Result{FunctionError: "Unhandled", Payload: errorJSON("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", function.MaxPayload))}
	case o.failed:
		res = Result{FunctionError: "Unhandled", Payload: o.payload}
	default:
		res = Result{Payload: o.payload}
	}
	v.syncLogs()
	select {
	case <-v.exited:
		healthy = false
	default:
	}
	e.report(v, inv, capture, &res, start, initDur, mem, "", "")
	return res, healthy, false, nil
}

// timedOut kills v at the deadline and reports Lambda's timeout error.
func (e *Engine) timedOut(v *env, inv *invocation, capture *tailBuf, start time.Time, timeout, initDur time.Duration) Result {
	mem := v.maxMemory()
	v.kill()
	secs := fmt.Sprintf("%.2f", timeout.Seconds())
	res := Result{FunctionError: "Unhandled", Payload: errorJSON("Sandbox.Timedout",
		"RequestId: "+inv.id+" Error: Task timed out after "+secs+" seconds")}
	e.report(v, inv, capture, &res, start, initDur, mem, "",
		time.Now().UTC().Format("2006-01-02T15:04:05.000Z")+" "+inv.id+" Task timed out after "+secs+" seconds")
	return res
}

// report writes END and REPORT (and optional lines before and after them, as Lambda writes
// its timeout line after REPORT) and fills the result's
// duration and log tail.
func (e *Engine) report(v *env, inv *invocation, capture *tailBuf, res *Result, start time.Time, initDur time.Duration, memMB int, before, after string) {
	d := time.Since(start)
	res.Duration = d
	mem := v.fn.MemorySize
	if mem == 0 {
		mem = function.DefaultMemorySize
	}
	now := time.Now()
	line := func(s string) {
		v.log.writeLine(now, []byte(s))
		if capture != nil {
			capture.writeLine([]byte(s))
		}
	}
	// The env's own capture is detached first so late output does not race with these lines.
	v.mu.Lock()
	v.tail = nil
	v.mu.Unlock()
	if before != "" {
		line(before)
	}
	line("END RequestId: " + inv.id)
	r := fmt.Sprintf("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB",
		inv.id, float64(d.Microseconds())/1000, int64(math.Ceil(float64(d.Microseconds())/1000)), mem, memMB)
	if initDur > 0 {
		r += fmt.Sprintf("\tInit Duration: %.2f ms", float64(initDur.Microseconds())/1000)
	}
	line(r)
	if after != "" {
		line(after)
	}
	if capture != nil {
		res.LogTail = capture.bytes()
	}
}

// failReport reports an invocation that never reached the handler (init failure).
func (e *Engine) failReport(v *env, inv *invocation, tail bool, payload []byte, before string) Result {
	var capture *tailBuf
	if tail {
		capture = &tailBuf{}
	}
	res := Result{FunctionError: "Unhandled", Payload: payload}
	msg := "START RequestId: " + inv.id + " Version: " + versionOf(v.fn)
	v.log.writeLine(time.Now(), []byte(msg))
	if capture != nil {
		capture.writeLine([]byte(msg))
	}
	if inv.note != "" {
		v.log.writeLine(time.Now(), []byte(inv.note))
	}
	e.report(v, inv, capture, &res, time.Now(), 0, 0, before, "")
	return res
}

// startFailure reports a runtime that could not even be started (Runtime.InvalidEntrypoint).
func (e *Engine) startFailure(fn *function.Function, inv *invocation, tail bool, se errStart) Result {
	v := &env{e: e, fn: fn, log: e.fnLog(fn.FunctionName)}
	var ime errImportModule
	if errors.As(se.err, &ime) { // python.go: the runtime interface client cannot run
		return e.failReport(v, inv, tail, errorJSON("Runtime.ImportModuleError", ime.msg), "kafkaesm: "+ime.msg)
	}
	return e.failReport(v, inv, tail, errorJSON("Runtime.InvalidEntrypoint",
		"RequestId: "+inv.id+" Error: "+se.Error()), "")
}

// exitPayload is the error of a runtime that exited: Runtime.OutOfMemory when the kernel
// killed it at its memory limit, else Runtime.ExitError.
func (v *env) exitPayload(id string) []byte {
	if v.oom {
		return errorJSON("Runtime.OutOfMemory", "RequestId: "+id+" Error: Runtime exited with error: signal: killed")
	}
	return exitError(id, v.exitErr)
}

func exitError(id string, err error) []byte {
	msg := "exit status 0"
	if err != nil {
		msg = err.Error()
	}
	return errorJSON("Runtime.ExitError", "RequestId: "+id+" Error: Runtime exited with error: "+msg)
}

func errorJSON(typ, msg string) []byte {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, typ})
	return b
}

// maxMemory is the REPORT line's Max Memory Used. Reading /proc/PID/status costs more than the
// rest of a warm invocation's bookkeeping, and the peak only grows, so it is re-read at most
// once a second per environment: the figure may lag by that much.
func (v *env) maxMemory() int {
	if v.cg != nil {
		select {
		case <-v.exited:
			return v.peakMB // the cgroup may be gone
		default:
		}
		if m := v.cg.peakMB(); m > 0 {
			v.memMB = m
		}
		return v.memMB
	}
	now := time.Now()
	if now.Sub(v.memAt) >= time.Second {
		if m := maxRSSMB(v.cmd.Process.Pid); m > 0 {
			v.memMB = m
		}
		v.memAt = now
	}
	return v.memMB
}
