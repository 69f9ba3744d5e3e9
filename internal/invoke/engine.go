package invoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/arn"
	"github.com/kafkaesm/kafkaesm/internal/function"
)

// Config configures the Engine.
type Config struct {
	// Functions resolves function names. Required.
	Functions Functions
	// DataDir holds the function logs under logs/<function>/. Required.
	DataDir string
	// Region and AccountID build ARNs and AWS_REGION; defaults us-east-1 and 000000000000.
	Region    string
	AccountID string
	// MaxConcurrency is the server-wide limit of concurrent executions, like an account's
	// concurrency limit (Lambda's default is 1,000; ours is 100 because every execution is a
	// local process). Beyond it invocations are throttled with ConcurrentInvocationLimitExceeded.
	MaxConcurrency int
	// IdleTimeout is how long an unused warm environment is kept; default 10 minutes.
	IdleTimeout time.Duration
	// MaxIdle caps the warm environments kept on this node, all functions together; beyond it the
	// least recently used one is stopped. Default 32: each holds a process and its memory.
	MaxIdle int
	// InitTimeout bounds a runtime's start-up until its first /next; default 10 s, as Lambda's
	// init phase.
	InitTimeout time.Duration
	// Python is the default interpreter that runs python3.* functions under awslambdaric;
	// default python3 (found on PATH). See python.go for how a runtime picks its interpreter.
	Python string
	// Pythons maps a Python version ("3.12") to the interpreter that runs runtime python3.12
	// (serve --python 3.12=PATH). Versions not listed are looked up on PATH as python3.N.
	Pythons map[string]string
	// LogMaxBytes is the size at which a function's log file is rotated; default 10 MiB.
	LogMaxBytes int64
	// LogKeep is how many rotated log files are kept; default 3.
	LogKeep int
	// HTTPClient calls HTTP targets; default a client whose transport keeps enough idle
	// connections per host for MaxConcurrency invocations.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Observer sees every invocation (the metrics). Optional.
	Observer Observer
	// Users, when Count > 0, runs each function under its own uid and gid from this range (one
	// per function with environments), with a copy of its code only it can read and a TMPDIR of
	// its own: it cannot read the data directory, the key, the server's /proc or other
	// functions. Requires root. Zero: functions run as the server's user (see docs/functions.md
	// for what that leaves open).
	Users UIDRange
	// NoCgroups turns off the per-environment cgroups (memory limit from MemorySize, PidsLimit,
	// killing detached processes). By default they are used wherever the server may create
	// cgroups (as root), and a startup log line says when they cannot be.
	NoCgroups bool
	// RunDir is where, with Users, the functions' code copies and /tmp directories live: a
	// directory kafkaesm-fn-* made in it at New and removed at Close. Every parent must be o+x,
	// and it must not be under /tmp (environments get their own /tmp). Default /var/tmp, else
	// os.TempDir().
	RunDir string
}

