package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// versioned puts $LATEST and versions 1 and 2 of name (each version its own revision) and
// returns the MapFunctions.
func versioned(fns *MapFunctions, name string, mk func(string) *function.Function) {
	fns.Put(mk(name))
	for _, v := range []string{"1", "2"} {
		fn := mk(name)
		fn.Version = v
		fn.RevisionId = "rev-" + v
		fns.PutVersion(fn)
	}
}

func TestResolveQualifiers(t *testing.T) {
	fns := &MapFunctions{}
	seven := 7
	versioned(fns, "f", func(n string) *function.Function {
		return &function.Function{FunctionName: n, Version: "$LATEST", RevisionId: "latest", ReservedConcurrentExecutions: &seven}
	})
	fns.PutAlias("f", &function.Alias{Name: "live", FunctionVersion: "1"})
	fns.PutAlias("f", &function.Alias{Name: "dev", FunctionVersion: "$LATEST"})
	cached := NewCachedFunctions(fns, func(err error) bool { return errors.Is(err, ErrFunctionNotFound) })
	for _, r := range []struct {
		name string
		Functions
	}{{"map", fns}, {"cached", cached}} {
		t.Run(r.name, func(t *testing.T) {
			ctx := ctxT(t)
			for _, c := range []struct{ name, qualifier, version string }{
				{"f", "", "$LATEST"},
				{"f:$LATEST", "", "$LATEST"},
				{"f", "$LATEST", "$LATEST"},
				{"f:1", "", "1"},
				{"f", "2", "2"},
				{"f:2", "2", "2"},
				{"arn:aws:lambda:us-east-1:000000000000:function:f:live", "", "1"},
				{"000000000000:function:f:dev", "", "$LATEST"},
				{"f", "live", "1"},
			} {
				fn, err := r.Resolve(ctx, c.name, c.qualifier)
				if err != nil || fn.Version != c.version {
					t.Errorf("Resolve(%q, %q) = %v, %v; want version %s", c.name, c.qualifier, fn, err, c.version)
					continue
				}
				if fn.ReservedConcurrentExecutions == nil || *fn.ReservedConcurrentExecutions != 7 {
					t.Errorf("Resolve(%q, %q): reserved concurrency %v, want the function's 7", c.name, c.qualifier, fn.ReservedConcurrentExecutions)
				}
			}
			for _, c := range []struct{ name, qualifier string }{
				{"g", ""}, {"f:3", ""}, {"f", "nope"}, {"f:1", "2"}, {"f:live", "1"}, {"f", "0"},
			} {
				if fn, err := r.Resolve(ctx, c.name, c.qualifier); !errors.Is(err, ErrFunctionNotFound) {
					t.Errorf("Resolve(%q, %q) = %v, %v; want ErrFunctionNotFound", c.name, c.qualifier, fn, err)
				}
			}
		})
	}
	// Moving the alias takes effect on the next resolution after Invalidate.
	ctx := ctxT(t)
	if fn, _ := cached.Resolve(ctx, "f:live", ""); fn.Version != "1" {
		t.Fatal(fn.Version)
	}
	fns.PutAlias("f", &function.Alias{Name: "live", FunctionVersion: "2"})
	cached.Invalidate("f")
	if fn, _ := cached.Resolve(ctx, "f:live", ""); fn.Version != "2" {
		t.Fatalf("after the alias moved: version %s", fn.Version)
	}
}

