package poller

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LATEST and AT_TIMESTAMP are resolved once per partition. Left to the Kafka client, a
// partition without a committed offset is resolved again at every assignment: a LATEST
// mapping that is restarted, killed, disabled and enabled, updated, recovered from an access
// error or rebalanced before its first record arrives starts from the log end again, and the
// records produced in between are never delivered. So when a partition without a committed
// offset is assigned, resolveStart looks its start up and commits it before the client reads
// the group's offsets (franz-go calls OnPartitionsAssigned before it fetches them): the
// client then starts from that commit, and so does every later owner.
//
// TRIM_HORIZON needs none of this: starting again from the log start skips nothing.
//
// LATEST means "from when the mapping started" (on this node): a partition is resolved to
// its first record timestamped since then, which is its log end for the partitions that
// existed then, and the beginning of a partition added to the topic later. Resolved to its
// log end instead, a new partition would lose every record produced to it before it was
// first assigned: up to the Kafka client's metadata refresh (minutes), or as long as the
// mapping was disabled. (Kafka's auto.offset.reset=latest loses them; AWS documents nothing
// for this case; franz-go recommends AfterMilli(now) for "the end of existing partitions,
// the start of new ones".) A partition added while the node was down starts at the first
// record since the node started again. The price is clock skew: records stamped at or after
// the start by a producer (or node) whose clock runs ahead are delivered too, as many as the
// skew covers (Kafka refuses timestamps more than log.message.timestamp.after.max.ms ahead, an
// hour by default).

// latestSince makes a LATEST spec resolve partitions without a committed offset to the first
// record at or after ms (the mapping's start on this node), and the client's fallback too.
func (sp *spec) latestSince(ms int64) {
	sp.startMilli = ms
	sp.start = kgo.NewOffset().AfterMilli(ms)
}

// resolveStart commits the start position of the assigned partitions that have no committed
// offset. It runs in OnPartitionsAssigned, before any worker exists. If it fails (the
// coordinator or the partition leader is unreachable), it logs and leaves the partition to
// the client's own ConsumeStartOffset: the mapping still runs, with the old risk.
func (c *consumer) resolveStart(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	if !c.spec.latest && c.spec.startMilli == 0 || len(assigned) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, stopIOTimeout)
	defer cancel()
	n, err := resolveAndCommit(ctx, cl, c.spec, assigned)
	if err != nil {
		c.log.Warn("resolving the starting position failed; it is resolved again at the next assignment", "err", err)
		return
	}
	if n > 0 {
		c.log.Info("starting position resolved and committed", "partitions", n)
	}
}

// resolveAndCommit returns how many partitions it committed.
func resolveAndCommit(ctx context.Context, cl *kgo.Client, sp spec, assigned map[string][]int32) (int, error) {
	adm := kadm.NewClient(cl)
	committed, err := adm.FetchOffsets(ctx, sp.group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("fetching committed offsets: %w", err)
	}
	var topics []string
	missing := map[string][]int32{}
	for topic, ps := range assigned {
		for _, p := range ps {
			if o, ok := committed.Lookup(topic, p); ok && o.At >= 0 {
				continue
			}
			if len(missing[topic]) == 0 {
				topics = append(topics, topic)
			}
			missing[topic] = append(missing[topic], p)
		}
	}
	if len(topics) == 0 {
		return 0, nil
	}
	var listed kadm.ListedOffsets
	if sp.startMilli == 0 { // LATEST without latestSince
		listed, err = adm.ListEndOffsets(ctx, topics...)
	} else {
		// A partition with no record at or after the time resolves to its end offset.
		listed, err = adm.ListOffsetsAfterMilli(ctx, sp.startMilli, topics...)
	}
	if err != nil {
		return 0, fmt.Errorf("listing offsets: %w", err)
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	var errs []error
	n := 0
	for topic, ps := range missing {
		for _, p := range ps {
			l, ok := listed.Lookup(topic, p)
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s/%d: no offset listed", topic, p))
				continue
			case l.Err != nil:
				errs = append(errs, fmt.Errorf("%s/%d: %w", topic, p, l.Err))
				continue
			}
			if offsets[topic] == nil {
				offsets[topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[topic][p] = kgo.EpochOffset{Epoch: l.LeaderEpoch, Offset: l.Offset}
			n++
		}
	}
	if n == 0 {
		return 0, errors.Join(errs...)
	}
	// The member's own commit (its generation): an admin commit is refused while the group
	// has members.
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, cerr error) {
		if cerr != nil {
			errs = append(errs, fmt.Errorf("committing: %w", cerr))
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					n--
					errs = append(errs, fmt.Errorf("committing %s/%d: %w", t.Topic, p.Partition, err))
				}
			}
		}
	})
	return n, errors.Join(errs...)
}