// Observer is told about invocations, for metrics. Calls are synchronous on the invoking
// goroutine: implementations must be cheap (counters, histograms) and must not call the Engine.
type Observer interface {
	// Invoked: an invocation of function ran for d; failed is set for a function error or an
	// invocation that did not complete (timeout, crash, cancelled).
	Invoked(function string, d time.Duration, failed bool)
	// Throttled: an invocation of function was refused at a concurrency limit.
	Throttled(function string)
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Functions == nil {
		return errors.New("invoke: Functions is required")
	}
	if c.DataDir == "" {
		return errors.New("invoke: DataDir is required")
	}
	if c.Region == "" {
		c.Region = arn.DefaultRegion
	}
	if c.AccountID == "" {
		c.AccountID = arn.DefaultAccountID
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = 100
	}
	if c.MaxConcurrency < 0 {
		return fmt.Errorf("invoke: MaxConcurrency %d < 0", c.MaxConcurrency)
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.MaxIdle == 0 {
		c.MaxIdle = 32
	}
	if c.MaxIdle < 0 {
		return fmt.Errorf("invoke: MaxIdle %d < 0", c.MaxIdle)
	}
	if c.InitTimeout == 0 {
		c.InitTimeout = 10 * time.Second
	}
	if c.Python == "" {
		c.Python = "python3"
	}
	if c.LogMaxBytes == 0 {
		c.LogMaxBytes = 10 << 20
	}
	if c.LogKeep == 0 {
		c.LogKeep = 3
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: NewTransport(c.MaxConcurrency)}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Users.Count < 0 || (c.Users.Count > 0 && c.Users.First < 1) {
		return fmt.Errorf("invoke: bad function uid range %+v", c.Users)
	}
	if c.Users.Count > 0 && os.Geteuid() != 0 {
		return errors.New("invoke: running functions under their own uids needs root")
	}
	if c.RunDir == "" {
		// Not under /tmp: each environment gets a /tmp of its own mounted over it, which would
		// hide the code copies below.
		c.RunDir = os.TempDir()
		if fi, err := os.Stat("/var/tmp"); err == nil && fi.IsDir() {
			c.RunDir = "/var/tmp"
		}
	}
	return nil
}

// Engine runs functions: a pool of execution environments per function, HTTP targets, and
// their logs. It implements Invoker.
type Engine struct {
	cfg Config

	py    pythons     // interpreters of python3.* runtimes (python.go)
	ident *identities // nil: functions run as the server's user
	cg    *cgroups    // nil: no cgroups (memory and process limits not enforced)
	// anyPeer lets any local process call the Runtime APIs (tests that play the runtime).
	anyPeer bool

	mu     sync.Mutex
	closed bool
	busy   int // executions in progress, all functions
	pools  map[poolKey]*pool
	fnBusy map[string]int    // executions in progress per function, all versions
	envs   map[*env]struct{} // every live environment
	logs   map[string]*fnLog
	wg     sync.WaitGroup // environment supervisors, retirements, the reaper
	stop   chan struct{}
}

// pool is one function version's environments. Guarded by Engine.mu.
type pool struct {
	fn   string // the function's name
	rev  string
	busy int
	idle []*env // most recently used last: reuse the warmest
}

// New starts an engine. Close it to stop every environment.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:    cfg,
		pools:  make(map[poolKey]*pool),
		fnBusy: make(map[string]int),
		envs:   make(map[*env]struct{}),
		logs:   make(map[string]*fnLog),
		stop:   make(chan struct{}),
	}
	if cfg.Users.Count > 0 {
		id, err := newIdentities(cfg.Users, cfg.RunDir)
		if err != nil {
			return nil, err
		}
		e.ident = id
		if id.noTmpReason != "" {
			cfg.Logger.Warn("functions get a TMPDIR of their own, not a private /tmp", "reason", id.noTmpReason)
		}
	}
	if cfg.NoCgroups {
		cfg.Logger.Warn("functions' memory and process limits are not enforced: cgroups are turned off")
	} else if cg, why := openCgroups(); cg != nil {
		e.cg = cg
		cfg.Logger.Info("functions run in cgroups of their own", "memory_limit", true, "pids_limit", cg.pidsLimit, "cgroup_v2", cg.v2)
	} else {
		cfg.Logger.Warn("functions' memory and process limits are not enforced, and a timeout kills only the process group: no usable cgroups", "reason", why)
	}
	e.wg.Add(1)
	go e.reap()
	return e, nil
}

// Close kills every environment, including busy ones (their invocations end with a
// Runtime.ExitError), and waits for all of the engine's goroutines.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.stop)
	all := make([]*env, 0, len(e.envs))
	for v := range e.envs {
		all = append(all, v)
	}
	e.mu.Unlock()
	for _, v := range all {
		v.signalKill()
	}
	e.wg.Wait()
	if e.ident != nil {
		_ = e.ident.close()
	}
	if e.cg != nil {
		e.cg.close()
	}
	e.cfg.HTTPClient.CloseIdleConnections()
	e.mu.Lock()
	for _, l := range e.logs {
		l.close()
	}
	e.mu.Unlock()
	return nil
}

