package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// AccessConfig configures an AccessGate.
type AccessConfig struct {
	// Probe checks, without consuming, that the mapping's cluster accepts its credentials and
	// grants what a consumer needs (kafkaauth.Options + kafkaauth.Probe). Required.
	Probe func(ctx context.Context, m *mapping.EventSourceMapping) error
	// Classify maps a probe error, like Config.ClassifyError, to a StateTransitionReason ("" for
	// a transient problem) and a LastProcessingResult. Required; it is the same single
	// classification the consumers use (kafkaauth.Classify).
	Classify func(err error) (reason, result string)
	// Reporter receives the mappings' status (the store): the consumers' reports, taken from
	// the Board by each mapping's supervisor, and the probe's verdicts. It is called only from
	// the mapping's supervisor (or, once it ended, the goroutine stopping the mapping), never
	// from a poller's goroutine. Optional.
	Reporter Reporter
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Backoff between probes of a mapping whose access fails. Default 1 s doubling to 30 s. A
	// changed secret or mapping probes at once.
	Backoff Backoff
	// ProbeTimeout bounds one probe. Default 30 s.
	ProbeTimeout time.Duration
}

func (c *AccessConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Backoff.Initial <= 0 {
		c.Backoff.Initial = time.Second
	}
	if c.Backoff.Max <= 0 {
		c.Backoff.Max = 30 * time.Second
	}
	if c.Backoff.Initial > c.Backoff.Max {
		c.Backoff.Initial = c.Backoff.Max
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 30 * time.Second
	}
}

// Consumers is what an AccessGate runs mappings with: the Manager. Its methods may block
// while a mapping's consumer drains; only the gate's per-mapping goroutines call them.
type Consumers interface {
	// Apply starts, reconfigures or restarts the mapping's consumer (Manager.Apply).
	Apply(ctx context.Context, m *mapping.EventSourceMapping) error
	// Stop drains and stops it (Manager.Stop).
	Stop(ctx context.Context, uuid string) error
	// SetPollers sets how many pollers run the mapping (Manager.SetPollers); it does not
	// wait for leaving pollers to drain.
	SetPollers(ctx context.Context, uuid string, n int) error
	// Joined returns a channel that is closed once the mapping's running first poller has
	// joined its group and received its assignment; nil when the mapping is not running.
	Joined(uuid string) <-chan struct{}
	Close(ctx context.Context) error
}

// AccessGate is the reconcile.Runner the node uses: it runs a mapping's consumer (through the inner
// Manager) only while the mapping's Kafka access works.
//
// Before a mapping consumes, and before it resumes, the gate probes its cluster. A failing probe
// is classified and reported — State stays Enabled, as on AWS, with StateTransitionReason set
// (ESM_CONFIG_NOT_VALID, EVENT_SOURCE_AUTHN_ERROR, EVENT_SOURCE_AUTHZ_ERROR) and
// LastProcessingResult "PROBLEM: …" — and the consumer does not run: nothing is fetched, nothing
// is committed. A running consumer whose connections, fetches or group requests fail with such a
// reason (the consumer reports it through the gate) is stopped the same way: in-flight batches
// finish and only delivered offsets are committed, so no record is lost. The gate then probes
// again with capped exponential backoff, at once when one of the mapping's secrets changes
// (SecretChanged) or the mapping is updated, and restarts the consumer once the probe passes;
// StateTransitionReason then returns to USER_INITIATED. Transient problems (no reason: the
// cluster is unreachable) are reported and retried the same way before the consumer starts, and
// left to the Kafka client's own retries once it runs.
//
// Apply never waits for a probe, so mappings settle (Creating → Enabled) whatever their access.
// Each mapping has one supervising goroutine, the only caller of the inner runner's Apply and
// Stop for it while it exists; Remove and Close end it before stopping the consumer. The
// scaler's poller counts reach the Manager through it too (SetPollers).
type AccessGate struct {
	cfg   AccessConfig
	inner Consumers
	board *Board

	mu     sync.Mutex
	sups   map[string]*supervisor
	closed bool
	// stopping holds, per mapping being stopped, a channel closed once its consumer is
	// stopped: a supervisor started for the mapping meanwhile (Enable right after Disable)
	// waits for it, so the old stop can never stop the new consumer.
	stopping map[string]chan struct{}
	stops    sync.WaitGroup // stop goroutines, waited for by Close
	// hurry is the context of every call into the inner runner: it ends only when Close's
	// context does (the node's shutdown grace period is over). Until then a stop or a restart
	// lets in-flight invocations finish; a supervisor being cancelled does not cut them short.
	hurry    context.Context
	hurryNow context.CancelFunc
}

