// Package poller runs event source mappings: for each enabled mapping it consumes the mapping's
// topic in the mapping's consumer group, batches records per partition, invokes the function
// synchronously with Lambda's Kafka payload, retries a failed batch until it succeeds, and
// commits offsets only after success. It owns the Kafka consumers and nothing else: the store and
// the reconciler decide which mappings run (through Manager's Apply and Stop), the invoke package
// runs functions, and status goes back through a Reporter.
//
// Shape (see go-engineering-notes §1.1): one franz-go client per mapping (per poller, when
// SetPollers runs several: members.go) with
// BlockRebalanceOnPoll; one poll goroutine that never blocks on a worker (a full partition queue
// pauses that partition, its worker resumes it); one worker goroutine per assigned partition,
// which alone batches and invokes for that partition, so order holds and one batch per partition
// is in flight while partitions proceed in parallel. Commits are marks (MarkCommitRecords after a
// successful invoke), committed promptly by the consumer's committer (commit.go), by
// OnPartitionsRevoked after the revoked partitions' in-flight batches finish, and on Stop;
// autocommit is a backstop. Files: consumer.go (client, poll loop, rebalance callbacks, status),
// worker.go (one partition's batches: the invoke/outcome seam that failure.go builds on),
// commit.go, startpos.go (LATEST/AT_TIMESTAMP resolved once), retention.go, members.go (several
// pollers per mapping), access.go (the per-mapping owner), board.go (status hand-off).
//
// Static membership. Each poller's group.instance.id is "kafkaesm-<node>-<mapping>-<slot>"
// (Config.NodeID): a restarted node's pollers rejoin as the same members. A poller stopped on
// purpose sends LeaveGroup itself (leaveStatic: franz-go does not for a static member). A
// killed process sends nothing, and the restarted node starts slot 0 only, so when a mapping's
// first poller starts it removes the node's own members of that mapping whose slot no poller
// runs (leaveStale, members.go): their partitions move at once instead of after the session
// timeout.
//
// Ownership. Each mapping has one owner goroutine, the AccessGate's supervisor (access.go),
// from its first Apply until its consumer is stopped: it alone probes, starts, reconfigures,
// resizes, drains and stops the mapping's pollers, and alone writes its status, through the
// whole lifecycle (probing → running with n pollers → draining → stopped). Apply, Remove,
// SetPollers and SecretChanged only leave it a message and return. Pollers report from their
// goroutines to the Board (board.go), which only records the latest report and wakes the
// owner: no store write or network call runs under a poller's lock. A Remove makes the owner
// drain (in-flight batches finish within the function's timeout), commit, leave the group,
// write the last status and end; each mapping's owner is its own goroutine, so draining one
// mapping delays no other. A scale-in's leaving pollers drain in the background (members.go).
//
// Lock order (a lock may be taken while holding the ones to its left, never the reverse):
//
//	entry.mu → Manager.mu
//	entry.mu → entry.smu → consumer.mu → worker.mu → (franz-go's locks, in Pause/ResumeFetchPartitions)
//	consumer.mu → consumer.status.mu → Board.mu (the poll loop reports a retention skip)
//	AccessGate.mu → supervisor.mu
//	AccessGate.mu → Board.mu
//
// Manager.mu, Board.mu, supervisor.mu, slots.mu (slots.go) and destination.mu (destination.go,
// held while its producer clients are built) are leaves: nothing else is taken while one is
// held. entry.mu serialises one mapping's Apply, SetPollers and Stop: the owner makes them one
// at a time, but Manager.Close stops every mapping from goroutines of its own (and tests drive
// a Manager directly), so it stays. It is held while a restart or a stop drains and commits,
// and while leaveStale looks for and removes stale members (bounded, so that no slot starts in
// between); only those methods of that one mapping take it. No other lock is held across an
// invocation, a commit or a store write.
package poller

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/event"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// ResultConnectionError is Lambda's LastProcessingResult when the cluster cannot be reached.
const ResultConnectionError = "PROBLEM: Connection error. Please check your event source connection configuration."

// Reporter receives status changes of a running mapping. Empty arguments mean "unchanged".
// The poller reports only changes (not one call per batch): lastResult is "OK" after a successful
// batch, "PROBLEM: Function call failed" while any partition's batch fails, and
// ResultConnectionError (or what Config.ClassifyError says) while brokers cannot be reached,
// and ClassifyError's verdict on fetch and group errors (authorization) until records flow again;
// state stays "" (the reconciler owns State). cause travels with lastResult: the underlying
// error of a PROBLEM result (the Kafka error, the TLS or SASL message, the function's
// errorType and errorMessage; one line, secrets redacted), "" with any other result, so a
// recorded cause is replaced whenever lastResult is reported. A change of cause alone (another
// function error) is reported too. Report is called from poller goroutines, possibly
// concurrently: it must be fast and must not call back into the Manager.
type Reporter interface {
	Report(uuid, state, reason, lastResult, cause string)
}

