package mapping

import (
	"encoding/json"
	"time"
)

// Defaults and limits for self-managed Kafka, as Lambda.
const (
	DefaultBatchSize    = 100
	MaxBatchSize        = 10000
	MaxBatchingWindow   = 300 // seconds
	MaxFilters          = 5
	MaxFilterPattern    = 4096
	MaxRetryAttempts    = 10000
	MinRecordAge        = 60
	MaxRecordAge        = 604800
	MaxMinimumPollers   = 200
	MaxMaximumPollers   = 2000
	MaxSourceAccessConf = 22
	MaxBootstrapServers = 10
)

// CreateInput is CreateEventSourceMappingRequest as decoded from the wire. Pointers tell an
// omitted member from a zero one. Members of other event sources are kept as raw JSON only to
// reject them.
type CreateInput struct {
	FunctionName                      *string                            `json:"FunctionName"`
	EventSourceArn                    *string                            `json:"EventSourceArn"`
	SelfManagedEventSource            *SelfManagedEventSource            `json:"SelfManagedEventSource"`
	Topics                            []string                           `json:"Topics"`
	SourceAccessConfigurations        []SourceAccessConfiguration        `json:"SourceAccessConfigurations"`
	StartingPosition                  *string                            `json:"StartingPosition"`
	StartingPositionTimestamp         *EpochTime                         `json:"StartingPositionTimestamp"`
	SelfManagedKafkaEventSourceConfig *SelfManagedKafkaEventSourceConfig `json:"SelfManagedKafkaEventSourceConfig"`
	Enabled                           *bool                              `json:"Enabled"`
	Tags                              map[string]string                  `json:"Tags"`
	Common

	// Members of other event sources: rejected for self-managed Kafka.
	AmazonManagedKafkaEventSourceConfig json.RawMessage `json:"AmazonManagedKafkaEventSourceConfig"`
	Queues                              json.RawMessage `json:"Queues"`
	DocumentDBEventSourceConfig         json.RawMessage `json:"DocumentDBEventSourceConfig"`
}

// Common holds the members Create and Update share.
type Common struct {
	BatchSize                      *int                     `json:"BatchSize"`
	MaximumBatchingWindowInSeconds *int                     `json:"MaximumBatchingWindowInSeconds"`
	FilterCriteria                 *FilterCriteria          `json:"FilterCriteria"`
	KMSKeyArn                      *string                  `json:"KMSKeyArn"`
	DestinationConfig              *DestinationConfig       `json:"DestinationConfig"`
	MaximumRetryAttempts           *int                     `json:"MaximumRetryAttempts"`
	MaximumRecordAgeInSeconds      *int                     `json:"MaximumRecordAgeInSeconds"`
	BisectBatchOnFunctionError     *bool                    `json:"BisectBatchOnFunctionError"`
	FunctionResponseTypes          []string                 `json:"FunctionResponseTypes"`
	ProvisionedPollerConfig        *ProvisionedPollerConfig `json:"ProvisionedPollerConfig"`
	MetricsConfig                  *MetricsConfig           `json:"MetricsConfig"`
	LoggingConfig                  *LoggingConfig           `json:"LoggingConfig"`

	// Members of other event sources: rejected for self-managed Kafka.
	ParallelizationFactor   json.RawMessage `json:"ParallelizationFactor"`
	TumblingWindowInSeconds json.RawMessage `json:"TumblingWindowInSeconds"`
	ScalingConfig           json.RawMessage `json:"ScalingConfig"`
}

// UpdateInput is UpdateEventSourceMappingRequest. Create-only members (Topics,
// SelfManagedEventSource, StartingPosition, …) are not part of it: AWS's model has no such
// members, so like AWS we ignore them when a raw request sends them.
type UpdateInput struct {
	FunctionName                      *string                            `json:"FunctionName"`
	Enabled                           *bool                              `json:"Enabled"`
	SourceAccessConfigurations        []SourceAccessConfiguration        `json:"SourceAccessConfigurations"`
	SelfManagedKafkaEventSourceConfig *SelfManagedKafkaEventSourceConfig `json:"SelfManagedKafkaEventSourceConfig"`
	Common

	AmazonManagedKafkaEventSourceConfig json.RawMessage `json:"AmazonManagedKafkaEventSourceConfig"`
	DocumentDBEventSourceConfig         json.RawMessage `json:"DocumentDBEventSourceConfig"`
}

// Identity is what the API assigns to a new mapping.
type Identity struct {
	UUID        string
	Arn         string // arn:aws:lambda:REGION:ACCT:event-source-mapping:UUID
	FunctionArn string // resolved, qualifier kept
	Now         time.Time
}

// unsupported returns the name of the first member of another event source type that is set.
func (c *Common) unsupported() string {
	switch {
	case c.ParallelizationFactor != nil:
		return "parallelizationFactor"
	case c.TumblingWindowInSeconds != nil:
		return "tumblingWindowInSeconds"
	case c.ScalingConfig != nil:
		return "scalingConfig"
	}
	return ""
}

func isNullOrAbsent(r json.RawMessage) bool { return r == nil || string(r) == "null" }

// apply copies the set members of c onto m. Empty objects clear optional configurations.
func (c *Common) apply(m *EventSourceMapping) {
	if c.BatchSize != nil {
		m.BatchSize = *c.BatchSize
	}
	if c.MaximumBatchingWindowInSeconds != nil {
		m.MaximumBatchingWindowInSeconds = ptr(*c.MaximumBatchingWindowInSeconds)
	}
	if c.FilterCriteria != nil {
		if len(c.FilterCriteria.Filters) == 0 {
			m.FilterCriteria = nil
		} else {
			m.FilterCriteria = &FilterCriteria{Filters: append([]Filter(nil), c.FilterCriteria.Filters...)}
		}
	}
	if c.KMSKeyArn != nil {
		m.KMSKeyArn = *c.KMSKeyArn
	}
	if c.DestinationConfig != nil {
		d := *c.DestinationConfig
		if (d.OnFailure == nil || d.OnFailure.Destination == "") && d.OnSuccess == nil {
			m.DestinationConfig = nil
		} else {
			m.DestinationConfig = &d
		}
	}
	if c.MaximumRetryAttempts != nil {
		m.MaximumRetryAttempts = ptr(*c.MaximumRetryAttempts)
	}
	if c.MaximumRecordAgeInSeconds != nil {
		m.MaximumRecordAgeInSeconds = ptr(*c.MaximumRecordAgeInSeconds)
	}
	if c.BisectBatchOnFunctionError != nil {
		m.BisectBatchOnFunctionError = ptr(*c.BisectBatchOnFunctionError)
	}
	if c.FunctionResponseTypes != nil {
		m.FunctionResponseTypes = append([]string{}, c.FunctionResponseTypes...)
	}
	if c.ProvisionedPollerConfig != nil {
		p := *c.ProvisionedPollerConfig
		m.ProvisionedPollerConfig = &p
	}
	if c.MetricsConfig != nil {
		m.MetricsConfig = &MetricsConfig{Metrics: append([]string{}, c.MetricsConfig.Metrics...)}
	}
	if c.LoggingConfig != nil {
		l := *c.LoggingConfig
		m.LoggingConfig = &l
	}
}

func ptr[T any](v T) *T { return &v }
