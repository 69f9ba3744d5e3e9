package poller

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/event"
	"github.com/kafkaesm/kafkaesm/internal/filter"
	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/outcome"
)

// settings are what a running consumer picks up without restarting; workers read them at the
// start of every batch (and the function at every attempt, so a retried batch goes to a fixed
// function name).
type settings struct {
	batchSize int
	window    time.Duration
	function  string
	// Failure handling (failure.go): the policy, FilterCriteria, and the kafka:// on-failure
	// destination topic ("" for none).
	policy      outcome.Policy
	filter      *filter.Matcher
	destination string
}

// spec is what a mapping asks of its consumer. identity covers everything the Kafka client is
// built from: when it changes, Apply restarts the consumer.
type spec struct {
	identity string
	settings *settings
	servers  []string
	topics   []string
	group    string
	start    kgo.Offset
	// startMilli is AT_TIMESTAMP's time; latest is set for LATEST. Both are resolved once per
	// partition and committed (startpos.go); TRIM_HORIZON needs no resolution.
	startMilli int64
	latest     bool
}

func newSpec(m *mapping.EventSourceMapping) (spec, error) {
	servers := m.BootstrapServers()
	if len(servers) == 0 {
		return spec{}, errors.New("poller: mapping has no KAFKA_BOOTSTRAP_SERVERS")
	}
	if len(m.Topics) == 0 {
		return spec{}, errors.New("poller: mapping has no topic")
	}
	fn := m.FunctionArn
	if fn == "" {
		return spec{}, errors.New("poller: mapping has no function")
	}
	bs := m.BatchSize
	if bs <= 0 {
		bs = 100
	}
	var (
		start      kgo.Offset
		startKey   string
		startMilli int64
	)
	switch m.StartingPosition {
	case "TRIM_HORIZON", "":
		start = kgo.NewOffset().AtStart()
		startKey = "TRIM_HORIZON"
	case "LATEST":
		start = kgo.NewOffset().AtEnd()
		startKey = "LATEST"
	case "AT_TIMESTAMP":
		if m.StartingPositionTimestamp == nil {
			return spec{}, errors.New("poller: AT_TIMESTAMP without StartingPositionTimestamp")
		}
		ms := m.StartingPositionTimestamp.UnixMilli()
		start = kgo.NewOffset().AfterMilli(ms)
		startMilli = ms
		startKey = fmt.Sprintf("AT_TIMESTAMP:%d", ms)
	default:
		return spec{}, fmt.Errorf("poller: unknown StartingPosition %q", m.StartingPosition)
	}
	fm, err := filter.Compile(m.FilterPatterns())
	if err != nil { // Validate refused it already: only a corrupted store gets here
		return spec{}, fmt.Errorf("poller: FilterCriteria: %w", err)
	}
	var sac strings.Builder
	for _, a := range m.SourceAccessConfigurations {
		sac.WriteString(a.Type + "=" + a.URI + ";")
	}
	return spec{
		identity: strings.Join([]string{strings.Join(servers, ","), strings.Join(m.Topics, ","), m.GroupID(), startKey, sac.String()}, "\x00"),
		settings: &settings{batchSize: bs, window: m.BatchingWindow(), function: fn,
			policy: outcome.PolicyOf(m), filter: fm, destination: m.OnFailureTopic()},
		servers:    servers,
		topics:     m.Topics,
		group:      m.GroupID(),
		start:      start,
		startMilli: startMilli,
		latest:     startKey == "LATEST",
	}, nil
}

type tp struct {
	topic     string
	partition int32
}