// Invoke runs one invocation synchronously. See Invoker.
func (e *Engine) Invoke(ctx context.Context, req Request) (Result, error) {
	if len(req.Payload) > function.MaxPayload {
		return Result{}, ErrRequestTooLarge
	}
	fn, err := e.cfg.Functions.Resolve(ctx, req.Function, req.Qualifier)
	if err != nil {
		return Result{}, err
	}
	id := req.RequestID
	if id == "" {
		id = newUUID()
	}
	p, err := e.acquire(fn)
	if err != nil {
		if o := e.cfg.Observer; o != nil && errors.Is(err, ErrThrottled) {
			o.Throttled(fn.FunctionName)
		}
		return Result{}, err
	}
	start := time.Now()
	inv := &invocation{
		id:        id,
		arn:       invokedArn(e.cfg.Region, e.cfg.AccountID, fn.FunctionName, req),
		payload:   req.Payload,
		trace:     req.TraceID,
		clientCtx: req.ClientContext,
		note:      req.LogNote,
		done:      make(chan outcome, 1),
	}
	if inv.trace == "" {
		inv.trace = newTraceID()
	}
	var res Result
	if fn.HTTPTarget != nil {
		res, err = e.invokeHTTP(ctx, fn, inv, req.Tail)
		e.release(p, nil, false)
	} else {
		res, err = e.invokeProcess(ctx, fn, p, inv, req.Tail)
	}
	res.RequestID = id
	res.ExecutedVersion = versionOf(fn)
	if o := e.cfg.Observer; o != nil && errors.Is(err, ErrThrottled) {
		o.Throttled(fn.FunctionName) // an HTTP target's 429: a throttle, not an invocation
	} else if o != nil {
		d := res.Duration
		if d <= 0 {
			d = time.Since(start)
		}
		o.Invoked(fn.FunctionName, d, err != nil || res.FunctionError != "")
	}
	return res, err
}

// Concurrency returns the executions in progress per function, all versions together
// (functions with none may be missing), for the ConcurrentExecutions metric.
func (e *Engine) Concurrency() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.fnBusy)
}

