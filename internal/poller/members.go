package poller

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// This file lets a mapping run several pollers: each poller is a consumer (its own franz-go
// client, poll loop and workers) and a member of the mapping's consumer group, so Kafka
// assigns partitions among them. The first member is entry.c (started by Apply, as before);
// SetPollers adds or removes the others (entry.extra). Handing partitions over is safe
// without duplicates because a member commits its delivered offsets when partitions are
// revoked (consumer.revoked, after draining the revoked partitions' in-flight batches) and
// before it leaves the group (consumer.stop): the next owner starts from those commits.
//
// Counters of members that stopped are folded into entry.retired, so a mapping's Stats only
// grow while its entry lives (scale-in, scale-out and restarts do not reset them).

// PartitionStats is one assigned partition as its poller sees it.
type PartitionStats struct {
	Topic     string
	Partition int32
	// Lag is the partition's high watermark minus the next offset to deliver.
	Lag int64
	// Retrying is set while the partition's batch is failing and being retried.
	Retrying bool
	// Queued records are fetched and not yet delivered (part of Lag): the function, not the
	// pollers, has to get through them.
	Queued int64
	// Paused: fetching is paused because the queue is full (the function is behind).
	Paused bool
	// InFlight is how long the current invocation attempt has been running (0: none).
	InFlight time.Duration
}

// Snapshot is a running mapping as the scaler and the metrics see it.
type Snapshot struct {
	UUID string
	// Function is the mapping's FunctionArn (as configured: a name or an ARN).
	Function string
	// Pollers is the number of running group members.
	Pollers int
	// MinimumPollers and MaximumPollers are the mapping's ProvisionedPollerConfig bounds,
	// 0 when unset.
	MinimumPollers, MaximumPollers int
	Stats                          Stats
	// Partitions are the partitions currently assigned to some member, sorted.
	Partitions []PartitionStats
	// TopicPartitions is the number of partitions of the mapping's topics as RefreshLag last
	// read it, 0 before.
	TopicPartitions int
	// Consuming is the number of pollers that own partitions: fewer than min(Pollers,
	// partitions) while the group rebalances.
	Consuming int
	// ConcurrencyLimit is how many invocations at a time the mapping allows itself since its
	// function throttled (slots.go); 0 while unbounded.
	ConcurrencyLimit int
}

// members returns the running consumers of e, the first member first.
func (e *entry) members() []*consumer {
	e.smu.Lock()
	defer e.smu.Unlock()
	return e.membersLocked()
}

// setMapping records the last applied mapping. Called with e.mu held; smu because Snapshots
// reads it.
func (e *entry) setMapping(m *mapping.EventSourceMapping) {
	e.smu.Lock()
	e.m = m
	e.smu.Unlock()
}

func (e *entry) membersLocked() []*consumer {
	c := e.c.Load()
	if c == nil {
		return nil
	}
	return append([]*consumer{c}, e.extra...)
}

// retire folds a stopped consumer's final counters into the entry's. Called after stop, so
// the counters no longer move; remove takes the consumer out of the live set under the same
// lock, so Stats never sees it twice or not at all.
func (e *entry) retire(c *consumer, remove func()) {
	s := c.stats()
	e.smu.Lock()
	defer e.smu.Unlock()
	remove()
	e.retired.add(s)
}

func (s *Stats) add(o Stats) {
	s.Polled += o.Polled
	s.Invoked += o.Invoked
	s.Failed += o.Failed
	s.Dropped += o.Dropped
	s.Filtered += o.Filtered
	s.OnFailureDelivered += o.OnFailureDelivered
	s.Retried += o.Retried
	s.RetentionSkipped += o.RetentionSkipped
	s.Batches += o.Batches
	s.Pauses += o.Pauses
	s.Throttled += o.Throttled
	s.Lag += o.Lag
	s.Partitions += o.Partitions
}

// stopExtras stops every member but the first, in parallel. Called with e.mu held.
func (e *entry) stopExtras(ctx context.Context) error {
	e.smu.Lock()
	extra := slices.Clone(e.extra)
	e.smu.Unlock()
	return e.stopMembers(ctx, extra)
}