// NewAccessGate returns a gate running mappings with inner, whose pollers report to board
// (the Manager's Config.Reporter): each mapping's supervisor takes its reports from there.
func NewAccessGate(cfg AccessConfig, inner Consumers, board *Board) (*AccessGate, error) {
	if cfg.Probe == nil || cfg.Classify == nil {
		return nil, errors.New("poller: AccessConfig.Probe and Classify are required")
	}
	if inner == nil || board == nil {
		return nil, errors.New("poller: NewAccessGate needs the consumers and their board")
	}
	cfg.setDefaults()
	g := &AccessGate{cfg: cfg, inner: inner, board: board, sups: make(map[string]*supervisor), stopping: make(map[string]chan struct{})}
	g.hurry, g.hurryNow = context.WithCancel(context.Background())
	return g, nil
}

// supervisor is one mapping's owner in the gate: its goroutine (supervise) alone probes, starts,
// reconfigures and stops the mapping's consumer and writes its status. It is driven by
// messages: kick (Apply: the mapping changed, or a resync; SecretChanged), resize
// (SetPollers), status (the board has a report of its pollers, possibly trouble: a problem
// that must stop the consumer), and cancel (Remove, Close). Fields below mu are shared with Apply and SecretChanged; the rest
// belongs to the goroutine.
type supervisor struct {
	uuid   string
	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{}   // cap 1: the mapping or one of its secrets changed
	status <-chan struct{} // the board has a report of the mapping's pollers
	resize chan struct{}   // cap 1: SetPollers asked for another poller count (pollers)

	after    <-chan struct{} // closed once the mapping's previous consumer is stopped; nil when none
	failing  atomic.Bool     // a problem is reported and not yet cleared (read by SecretChanged)
	okSeen   bool            // a batch succeeded since the last backoff: reset it
	lastGood string          // the last OK or Function call failed result, restored with the reason

	mu        sync.Mutex
	m         *mapping.EventSourceMapping
	key       string // configKey(m)
	reprobe   bool   // probe even though the consumer runs (a secret changed)
	secretIDs []string
	dones     []func() // Apply's done callbacks not yet called
	pollers   int      // the poller count SetPollers asked for, 0 for none yet
}

// settled calls the done callbacks of the Applies so far: the mapping runs as they asked (or
// its access failed and is reported).
func (s *supervisor) settled() {
	s.mu.Lock()
	dones := s.dones
	s.dones = nil
	s.mu.Unlock()
	for _, d := range dones {
		d()
	}
}

func (s *supervisor) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// snapshot returns the latest mapping and clears the reprobe flag.
func (s *supervisor) snapshot() (*mapping.EventSourceMapping, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	re := s.reprobe
	s.reprobe = false
	return s.m, re
}

// configKey covers everything Apply passes on to the inner runner (the probe depends on the
// spec identity part).
func configKey(sp spec) string {
	st := sp.settings
	return fmt.Sprintf("%s\x00%d\x00%s\x00%s", sp.identity, st.batchSize, st.window, st.function)
}

// secretTypes are the SourceAccessConfiguration types whose URI names a secret.
var secretTypes = map[string]bool{
	"BASIC_AUTH": true, "SASL_SCRAM_256_AUTH": true, "SASL_SCRAM_512_AUTH": true,
	"CLIENT_CERTIFICATE_TLS_AUTH": true, "SERVER_ROOT_CA_CERTIFICATE": true,
}