// revision identifies the configuration an environment was started with: any change that
// Lambda would give a new RevisionId retires the old environments.
func revision(fn *function.Function) string {
	h := fnv.New64a()
	w := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	w(fn.RevisionId)
	w(fn.CodeSha256)
	w(fn.LastModified)
	w(fn.CodeDir)
	w(fn.Runtime)
	w(fn.Handler)
	w(strconv.Itoa(fn.MemorySize))
	w(strconv.Itoa(fn.Timeout))
	if fn.HTTPTarget != nil {
		w(fn.HTTPTarget.URL)
	}
	if fn.Environment != nil {
		keys := make([]string, 0, len(fn.Environment.Variables))
		for k := range fn.Environment.Variables {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			w(k)
			w(fn.Environment.Variables[k])
		}
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// acquire takes one execution slot for fn, or throttles. On a new revision it retires the
// idle environments of the old one; busy ones are retired when they are released. Each
// version has its own pool of environments; the function's reserved concurrency counts the
// executions of all its versions together, as Lambda's.
func (e *Engine) acquire(fn *function.Function) (*pool, error) {
	rev := revision(fn)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	k := poolKey{fn.FunctionName, versionOf(fn)}
	p := e.pools[k]
	if p == nil {
		p = &pool{rev: rev}
		e.pools[k] = p
	}
	if p.rev != rev {
		p.rev = rev
		e.retireLocked(p.idle)
		p.idle = nil
	}
	if r := fn.ReservedConcurrentExecutions; r != nil && e.fnBusy[fn.FunctionName] >= *r {
		return nil, &ThrottleError{Reason: ReasonReservedConcurrency}
	}
	if e.busy >= e.cfg.MaxConcurrency {
		return nil, &ThrottleError{Reason: ReasonConcurrency}
	}
	p.busy++
	e.fnBusy[fn.FunctionName]++
	e.busy++
	p.fn = fn.FunctionName
	return p, nil
}

// release gives back a slot and, when healthy, keeps v warm; otherwise v is killed.
func (e *Engine) release(p *pool, v *env, healthy bool) {
	e.mu.Lock()
	p.busy--
	e.busy--
	if e.fnBusy[p.fn]--; e.fnBusy[p.fn] <= 0 {
		delete(e.fnBusy, p.fn)
	}
	if v != nil && healthy && !e.closed && v.rev == p.rev {
		v.lastUsed = time.Now()
		p.idle = append(p.idle, v)
		v = nil
		e.evictIdleLocked()
	}
	e.mu.Unlock()
	if v != nil {
		v.kill()
	}
}

// evictIdleLocked retires the least recently used idle environments, of any function, beyond
// Config.MaxIdle. Called with e.mu held.
func (e *Engine) evictIdleLocked() {
	n := 0
	for _, p := range e.pools {
		n += len(p.idle)
	}
	var victims []*env
	for ; n > e.cfg.MaxIdle; n-- {
		var lru *pool
		at := -1
		for _, p := range e.pools {
			for i, v := range p.idle {
				if at < 0 || v.lastUsed.Before(lru.idle[at].lastUsed) {
					lru, at = p, i
				}
			}
		}
		victims = append(victims, lru.idle[at])
		lru.idle = slices.Delete(lru.idle, at, at+1)
	}
	e.retireLocked(victims)
}

// popIdle returns a warm environment of the current revision, or nil.
func (e *Engine) popIdle(p *pool) *env {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := len(p.idle); n > 0 {
		v := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		return v
	}
	return nil
}

// retireLocked kills envs in the background. Called with e.mu held and e not closed.
func (e *Engine) retireLocked(envs []*env) {
	if len(envs) == 0 {
		return
	}
	envs = slices.Clone(envs)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for _, v := range envs {
			v.kill()
		}
	}()
}

// reap kills environments idle for longer than IdleTimeout.
func (e *Engine) reap() {
	defer e.wg.Done()
	every := max(e.cfg.IdleTimeout/4, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-e.cfg.IdleTimeout)
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return
		}
		var old []*env
		for k, p := range e.pools {
			keep := p.idle[:0]
			for _, v := range p.idle {
				if v.lastUsed.Before(cutoff) {
					old = append(old, v)
				} else {
					keep = append(keep, v)
				}
			}
			clear(p.idle[len(keep):])
			p.idle = keep
			if p.busy == 0 && len(p.idle) == 0 {
				delete(e.pools, k) // forgets deleted functions and versions too
			}
		}
		e.retireLocked(old)
		e.mu.Unlock()
	}
}

// Retire retires a function's environments after its code or configuration changed or it was
// deleted (api.Config.FunctionChanged): idle ones are killed now, busy ones when their
// invocation ends. With versions, only those versions' environments are retired ("$LATEST"
// after an update of the function: published versions are immutable and stay warm); without,
// every version's. Invoke notices new revisions by itself; Retire frees the processes of a
// deleted function or version at once and does not wait for the next invocation.
func (e *Engine) Retire(name string, versions ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	for k, p := range e.pools {
		if k.name != name || (len(versions) > 0 && !slices.Contains(versions, k.version)) {
			continue
		}
		p.rev = "" // matches no environment
		e.retireLocked(p.idle)
		clear(p.idle)
		p.idle = nil
	}
}

// functionUIDLocked returns the uid name's environments run under. Called with e.mu held.
func (e *Engine) functionUIDLocked(name string) (int, error) {
	return e.ident.uidLocked(name, func(n string) bool {
		for k := range e.pools {
			if k.name == n {
				return true
			}
		}
		for v := range e.envs {
			if v.fn.FunctionName == n {
				return true
			}
		}
		return false
	})
}

// fnLog returns the function's log writer.
func (e *Engine) fnLog(name string) *fnLog {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.logs[name]
	if l == nil {
		l = newFnLog(LogDir(e.cfg.DataDir, name), e.cfg.LogMaxBytes, e.cfg.LogKeep)
		e.logs[name] = l
	}
	return l
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newTraceID makes an X-Ray trace header as Lambda passes it when the caller sent none.
func newTraceID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Sampled=0", time.Now().Unix(), hex.EncodeToString(b[:]))
}

// loopback listens on a free loopback port.
func loopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
