package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	mappingLabels = []string{LabelUUID, LabelFunction}

	descOffsetLag = prometheus.NewDesc("kafkaesm_OffsetLag",
		"Records written to the mapping's topics and not yet processed by its consumer group, summed over partitions (Lambda's OffsetLag).",
		mappingLabels, nil)
	descPartitionLag = prometheus.NewDesc("kafkaesm_PartitionOffsetLag",
		"OffsetLag of one partition, as the poller that owns it sees it.",
		append(mappingLabels, LabelTopic, LabelPartition), nil)
	descPollers = prometheus.NewDesc("kafkaesm_Pollers",
		"Pollers (consumer group members) running the mapping.", mappingLabels, nil)
	descPartitions = prometheus.NewDesc("kafkaesm_AssignedPartitions",
		"Partitions currently assigned to the mapping's pollers.", mappingLabels, nil)
	descPolled = prometheus.NewDesc("kafkaesm_PolledEventCount",
		"Records read from Kafka by the mapping (records handed between pollers are read again).", mappingLabels, nil)
	descFiltered = prometheus.NewDesc("kafkaesm_FilteredOutEventCount",
		"Records dropped by the mapping's FilterCriteria.", mappingLabels, nil)
	descInvoked = prometheus.NewDesc("kafkaesm_InvokedEventCount",
		"Records delivered to the function in successful invocations.", mappingLabels, nil)
	descFailed = prometheus.NewDesc("kafkaesm_FailedInvokeEventCount",
		"Records in failed invocation attempts, counted per attempt.", mappingLabels, nil)
	descDropped = prometheus.NewDesc("kafkaesm_DroppedEventCount",
		"Records given up on without an on-failure destination (larger than the payload limit, too old, or out of retries).", mappingLabels, nil)
	descOnFailure = prometheus.NewDesc("kafkaesm_OnFailureDestinationDeliveredEventCount",
		"Records sent to the mapping's on-failure destination.", mappingLabels, nil)
	descRetentionSkipped = prometheus.NewDesc("kafkaesm_RetentionSkippedEventCount",
		"Records that left the log by the topic's retention before the mapping delivered them (the poller moved on to the earliest offset still in the log).", mappingLabels, nil)
	descMappingThrottles = prometheus.NewDesc("kafkaesm_ThrottledInvokeCount",
		"Invocation attempts of the mapping refused at the function's concurrency limit.", mappingLabels, nil)
	descConcurrencyLimit = prometheus.NewDesc("kafkaesm_ConcurrencyLimit",
		"Concurrent invocations the mapping allows itself after its function throttled (0: unbounded, never throttled).", mappingLabels, nil)
	descConcurrent = prometheus.NewDesc("kafkaesm_ConcurrentExecutions",
		"Executions of the function in progress, as Lambda's ConcurrentExecutions.", []string{LabelFunction}, nil)
)

// pullCollector reads the poller's and the engine's own counters at scrape time.
type pullCollector struct {
	mappings atomic.Pointer[Mappings]
	conc     Concurrency
}

func (p *pullCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOffsetLag, descPartitionLag, descPollers, descPartitions, descPolled,
		descFiltered, descInvoked, descFailed, descDropped, descOnFailure, descRetentionSkipped, descMappingThrottles, descConcurrencyLimit, descConcurrent} {
		ch <- d
	}
}

func (p *pullCollector) Collect(ch chan<- prometheus.Metric) {
	if src := p.mappings.Load(); src != nil {
		for _, s := range (*src).Snapshots() {
			l := []string{s.UUID, FunctionName(s.Function)}
			gauge := func(d *prometheus.Desc, v int64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), l...)
			}
			counter := func(d *prometheus.Desc, v int64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
			}
			gauge(descOffsetLag, s.Stats.Lag)
			gauge(descPollers, int64(s.Pollers))
			gauge(descPartitions, int64(s.Stats.Partitions))
			counter(descPolled, s.Stats.Polled)
			counter(descFiltered, s.Stats.Filtered)
			counter(descInvoked, s.Stats.Invoked)
			counter(descFailed, s.Stats.Failed)
			counter(descDropped, s.Stats.Dropped)
			counter(descOnFailure, s.Stats.OnFailureDelivered)
			counter(descRetentionSkipped, s.Stats.RetentionSkipped)
			counter(descMappingThrottles, s.Stats.Throttled)
			gauge(descConcurrencyLimit, int64(s.ConcurrencyLimit))
			seen := make(map[partitionKey]bool, len(s.Partitions))
			for _, ps := range s.Partitions {
				// Two members never own a partition at once in a healthy group, but one
				// that lost its session may still list it: one series per partition.
				k := partitionKey{ps.Topic, ps.Partition}
				if seen[k] {
					continue
				}
				seen[k] = true
				ch <- prometheus.MustNewConstMetric(descPartitionLag, prometheus.GaugeValue, float64(ps.Lag),
					s.UUID, l[1], ps.Topic, partitionLabel(ps.Partition))
			}
		}
	}
	if p.conc != nil {
		for fn, n := range p.conc.Concurrency() {
			ch <- prometheus.MustNewConstMetric(descConcurrent, prometheus.GaugeValue, float64(n), fn)
		}
	}
}

type partitionKey struct {
	topic     string
	partition int32
}