// Backoff is the capped exponential backoff between retries of a failed batch.
type Backoff struct {
	// Initial is the first retry delay. Default 500 ms.
	Initial time.Duration
	// Max caps the delay. Default 30 s (Lambda does not document its retry cadence; tens of
	// seconds keeps a broken function from being hammered while a fixed one resumes quickly).
	Max time.Duration
}

// Delay is the wait before retry number attempt (0 = first retry): Initial·2^attempt capped at
// Max, with jitter in [d/2, d] so that partitions failing together do not retry in lockstep.
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Initial
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Config configures a Manager. Zero values take the documented defaults.
type Config struct {
	// Invoker runs the function synchronously. Required. It must honour ctx cancellation and
	// must not keep Request.Payload after Invoke returns (the buffer is reused).
	Invoker invoke.Invoker
	// Reporter receives status changes. Optional.
	Reporter Reporter
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// EventSource is the payload's eventSource. Default event.SourceSelfManagedKafka (what AWS
	// sends); event.SourceAWSSelfManagedKafka is the seed document's spelling.
	EventSource string
	// ClientOpts returns extra franz-go options for a mapping (SASL, TLS from
	// SourceAccessConfigurations). They are appended after the poller's own options. An error
	// is classified, reported, and retried with Backoff until it succeeds or the mapping stops.
	// Optional.
	ClientOpts func(ctx context.Context, m *mapping.EventSourceMapping) ([]kgo.Opt, error)
	// ClassifyError maps a Kafka error to a StateTransitionReason ("" for none) and a
	// LastProcessingResult (e.g. "PROBLEM: SASL authentication failed."). It sees failed broker
	// connections (dial, TLS, SASL: they never surface in fetches) and fetch/group errors (topic
	// or group authorization). A result of "" means "not classified": a connection failure then
	// reports ResultConnectionError and a fetch error is only logged. Optional; the auth package
	// provides the real one (STYLE: Kafka errors are classified in one place).
	ClassifyError func(err error) (reason, result string)
	// OnDrop, when set, receives each record too large for one payload after it was sent to
	// the on-failure destination (condition MaximumPayloadSizeExceeded) or counted as dropped,
	// before its offset is committed. Called from the partition's worker: while it runs, that
	// partition waits. Optional.
	OnDrop func(ctx context.Context, uuid string, r *kgo.Record)
	// AfterDestination, when set, is called after the on-failure destination acknowledged the
	// messages for rs and before their offsets are marked for commit (tests crash here).
	// Optional.
	AfterDestination func(uuid string, rs []*kgo.Record)
	// OnBatch, when set, is called after each successful invocation with its record count and
	// payload size in bytes (the metrics' batch histograms). Called from the partition's
	// worker: it must be cheap. Optional.
	OnBatch func(uuid, function string, records, bytes int)
	// Backoff between retries of a failed batch.
	Backoff Backoff
	// FunctionTimeout returns the configured timeout of the function a mapping invokes (as
	// FunctionArn names it). A revoke, scale-in, Disable, restart or Stop lets a partition's
	// in-flight invocation run until it ends, and the function's own timeout is what ends it:
	// the drain waits up to FunctionTimeout + drainMargin, and the group's rebalance timeout
	// covers that. Optional; without it (or when it returns 0) DrainTimeout is the bound.
	FunctionTimeout func(ctx context.Context, function string) time.Duration
	// DrainTimeout bounds the drain of an in-flight invocation when FunctionTimeout is not
	// known. Default 15 minutes (Lambda's longest function timeout), so that housekeeping never
	// ends an invocation: only the function's timeout, or Stop's context (the node's shutdown
	// grace period), does.
	DrainTimeout time.Duration
	// RebalanceTimeout is the group's rebalance timeout: how long the group waits for its
	// members to rejoin, i.e. for a revoke to drain. Each consumer uses Lambda's longest
	// function timeout (900 s) + drainMargin + 30 s, or its drain bound + 30 s when that is
	// larger, or RebalanceTimeout when that is larger still: the client is built once, and the
	// function's timeout may be raised afterwards (consumer.rebalanceTimeout). The trade-off: with
	// cooperative rebalancing only the partitions that move wait for their batch while the
	// others keep flowing, but a function with a long timeout can hold the moving partitions
	// (and the group's next generation) that long. Default 0: the derived value alone.
	RebalanceTimeout time.Duration
	// SessionTimeout is the group session timeout. Default franz-go's 45 s (Kafka's
	// session.timeout.ms). After a crash, the dead member keeps its partitions this long, so it
	// is how long a restarted node waits before consuming them again.
	SessionTimeout time.Duration
	// AutoCommitInterval is how often marked offsets are committed besides the prompt commit
	// after each successful batch (commit.go), which makes it a backstop. Default 1 s.
	AutoCommitInterval time.Duration
	// NodeID names this node in static group membership (KIP-345): each poller's
	// group.instance.id is "kafkaesm-<NodeID>-<mapping UUID>-<slot>", slot 0 for a mapping's
	// first poller, so a restarted node takes its partitions back at once instead of waiting
	// out the session timeout, and two pollers of one mapping never share an id (Kafka would
	// fence one). It must be stable across restarts and unique among nodes sharing a cluster.
	// Empty: a random id per Manager (static membership then only spares rebalances within a
	// run). "-" turns static membership off.
	NodeID string
	// FetchMaxWait: default 500 ms (franz-go: 5 s), so a resumed or quiet partition is served
	// within about a batching window.
	FetchMaxWait time.Duration
	// FetchMaxBytes per fetch request. Default 32 MiB.
	FetchMaxBytes int32
	// FetchMaxPartitionBytes per partition per fetch. Default 2 MiB (franz-go: 1 MiB). Larger
	// is not better: pausing a partition whose queue is full discards its fetched but unpolled
	// data, and the larger the fetch, the more is fetched and decompressed twice (measured: 8 MiB
	// roughly halved throughput).
	FetchMaxPartitionBytes int32
	// MaxConcurrentFetches. Default 3, bounding memory per mapping.
	MaxConcurrentFetches int
	// QueueRecords is the minimum per-partition queue length at which the partition is
	// paused; the effective threshold is max(QueueRecords, 2·BatchSize). Default 1,000.
	QueueRecords int
	// QueueBytes pauses a partition whose queued keys and values exceed it. Default 16 MiB.
	QueueBytes int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch c.NodeID {
	case "":
		c.NodeID = crand.Text()[:12]
	case "-":
		c.NodeID = ""
	}
	if c.EventSource == "" {
		c.EventSource = event.SourceSelfManagedKafka
	}
	if c.ClassifyError == nil {
		c.ClassifyError = func(error) (string, string) { return "", "" }
	}
	if c.Backoff.Initial <= 0 {
		c.Backoff.Initial = 500 * time.Millisecond
	}
	if c.Backoff.Max <= 0 {
		c.Backoff.Max = 30 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 15 * time.Minute
	}
	if c.AutoCommitInterval <= 0 {
		c.AutoCommitInterval = time.Second
	}
	if c.FetchMaxWait <= 0 {
		c.FetchMaxWait = 500 * time.Millisecond
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = 32 << 20
	}
	if c.FetchMaxPartitionBytes <= 0 {
		c.FetchMaxPartitionBytes = 2 << 20
	}
	if c.MaxConcurrentFetches == 0 {
		c.MaxConcurrentFetches = 3
	}
	if c.QueueRecords <= 0 {
		c.QueueRecords = 1000
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 16 << 20
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Invoker == nil:
		return errors.New("poller: Config.Invoker is required")
	case c.Backoff.Max > 0 && c.Backoff.Initial > c.Backoff.Max:
		return errors.New("poller: Backoff.Initial exceeds Backoff.Max")
	case c.RebalanceTimeout > 0 && c.DrainTimeout > 0 && c.RebalanceTimeout <= c.DrainTimeout:
		return errors.New("poller: RebalanceTimeout must exceed DrainTimeout")
	case c.EventSource != "" && c.EventSource != event.SourceSelfManagedKafka && c.EventSource != event.SourceAWSSelfManagedKafka:
		return fmt.Errorf("poller: EventSource %q is neither %q nor %q", c.EventSource, event.SourceSelfManagedKafka, event.SourceAWSSelfManagedKafka)
	}
	return nil
}