// consumer runs one mapping: one kgo client, one poll goroutine, one worker per partition.
type consumer struct {
	cfg      *Config
	uuid     string
	m        *mapping.EventSourceMapping // as started: the destination producer's ClientOpts
	spec     spec
	settings atomic.Pointer[settings]
	enc      *event.Encoder
	log      *slog.Logger
	cl       *kgo.Client

	ctx    context.Context // cancelled by stop: ends the poll loop
	cancel context.CancelFunc
	// hurry is cancelled when Stop's context ends (the node's shutdown grace period is over):
	// every drain, a revoke's included, then ends the in-flight invocations at once.
	hurry    context.Context
	hurryNow context.CancelFunc
	pollDone chan struct{}

	// instanceID is this poller's group.instance.id (static membership, one per node, mapping
	// and slot); nil when static membership is off.
	instanceID *string
	// built is closed once the first Kafka client is built; firstCl is that client (the stale
	// member sweep uses it, members.go). Neither changes afterwards.
	built   chan struct{}
	firstCl *kgo.Client
	// commitKick (cap 1) asks the committer to commit the marked offsets: workers signal it
	// after every successful batch, and kicks that arrive while a commit runs coalesce into
	// one more (commit.go).
	commitKick chan struct{}
	// joined is closed at the first OnPartitionsAssigned: the poller is a member of its group,
	// has its assignment and its start positions are resolved (Manager.Joined).
	joined     chan struct{}
	joinedOnce sync.Once

	// mu guards workers. With BlockRebalanceOnPoll the poll loop and the rebalance callbacks
	// never overlap, but Stats and stop read the map from other goroutines.
	mu      sync.Mutex
	workers map[tp]*worker

	polled, invoked, failed, dropped, batches, pauses, throttled atomic.Int64
	filtered, toDestination, retried                             atomic.Int64
	retentionSkipped                                             atomic.Int64

	dest destination // the on-failure destination's producer, made on first use

	status status
	slots  *slots // the mapping's, shared by its pollers
	slot   int    // this poller's slot: 0 for the first (its group.instance.id)
}

// startConsumer starts poller number slot (0 for the first) of mapping m; sl are the
// mapping's invocation slots.
func startConsumer(cfg *Config, m *mapping.EventSourceMapping, sp spec, slot int, sl *slots) *consumer {
	c := &consumer{
		cfg:        cfg,
		slots:      sl,
		slot:       slot,
		uuid:       m.UUID,
		m:          m,
		spec:       sp,
		enc:        event.NewEncoder(cfg.EventSource, sp.servers),
		log:        cfg.Logger.With("uuid", m.UUID, "group", sp.group, "slot", slot),
		pollDone:   make(chan struct{}),
		workers:    make(map[tp]*worker),
		commitKick: make(chan struct{}, 1),
		joined:     make(chan struct{}),
		built:      make(chan struct{}),
	}
	c.settings.Store(sp.settings)
	c.status.c = c
	c.dest.c = c
	opts := []kgo.Opt{
		kgo.SeedBrokers(sp.servers...),
		kgo.ClientID("kafkaesm-" + m.UUID),
		kgo.ConsumerGroup(sp.group),
		kgo.ConsumeTopics(sp.topics...),
		kgo.ConsumeStartOffset(sp.start), // committed offsets win (franz-go ≥ 1.22)
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(cfg.AutoCommitInterval),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
		// Cooperative (franz-go's default, explicit here): a rebalance revokes only the
		// partitions that move, so only they wait for their in-flight batch.
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.FetchMaxWait(cfg.FetchMaxWait),
		kgo.FetchMaxBytes(cfg.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(cfg.FetchMaxPartitionBytes),
		kgo.MaxConcurrentFetches(cfg.MaxConcurrentFetches),
		kgo.WithHooks(connHook{c}),
	}
	if cfg.NodeID != "" {
		id := fmt.Sprintf("%s%d", instancePrefix(cfg.NodeID, m.UUID), slot)
		c.instanceID = &id
		opts = append(opts, kgo.InstanceID(id))
	}
	if cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(cfg.SessionTimeout), kgo.HeartbeatInterval(max(cfg.SessionTimeout/10, 100*time.Millisecond)))
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.hurry, c.hurryNow = context.WithCancel(context.Background())
	go c.run(m, opts)
	return c
}

