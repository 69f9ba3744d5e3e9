package invoke

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// Functions resolves what an invocation runs. The store (through CachedFunctions) implements
// it in production; tests use MapFunctions.
//
// Resolve accepts a name, a full ARN or a partial ARN ("123456789012:function:NAME"), each
// optionally with ":QUALIFIER", and the Invoke API's Qualifier ("" when not given; when both
// are given they must agree). It returns the configuration of the version this one invocation
// runs: $LATEST when unqualified, the version named, or the version an alias points at now. A
// weighted alias picks one of its two versions for each call, so every call (every batch of a
// mapping) runs what the qualifier resolves to at that moment. The returned Function's Version
// is the version that runs; its ReservedConcurrentExecutions is the function's. Unknown
// functions, versions and aliases are an error wrapping ErrFunctionNotFound. The returned
// Function must not be modified by the caller nor afterwards by the implementation: the
// engine keeps it as the configuration of the environments it starts.
type Functions interface {
	Resolve(ctx context.Context, nameOrArn, qualifier string) (*function.Function, error)
}

// Source reads functions, versions and aliases by bare name (the store). Each method returns
// an error its isNotFound recognises (store.ErrNotFound) when there is no such thing.
type Source interface {
	GetFunction(ctx context.Context, name string) (*function.Function, error)
	GetFunctionVersion(ctx context.Context, name, version string) (*function.Function, error)
	GetAlias(ctx context.Context, name, alias string) (*function.Alias, error)
}

// ParseFunctionName splits a function name, full ARN or partial ARN into the bare name and
// the qualifier ("" when absent).
func ParseFunctionName(s string) (name, qualifier string) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) >= 7 && parts[0] == "arn": // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q]
		name = parts[6]
		if len(parts) > 7 {
			qualifier = parts[7]
		}
	case len(parts) >= 3 && parts[1] == "function": // ACCOUNT:function:NAME[:Q]
		name = parts[2]
		if len(parts) > 3 {
			qualifier = parts[3]
		}
	default: // NAME[:Q]
		name = parts[0]
		if len(parts) > 1 {
			qualifier = parts[1]
		}
	}
	return name, qualifier
}

// Qualify combines the qualifier in nameOrArn with an explicit one: the bare name and the
// qualifier that applies ("" for unqualified). Two different qualifiers name nothing.
func Qualify(nameOrArn, qualifier string) (name, q string, err error) {
	name, q = ParseFunctionName(nameOrArn)
	if qualifier != "" {
		if q != "" && q != qualifier {
			return name, qualifier, fmt.Errorf("%w: qualifier %q does not match %q", ErrFunctionNotFound, qualifier, q)
		}
		q = qualifier
	}
	return name, q, nil
}

// target is what a qualifier resolves to: one version, or an alias and its versions.
type target struct {
	alias    *function.Alias
	versions map[string]*function.Function // by Version
	only     *function.Function            // when not an alias
}

func (t *target) pick() *function.Function {
	if t.alias == nil {
		return t.only
	}
	return t.versions[t.alias.Pick(rand.Float64())]
}

// longest is the longest timeout of what t can run: an alias that routes a share of its
// invocations to another version can run either.
func (t *target) longest() time.Duration {
	var d time.Duration
	if t.only != nil {
		d = time.Duration(t.only.Timeout) * time.Second
	}
	for _, f := range t.versions {
		if f != nil {
			d = max(d, time.Duration(f.Timeout)*time.Second)
		}
	}
	return d
}

// load resolves name and q through src. isNotFound recognises src's not-found error.
func load(ctx context.Context, src Source, isNotFound func(error) bool, name, q string) (*target, error) {
	wrap := func(err error, what string) error {
		if isNotFound != nil && isNotFound(err) {
			return fmt.Errorf("%w: %s", ErrFunctionNotFound, what)
		}
		return err
	}
	qualified := name
	if q != "" {
		qualified += ":" + q
	}
	latest, err := src.GetFunction(ctx, name)
	if err != nil {
		return nil, wrap(err, qualified)
	}
	version := func(v string) (*function.Function, error) {
		if v == function.Latest {
			return withVersion(latest, function.Latest), nil
		}
		fn, err := src.GetFunctionVersion(ctx, name, v)
		if err != nil {
			return nil, wrap(err, name+":"+v)
		}
		c := fn.Clone() // never modify what src returned
		c.Version = v
		c.ReservedConcurrentExecutions = latest.ReservedConcurrentExecutions
		return c, nil
	}
	if q == "" || q == function.Latest || function.IsVersion(q) {
		if q == "" {
			q = function.Latest
		}
		fn, err := version(q)
		if err != nil {
			return nil, err
		}
		return &target{only: fn}, nil
	}
	// The alias and its versions are separate reads. The store never deletes a version an
	// alias points at, so a version missing after the alias was read means the alias moved
	// in between (a deployment that then cleaned up the old version): read it again rather
	// than fail the invocation with function-not-found.
	for try := 1; ; try++ {
		a, err := src.GetAlias(ctx, name, q)
		if err != nil {
			return nil, wrap(err, qualified)
		}
		t := &target{alias: a, versions: make(map[string]*function.Function)}
		for _, v := range a.Versions() {
			fn, err := version(v)
			if err != nil {
				t = nil
				if try < 3 && errors.Is(err, ErrFunctionNotFound) {
					break
				}
				return nil, err
			}
			t.versions[v] = fn
		}
		if t != nil {
			return t, nil
		}
	}
}