// stopMembers stops the given extra members in parallel and retires them.
func (e *entry) stopMembers(ctx context.Context, cs []*consumer) error {
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		wg.Go(func() {
			errs[i] = c.stop(ctx)
			e.retire(c, func() {
				e.extra = slices.DeleteFunc(e.extra, func(x *consumer) bool { return x == c })
			})
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// SetPollers runs n pollers (group members) for a running mapping: it starts members or stops
// the newest ones. n below 1 means 1. A member stopped on scale-in leaves in the background
// (SetPollers does not wait, so the scaler never waits for one mapping's drain): it lets its
// in-flight invocations end within their function's timeout (or until the Manager's Close
// gives up), commits and leaves the group; the remaining members get its partitions from the
// committed offsets. A new member never reuses the group.instance.id of one still leaving.
// Unknown or stopped mappings are not an error: the scaler races with the reconciler. A
// restart (Apply with changed connection settings) goes back to one poller.
func (mg *Manager) SetPollers(_ context.Context, uuid string, n int) error {
	n = max(n, 1)
	mg.mu.Lock()
	e := mg.entries[uuid]
	closed := mg.closed
	mg.mu.Unlock()
	if e == nil || closed {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	first := e.c.Load()
	if first == nil || e.m == nil {
		return nil
	}
	e.smu.Lock()
	have := 1 + len(e.extra)
	var stopping []*consumer
	if n < have {
		stopping = slices.Clone(e.extra[n-1:])
		e.extra = e.extra[:n-1]
		e.leaving = append(e.leaving, stopping...)
	}
	e.smu.Unlock()
	for range n - have {
		e.smu.Lock()
		slot := e.freeSlotLocked()
		e.smu.Unlock()
		c := startConsumer(&mg.cfg, e.m, first.spec, slot, e.slots)
		c.settings.Store(first.settings.Load())
		e.smu.Lock()
		e.extra = append(e.extra, c)
		e.smu.Unlock()
	}
	for _, c := range stopping {
		e.drains.Add(1)
		go func() {
			defer e.drains.Done()
			if err := c.stop(mg.hurry); err != nil {
				c.log.Warn("stopping a poller on scale-in", "err", err)
			}
			e.retire(c, func() {
				e.leaving = slices.DeleteFunc(e.leaving, func(x *consumer) bool { return x == c })
			})
		}()
	}
	return nil
}

// freeSlotLocked is the lowest poller slot that no running or leaving member uses: after a
// restart the same slots come back (static membership), and two live members of a mapping
// never share a group.instance.id. Called with e.smu held.
func (e *entry) freeSlotLocked() int {
	used := map[int]bool{0: true}
	for _, c := range e.extra {
		used[c.slot] = true
	}
	for _, c := range e.leaving {
		used[c.slot] = true
	}
	slot := 1
	for used[slot] {
		slot++
	}
	return slot
}

// Pollers returns the number of running pollers of a mapping (0 when it is not running).
func (mg *Manager) Pollers(uuid string) int {
	mg.mu.Lock()
	e := mg.entries[uuid]
	mg.mu.Unlock()
	if e == nil {
		return 0
	}
	return len(e.members())
}

// Snapshots returns every running mapping, sorted by UUID. It reads counters and takes
// short locks only: metrics scrapes and the scaler call it.
func (mg *Manager) Snapshots() []Snapshot {
	mg.mu.Lock()
	es := make(map[string]*entry, len(mg.entries))
	for u, e := range mg.entries {
		es[u] = e
	}
	mg.mu.Unlock()
	out := make([]Snapshot, 0, len(es))
	for u, e := range es {
		e.smu.Lock()
		ms := e.membersLocked()
		if len(ms) == 0 {
			e.smu.Unlock()
			continue
		}
		s := Snapshot{UUID: u, Function: ms[0].settings.Load().function, Pollers: len(ms), Stats: e.retired,
			TopicPartitions: int(e.topicPartitions.Load()), ConcurrencyLimit: e.slots.Limit()}
		if p := e.m.ProvisionedPollerConfig; p != nil {
			if p.MinimumPollers != nil {
				s.MinimumPollers = *p.MinimumPollers
			}
			if p.MaximumPollers != nil {
				s.MaximumPollers = *p.MaximumPollers
			}
		}
		s.Stats.Lag, s.Stats.Partitions = 0, 0
		for _, c := range append(ms, e.leaving...) { // leaving members still hold partitions while they drain
			s.Stats.add(c.stats())
			ps := c.partitionStats()
			if len(ps) > 0 {
				s.Consuming++
			}
			s.Partitions = append(s.Partitions, ps...)
		}
		e.smu.Unlock()
		slices.SortFunc(s.Partitions, func(a, b PartitionStats) int {
			if c := strings.Compare(a.Topic, b.Topic); c != 0 {
				return c
			}
			return int(a.Partition - b.Partition)
		})
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Snapshot) int { return strings.Compare(a.UUID, b.UUID) })
	return out
}

func (c *consumer) partitionStats() []PartitionStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]PartitionStats, 0, len(c.workers))
	for k, w := range c.workers {
		q, paused := w.queueState()
		out = append(out, PartitionStats{Topic: k.topic, Partition: k.partition, Lag: w.lag(), Retrying: w.retrying.Load(),
			Queued: q, Paused: paused, InFlight: w.inFlight()})
	}
	return out
}