// run builds the Kafka client, retrying while ClientOpts fails (a secret that does not exist
// yet, a bad key: the problem is reported, and the mapping starts once it is fixed, as Lambda's
// does), then polls until stop. It owns c.cl until pollDone is closed.
func (c *consumer) run(m *mapping.EventSourceMapping, opts []kgo.Opt) {
	defer close(c.pollDone)
	opts = append(opts[:len(opts):len(opts)], kgo.RebalanceTimeout(c.rebalanceTimeout()))
	var retry *time.Timer
	for attempt := 0; ; attempt++ {
		cl, err := c.newClient(m, opts)
		if err == nil {
			c.cl, c.firstCl = cl, cl
			close(c.built)
			break
		}
		reason, res := c.cfg.ClassifyError(err)
		c.log.Warn("cannot build the kafka client; retrying", "err", err, "result", res)
		if res != "" {
			c.status.clientFailed(reason, res, errorCause(err))
		}
		delay := c.cfg.Backoff.Delay(attempt)
		if retry == nil {
			retry = time.NewTimer(delay)
			defer retry.Stop()
		} else {
			retry.Reset(delay)
		}
		select {
		case <-retry.C:
		case <-c.ctx.Done():
			return
		}
	}
	c.status.clientFailed("", "", "")
	c.log.Info("mapping consumer started", "topics", c.spec.topics, "servers", c.spec.servers)
	for {
		cctx, stopCommits := context.WithCancel(c.ctx)
		commitDone := make(chan struct{})
		go c.commitLoop(cctx, commitDone)
		fenced := c.poll()
		stopCommits()
		<-commitDone // after stop: c.ctx is cancelled, and stop commits the rest
		if !fenced || c.ctx.Err() != nil {
			return
		}
		// Another client joined with our group.instance.id: another node has our node id
		// (a copied data directory). Kafka refuses us from now on, so this poller would
		// sit fenced forever, serving nothing. It rejoins under an id of its own.
		id := fmt.Sprintf("%s-%s", *c.instanceID, crand.Text()[:8])
		c.log.Error("another group member uses this poller's group.instance.id: another node has this node's id (a copied data directory?); rejoining under a unique id",
			"instance_id", *c.instanceID, "new_instance_id", id)
		c.removeAll(true) // lost already stopped them; fenced, nothing can be committed
		c.cl.Close()
		opts = append(opts[:len(opts):len(opts)], kgo.InstanceID(id))
		cl, err := c.newClient(m, opts)
		if err != nil { // only ClientOpts can fail, and it just worked
			c.log.Error("cannot rebuild the kafka client after being fenced", "err", err)
			c.cl = nil
			return
		}
		c.cl, c.instanceID = cl, &id
	}
}

func (c *consumer) newClient(m *mapping.EventSourceMapping, opts []kgo.Opt) (*kgo.Client, error) {
	if c.cfg.ClientOpts != nil {
		extra, err := c.cfg.ClientOpts(c.ctx, m)
		if err != nil {
			return nil, fmt.Errorf("poller: client options for mapping %s: %w", m.UUID, err)
		}
		opts = append(opts[:len(opts):len(opts)], extra...)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("poller: kafka client for mapping %s: %w", m.UUID, err)
	}
	return cl, nil
}

// poll is the only goroutine that hands records to workers. It never blocks on a worker:
// enqueue appends and pauses a partition whose queue is full, so AllowRebalance always comes
// back quickly and the group never kicks us for a slow function.
//
// It returns true when the group fenced this poller (FENCED_INSTANCE_ID: another member
// joined with its group.instance.id).
func (c *consumer) poll() (fenced bool) {
	for {
		fs := c.cl.PollRecords(c.ctx, 10_000)
		if fs.IsClientClosed() || c.ctx.Err() != nil {
			return false // stop calls CloseAllowingRebalance
		}
		fs.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			if errors.Is(err, kerr.FencedInstanceID) && c.instanceID != nil {
				fenced = true
			}
			c.log.Warn("fetch error", "topic", topic, "partition", partition, "err", err)
			c.status.fetchFailed(err)
		})
		if fs.NumRecords() > 0 {
			c.status.fetchFailed(nil)
		}
		var committed map[string]map[int32]kgo.EpochOffset // read once per poll, when needed
		c.mu.Lock()
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			w := c.workers[tp{p.Topic, p.Partition}]
			if w == nil {
				// Cannot happen: assignment precedes fetching. Dropping here loses nothing
				// since nothing past these records gets marked without a worker.
				return
			}
			c.checkRetention(w, p, &committed)
			w.enqueue(p.Records, p.HighWatermark)
			c.polled.Add(int64(len(p.Records)))
		})
		c.mu.Unlock()
		c.cl.AllowRebalance()
		if fenced {
			return true
		}
	}
}

