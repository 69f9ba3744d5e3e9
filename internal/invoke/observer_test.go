package invoke

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

type observed struct {
	mu                    sync.Mutex
	ok, failed, throttled map[string]int
	durations             []time.Duration
}

func (o *observed) Invoked(fn string, d time.Duration, failed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if failed {
		o.failed[fn]++
	} else {
		o.ok[fn]++
	}
	o.durations = append(o.durations, d)
}

func (o *observed) Throttled(fn string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.throttled[fn]++
}

// TestObserver: the engine reports successes, function errors and throttles, and Concurrency
// shows an execution in progress.
func TestObserver(t *testing.T) {
	o := &observed{ok: map[string]int{}, failed: map[string]int{}, throttled: map[string]int{}}
	e, fns := newEngine(t, func(c *Config) { c.Observer = o })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "no", 500)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	fns.Put(&function.Function{FunctionName: "ok", Timeout: 10, HTTPTarget: &function.HTTPTarget{URL: srv.URL}})
	fns.Put(&function.Function{FunctionName: "bad", Timeout: 10, HTTPTarget: &function.HTTPTarget{URL: srv.URL + "/fail"}})
	zero := 0
	fns.Put(&function.Function{FunctionName: "off", Timeout: 10, ReservedConcurrentExecutions: &zero, HTTPTarget: &function.HTTPTarget{URL: srv.URL}})
	for _, name := range []string{"ok", "ok", "bad", "off"} {
		_, _ = e.Invoke(ctxT(t), Request{Function: name, Payload: []byte(`{}`)})
	}
	o.mu.Lock()
	if o.ok["ok"] != 2 || o.failed["bad"] != 1 || o.throttled["off"] != 1 || o.ok["off"]+o.failed["off"] != 0 || len(o.durations) != 3 {
		t.Errorf("ok %v failed %v throttled %v", o.ok, o.failed, o.throttled)
	}
	o.mu.Unlock()

	b := newBlocker(t)
	fns.Put(&function.Function{FunctionName: "slow", Timeout: 10, HTTPTarget: &function.HTTPTarget{URL: b.srv.URL}})
	done := make(chan error, 1)
	go func() {
		_, err := e.Invoke(ctxT(t), Request{Function: "slow"})
		done <- err
	}()
	<-b.arrived
	if c := e.Concurrency(); c["slow"] != 1 || c["ok"] != 0 {
		t.Errorf("concurrency %v", c)
	}
	b.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