// Stats are a mapping's counters since the Manager first ran it, summed over its pollers
// (scaling and restarts do not reset them). Records handed from one poller to another before
// delivery are polled again, so Polled may exceed what was produced; Invoked counts each
// record once in a fault-free run.
type Stats struct {
	// Polled records handed to the poller by Kafka (PolledEventCount).
	Polled int64
	// Invoked records delivered in successful invocations (InvokedEventCount).
	Invoked int64
	// Failed records in failed invocation attempts, counted per attempt (FailedInvokeEventCount).
	// Throttled attempts are not failures.
	Failed int64
	// Dropped records given up on without an on-failure destination: too large for one 6 MB
	// payload, older than MaximumRecordAgeInSeconds, or out of retries (DroppedEventCount).
	Dropped int64
	// Filtered records left out by FilterCriteria (FilteredOutEventCount).
	Filtered int64
	// OnFailureDelivered records acknowledged by the on-failure destination
	// (OnFailureDestinationDeliveredEventCount).
	OnFailureDelivered int64
	// Retried records invoked again after a failed invocation (retries and bisected halves).
	Retried int64
	// RetentionSkipped records that left the log by the topic's retention (or DeleteRecords)
	// before they were delivered: the poller moved on to the earliest offset still in the log
	// (retention.go).
	RetentionSkipped int64
	// Batches is the number of successful invocations.
	Batches int64
	// Throttled counts invocation attempts refused with invoke.ErrThrottled: the function's
	// or the node's concurrency limit, or an HTTP target's 429 (ThrottledInvokeCount). They
	// lower the mapping's concurrent invocations (slots.go) and stop scale-out for a while.
	Throttled int64
	// Pauses counts partitions paused because their queue was full (backpressure from a slow
	// or failing function).
	Pauses int64
	// Lag is the sum over assigned partitions of high watermark minus the next offset to
	// deliver (OffsetLag, as this member sees it).
	Lag int64
	// Partitions currently assigned to this member.
	Partitions int
}