func (c *consumer) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	c.resolveStart(ctx, cl, assigned)
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range assigned {
		for _, p := range ps {
			k := tp{topic, p}
			if c.workers[k] != nil {
				continue
			}
			w := newWorker(c, cl, k)
			c.workers[k] = w
			go w.run()
		}
	}
	c.log.Info("partitions assigned", "partitions", assigned)
	c.joinedOnce.Do(func() { close(c.joined) })
}

// revoked waits (bounded by drainBound) for the in-flight batches of the revoked partitions,
// commits what was delivered, and resumes the partitions (pause state survives rebalances in
// franz-go, and a paused partition given back to us later would silently never fetch).
func (c *consumer) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	c.removeWorkers(revoked, false)
	// Bounded: a rebalance must finish within RebalanceTimeout even if the coordinator is
	// unreachable (an uncommitted mark only means redelivery).
	cctx, cancel := context.WithTimeout(ctx, stopIOTimeout)
	defer cancel()
	if err := cl.CommitMarkedOffsets(cctx); err != nil && ctx.Err() == nil {
		c.log.Warn("commit on revoke failed; delivered records may be redelivered", "err", err)
	}
	cl.ResumeFetchPartitions(revoked)
	if len(revoked) > 0 {
		c.log.Info("partitions revoked", "partitions", revoked)
	}
}

// lost: the group session is gone, commits would fail; stop the workers without draining.
func (c *consumer) lost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	c.removeWorkers(lost, true)
	cl.ResumeFetchPartitions(lost)
	c.log.Warn("partitions lost", "partitions", lost)
}

func (c *consumer) removeWorkers(tps map[string][]int32, abort bool) {
	c.mu.Lock()
	var ws []*worker
	for topic, ps := range tps {
		for _, p := range ps {
			k := tp{topic, p}
			if w := c.workers[k]; w != nil {
				ws = append(ws, w)
				delete(c.workers, k)
			}
		}
	}
	c.mu.Unlock()
	stopWorkers(c.hurry, ws, c.drainBound(), abort)
	c.status.forget(ws)
}

// removeAll stops every worker (draining them, or aborting them with abort).
func (c *consumer) removeAll(abort bool) {
	c.mu.Lock()
	ws := make([]*worker, 0, len(c.workers))
	for k, w := range c.workers {
		ws = append(ws, w)
		delete(c.workers, k)
	}
	c.mu.Unlock()
	stopWorkers(c.hurry, ws, c.drainBound(), abort)
}

// stop ends the consumer: poll loop first (no new records), then workers finish their in-flight
// batch (bounded by the drain bound and ctx: the end of ctx ends them), then marks are
// committed and the group left, on a context of their own: a stop whose grace period is over
// still commits what was delivered and leaves at once.
func (c *consumer) stop(ctx context.Context) error {
	defer c.hurryNow()
	defer context.AfterFunc(ctx, c.hurryNow)()
	c.cancel()
	<-c.pollDone
	if c.cl == nil { // never got a client: nothing joined, nothing to commit
		return nil
	}
	c.removeAll(false)
	c.dest.close()
	// A cluster that went away must not make Stop hang: commit and leave are bounded. A
	// commit that fails only means redelivery after the restart (at-least-once holds).
	bounded, cancel := context.WithTimeout(context.Background(), stopIOTimeout)
	defer cancel()
	err := c.cl.CommitMarkedOffsets(bounded)
	if err != nil {
		c.log.Warn("final commit failed; delivered records may be redelivered", "err", err)
		err = fmt.Errorf("poller: final commit of mapping %s: %w", c.uuid, err)
	}
	c.status.closing.Store(true)
	// Leaving the group runs c.revoked once more with no workers left: it commits nothing new.
	c.cl.AllowRebalance()
	if lerr := c.cl.LeaveGroupContext(bounded); lerr != nil {
		c.log.Warn("leaving the group failed; the broker drops us after the session timeout", "err", lerr)
	}
	c.leaveStatic(bounded)
	c.cl.Close()
	c.log.Info("mapping consumer stopped")
	return err
}

