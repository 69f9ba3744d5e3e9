package invoke

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// Functions resolves the function an invocation names. The store implements it in production;
// tests use MapFunctions.
//
// Resolve accepts a name, a full ARN or a partial ARN ("123456789012:function:NAME"), each
// optionally with ":QUALIFIER". It returns the function and the qualifier found in the name
// ("" when none), or an error wrapping ErrFunctionNotFound. The returned Function must not be
// modified by the caller and must not be modified by the implementation afterwards either: the
// engine keeps it as the configuration of the environments it starts.
type Functions interface {
	Resolve(ctx context.Context, nameOrArn string) (fn *function.Function, qualifier string, err error)
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

// MapFunctions is an in-memory Functions, safe for concurrent use. Put replaces a function
// (a new revision); the engine notices the change through its revision fields.
type MapFunctions struct {
	mu sync.RWMutex
	m  map[string]*function.Function
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

// Delete removes a function.
func (m *MapFunctions) Delete(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, name)
}

// Resolve implements Functions.
func (m *MapFunctions) Resolve(_ context.Context, nameOrArn string) (*function.Function, string, error) {
	name, q := ParseFunctionName(nameOrArn)
	m.mu.RLock()
	defer m.mu.RUnlock()
	fn, ok := m.m[name]
	if !ok {
		return nil, q, ErrFunctionNotFound
	}
	return fn, q, nil
}

// FunctionGetter reads one function by bare name (the store's GetFunction).
type FunctionGetter func(ctx context.Context, name string) (*function.Function, error)

// CachedFunctions resolves functions through a FunctionGetter and caches them, so that a
// poller invoking at high rates does not read the store for every batch. The API must call
// Invalidate whenever a function changes or is deleted (api.Config.FunctionChanged).
type CachedFunctions struct {
	get      FunctionGetter
	notFound func(error) bool

	mu  sync.Mutex
	gen uint64 // bumped by Invalidate: a read that raced with it is not cached
	m   map[string]*function.Function
}

// NewCachedFunctions wraps get; isNotFound recognises get's not-found error (store.ErrNotFound).
func NewCachedFunctions(get FunctionGetter, isNotFound func(error) bool) *CachedFunctions {
	return &CachedFunctions{get: get, notFound: isNotFound, m: make(map[string]*function.Function)}
}

// Resolve implements Functions.
func (c *CachedFunctions) Resolve(ctx context.Context, nameOrArn string) (*function.Function, string, error) {
	name, q := ParseFunctionName(nameOrArn)
	c.mu.Lock()
	fn, ok := c.m[name]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return fn, q, nil
	}
	fn, err := c.get(ctx, name)
	if err != nil {
		if c.notFound != nil && c.notFound(err) {
			return nil, q, fmt.Errorf("%w: %s", ErrFunctionNotFound, name)
		}
		return nil, q, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.m[name] = fn
	}
	c.mu.Unlock()
	return fn, q, nil
}

// Invalidate forgets a function after it changed or was deleted.
func (c *CachedFunctions) Invalidate(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, name)
}
