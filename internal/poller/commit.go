package poller

import (
	"context"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Commits. A worker marks a batch's last offset after the invocation succeeds
// (MarkCommitRecords: in memory, never rewinds, ignored for a partition no longer ours) and
// kicks the consumer's committer, which commits every marked offset at once
// (CommitMarkedOffsets). A commit is one request for all partitions; kicks that arrive while
// it runs coalesce into one more, so a busy consumer commits back to back, not once per
// batch, and a worker never waits for a commit. Autocommit (Config.AutoCommitInterval) stays
// on as a backstop, and revoke and stop commit synchronously.
//
// The window a kill -9 redelivers is therefore the batches in flight plus the batches that
// succeeded during the last commit's round trip (a few milliseconds on a healthy cluster).

// kickCommit asks the committer for a commit; it never blocks.
func (c *consumer) kickCommit() {
	select {
	case c.commitKick <- struct{}{}:
	default:
	}
}

// commitLoop is the consumer's committer. It runs while the poll loop runs and ends with
// ctx (stop then commits what is left, synchronously).
func (c *consumer) commitLoop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.commitKick:
		}
		if err := c.cl.CommitMarkedOffsets(ctx); err != nil && ctx.Err() == nil {
			// A rebalance or a coordinator change: the next commit (or revoke's) carries
			// these offsets too, since marks only grow.
			c.log.Debug("prompt commit failed", "err", err)
		}
	}
}

// leaveStatic sends the LeaveGroup franz-go does not send for a static member (it expects
// the instance to come back), so that the partitions of a poller stopped on purpose (scale-in,
// Disable, Delete, an update, a clean shutdown) are reassigned at once rather than after the
// session timeout. A kill -9 sends nothing: the restarted node's poller rejoins with the same
// instance id and gets its partitions back without a rebalance.
func (c *consumer) leaveStatic(ctx context.Context) {
	if c.instanceID == nil {
		return
	}
	resp, err := kadm.NewClient(c.cl).LeaveGroup(ctx, kadm.LeaveGroup(c.spec.group).InstanceIDs(*c.instanceID).Reason("kafkaesm poller stopping"))
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		c.log.Warn("leaving the group failed; the broker reassigns our partitions after the session timeout", "err", err)
	}
}
