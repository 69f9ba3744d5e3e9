// Package metrics exposes Lambda's event source mapping and function metrics in Prometheus
// text format at GET /metrics, from a private registry (nothing global, so tests and several
// nodes in one process do not collide).
//
// Mapping counters and lags are pulled at scrape time from the poller's own counters
// (poller.Manager.Snapshots: atomics, short locks), so the hot path pays nothing for them.
// Only what cannot be pulled is pushed: batch sizes (poller.Config.OnBatch) and invocation
// outcomes and durations (invoke.Observer), both cheap histogram/counter updates.
//
// Names keep Lambda's metric names after a kafkaesm_ prefix, so dashboards built on CloudWatch
// read the same; the README's Metrics section lists them with their labels.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kafkaesm/kafkaesm/internal/poller"
)

// Label names.
const (
	LabelUUID      = "event_source_mapping_uuid"
	LabelFunction  = "function_name"
	LabelTopic     = "topic"
	LabelPartition = "partition"
	LabelReason    = "reason"
)

// Mappings is where mapping metrics are pulled from; *poller.Manager implements it.
type Mappings interface {
	Snapshots() []poller.Snapshot
}

// Concurrency reports executions in progress per function; *invoke.Engine implements it.
type Concurrency interface {
	Concurrency() map[string]int
}

// Config configures Metrics.
type Config struct {
	// Mappings, when set, provides the mapping metrics. It may also be set later with
	// SetMappings (the poller is built after the function runtime that needs the Observer).
	Mappings Mappings
	// Concurrency, when set, provides ConcurrentExecutions.
	Concurrency Concurrency
	// NoProcessMetrics leaves out the Go runtime and process collectors (tests).
	NoProcessMetrics bool
}

// Metrics owns the registry. It implements invoke.Observer, and OnBatch fits
// poller.Config.OnBatch.
type Metrics struct {
	reg  *prometheus.Registry
	pull *pullCollector

	batchSize, batchBytes          *prometheus.HistogramVec
	invocations, errors, throttles *prometheus.CounterVec
	duration                       *prometheus.HistogramVec
	pollerChanges                  *prometheus.CounterVec
}

// New builds the registry and its collectors.
func New(cfg Config) *Metrics {
	m := &Metrics{
		reg:  prometheus.NewRegistry(),
		pull: &pullCollector{conc: cfg.Concurrency},
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kafkaesm_BatchSize",
			Help:    "Records per successful invocation of an event source mapping.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000},
		}, []string{LabelUUID, LabelFunction}),
		batchBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kafkaesm_BatchPayloadBytes",
			Help:    "Payload bytes per successful invocation of an event source mapping.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 8), // 1 KiB .. 16 MiB
		}, []string{LabelUUID, LabelFunction}),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kafkaesm_Invocations",
			Help: "Invocations of a function that ran (successful or not), as Lambda's Invocations.",
		}, []string{LabelFunction}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kafkaesm_Errors",
			Help: "Invocations that ended in a function error or did not complete, as Lambda's Errors.",
		}, []string{LabelFunction}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kafkaesm_Throttles",
			Help: "Invocations refused at a concurrency limit, as Lambda's Throttles.",
		}, []string{LabelFunction}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kafkaesm_Duration_seconds",
			Help:    "Function run time per invocation, as Lambda's Duration.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1 ms .. 262 s
		}, []string{LabelFunction}),
		pollerChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kafkaesm_PollerChanges",
			Help: "Changes of a mapping's poller count by the scaler, by reason (lag, under-used, MinimumPollers, MaximumPollers, partitions); each is a consumer group rebalance.",
		}, []string{LabelUUID, LabelFunction, LabelReason}),
	}
	if cfg.Mappings != nil {
		m.SetMappings(cfg.Mappings)
	}
	m.reg.MustRegister(m.pull, m.batchSize, m.batchBytes, m.invocations, m.errors, m.throttles, m.duration, m.pollerChanges)
	if !cfg.NoProcessMetrics {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// SetConcurrency sets the source of ConcurrentExecutions. Call before serving.
func (m *Metrics) SetConcurrency(c Concurrency) { m.pull.conc = c }

// SetMappings sets the source of the mapping metrics.
func (m *Metrics) SetMappings(src Mappings) { m.pull.mappings.Store(&src) }

// Registry is the private registry (tests gather from it; the Kafka client plugin registers
// into it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// OnBatch records one successful invocation of a mapping (poller.Config.OnBatch).
func (m *Metrics) OnBatch(uuid, function string, records, bytes int) {
	fn := FunctionName(function)
	m.batchSize.WithLabelValues(uuid, fn).Observe(float64(records))
	m.batchBytes.WithLabelValues(uuid, fn).Observe(float64(bytes))
}

// ForgetMapping drops the pushed series of a deleted mapping (BatchSize, BatchPayloadBytes,
// PollerChanges).
// The pulled ones vanish by themselves once its pollers are gone; without this, a deleted
// mapping's histograms would stay in /metrics until the node restarts.
func (m *Metrics) ForgetMapping(uuid string) {
	m.batchSize.DeletePartialMatch(prometheus.Labels{LabelUUID: uuid})
	m.batchBytes.DeletePartialMatch(prometheus.Labels{LabelUUID: uuid})
	m.pollerChanges.DeletePartialMatch(prometheus.Labels{LabelUUID: uuid})
}

// Invoked implements invoke.Observer.
func (m *Metrics) Invoked(function string, d time.Duration, failed bool) {
	m.invocations.WithLabelValues(function).Inc()
	if failed {
		m.errors.WithLabelValues(function).Inc()
	}
	m.duration.WithLabelValues(function).Observe(d.Seconds())
}

// PollersChanged counts one change of a mapping's poller count (scaler.Config.OnChange), by
// the kind of reason.
func (m *Metrics) PollersChanged(uuid, function, kind string) {
	m.pollerChanges.WithLabelValues(uuid, FunctionName(function), kind).Inc()
}

// Throttled implements invoke.Observer.
func (m *Metrics) Throttled(function string) { m.throttles.WithLabelValues(function).Inc() }

// FunctionName returns the function name of a name, ARN or partial ARN, without qualifier.
func FunctionName(s string) string {
	if i := strings.LastIndex(s, "function:"); i >= 0 {
		s = s[i+len("function:"):]
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	return s
}

func partitionLabel(p int32) string { return strconv.FormatInt(int64(p), 10) }