// Manager runs many mappings; it implements Runner. Apply and Stop of different mappings run
// concurrently; calls for the same mapping are serialised.
type Manager struct {
	cfg Config

	mu      sync.Mutex
	entries map[string]*entry
	closed  bool

	// hurry bounds the drains that no caller waits for (members leaving on scale-in): it ends
	// when Close's context does.
	hurry    context.Context
	hurryNow context.CancelFunc
	// sweeps counts the leaveStale goroutines (members.go); Close waits for them.
	sweeps sync.WaitGroup
}

// entry serialises Apply/Stop of one mapping, which may block while a consumer drains.
// c is written under mu and read without it by Stats.
type entry struct {
	mu sync.Mutex
	c  atomic.Pointer[consumer]

	// smu guards m, extra, leaving and retired (members.go); a leaf lock held only briefly.
	smu     sync.Mutex
	m       *mapping.EventSourceMapping // last applied; extra members start from it
	extra   []*consumer                 // group members beyond c, added by SetPollers
	leaving []*consumer                 // members removed by SetPollers, still draining
	retired Stats                       // counters of members that stopped
	// drains counts the goroutines stopping leaving members: stopAll waits for them, so a
	// mapping is stopped only once every one of its members left.
	drains sync.WaitGroup

	// latestSince is when a LATEST mapping first started on this node (UnixMilli), kept across
	// its restarts, Disable and Enable: its partitions without a committed offset start at the
	// first record since then (startpos.go). Guarded by mu.
	latestSince int64

	topicPartitions atomic.Int64 // partitions of the mapping's topics, from RefreshLag (lag.go)
	slots           *slots       // the mapping's invocation slots (slots.go), set once by entry()
}

var _ Consumers = (*Manager)(nil)

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("poller: manager closed")

// NewManager validates cfg and returns an idle Manager.
func NewManager(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	mg := &Manager{cfg: cfg, entries: make(map[string]*entry)}
	mg.hurry, mg.hurryNow = context.WithCancel(context.Background())
	return mg, nil
}

func (mg *Manager) entry(uuid string) (*entry, error) {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	if mg.closed {
		return nil, ErrClosed
	}
	e := mg.entries[uuid]
	if e == nil {
		e = &entry{slots: newSlots(mg.cfg.Backoff)}
		mg.entries[uuid] = e
	}
	return e, nil
}

