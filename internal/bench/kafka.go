package bench

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/event"
)

// runner carries one run's state: what to clean up, and where results go.
type runner struct {
	cfg    Config
	res    *Result
	admin  *kadm.Client
	topics []string
	groups []string // consumer groups to delete afterwards (raw consumers and mappings)
	node   *node
}

func (r *runner) seeds() []string { return strings.Split(r.cfg.Bootstrap, ",") }

func (r *runner) run(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.seeds()...))
	if err != nil {
		return err
	}
	r.admin = kadm.NewClient(cl)
	// Unique even for runs started in the same second (tests of several packages run at once).
	topic := fmt.Sprintf("kafkaesm-bench-%s-%04x", time.Now().UTC().Format("20060102-150405"), rand.N(1<<16))
	if err := r.createTopic(ctx, topic, r.cfg.Partitions); err != nil {
		return err
	}
	r.res.Topic = topic

	r.progressf("producing %d records of %d bytes into %s (%d partitions)", r.cfg.Records, r.cfg.Size, topic, r.cfg.Partitions)
	if r.res.Produce, err = r.produce(ctx, topic); err != nil {
		return err
	}
	if r.node, err = startNode(ctx, r.cfg); err != nil {
		return err
	}
	runtimeFn, err := r.node.runtimeFunction(ctx, "bench-runtime", nil)
	if err != nil {
		return err
	}
	httpFn, err := r.node.httpFunction(ctx, "bench-http", r.node.sinkURL)
	if err != nil {
		return err
	}
	// The drains take turns, Rounds times, and each reports its median round: on a shared
	// machine the load moves within a run, and interleaving spreads it over every drain.
	drains := []struct {
		name string
		dst  *Drain
		do   func(round int) (Drain, error)
	}{
		{"raw franz-go group consumer", &r.res.Raw, func(i int) (Drain, error) { return r.rawDrain(ctx, topic, rawCount, i) }},
		{"raw franz-go group consumer encoding Lambda payloads", &r.res.RawEncode, func(i int) (Drain, error) { return r.rawDrain(ctx, topic, rawEncode, i) }},
		{"raw franz-go group consumer encoding and delivering Lambda payloads over HTTP", &r.res.RawDeliver, func(i int) (Drain, error) { return r.rawDrain(ctx, topic, rawDeliver, i) }},
		{"kafkaesm → aws-lambda-go function (Runtime API)", &r.res.RuntimeAPI, func(int) (Drain, error) { return r.mappingDrain(ctx, topic, runtimeFn) }},
		{"kafkaesm → HTTP target", &r.res.HTTP, func(int) (Drain, error) { return r.mappingDrain(ctx, topic, httpFn) }},
	}
	rounds := make([][]Drain, len(drains))
	for round := range r.cfg.Rounds {
		for i, d := range drains {
			r.progressf("round %d/%d: %s", round+1, r.cfg.Rounds, d.name)
			res, err := d.do(round)
			if err != nil {
				return err
			}
			rounds[i] = append(rounds[i], res)
		}
	}
	for i, d := range drains {
		*d.dst = median(rounds[i])
	}
	for _, d := range []*Drain{&r.res.RawEncode, &r.res.RawDeliver, &r.res.RuntimeAPI, &r.res.HTTP} {
		if r.res.Raw.RecordsPerSec > 0 {
			d.Ratio = d.RecordsPerSec / r.res.Raw.RecordsPerSec
		}
	}
	for _, d := range []*Drain{&r.res.RuntimeAPI, &r.res.HTTP} {
		if r.res.RawDeliver.RecordsPerSec > 0 {
			d.FloorRatio = d.RecordsPerSec / r.res.RawDeliver.RecordsPerSec
		}
	}

	latTopic := topic + "-latency"
	if err := r.createTopic(ctx, latTopic, r.cfg.Partitions); err != nil {
		return err
	}
	for _, l := range []struct {
		name   string
		target int
		res    *Latency
	}{
		{"raw franz-go consumer", targetRaw, &r.res.LatencyRaw},
		{"Runtime API function", targetRuntime, &r.res.LatencyRuntimeAPI},
		{"HTTP target", targetHTTP, &r.res.LatencyHTTP},
	} {
		r.progressf("latency at %d records/s → %s", r.cfg.LatencyRate, l.name)
		if *l.res, err = r.latency(ctx, latTopic, l.target); err != nil {
			return err
		}
	}
	r.progressf("payload encoding")
	var encs []Encoding
	for range r.cfg.Rounds {
		encs = append(encs, measureEncoding(r.cfg.Size, r.cfg.EncodeDuration))
	}
	slices.SortFunc(encs, func(a, b Encoding) int { return cmp.Compare(a.MBPerSec, b.MBPerSec) })
	r.res.Encoding = encs[len(encs)/2]
	return nil
}

func (r *runner) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if r.node != nil {
		r.node.close()
	}
	if r.admin != nil {
		if len(r.groups) > 0 {
			_, _ = r.admin.DeleteGroups(ctx, r.groups...)
		}
		if len(r.topics) > 0 {
			_, _ = r.admin.DeleteTopics(ctx, r.topics...)
		}
		r.admin.Close()
	}
}