// TestWeightedAliasSplit: a routing configuration splits resolutions by its weight. With
// n = 20,000 and p = 0.3 the count has mean 6,000 and standard deviation 64.8; the bound is
// 6 standard deviations (a false failure about once in 10^9 runs).
func TestWeightedAliasSplit(t *testing.T) {
	fns := &MapFunctions{}
	versioned(fns, "w", func(n string) *function.Function { return &function.Function{FunctionName: n} })
	fns.PutAlias("w", &function.Alias{Name: "canary", FunctionVersion: "1",
		RoutingConfig: &function.RoutingConfig{AdditionalVersionWeights: map[string]float64{"2": 0.3}}})
	cached := NewCachedFunctions(fns, nil)
	const n, p = 20000, 0.3
	count := map[string]int{}
	for range n {
		fn, err := cached.Resolve(ctxT(t), "w:canary", "")
		if err != nil {
			t.Fatal(err)
		}
		count[fn.Version]++
	}
	mean, sd := n*p, math.Sqrt(n*p*(1-p))
	t.Logf("version 2 ran %d of %d (expected %.0f ± %.1f)", count["2"], n, mean, sd)
	if len(count) != 2 || math.Abs(float64(count["2"])-mean) > 6*sd {
		t.Fatalf("split %v, want version 2 near %.0f", count, mean)
	}
	// Weight 0 and weight 1 are exact.
	for _, c := range []struct {
		w    float64
		want string
	}{{0, "1"}, {1, "2"}} {
		fns.PutAlias("w", &function.Alias{Name: "canary", FunctionVersion: "1",
			RoutingConfig: &function.RoutingConfig{AdditionalVersionWeights: map[string]float64{"2": c.w}}})
		for range 200 {
			if fn, _ := fns.Resolve(ctxT(t), "w:canary", ""); fn.Version != c.want {
				t.Fatalf("weight %v ran version %s", c.w, fn.Version)
			}
		}
	}
}

// TestEnvironmentsPerVersion: each version runs in its own warm environments, with its own
// AWS_LAMBDA_FUNCTION_VERSION, the executed version reported, the invoked ARN qualified as
// called; an alias reuses the environment of the version it points at.
func TestEnvironmentsPerVersion(t *testing.T) {
	e, fns := newEngine(t, nil)
	versioned(fns, "pv", goFunction)
	fns.PutAlias("pv", &function.Alias{Name: "live", FunctionVersion: "2"})
	run := func(name, qualifier string) (envOut, Result) {
		t.Helper()
		res, err := e.Invoke(ctxT(t), Request{Function: name, Qualifier: qualifier, Payload: []byte(`{"action":"env"}`)})
		if err != nil || res.FunctionError != "" {
			t.Fatalf("invoke %s %s: %v %s", name, qualifier, err, res.Payload)
		}
		var out envOut
		if err := json.Unmarshal(res.Payload, &out); err != nil {
			t.Fatal(err)
		}
		return out, res
	}
	latest, r0 := run("pv", "")
	v1, r1 := run("pv:1", "")
	v2, r2 := run("pv", "2")
	live, rl := run("pv:live", "")
	for _, c := range []struct {
		out     envOut
		res     Result
		version string
		arn     string
	}{
		{latest, r0, "$LATEST", "arn:aws:lambda:us-east-1:000000000000:function:pv"},
		{v1, r1, "1", "arn:aws:lambda:us-east-1:000000000000:function:pv:1"},
		{v2, r2, "2", "arn:aws:lambda:us-east-1:000000000000:function:pv:2"},
		{live, rl, "2", "arn:aws:lambda:us-east-1:000000000000:function:pv:live"},
	} {
		if c.out.Version != c.version || c.res.ExecutedVersion != c.version || c.out.Arn != c.arn {
			t.Errorf("got version %s (executed %s) arn %s; want %s %s", c.out.Version, c.res.ExecutedVersion, c.out.Arn, c.version, c.arn)
		}
	}
	if latest.Pid == v1.Pid || v1.Pid == v2.Pid || latest.Pid == v2.Pid {
		t.Errorf("versions share environments: pids %d %d %d", latest.Pid, v1.Pid, v2.Pid)
	}
	if live.Pid != v2.Pid {
		t.Errorf("alias on version 2 started a new environment (pid %d, version 2's %d)", live.Pid, v2.Pid)
	}
	if again, _ := run("pv:1", ""); again.Pid != v1.Pid {
		t.Errorf("version 1 not kept warm: pid %d then %d", v1.Pid, again.Pid)
	}
}