// Apply makes the mapping run as m says: it starts the mapping's consumer if needed, or
// reconfigures it in place (BatchSize, MaximumBatchingWindowInSeconds, FunctionArn take effect
// for the next batch), or restarts it when what the Kafka client depends on changed (servers,
// topics, group, starting position, access configurations). A mapping with Enabled false is
// stopped. Apply returns once the consumer is started, not once it consumes (Joined tells
// that); it fails only for a mapping it cannot run at all (no topic, no servers, bad starting
// position). A client that cannot be built yet (ClientOpts fails: a missing secret) is
// retried with backoff and reported, so the mapping still settles.
func (mg *Manager) Apply(ctx context.Context, m *mapping.EventSourceMapping) error {
	if m == nil || m.UUID == "" {
		return errors.New("poller: mapping without UUID")
	}
	if !m.Enabled {
		return mg.Stop(ctx, m.UUID)
	}
	spec, err := newSpec(m)
	if err != nil {
		return err
	}
	e, err := mg.entry(m.UUID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	mg.mu.Lock()
	closed := mg.closed
	mg.mu.Unlock()
	if closed { // Close may have stopped this entry before we got it: start nothing new
		return ErrClosed
	}
	if spec.latest {
		if e.latestSince == 0 {
			e.latestSince = time.Now().UnixMilli() + 1 // not the records produced before
		}
		spec.latestSince(e.latestSince)
	}
	if c := e.c.Load(); c != nil {
		if c.spec.identity == spec.identity {
			e.setMapping(m)
			for _, c := range e.members() {
				c.settings.Store(spec.settings)
			}
			return nil
		}
		mg.cfg.Logger.Info("restarting mapping consumer: connection settings changed", "uuid", m.UUID)
		if err := e.stopAll(ctx); err != nil {
			mg.cfg.Logger.Warn("stopping mapping consumer for restart", "uuid", m.UUID, "err", err)
		}
	}
	e.setMapping(m)
	c := startConsumer(&mg.cfg, m, spec, 0, e.slots)
	e.c.Store(c)
	if c.instanceID != nil {
		mg.sweeps.Go(func() { mg.leaveStale(e, c) })
	}
	return nil
}

// Stop stops the mapping's consumer: in-flight batches finish (bounded by the function's
// timeout, or Config.DrainTimeout when it is not known, and ctx), delivered offsets are
// committed, the consumer leaves its group. Unknown uuids are not an error.
func (mg *Manager) Stop(ctx context.Context, uuid string) error {
	mg.mu.Lock()
	e := mg.entries[uuid]
	mg.mu.Unlock()
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopAll(ctx)
}

// stopAll stops every member of the mapping in parallel (one after the other would hand the
// partitions of the first ones to stop to the others, only to drain them again). Called with
// e.mu held.
func (e *entry) stopAll(ctx context.Context) error {
	c := e.c.Load()
	if c == nil {
		return nil
	}
	var extraErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		extraErr = e.stopExtras(ctx)
	}()
	err := c.stop(ctx)
	<-done
	e.drains.Wait() // members leaving after a scale-in
	e.retire(c, func() { e.c.Store(nil) })
	return errors.Join(extraErr, err)
}

// Joined implements Consumers: the returned channel is closed once the mapping's first
// poller has joined its group and received its assignment (after its start positions were
// resolved and committed, so a record produced from then on is delivered). Nil when the
// mapping is not running.
func (mg *Manager) Joined(uuid string) <-chan struct{} {
	mg.mu.Lock()
	e := mg.entries[uuid]
	mg.mu.Unlock()
	if e == nil {
		return nil
	}
	if c := e.c.Load(); c != nil {
		return c.joined
	}
	return nil
}

// Close stops every mapping (in parallel) and refuses further Applies.
func (mg *Manager) Close(ctx context.Context) error {
	defer mg.hurryNow()
	defer context.AfterFunc(ctx, mg.hurryNow)()
	mg.mu.Lock()
	mg.closed = true
	uuids := make([]string, 0, len(mg.entries))
	for u := range mg.entries {
		uuids = append(uuids, u)
	}
	mg.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(uuids))
	for i, u := range uuids {
		wg.Go(func() { errs[i] = mg.Stop(ctx, u) })
	}
	wg.Wait()
	mg.sweeps.Wait() // each ends once its consumer is stopped
	return errors.Join(errs...)
}

// Stats returns the counters of a running mapping.
func (mg *Manager) Stats(uuid string) (Stats, bool) {
	mg.mu.Lock()
	e := mg.entries[uuid]
	mg.mu.Unlock()
	if e == nil {
		return Stats{}, false
	}
	e.smu.Lock()
	defer e.smu.Unlock()
	ms := e.membersLocked()
	if len(ms) == 0 {
		return Stats{}, false
	}
	s := e.retired
	for _, c := range append(ms, e.leaving...) {
		s.add(c.stats())
	}
	return s, true
}