// instancePrefix is the group.instance.id of a poller of mapping uuid on node, without its
// slot number.
func instancePrefix(node, uuid string) string { return "kafkaesm-" + node + "-" + uuid + "-" }

// staleSweepTimeout bounds leaveStale's DescribeGroups and LeaveGroup (entry.mu is held).
const staleSweepTimeout = 5 * time.Second

// leaveStale removes this node's static members of the mapping's group that no poller of this
// node runs: after a kill -9 the restarted node starts slot 0 only (the scaler adds slots
// later), while the dead process's slots 1…k−1 are still registered (a killed process sends
// nothing), so their partitions would sit idle until the scaler starts those slots again or
// the session timeout expires. It runs once, when the first poller's client is built (Apply
// starting or restarting the mapping), and sends LeaveGroup by instance id for the members
// whose id is this node's and mapping's prefix followed by a slot number that no running,
// starting or leaving poller of the entry uses. entry.mu is held from the check to the
// LeaveGroup (bounded by staleSweepTimeout), so the scaler cannot start a slot in between; a
// slot started afterwards joins anew. Other nodes' members, and the ids a fenced poller
// rejoins under (a suffix after the slot), are never touched. A failure is logged: the
// session timeout then removes the dead members, as before.
func (mg *Manager) leaveStale(e *entry, c *consumer) {
	select {
	case <-c.built:
	case <-c.ctx.Done():
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c.Load() != c || c.ctx.Err() != nil {
		return // stopped or restarted meanwhile: the new first poller sweeps
	}
	running := map[int]bool{}
	e.smu.Lock()
	for _, x := range append(e.membersLocked(), e.leaving...) {
		running[x.slot] = true
	}
	e.smu.Unlock()
	ctx, cancel := context.WithTimeout(mg.hurry, staleSweepTimeout)
	defer cancel()
	adm := kadm.NewClient(c.firstCl)
	gs, err := adm.DescribeGroups(ctx, c.spec.group)
	if err == nil {
		err = gs.Error()
	}
	if err != nil {
		c.log.Warn("cannot look for this node's stale group members; they leave at the session timeout", "err", err)
		return
	}
	var ids []string
	for _, mb := range gs[c.spec.group].Members {
		if mb.InstanceID != nil {
			ids = append(ids, *mb.InstanceID)
		}
	}
	stale := staleMembers(ids, instancePrefix(mg.cfg.NodeID, c.uuid), running)
	if len(stale) == 0 {
		return
	}
	resp, err := adm.LeaveGroup(ctx, kadm.LeaveGroup(c.spec.group).InstanceIDs(stale...).Reason("kafkaesm: static member of a dead process of this node"))
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		c.log.Warn("removing this node's stale group members failed; they leave at the session timeout", "instance_ids", stale, "err", err)
		return
	}
	c.log.Info("removed this node's stale static group members (a previous process did not leave)", "instance_ids", stale)
}

// staleMembers returns the instance ids among ids that are prefix followed by a slot number
// not in running.
func staleMembers(ids []string, prefix string, running map[int]bool) []string {
	var stale []string
	for _, id := range ids {
		rest, ok := strings.CutPrefix(id, prefix)
		if !ok {
			continue
		}
		slot, err := strconv.Atoi(rest)
		if err != nil || slot < 0 || strconv.Itoa(slot) != rest || running[slot] {
			continue
		}
		stale = append(stale, id)
	}
	return stale
}