// TestReservedConcurrencyAcrossVersions: the function's reserved concurrency counts the
// executions of all versions together.
func TestReservedConcurrencyAcrossVersions(t *testing.T) {
	e, fns := newEngine(t, nil)
	b := newBlocker(t)
	one := 1
	mk := func(n string) *function.Function {
		return &function.Function{FunctionName: n, Timeout: 10, ReservedConcurrentExecutions: &one,
			HTTPTarget: &function.HTTPTarget{URL: b.srv.URL}}
	}
	versioned(fns, "rc", mk)
	done := make(chan error, 1)
	go func() {
		_, err := e.Invoke(ctxT(t), Request{Function: "rc:1"})
		done <- err
	}()
	<-b.arrived
	var te *ThrottleError
	if _, err := e.Invoke(ctxT(t), Request{Function: "rc:2"}); !errors.As(err, &te) || te.Reason != ReasonReservedConcurrency {
		t.Fatalf("version 2 while version 1 holds the only slot: %v", err)
	}
	if got := e.Concurrency()["rc"]; got != 1 {
		t.Errorf("Concurrency()[rc] = %d, want 1", got)
	}
	b.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := e.Invoke(ctxT(t), Request{Function: "rc:2"}); err != nil {
		t.Fatalf("version 2 after the slot was freed: %v", err)
	}
}

// TestAliasUpdateInFlight: an invocation already running on the version an alias pointed at
// finishes there, while the next one runs the version the alias points at now.
func TestAliasUpdateInFlight(t *testing.T) {
	e, fns := newEngine(t, nil)
	b1 := newBlocker(t)
	v2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`"v2"`)) }))
	t.Cleanup(v2.Close)
	fns.Put(&function.Function{FunctionName: "inf", Timeout: 10, HTTPTarget: &function.HTTPTarget{URL: v2.URL}})
	fns.PutVersion(&function.Function{FunctionName: "inf", Version: "1", Timeout: 10, HTTPTarget: &function.HTTPTarget{URL: b1.srv.URL}})
	fns.PutVersion(&function.Function{FunctionName: "inf", Version: "2", Timeout: 10, HTTPTarget: &function.HTTPTarget{URL: v2.URL}})
	fns.PutAlias("inf", &function.Alias{Name: "live", FunctionVersion: "1"})
	cached := NewCachedFunctions(fns, func(err error) bool { return errors.Is(err, ErrFunctionNotFound) })
	e.cfg.Functions = cached

	type out struct {
		res Result
		err error
	}
	first := make(chan out, 1)
	go func() {
		res, err := e.Invoke(ctxT(t), Request{Function: "inf:live"})
		first <- out{res, err}
	}()
	<-b1.arrived // running on version 1
	fns.PutAlias("inf", &function.Alias{Name: "live", FunctionVersion: "2"})
	cached.Invalidate("inf") // what the API's UpdateAlias does (QualifierChanged)
	res, err := e.Invoke(ctxT(t), Request{Function: "inf:live"})
	if err != nil || res.ExecutedVersion != "2" || string(res.Payload) != `"v2"` {
		t.Fatalf("invocation after the alias moved: %v %+v", err, res)
	}
	b1.open()
	o := <-first
	if o.err != nil || o.res.ExecutedVersion != "1" {
		t.Fatalf("in-flight invocation: %v %+v, want it finished on version 1", o.err, o.res)
	}
}

// TestRetireLatestKeepsVersionsWarm: an update of $LATEST retires $LATEST's environments
// only; a published version's stay warm.
func TestRetireLatestKeepsVersionsWarm(t *testing.T) {
	e, fns := newEngine(t, nil)
	versioned(fns, "rl", goFunction)
	latest, v1 := invokeEnv(t, e, "rl"), invokeEnv(t, e, "rl:1")
	e.Retire("rl", "$LATEST")
	if again := invokeEnv(t, e, "rl:1"); again.Pid != v1.Pid {
		t.Errorf("version 1's environment retired with $LATEST's (pid %d, then %d)", v1.Pid, again.Pid)
	}
	if again := invokeEnv(t, e, "rl"); again.Pid == latest.Pid {
		t.Error("$LATEST's environment not retired")
	}
	e.Retire("rl")
	if again := invokeEnv(t, e, "rl:1"); again.Pid == v1.Pid {
		t.Error("Retire without versions kept version 1's environment")
	}
}