func secretIDs(m *mapping.EventSourceMapping) []string {
	var ids []string
	for _, a := range m.SourceAccessConfigurations {
		if secretTypes[a.Type] && a.URI != "" {
			ids = append(ids, a.URI)
		}
	}
	return ids
}

// refersTo reports whether a SourceAccessConfiguration URI (a full ARN, an ARN without the
// random suffix, or a name) names the secret arn.
func refersTo(id, arn string) bool {
	if id == arn || strings.HasPrefix(arn, id+"-") {
		return true
	}
	return !strings.HasPrefix(id, "arn:") && strings.Contains(arn, ":secret:"+id+"-")
}

// Stats returns a running mapping's counters from the inner runner (the Manager's Stats);
// false when the mapping is not consuming or the inner runner keeps none.
func (g *AccessGate) Stats(uuid string) (Stats, bool) {
	if s, ok := g.inner.(interface{ Stats(string) (Stats, bool) }); ok {
		return s.Stats(uuid)
	}
	return Stats{}, false
}

// Apply implements reconcile.Runner. It records the wished configuration and returns; the
// mapping's supervisor probes and starts (or reconfigures) the consumer, and calls done once
// the consumer's first poller has joined its group and received its assignment, or once the
// probe found the mapping's access broken and reported it.
func (g *AccessGate) Apply(m *mapping.EventSourceMapping, done func()) error {
	if m == nil || m.UUID == "" {
		return errors.New("poller: mapping without UUID")
	}
	if !m.Enabled {
		g.Remove(m.UUID, done)
		return nil
	}
	sp, err := newSpec(m)
	if err != nil {
		return err
	}
	m = m.Clone()
	key := configKey(sp)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	if s := g.sups[m.UUID]; s != nil {
		s.mu.Lock()
		s.m, s.key, s.secretIDs = m, key, secretIDs(m)
		if done != nil {
			s.dones = append(s.dones, done)
		}
		s.mu.Unlock()
		// Also when nothing changed (a resync): the supervisor then only calls done.
		s.signal(s.kick)
		return nil
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &supervisor{uuid: m.UUID, cancel: cancel, done: make(chan struct{}),
		kick: make(chan struct{}, 1), status: g.board.watch(m.UUID), resize: make(chan struct{}, 1),
		m: m, key: key, secretIDs: secretIDs(m), after: g.stopping[m.UUID]}
	if done != nil {
		s.dones = []func(){done}
	}
	s.lastGood = mapping.ResultNoRecordsProcessed
	if r := m.LastProcessingResult; r == mapping.ResultOK || r == mapping.ResultFunctionCallFailed {
		s.lastGood = r
	}
	// A problem reported before this node (re)started is still on the mapping: clear it once
	// the probe passes.
	s.failing.Store(isAccessReason(m.StateTransitionReason))
	g.sups[m.UUID] = s
	go g.supervise(sctx, s)
	return nil
}

func isAccessReason(r string) bool {
	return r == mapping.ReasonConfigNotValid || r == mapping.ReasonAuthnError || r == mapping.ReasonAuthzError
}

// Remove implements reconcile.Runner: it ends the mapping's supervisor and stops its consumer
// in a goroutine of its own (in-flight batches finish, offsets are committed, the group is
// left), then calls done. It never blocks, so one mapping's drain delays no other.
func (g *AccessGate) Remove(uuid string, done func()) {
	g.mu.Lock()
	if g.closed { // Close stopped every consumer
		g.mu.Unlock()
		if done != nil {
			done()
		}
		return
	}
	s := g.sups[uuid]
	delete(g.sups, uuid)
	prev := g.stopping[uuid]
	ch := make(chan struct{})
	g.stopping[uuid] = ch
	g.stops.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.stops.Done()
		if prev != nil {
			<-prev
		}
		if s != nil {
			s.cancel()
			<-s.done
		}
		// Not bounded by the caller: a stop lets in-flight invocations finish within the
		// function's timeout (the Manager's drain bound), or until Close's grace is over.
		if err := g.inner.Stop(g.hurry, uuid); err != nil {
			g.cfg.Logger.Warn("stopping the mapping's consumer", "uuid", uuid, "err", err)
		}
		// The supervisor has ended: this goroutine is the mapping's owner now. The pollers'
		// last report (their final batches) goes to the store.
		if t := g.board.take(uuid); t.pending {
			g.report(uuid, t.rep.state, t.rep.reason, t.rep.result, t.rep.cause)
		}
		g.mu.Lock()
		if g.stopping[uuid] == ch {
			delete(g.stopping, uuid)
		}
		if g.sups[uuid] == nil { // not enabled again meanwhile
			g.board.forget(uuid)
		}
		g.mu.Unlock()
		close(ch)
		if done != nil {
			done()
		}
	}()
}

