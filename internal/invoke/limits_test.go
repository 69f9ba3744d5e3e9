//go:build linux

package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// needCgroups skips tests of what only the per-environment cgroups enforce.
func needCgroups(t *testing.T, e *Engine) {
	t.Helper()
	needRoot(t)
	if e.cg == nil {
		_, why := openCgroups()
		t.Skipf("no usable cgroups on this machine (%s): memory and process limits are not enforced", why)
	}
}

// TestMemoryLimit: a function using more than its MemorySize is killed by the kernel at the
// limit, the invocation ends with Lambda's Runtime.OutOfMemory, and REPORT shows the real peak
// (it once said 22 MB for a function at 613 MB).
func TestMemoryLimit(t *testing.T) {
	e, fns := newEngine(t, func(c *Config) { c.Users = testUIDs })
	needCgroups(t, e)
	fn := goFunction("hog")
	fn.MemorySize = 128
	fns.Put(fn)
	res := invoke(t, e, "hog", `{"action":"alloc","mb":600}`)
	if p := decodeErr(t, res); res.FunctionError != "Unhandled" || p.ErrorType != "Runtime.OutOfMemory" {
		t.Fatalf("600 MB in a 128 MB function: %s %s, want Runtime.OutOfMemory", res.FunctionError, res.Payload)
	}
	m := regexp.MustCompile(`Memory Size: 128 MB\tMax Memory Used: (\d+) MB`).FindSubmatch(res.LogTail)
	if m == nil {
		t.Fatalf("no REPORT line in:\n%s", res.LogTail)
	}
	t.Logf("600 MB asked of a 128 MB function: %s; REPORT Max Memory Used: %s MB", res.Payload, m[1])
	if used, _ := strconv.Atoi(string(m[1])); used < 100 || used > 130 {
		t.Errorf("REPORT Max Memory Used %d MB, want the real peak at the 128 MB limit", used)
	}
	// A fresh environment serves the next invocation.
	if res := invoke(t, e, "hog", `{"action":"alloc","mb":20}`); res.FunctionError != "" {
		t.Fatalf("20 MB after the OOM: %s", res.Payload)
	}
}

// TestTimeoutKillsDetachedProcesses: a process the function started in a session of its own
// (setsid, out of the runtime's process group) dies with the environment at the timeout.
func TestTimeoutKillsDetachedProcesses(t *testing.T) {
	e, fns := newEngine(t, func(c *Config) { c.Users = testUIDs })
	needCgroups(t, e)
	fn := goFunction("detach")
	fn.Timeout = 1
	fns.Put(fn)
	res := invoke(t, e, "detach", `{"action":"spawn"}`)
	var pid int
	if err := json.Unmarshal(res.Payload, &pid); err != nil || pid <= 0 {
		t.Fatalf("spawn: %s", res.Payload)
	}
	if !alive(pid) {
		t.Fatalf("the detached child %d is not running", pid)
	}
	// The environment holds the detached child in its cgroup, under Lambda's process limit.
	e.mu.Lock()
	var cg *envCgroup
	for v := range e.envs {
		if v.fn.FunctionName == "detach" {
			cg = v.cg
		}
	}
	e.mu.Unlock()
	if cg == nil || !slices.Contains(cg.procs(), pid) {
		t.Fatalf("the detached child %d is not in the environment's cgroup", pid)
	}
	pidsDir := cg.pids
	if cg.v2 {
		pidsDir = cg.mem
	}
	if b, err := os.ReadFile(filepath.Join(pidsDir, "pids.max")); pidsDir == "" || err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(PidsLimit) {
		t.Errorf("pids.max: %q %v, want %d", b, err, PidsLimit)
	}
	res = invoke(t, e, "detach", `{"action":"sleep","ms":3000}`)
	if p := decodeErr(t, res); p.ErrorType != "Sandbox.Timedout" {
		t.Fatalf("sleep past the timeout: %s", res.Payload)
	}
	waitFor(t, func() bool { return !alive(pid) })
}

// alive reports whether pid runs (a zombie waiting for its reaper is dead).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// blockingInvoker holds every invocation until release is closed.
type blockingInvoker struct{ release chan struct{} }

func (b blockingInvoker) Invoke(ctx context.Context, _ Request) (Result, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return Result{Payload: []byte(`null`)}, nil
}

// TestAsyncQueueBytes: the Event queue is bounded by the payload bytes it holds, not only by
// count: a full queue refuses (the API's 429) until events are done.
func TestAsyncQueueBytes(t *testing.T) {
	inv := blockingInvoker{release: make(chan struct{})}
	a, err := NewAsync(AsyncConfig{Invoker: inv, Workers: 1, QueueBytes: 3 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	mb := make([]byte, 1<<20)
	for i := 0; i < 3; i++ {
		if err := a.Enqueue(Request{Function: "f", Payload: mb}); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if err := a.Enqueue(Request{Function: "f", Payload: mb}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("a fourth MB in a 3 MB queue: %v, want ErrQueueFull", err)
	}
	if err := a.Enqueue(Request{Function: "f", Payload: []byte(`{}`)}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("2 bytes more: %v, want ErrQueueFull", err)
	}
	close(inv.release)
	waitFor(t, func() bool { return a.Held() == 0 })
	if err := a.Enqueue(Request{Function: "f", Payload: mb}); err != nil {
		t.Fatalf("after the queue drained: %v", err)
	}
}

// TestIdleEnvironmentsCapped: warm environments are capped per node, all functions together,
// and the least recently used is stopped first.
func TestIdleEnvironmentsCapped(t *testing.T) {
	e, fns := newEngine(t, func(c *Config) { c.MaxIdle = 2 })
	for _, n := range []string{"lru-a", "lru-b", "lru-c"} {
		fns.Put(goFunction(n))
	}
	pid := func(name string) float64 {
		var out map[string]any
		if err := json.Unmarshal(invoke(t, e, name, `{"action":"env"}`).Payload, &out); err != nil {
			t.Fatal(err)
		}
		return out["pid"].(float64)
	}
	pa, pb := pid("lru-a"), pid("lru-b")
	pid("lru-c") // a is now the least recently used of three
	live := func() map[string]bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		m := map[string]bool{}
		for v := range e.envs {
			m[v.fn.FunctionName] = true
		}
		return m
	}
	waitFor(t, func() bool { l := live(); return !l["lru-a"] && len(l) == 2 })
	if got := pid("lru-b"); got != pb {
		t.Errorf("lru-b was not kept warm (pid %v, then %v)", pb, got)
	}
	if got := pid("lru-a"); got == pa {
		t.Errorf("lru-a was kept warm beyond the cap")
	}
}
