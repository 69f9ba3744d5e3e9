package poller

import (
	"context"
	"errors"
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
	// the mapping's supervisor, the last time after its consumer stopped, never from a
	// poller's goroutine. Optional.
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
// while a mapping's consumer drains; only the gate's per-mapping goroutines (and Close) call
// them.
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
// Each mapping has one supervising goroutine, its owner from the first Apply until its consumer
// is stopped: the only caller of the inner runner's Apply, SetPollers and Stop for it. Remove
// and Close only ask it to stop; it drains, commits, leaves the group, writes the last status
// and ends. The scaler's poller counts reach the Manager through it too (SetPollers).
type AccessGate struct {
	cfg   AccessConfig
	inner Consumers
	board *Board

	mu sync.Mutex
	// sups holds each mapping's owner until it has stopped its consumer: an Apply arriving
	// while it drains (Enable right after Disable) goes to the same owner, which starts the
	// consumer again once the old one is stopped.
	sups   map[string]*supervisor
	closed bool
	// hurry is the context of every call into the inner runner: it ends only when Close's
	// context does (the node's shutdown grace period is over). Until then a stop or a restart
	// lets in-flight invocations finish.
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
	g := &AccessGate{cfg: cfg, inner: inner, board: board, sups: make(map[string]*supervisor)}
	g.hurry, g.hurryNow = context.WithCancel(context.Background())
	return g, nil
}

// supervisor is one mapping's owner in the gate: its goroutine (supervise) alone probes, starts,
// reconfigures, drains and stops the mapping's consumer and writes its status, through the
// whole lifecycle: probing, running with n pollers, draining, stopped. It is driven by
// messages: kick (Apply: the mapping changed, or a resync; SecretChanged; Remove and Close:
// stop), resize (SetPollers), and status (the board has a report of its pollers, possibly
// trouble: a problem that must stop the consumer). A message is a change of the wish under mu
// followed by a signal; the goroutine reads the latest wish after each signal, so the last
// message wins (Apply after Remove: running with the new mapping; Remove after Apply:
// stopped). Fields below mu are shared with Apply, Remove, SetPollers and SecretChanged; the
// rest belongs to the goroutine.
type supervisor struct {
	uuid   string
	done   chan struct{}   // closed when the goroutine ends (its consumer stopped)
	kick   chan struct{}   // cap 1: the mapping or one of its secrets changed, or stop
	status <-chan struct{} // the board has a report of the mapping's pollers
	resize chan struct{}   // cap 1: SetPollers asked for another poller count (pollers)

	failing  atomic.Bool // a problem is reported and not yet cleared (read by SecretChanged)
	okSeen   bool        // a batch succeeded since the last backoff: reset it
	lastGood string      // the last OK or Function call failed result, restored with the reason

	mu        sync.Mutex
	m         *mapping.EventSourceMapping
	identity  string // m's spec identity: what the probe checks
	reprobe   bool   // probe even though the consumer runs (a secret changed)
	secretIDs []string
	dones     []func() // Apply's done callbacks not yet called
	pollers   int      // the poller count SetPollers asked for, 0 for none yet
	// stop: Remove or Close asked for the consumer to stop and the owner to end; an Apply
	// clears it. stopDones are Remove's done callbacks, called once the consumer is stopped.
	stop      bool
	stopDones []func()
	// probeCancel ends the probe under way (nil when none): a stop does not wait for it.
	probeCancel context.CancelFunc
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

// snapshot returns the latest wish: the mapping and its spec identity, whether to probe again
// (the flag is cleared), and whether to stop, with the Removes' done callbacks so far (taken).
func (s *supervisor) snapshot() (m *mapping.EventSourceMapping, identity string, reprobe, stop bool, stopDones []func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reprobe, s.reprobe = s.reprobe, false
	if s.stop {
		stopDones, s.stopDones = s.stopDones, nil
	}
	return s.m, s.identity, reprobe, s.stop, stopDones
}

// stopAsked reports whether a stop is wished.
func (s *supervisor) stopAsked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stop
}

// askStop records a stop (Remove, Close) and ends a probe under way; the caller signals kick.
// Called with s.mu held. Applies not yet settled are superseded: their done is never called.
func (s *supervisor) askStopLocked(done func()) {
	s.stop = true
	s.dones = nil
	if done != nil {
		s.stopDones = append(s.stopDones, done)
	}
	if s.probeCancel != nil {
		s.probeCancel()
	}
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
// probe found the mapping's access broken and reported it. A stop asked before and not yet
// begun is superseded (its done is never called); one being drained finishes first, then the
// owner starts the consumer again.
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
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	if s := g.sups[m.UUID]; s != nil {
		s.mu.Lock()
		if s.stop {
			s.stop, s.stopDones = false, nil
		}
		s.m, s.identity, s.secretIDs = m, sp.identity, secretIDs(m)
		if done != nil {
			s.dones = append(s.dones, done)
		}
		s.mu.Unlock()
		// Also when nothing changed (a resync): the supervisor then only calls done.
		s.signal(s.kick)
		return nil
	}
	s := &supervisor{uuid: m.UUID, done: make(chan struct{}),
		kick: make(chan struct{}, 1), status: g.board.watch(m.UUID), resize: make(chan struct{}, 1),
		m: m, identity: sp.identity, secretIDs: secretIDs(m)}
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
	go g.supervise(s)
	return nil
}

func isAccessReason(r string) bool {
	return r == mapping.ReasonConfigNotValid || r == mapping.ReasonAuthnError || r == mapping.ReasonAuthzError
}

// Remove implements reconcile.Runner: it asks the mapping's owner to stop and returns at once.
// The owner finishes what it is doing (a restart's drain included), then drains the consumer
// (in-flight batches finish within the function's timeout, or until Close's grace is over),
// commits, leaves the group, writes the last status, calls done and ends. A mapping without
// an owner runs nothing: done is called at once. It never blocks, so one mapping's drain
// delays no other.
func (g *AccessGate) Remove(uuid string, done func()) {
	g.mu.Lock()
	s := g.sups[uuid]
	if s == nil {
		g.mu.Unlock()
		if done != nil {
			done()
		}
		return
	}
	s.mu.Lock()
	s.askStopLocked(done)
	s.mu.Unlock()
	g.mu.Unlock()
	s.signal(s.kick)
}

// Close asks every mapping's owner to stop, as Remove does, waits for them (until ctx ends:
// then in-flight invocations are ended), then closes the inner runner (which stops what is
// left) and waits for the owners to write their last status.
func (g *AccessGate) Close(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	sups := make([]*supervisor, 0, len(g.sups))
	for _, s := range g.sups {
		s.mu.Lock()
		s.askStopLocked(nil)
		s.mu.Unlock()
		sups = append(sups, s)
	}
	g.mu.Unlock()
	defer g.hurryNow()
	defer context.AfterFunc(ctx, g.hurryNow)() // the grace period is over: end invocations
	for _, s := range sups {
		s.signal(s.kick)
	}
	for _, s := range sups {
		select {
		case <-s.done:
		case <-ctx.Done():
		}
	}
	err := g.inner.Close(ctx)
	// Every consumer is stopped (the inner runner's Close waited for the owners' stops under
	// way, cut short by the hurry context): the owners only write their last status now.
	for _, s := range sups {
		<-s.done
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

// supervise runs one mapping from its first Apply until Remove or Close has it stopped. It
// alone calls the inner runner for the mapping.
func (g *AccessGate) supervise(s *supervisor) {
	defer close(s.done)
	log := g.cfg.Logger.With("uuid", s.uuid)
	var (
		running   bool
		probedKey string // spec identity the last passing probe checked
		attempt   int
	)
	stopInner := func() {
		// g.hurry: a stop lets in-flight invocations finish within the function's timeout
		// (the Manager's drain bound), or until Close's grace is over.
		if err := g.inner.Stop(g.hurry, s.uuid); err != nil {
			log.Warn("stopping the mapping's consumer", "err", err)
		}
		running = false
		g.takeStatus(s) // the stopped consumer's last reports; its trouble is stale now
	}
	backoff := func() {
		if s.okSeen {
			attempt = 0
			s.okSeen = false
		}
		t := time.NewTimer(g.cfg.Backoff.Delay(attempt))
		defer t.Stop()
		attempt++
		for {
			select {
			case <-t.C:
				return
			case <-s.kick: // a change, or stop
				return
			case <-s.status:
				g.takeStatus(s) // a stopped or starting consumer's report: trouble is the probe's
			}
		}
	}
	for {
		m, identity, reprobe, stop, stopDones := s.snapshot()
		if stop {
			if g.stopOwned(s, stopInner, stopDones) {
				return
			}
			continue // enabled again while draining
		}
		if !running || reprobe || identity != probedKey {
			err := g.probe(s, m)
			if s.stopAsked() {
				continue
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
				backoff()
				continue
			}
			probedKey = identity
			if s.failing.Swap(false) {
				log.Info("kafka access check passed; the mapping resumes")
				g.report(s.uuid, "", mapping.ReasonUserInitiated, s.lastGood, "")
			}
		}
		// g.hurry: a restart (changed connection settings) drains the old consumer, and a
		// Remove arriving meanwhile waits for it (then stops the new one).
		if err := g.inner.Apply(g.hurry, m); err != nil {
			log.Error("starting the mapping's consumer", "err", err)
			backoff()
			continue
		}
		running = true
		g.waitRunning(s, stopInner, backoff)
	}
}

// stopOwned is the owner's stop: it drains and stops the consumer (the final commit and
// LeaveGroup included), writes its last status, and then, unless an Apply arrived meanwhile,
// leaves the gate and reports true. Remove's done callbacks are called once the consumer is
// stopped either way.
func (g *AccessGate) stopOwned(s *supervisor, stopInner func(), dones []func()) (end bool) {
	stopInner()
	g.mu.Lock()
	s.mu.Lock()
	end = s.stop
	if end {
		dones = append(dones, s.stopDones...)
		s.stopDones = nil
		delete(g.sups, s.uuid)
	}
	s.mu.Unlock()
	if end {
		g.board.forget(s.uuid) // later reports of the mapping (none: its consumer is stopped) are dropped
	}
	g.mu.Unlock()
	for _, d := range dones {
		d()
	}
	return end
}

// waitRunning waits, while the consumer runs, for the next thing to do: it calls Apply's
// done callbacks once the consumer's first poller has joined its group and got its
// assignment, and returns on a kick (the mapping or a secret changed, or a resync: loop
// again, a stop included) or after stopping the consumer on trouble and backing off.
func (g *AccessGate) waitRunning(s *supervisor, stopInner func(), backoff func()) {
	joined := g.inner.Joined(s.uuid)
	for {
		select {
		case <-joined:
			joined = nil
			s.settled()
		case <-s.kick:
			return
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
			backoff()
			return
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

// probe checks the mapping's access; a stop (Remove, Close) ends it early.
func (g *AccessGate) probe(s *supervisor, m *mapping.EventSourceMapping) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ProbeTimeout)
	defer cancel()
	s.mu.Lock()
	if s.stop {
		s.mu.Unlock()
		return context.Canceled
	}
	s.probeCancel = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.probeCancel = nil
		s.mu.Unlock()
	}()
	return g.cfg.Probe(ctx, m)
}