// Close ends every supervisor, then closes the inner runner (which stops every consumer).
func (g *AccessGate) Close(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	sups := make([]*supervisor, 0, len(g.sups))
	for _, s := range g.sups {
		sups = append(sups, s)
	}
	g.sups = map[string]*supervisor{}
	g.mu.Unlock()
	defer g.hurryNow()
	defer context.AfterFunc(ctx, g.hurryNow)() // the grace period is over: end invocations
	for _, s := range sups {
		s.cancel()
	}
	for _, s := range sups {
		select {
		case <-s.done:
		case <-ctx.Done():
		}
	}
	stopped := make(chan struct{})
	go func() { g.stops.Wait(); close(stopped) }()
	select { // stops under way finish within the Manager's DrainTimeout
	case <-stopped:
	case <-ctx.Done():
	}
	err := g.inner.Close(ctx)
	// Every supervisor has ended: the consumers' last reports are written from here.
	for _, uuid := range g.board.uuids() {
		if t := g.board.take(uuid); t.pending {
			g.report(uuid, t.rep.state, t.rep.reason, t.rep.result, t.rep.cause)
		}
	}
	return err
}

// SecretChanged makes every mapping that uses the secret arn, and every mapping whose access
// currently fails, probe again at once: a corrected secret resumes them promptly, a broken one
// stops a running consumer before its next reconnect fails. Never blocks.
func (g *AccessGate) SecretChanged(arn string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.sups {
		s.mu.Lock()
		uses := false
		for _, id := range s.secretIDs {
			if refersTo(id, arn) {
				uses = true
			}
		}
		if uses || s.failing.Load() {
			s.reprobe = true
		}
		s.mu.Unlock()
		if uses || s.failing.Load() {
			s.signal(s.kick)
		}
	}
}

func (g *AccessGate) report(uuid, state, reason, lastResult, cause string) {
	if r := g.cfg.Reporter; r != nil {
		r.Report(uuid, state, reason, lastResult, cause)
	}
}