// withVersion is fn with Version set, copied only when it differs (the store's $LATEST record
// already says "$LATEST").
func withVersion(fn *function.Function, v string) *function.Function {
	if fn.Version == v {
		return fn
	}
	c := fn.Clone()
	c.Version = v
	return c
}

// MapFunctions is an in-memory Functions and Source, safe for concurrent use. Put replaces a
// function's $LATEST (a new revision); the engine notices the change through its revision
// fields.
type MapFunctions struct {
	mu       sync.RWMutex
	m        map[string]*function.Function
	versions map[string]map[string]*function.Function
	aliases  map[string]map[string]*function.Alias
}

// Put stores fn under fn.FunctionName. fn must not be modified afterwards.
func (m *MapFunctions) Put(fn *function.Function) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[string]*function.Function)
	}
	m.m[fn.FunctionName] = fn
}

// PutVersion stores a published version (fn.Version "1", "2", …).
func (m *MapFunctions) PutVersion(fn *function.Function) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.versions == nil {
		m.versions = make(map[string]map[string]*function.Function)
	}
	if m.versions[fn.FunctionName] == nil {
		m.versions[fn.FunctionName] = make(map[string]*function.Function)
	}
	m.versions[fn.FunctionName][fn.Version] = fn
}

// PutAlias stores (or replaces) an alias of function name.
func (m *MapFunctions) PutAlias(name string, a *function.Alias) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.aliases == nil {
		m.aliases = make(map[string]map[string]*function.Alias)
	}
	if m.aliases[name] == nil {
		m.aliases[name] = make(map[string]*function.Alias)
	}
	m.aliases[name][a.Name] = a.Clone()
}

// Delete removes a function with its versions and aliases.
func (m *MapFunctions) Delete(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, name)
	delete(m.versions, name)
	delete(m.aliases, name)
}

// GetFunction implements Source.
func (m *MapFunctions) GetFunction(_ context.Context, name string) (*function.Function, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if fn, ok := m.m[name]; ok {
		return fn, nil
	}
	return nil, ErrFunctionNotFound
}

// GetFunctionVersion implements Source.
func (m *MapFunctions) GetFunctionVersion(_ context.Context, name, version string) (*function.Function, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if fn, ok := m.versions[name][version]; ok {
		return fn, nil
	}
	return nil, ErrFunctionNotFound
}

// GetAlias implements Source.
func (m *MapFunctions) GetAlias(_ context.Context, name, alias string) (*function.Alias, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if a, ok := m.aliases[name][alias]; ok {
		return a.Clone(), nil
	}
	return nil, ErrFunctionNotFound
}

// Resolve implements Functions.
func (m *MapFunctions) Resolve(ctx context.Context, nameOrArn, qualifier string) (*function.Function, error) {
	name, q, err := Qualify(nameOrArn, qualifier)
	if err != nil {
		return nil, err
	}
	t, err := load(ctx, m, nil, name, q)
	if err != nil {
		return nil, err
	}
	return t.pick(), nil
}

// CachedFunctions resolves functions through a Source and caches what each qualifier
// resolves to, so that a poller invoking at high rates does not read the store for every
// batch. The API must call Invalidate whenever a function, one of its versions or one of its
// aliases changes or is deleted (api.Config.FunctionChanged): the next invocation then reads
// the store again, so an alias update moves the next batch to the new version.
type CachedFunctions struct {
	src      Source
	notFound func(error) bool

	mu  sync.Mutex
	gen uint64                        // bumped by Invalidate: a read that raced with it is not cached
	m   map[string]map[string]*target // function name → qualifier ("" = $LATEST) → target
}

// NewCachedFunctions wraps src; isNotFound recognises src's not-found error (store.ErrNotFound).
func NewCachedFunctions(src Source, isNotFound func(error) bool) *CachedFunctions {
	return &CachedFunctions{src: src, notFound: isNotFound, m: make(map[string]map[string]*target)}
}

// Resolve implements Functions.
func (c *CachedFunctions) Resolve(ctx context.Context, nameOrArn, qualifier string) (*function.Function, error) {
	t, err := c.target(ctx, nameOrArn, qualifier)
	if err != nil {
		return nil, err
	}
	return t.pick(), nil
}

// LongestTimeout is the longest function timeout an invocation of nameOrArn (a name or ARN,
// qualified or not) can run with now: both versions of an alias with a routing
// configuration. A poller draining a batch waits this long.
func (c *CachedFunctions) LongestTimeout(ctx context.Context, nameOrArn string) (time.Duration, error) {
	t, err := c.target(ctx, nameOrArn, "")
	if err != nil {
		return 0, err
	}
	return t.longest(), nil
}

// target is what nameOrArn and qualifier resolve to, from the cache or else read through
// src and cached.
func (c *CachedFunctions) target(ctx context.Context, nameOrArn, qualifier string) (*target, error) {
	name, q, err := Qualify(nameOrArn, qualifier)
	if err != nil {
		return nil, err
	}
	if q == function.Latest {
		q = ""
	}
	c.mu.Lock()
	t, ok := c.m[name][q]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err = load(ctx, c.src, c.notFound, name, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if c.m[name] == nil {
			c.m[name] = make(map[string]*target)
		}
		c.m[name][q] = t
	}
	c.mu.Unlock()
	return t, nil
}

// Invalidate forgets everything cached about a function after it, a version or an alias of
// it changed or was deleted.
func (c *CachedFunctions) Invalidate(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, name)
}
