package poller

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RefreshLag reads the high watermarks of the mapping's partitions from the broker
// (ListOffsets), so that lag is fresh while a partition is paused (its fetches, which carry
// the high watermark, stop exactly when the function is slow), and, for assigned partitions
// not fetched yet, where their delivery will start (the group's committed offset, or the log
// start if retention removed it; else the starting position's), so that lag is not 0 before
// the first fetch. It uses a member's own
// Kafka client (its connection and credentials). A mapping with no assigned partition has
// nothing to refresh; unknown mappings are not an error.
func (mg *Manager) RefreshLag(ctx context.Context, uuid string) error {
	mg.mu.Lock()
	e := mg.entries[uuid]
	mg.mu.Unlock()
	if e == nil {
		return nil
	}
	e.smu.Lock()
	ms, m := e.membersLocked(), e.m
	e.smu.Unlock()
	var (
		ws []*worker
		cl *kgo.Client
	)
	for _, c := range ms {
		c.mu.Lock()
		for _, w := range c.workers {
			ws = append(ws, w)
			cl = w.cl
		}
		c.mu.Unlock()
	}
	if cl == nil || m == nil {
		return nil
	}
	// kadm.Client.Close would close the member's client: this one is only borrowed.
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, ms[0].spec.topics...)
	if err != nil {
		return err
	}
	n := 0
	ends.Each(func(kadm.ListedOffset) { n++ })
	e.topicPartitions.Store(int64(n))
	var unfetched []*worker
	for _, w := range ws {
		if o, ok := ends.Lookup(w.tp.topic, w.tp.partition); ok && o.Err == nil {
			storeMax(&w.hwm, o.Offset)
		}
		if w.next.Load() < 0 && w.base.Load() < 0 {
			unfetched = append(unfetched, w)
		}
	}
	if len(unfetched) == 0 {
		return ends.Error()
	}
	committed, err := adm.FetchOffsets(ctx, ms[0].spec.group)
	if err != nil {
		return errors.Join(ends.Error(), err)
	}
	// A committed offset that retention left behind is not where delivery starts: the log
	// start is (retention.go). With nothing left in the log, no record is ever fetched to say
	// so, and the lag from the committed offset would last until the next record arrives.
	logStarts, err := adm.ListStartOffsets(ctx, ms[0].spec.topics...)
	if err != nil {
		return errors.Join(ends.Error(), err)
	}
	var starts kadm.ListedOffsets
	for _, w := range unfetched {
		ls, lsOK := logStarts.Lookup(w.tp.topic, w.tp.partition)
		if o, ok := committed.Lookup(w.tp.topic, w.tp.partition); ok && o.Err == nil && o.At >= 0 {
			at := o.At
			if lsOK && ls.Err == nil {
				at = max(at, ls.Offset)
			}
			w.base.CompareAndSwap(-1, at)
			continue
		}
		if starts == nil {
			switch {
			case m.StartingPosition == "LATEST":
				starts = ends
			case m.StartingPosition == "AT_TIMESTAMP" && m.StartingPositionTimestamp != nil:
				starts, err = adm.ListOffsetsAfterMilli(ctx, m.StartingPositionTimestamp.UnixMilli(), ms[0].spec.topics...)
			default:
				starts = logStarts
			}
			if err != nil {
				return errors.Join(ends.Error(), err)
			}
		}
		if o, ok := starts.Lookup(w.tp.topic, w.tp.partition); ok && o.Err == nil && o.Offset >= 0 {
			w.base.CompareAndSwap(-1, o.Offset)
		}
	}
	return ends.Error()
}