// stopIOTimeout bounds the final commit and LeaveGroup of a stopping consumer.
const stopIOTimeout = 10 * time.Second

// drainMargin is added to the function's timeout in the drain bound: the invoker ends the
// invocation at the timeout, and reporting it back takes a moment.
const drainMargin = 5 * time.Second

// rebalanceTimeout is the group's rebalance timeout for this consumer: long enough for a
// revoke to drain (Config.RebalanceTimeout). It is set once, when the client is built, while
// the drain bound is read again at each drain, and the function's timeout can be raised in
// between (UpdateFunctionConfiguration, an alias moved to a version with a longer timeout,
// FunctionName updated): so it covers the longest timeout any function can have (Lambda's
// 900 s), not the current one. Were it shorter than a drain, the group would drop the draining
// member and hand its partition to another while the batch still ran: two batches of one
// partition at once. It costs nothing while drains are short: a member rejoins as soon as its
// revoked partitions' batches finish, and a dead member is dropped at the session timeout.
func (c *consumer) rebalanceTimeout() time.Duration {
	return max(c.cfg.RebalanceTimeout, max(c.drainBound(), function.MaxTimeout*time.Second+drainMargin)+30*time.Second)
}

// drainBound is how long a drain waits for a partition's in-flight invocation: the function's
// timeout + drainMargin, or Config.DrainTimeout when the timeout is not known.
func (c *consumer) drainBound() time.Duration {
	if c.cfg.FunctionTimeout == nil {
		return c.cfg.DrainTimeout
	}
	ctx, cancel := context.WithTimeout(c.hurry, stopIOTimeout)
	defer cancel()
	if d := c.cfg.FunctionTimeout(ctx, c.settings.Load().function); d > 0 {
		return d + drainMargin
	}
	return c.cfg.DrainTimeout
}

func (c *consumer) stats() Stats {
	s := Stats{
		Polled:             c.polled.Load(),
		Invoked:            c.invoked.Load(),
		Failed:             c.failed.Load(),
		Dropped:            c.dropped.Load(),
		Filtered:           c.filtered.Load(),
		OnFailureDelivered: c.toDestination.Load(),
		Retried:            c.retried.Load(),
		RetentionSkipped:   c.retentionSkipped.Load(),
		Batches:            c.batches.Load(),
		Pauses:             c.pauses.Load(),
		// Throttled is read last: nothing orders it with the others, and the scaler only
		// compares it with its previous value.
		Throttled: c.throttled.Load(),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.Partitions = len(c.workers)
	for _, w := range c.workers {
		s.Lag += w.lag()
	}
	return s
}

// connHook sees every broker connection attempt: connection failures (refused, TLS, SASL) never
// show up in PollFetches, the client just retries, so this is where they become status.
type connHook struct{ c *consumer }

func (h connHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.c.status.connected(err)
}

// status turns what the consumer sees into the mapping's LastProcessingResult and reports
// changes only.
type status struct {
	c       *consumer
	closing atomic.Bool

	mu                                   sync.Mutex
	failing                              map[*worker]bool
	throttled                            map[*worker]bool   // batches throttled throttledProblemAfter times in a row
	processed, processedCause            string             // "", OK or Function call failed; the last function error
	clientReason, clientRes, clientCause string             // the client cannot be built (bad secret), "" when none
	connReason, connRes, connCause       string             // current connection problem, "" when none
	fetchReason, fetchRes, fetchCause    string             // current classified fetch/group problem, "" when none
	destFailing                          map[*worker]string // workers that cannot write to the on-failure destination
	retentionCause                       string             // the last skip over records retention removed
	reported, reportedCause              string
}

func (s *status) connected(err error) {
	if s.closing.Load() || errors.Is(err, context.Canceled) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.connReason, s.connRes, s.connCause = "", "", ""
	} else {
		s.connReason, s.connRes = s.c.cfg.ClassifyError(err)
		if s.connRes == "" {
			s.connRes = ResultConnectionError
		}
		s.connCause = errorCause(err)
		s.c.log.Warn("broker connection failed", "err", err)
	}
	s.publish()
}