// supervise runs one mapping until Remove or Close. It alone calls the inner runner for the
// mapping while it lives.
func (g *AccessGate) supervise(ctx context.Context, s *supervisor) {
	defer close(s.done)
	log := g.cfg.Logger.With("uuid", s.uuid)
	if s.after != nil { // the mapping's previous consumer is still stopping
		select {
		case <-s.after:
		case <-ctx.Done():
			return
		}
	}
	var (
		running   bool
		probedKey string // spec identity the last passing probe checked
		attempt   int
	)
	stopInner := func() {
		// Not ctx: a supervisor being cancelled still lets the consumer drain and commit.
		if err := g.inner.Stop(g.hurry, s.uuid); err != nil {
			log.Warn("stopping the mapping's consumer", "err", err)
		}
		running = false
		g.takeStatus(s) // the stopped consumer's last reports; its trouble is stale now
	}
	backoff := func() bool {
		if s.okSeen {
			attempt = 0
			s.okSeen = false
		}
		t := time.NewTimer(g.cfg.Backoff.Delay(attempt))
		defer t.Stop()
		attempt++
		for {
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
				return true
			case <-s.kick:
				return true
			case <-s.status:
				g.takeStatus(s) // a stopped or starting consumer's report: trouble is the probe's
			}
		}
	}
	for ctx.Err() == nil {
		m, reprobe := s.snapshot()
		sp, err := newSpec(m)
		if err != nil { // Apply checked it; cannot happen
			log.Error("mapping cannot run", "err", err)
			return
		}
		if !running || reprobe || sp.identity != probedKey {
			err := g.probe(ctx, m)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				reason, result := g.cfg.Classify(err)
				if running {
					log.Warn("kafka access lost; stopping the mapping's consumer", "err", err, "result", result)
					stopInner()
				} else {
					log.Warn("kafka access check failed; the mapping waits", "err", err, "result", result)
				}
				s.failing.Store(true)
				g.report(s.uuid, "", reason, result, errorCause(err))
				s.settled() // as on AWS: the mapping settles, with the problem reported
				if !backoff() {
					return
				}
				continue
			}
			probedKey = sp.identity
			if s.failing.Swap(false) {
				log.Info("kafka access check passed; the mapping resumes")
				g.report(s.uuid, "", mapping.ReasonUserInitiated, s.lastGood, "")
			}
		}
		// g.hurry, not ctx: a restart (changed connection settings) drains the old consumer,
		// and a Remove arriving meanwhile must not cut its invocations short.
		if err := g.inner.Apply(g.hurry, m); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("starting the mapping's consumer", "err", err)
			if !backoff() {
				return
			}
			continue
		}
		running = true
		if !g.waitRunning(ctx, s, stopInner, backoff) {
			return
		}
	}
}

// waitRunning waits, while the consumer runs, for the next thing to do: it calls Apply's
// done callbacks once the consumer's first poller has joined its group and got its
// assignment, and returns on a kick (the mapping or a secret changed, or a resync: loop
// again) or after stopping the consumer on trouble. False: the supervisor is to end.
func (g *AccessGate) waitRunning(ctx context.Context, s *supervisor, stopInner func(), backoff func() bool) bool {
	joined := g.inner.Joined(s.uuid)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-joined:
			joined = nil
			s.settled()
		case <-s.kick:
			return true
		case <-s.resize:
			s.mu.Lock()
			n := s.pollers
			s.mu.Unlock()
			if err := g.inner.SetPollers(g.hurry, s.uuid, n); err != nil {
				g.cfg.Logger.Warn("setting the mapping's pollers", "uuid", s.uuid, "pollers", n, "err", err)
			}
		case <-s.status:
			if !g.takeStatus(s) {
				continue
			}
			// The consumer reported an access problem (now in the store): stop consuming
			// until a probe passes.
			g.cfg.Logger.Warn("kafka access problem while consuming; stopping the mapping's consumer", "uuid", s.uuid)
			s.failing.Store(true)
			stopInner()
			s.settled()
			return backoff()
		}
	}
}

// SetPollers asks the mapping's owner to run n pollers (the scaler's decision). It never
// blocks: the owner applies the latest count asked for, once its consumer runs. Unknown
// mappings are not an error.
func (g *AccessGate) SetPollers(_ context.Context, uuid string, n int) error {
	g.mu.Lock()
	s := g.sups[uuid]
	g.mu.Unlock()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	s.pollers = n
	s.mu.Unlock()
	s.signal(s.resize)
	return nil
}

// takeStatus takes the pollers' reports from the board, writes the latest to the store and
// reports whether one of them was trouble (a reason: the consumer must stop). Called only by
// the mapping's supervisor.
func (g *AccessGate) takeStatus(s *supervisor) (trouble bool) {
	t := g.board.take(s.uuid)
	if t.lastGood != "" {
		s.lastGood = t.lastGood
	}
	s.okSeen = s.okSeen || t.okSeen
	if t.pending {
		g.report(s.uuid, t.rep.state, t.rep.reason, t.rep.result, t.rep.cause)
	}
	return t.trouble
}

func (g *AccessGate) probe(ctx context.Context, m *mapping.EventSourceMapping) error {
	pctx, cancel := context.WithTimeout(ctx, g.cfg.ProbeTimeout)
	defer cancel()
	return g.cfg.Probe(pctx, m)
}
