package invoke

import (
	"context"
	"errors"
	"testing"
	"time"
)

func envCount(e *Engine) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.envs)
}

func TestCancelledInvocationReplacesEnvironment(t *testing.T) {
	e, fns := newEngine(t, nil)
	fns.Put(goFunction("c"))
	b := newBlocker(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() {
		_, err := e.Invoke(ctx, Request{Function: "c", Payload: []byte(`{"action":"wait","url":"` + b.srv.URL + `"}`)})
		done <- err
	}()
	<-b.arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled invoke: %v", err)
	}
	if res := invoke(t, e, "c", `{"action":"echo"}`); res.FunctionError != "" {
		t.Fatalf("after cancel: %s", res.Payload)
	}
}

func TestNewRevisionRetiresAfterInFlight(t *testing.T) {
	e, fns := newEngine(t, nil)
	fn := goFunction("rev")
	fns.Put(fn)
	b := newBlocker(t)
	done := make(chan Result, 1)
	go func() {
		res, _ := e.Invoke(ctxT(t), Request{Function: "rev", Payload: []byte(`{"action":"wait","url":"` + b.srv.URL + `"}`)})
		done <- res
	}()
	<-b.arrived
	fn2 := *fn
	fn2.RevisionId = "r2"
	fns.Put(&fn2)
	if res := invoke(t, e, "rev", `{"action":"echo"}`); res.FunctionError != "" {
		t.Fatalf("new revision: %s", res.Payload)
	}
	if n := envCount(e); n != 2 {
		t.Fatalf("environments = %d, want the busy old one and the new one", n)
	}
	b.open()
	if res := <-done; res.FunctionError != "" {
		t.Fatalf("in-flight invocation of the old revision: %s", res.Payload)
	}
	waitFor(t, func() bool { return envCount(e) == 1 })
}

func TestIdleEnvironmentsReaped(t *testing.T) {
	e, fns := newEngine(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	fns.Put(goFunction("idle"))
	invoke(t, e, "idle", `{"action":"echo"}`)
	waitFor(t, func() bool { return envCount(e) == 0 })
	if res := invoke(t, e, "idle", `{"action":"echo"}`); res.FunctionError != "" {
		t.Fatalf("after reaping: %s", res.Payload)
	}
}