// movingAlias is a Source in which alias live moves from version 1 to version 2, and version
// 1 is deleted, right after the first read of the alias: a deployment that cleans up.
type movingAlias struct {
	*MapFunctions
	reads int
}

func (m *movingAlias) GetAlias(ctx context.Context, name, alias string) (*function.Alias, error) {
	a, err := m.MapFunctions.GetAlias(ctx, name, alias)
	if m.reads++; m.reads == 1 {
		m.PutAlias(name, &function.Alias{Name: "live", FunctionVersion: "2"})
		delete(m.versions[name], "1")
	}
	return a, err
}

// TestResolveAliasMovingAndVersionDeleted: an alias read just before it moved to another
// version, whose old version was then deleted, resolves to the new version; it once answered
// function-not-found, a failed attempt for a mapping's batch during a healthy deployment.
func TestResolveAliasMovingAndVersionDeleted(t *testing.T) {
	fns := &MapFunctions{}
	versioned(fns, "mv", func(n string) *function.Function { return &function.Function{FunctionName: n, Version: "$LATEST"} })
	fns.PutAlias("mv", &function.Alias{Name: "live", FunctionVersion: "1"})
	src := &movingAlias{MapFunctions: fns}
	c := NewCachedFunctions(src, func(err error) bool { return errors.Is(err, ErrFunctionNotFound) })
	fn, err := c.Resolve(ctxT(t), "mv:live", "")
	if err != nil || fn.Version != "2" {
		t.Fatalf("resolved %+v, %v; want version 2", fn, err)
	}
}

// TestLongestTimeout: a poller's drain waits for the longest timeout an invocation of the
// mapping's FunctionName can have: both versions of a routing alias, and the current value
// after an update (the cache is invalidated by the API).
func TestLongestTimeout(t *testing.T) {
	fns := &MapFunctions{}
	fns.Put(&function.Function{FunctionName: "f", Version: "$LATEST", Timeout: 3})
	fns.PutVersion(&function.Function{FunctionName: "f", Version: "1", Timeout: 10})
	fns.PutVersion(&function.Function{FunctionName: "f", Version: "2", Timeout: 60})
	fns.PutAlias("f", &function.Alias{Name: "live", FunctionVersion: "1"})
	fns.PutAlias("f", &function.Alias{Name: "canary", FunctionVersion: "1",
		RoutingConfig: &function.RoutingConfig{AdditionalVersionWeights: map[string]float64{"2": 0.01}}})
	cached := NewCachedFunctions(fns, func(err error) bool { return errors.Is(err, ErrFunctionNotFound) })
	ctx := ctxT(t)
	for name, want := range map[string]time.Duration{
		"f": 3 * time.Second, "f:$LATEST": 3 * time.Second, "f:2": time.Minute,
		"f:live": 10 * time.Second, "f:canary": time.Minute,
		"arn:aws:lambda:us-east-1:000000000000:function:f:canary": time.Minute,
	} {
		if d, err := cached.LongestTimeout(ctx, name); err != nil || d != want {
			t.Errorf("LongestTimeout(%q) = %v, %v; want %v", name, d, err, want)
		}
	}
	if _, err := cached.LongestTimeout(ctx, "f:nope"); !errors.Is(err, ErrFunctionNotFound) {
		t.Errorf("unknown alias: %v", err)
	}
	fns.Put(&function.Function{FunctionName: "f", Version: "$LATEST", Timeout: 900})
	cached.Invalidate("f")
	if d, _ := cached.LongestTimeout(ctx, "f"); d != 900*time.Second {
		t.Errorf("after an update: %v, want 15m", d)
	}
}
