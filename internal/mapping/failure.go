package mapping

import (
	"strings"
	"time"
)

// DefaultRetriesWithDestination is what MaximumRetryAttempts -1 (infinite) means once an
// on-failure destination is set, as on Lambda ("Lambda automatically applies a maximum of 10
// retry attempts").
const DefaultRetriesWithDestination = 10

// ResponseTypeReportBatchItemFailures is the FunctionResponseTypes value for partial batch
// responses.
const ResponseTypeReportBatchItemFailures = "ReportBatchItemFailures"

// Counts are a running mapping's record counters, named after Lambda's metrics (the same
// numbers as /metrics, cumulative on this node).
type Counts struct {
	PolledEventCount                        int64 `json:"PolledEventCount"`
	InvokedEventCount                       int64 `json:"InvokedEventCount"`
	FailedInvokeEventCount                  int64 `json:"FailedInvokeEventCount"`
	RetriedEventCount                       int64 `json:"RetriedEventCount"`
	FilteredOutEventCount                   int64 `json:"FilteredOutEventCount"`
	OnFailureDestinationDeliveredEventCount int64 `json:"OnFailureDestinationDeliveredEventCount"`
	DroppedEventCount                       int64 `json:"DroppedEventCount"`
	// ThrottledInvokeCount counts invocation attempts refused at a concurrency limit (not
	// failures: the batch waits for a free slot).
	ThrottledInvokeCount int64 `json:"ThrottledInvokeCount"`
}

// Pollers is how a running mapping is scaled on this node (the kafkaesm extension member
// KafkaesmPollers).
type Pollers struct {
	// Pollers is the effective number of pollers (consumer group members).
	Pollers int `json:"Pollers"`
	// Reason is why the scaler last changed it ("started" before any change).
	Reason string `json:"Reason,omitempty"`
	// Changed is when, in seconds since the epoch as Lambda's dates.
	Changed *EpochTime `json:"Changed,omitempty"`
	// ConcurrencyLimit is how many invocations at a time the mapping allows itself since its
	// function throttled; absent while unbounded.
	ConcurrencyLimit int `json:"ConcurrencyLimit,omitempty"`
}

// OnFailureTopic is the topic of a kafka:// on-failure destination, "" when there is none.
func (m *EventSourceMapping) OnFailureTopic() string {
	if d := m.DestinationConfig; d != nil && d.OnFailure != nil {
		if t, ok := strings.CutPrefix(d.OnFailure.Destination, "kafka://"); ok {
			return t
		}
	}
	return ""
}

// RetryLimit is the effective MaximumRetryAttempts: retries after the first attempt, -1 for
// no limit. Unset means -1; -1 with an on-failure destination means 10.
func (m *EventSourceMapping) RetryLimit() int {
	n := -1
	if m.MaximumRetryAttempts != nil {
		n = *m.MaximumRetryAttempts
	}
	if n < 0 && m.OnFailureTopic() != "" {
		n = DefaultRetriesWithDestination
	}
	return n
}

// MaxRecordAge is MaximumRecordAgeInSeconds as a duration, 0 when records never expire.
func (m *EventSourceMapping) MaxRecordAge() time.Duration {
	if v := m.MaximumRecordAgeInSeconds; v != nil && *v > 0 {
		return time.Duration(*v) * time.Second
	}
	return 0
}

// Bisect reports BisectBatchOnFunctionError.
func (m *EventSourceMapping) Bisect() bool {
	return m.BisectBatchOnFunctionError != nil && *m.BisectBatchOnFunctionError
}

// ReportsBatchItemFailures reports whether the function answers with partial batch responses.
func (m *EventSourceMapping) ReportsBatchItemFailures() bool {
	for _, t := range m.FunctionResponseTypes {
		if t == ResponseTypeReportBatchItemFailures {
			return true
		}
	}
	return false
}

// FilterPatterns are the FilterCriteria patterns, nil when there are none.
func (m *EventSourceMapping) FilterPatterns() []string {
	if m.FilterCriteria == nil {
		return nil
	}
	ps := make([]string, 0, len(m.FilterCriteria.Filters))
	for _, f := range m.FilterCriteria.Filters {
		ps = append(ps, f.Pattern)
	}
	return ps
}