func (r *runner) createTopic(ctx context.Context, topic string, partitions int) error {
	// Replication factor -1: the broker's default, so that a real cluster applies its own.
	resp, err := r.admin.CreateTopic(ctx, int32(partitions), -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	r.topics = append(r.topics, topic)
	return nil
}

// produce writes the benchmark records as fast as the producer goes.
func (r *runner) produce(ctx context.Context, topic string) (Drain, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(64<<10), kgo.ProducerLinger(5*time.Millisecond),
		// Uncompressed, so that every consumer reads S bytes per record off the wire (franz-go
		// would snappy-compress, and the benchmark's values compress to almost nothing).
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return Drain{}, err
	}
	defer cl.Close()
	val := make([]byte, r.cfg.Size)
	for i := range val {
		val[i] = byte('a' + i%26)
	}
	var done, failed atomic.Int64
	var firstErr atomic.Value
	stop := r.startProgress("produced", done.Load)
	start, cpu0 := time.Now(), readCPU()
	for i := 0; i < r.cfg.Records && ctx.Err() == nil; i++ {
		cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			done.Add(1)
		})
	}
	err = cl.Flush(ctx)
	el := time.Since(start)
	stop()
	if err == nil && failed.Load() > 0 {
		err = firstErr.Load().(error)
	}
	if err != nil {
		return Drain{}, fmt.Errorf("producing: %w", err)
	}
	return r.drain(done.Load(), el, el, cpu0, readCPU()), nil
}

// rawMode is what a raw drain does with each record besides counting it.
type rawMode int

const (
	rawCount   rawMode = iota // nothing
	rawEncode                 // encode it into Lambda payloads
	rawDeliver                // encode it, and POST the payloads to the sink
)

// rawDrain reads the topic with a plain franz-go group consumer, with the fetch sizes the
// poller uses, doing nothing per record but counting it, or also encoding every record into
// Lambda payloads, or also delivering those.
func (r *runner) rawDrain(ctx context.Context, topic string, mode rawMode, round int) (Drain, error) {
	group := fmt.Sprintf("kafkaesm-bench-raw-%s-%d", topic, round)
	switch mode {
	case rawEncode:
		group += "-encode"
	case rawDeliver:
		group += "-deliver"
	}
	r.groups = append(r.groups, group)
	enc := event.NewEncoder("", r.seeds())
	var got atomic.Int64
	var d *deliverer
	if mode == rawDeliver {
		d = newDeliverer(enc, r.node.sinkURL, r.cfg.Partitions, &got)
		defer d.close()
	}
	batch := enc.NewBatch()
	defer batch.Release()
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.seeds()...), kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(group), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.FetchMaxBytes(32<<20), kgo.FetchMaxPartitionBytes(2<<20),
		kgo.AutoCommitInterval(time.Second))
	if err != nil {
		return Drain{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	stop := r.startProgress("drained", got.Load)
	defer stop()
	start := time.Now()
	var first time.Time
	var cpu0 cpuTimes
	n := int64(r.cfg.Records)
	for fetched := int64(0); fetched < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return Drain{}, fmt.Errorf("raw consumer: %d of %d records: %w", got.Load(), n, ctx.Err())
		}
		c := int64(fs.NumRecords())
		if c > 0 && first.IsZero() {
			first, cpu0 = time.Now(), readCPU()
		}
		fetched += c
		switch mode {
		case rawEncode:
			fs.EachPartition(func(p kgo.FetchTopicPartition) {
				batch.Reset()
				for _, rec := range p.Records {
					if res, _ := batch.Add(rec); res != event.Added {
						_ = batch.Bytes()
						batch.Reset()
						batch.Add(rec)
					}
				}
			})
			got.Add(c)
		case rawDeliver:
			fs.EachPartition(func(p kgo.FetchTopicPartition) {
				if len(p.Records) > 0 {
					d.send(p.Records)
				}
			})
			if err := d.failed(); err != nil {
				return Drain{}, fmt.Errorf("raw consumer delivering: %w", err)
			}
		default:
			got.Add(c)
		}
	}
	if d != nil {
		if err := d.wait(ctx); err != nil {
			return Drain{}, fmt.Errorf("raw consumer delivering: %d of %d records: %w", got.Load(), n, err)
		}
	}
	end, cpu1 := time.Now(), readCPU()
	stop()
	return r.drain(got.Load(), end.Sub(first), end.Sub(start), cpu0, cpu1), nil
}

// median is the round with the median rate; Rounds lists every round's MB/s in run order.
func median(ds []Drain) Drain {
	rates := make([]float64, len(ds))
	for i, d := range ds {
		rates[i] = d.MBPerSec
	}
	sorted := slices.Clone(ds)
	slices.SortFunc(sorted, func(a, b Drain) int { return cmp.Compare(a.RecordsPerSec, b.RecordsPerSec) })
	m := sorted[len(sorted)/2]
	m.Rounds = rates
	return m
}

func (r *runner) drain(records int64, steady, total time.Duration, cpu0, cpu1 cpuTimes) Drain {
	if steady < time.Millisecond { // a tiny topic arrived in one fetch: no steady state to time
		steady = total
	}
	d := Drain{Records: records, Seconds: steady.Seconds(), TotalSeconds: total.Seconds()}
	if steady > 0 {
		d.RecordsPerSec = float64(records) / steady.Seconds()
		d.MBPerSec = float64(records) * float64(r.cfg.Size) / steady.Seconds() / 1e6
		d.CPUCores = busyCores(cpu0, cpu1)
		gb := float64(records) * float64(r.cfg.Size) / 1e9
		d.CPUSecondsPerGB = d.CPUCores * steady.Seconds() / gb
		self, children := processSeconds(cpu0, cpu1, steady.Seconds())
		d.ProcessCPUSecondsPerGB, d.FunctionCPUSecondsPerGB = self/gb, children/gb
	}
	return d
}