// clientFailed records why the Kafka client cannot be built ("" once it is).
func (s *status) clientFailed(reason, res, cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientReason, s.clientRes, s.clientCause = reason, res, cause
	s.publish()
}

// fetchFailed records a classified fetch or group error; nil clears it (records flow again).
func (s *status) fetchFailed(err error) {
	var reason, res string
	if err != nil {
		reason, res = s.c.cfg.ClassifyError(err)
		if res == "" {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetchReason, s.fetchRes, s.fetchCause = reason, res, errorCause(err)
	s.publish()
}

// batchDone records the outcome of an invocation for one worker; cause is the function's error
// when it failed.
func (s *status) batchDone(w *worker, ok bool, cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing == nil {
		s.failing = make(map[*worker]bool)
	}
	delete(s.throttled, w)
	if ok {
		delete(s.failing, w)
	} else {
		s.failing[w] = true
		s.processedCause = cause
	}
	s.setProcessed()
}

// batchThrottled records that a worker's batch keeps being throttled: until it is delivered,
// the mapping shows Lambda's "PROBLEM: Function call failed" (a throttled invocation is a
// failed call to Lambda) with cause saying so in plain words, while the counters keep
// throttles apart from failures.
func (s *status) batchThrottled(w *worker, cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttled == nil {
		s.throttled = make(map[*worker]bool)
	}
	s.throttled[w] = true
	s.processedCause = cause
	s.setProcessed()
}

func (s *status) setProcessed() {
	if len(s.failing) > 0 || len(s.throttled) > 0 {
		s.processed = mapping.ResultFunctionCallFailed
	} else {
		s.processed, s.processedCause = mapping.ResultOK, ""
	}
	s.publish()
}

func (s *status) forget(ws []*worker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range ws {
		delete(s.failing, w)
		delete(s.destFailing, w)
		delete(s.throttled, w)
	}
	s.publish()
}

// destinationFailed records that w cannot write to the on-failure destination (res is the
// PROBLEM text), or, with res "", that it can again.
func (s *status) destinationFailed(w *worker, res string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if res == "" {
		if _, ok := s.destFailing[w]; !ok {
			return
		}
		delete(s.destFailing, w)
	} else {
		if s.destFailing == nil {
			s.destFailing = make(map[*worker]string)
		}
		s.destFailing[w] = res
	}
	s.publish()
}

// publish reports the current result if it changed. Called with s.mu held, after every change
// to the fields it reads, so calling it again without a change does nothing. A connection
// problem outranks a fetch problem, which outranks the processing result: the function may be
// fine, but nothing reaches it.
func (s *status) publish() {
	res, reason, cause := s.processed, "", s.processedCause
	if cause == "" {
		cause = s.retentionCause
	}
	switch {
	case s.clientRes != "":
		res, reason, cause = s.clientRes, s.clientReason, s.clientCause
	case s.connRes != "":
		res, reason, cause = s.connRes, s.connReason, s.connCause
	case s.fetchRes != "":
		res, reason, cause = s.fetchRes, s.fetchReason, s.fetchCause
	default:
		for _, r := range s.destFailing {
			res, cause = r, "" // any one: they name the same destination
			break
		}
	}
	if res == "" || (res == s.reported && cause == s.reportedCause) {
		return
	}
	s.reported, s.reportedCause = res, cause
	if r := s.c.cfg.Reporter; r != nil {
		r.Report(s.c.uuid, "", reason, res, cause)
	}
}
