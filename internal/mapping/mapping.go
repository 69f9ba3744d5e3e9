// Package mapping owns the EventSourceMapping model: its fields as Lambda's API names them,
// defaults, validation and the state machine. It does no I/O: the store persists mappings, the
// API decodes and encodes them, the poller runs them.
package mapping

import "time"

// States, as Lambda reports them in EventSourceMappingConfiguration.State.
const (
	StateCreating  = "Creating"
	StateEnabling  = "Enabling"
	StateEnabled   = "Enabled"
	StateDisabling = "Disabling"
	StateDisabled  = "Disabled"
	StateUpdating  = "Updating"
	StateDeleting  = "Deleting"
)

// StateTransitionReason values.
const (
	ReasonUserInitiated      = "USER_INITIATED"
	ReasonConfigNotValid     = "ESM_CONFIG_NOT_VALID"
	ReasonAuthnError         = "EVENT_SOURCE_AUTHN_ERROR"
	ReasonAuthzError         = "EVENT_SOURCE_AUTHZ_ERROR"
	ReasonFunctionConfigBad  = "FUNCTION_CONFIG_NOT_VALID"
	ResultNoRecordsProcessed = "No records processed"
	ResultOK                 = "OK"
	ResultFunctionCallFailed = "PROBLEM: Function call failed"
)

// EventSourceMapping is one Kafka trigger. JSON names are Lambda's wire names
// (EventSourceMappingConfiguration), so the type can be encoded straight into API responses.
// Pointer fields are optional members that AWS omits from responses when unset.
type EventSourceMapping struct {
	UUID                              string                             `json:"UUID"`
	EventSourceMappingArn             string                             `json:"EventSourceMappingArn,omitempty"`
	FunctionArn                       string                             `json:"FunctionArn"`
	State                             string                             `json:"State"`
	StateTransitionReason             string                             `json:"StateTransitionReason"`
	LastModified                      EpochTime                          `json:"LastModified"`
	LastProcessingResult              string                             `json:"LastProcessingResult"`
	SelfManagedEventSource            *SelfManagedEventSource            `json:"SelfManagedEventSource,omitempty"`
	Topics                            []string                           `json:"Topics,omitempty"`
	SourceAccessConfigurations        []SourceAccessConfiguration        `json:"SourceAccessConfigurations,omitempty"`
	StartingPosition                  string                             `json:"StartingPosition,omitempty"`
	StartingPositionTimestamp         *EpochTime                         `json:"StartingPositionTimestamp,omitempty"`
	SelfManagedKafkaEventSourceConfig *SelfManagedKafkaEventSourceConfig `json:"SelfManagedKafkaEventSourceConfig,omitempty"`
	BatchSize                         int                                `json:"BatchSize"`
	// MaximumBatchingWindowInSeconds is nil while at Kafka's 500 ms default, which AWS cannot
	// express in whole seconds and therefore omits.
	MaximumBatchingWindowInSeconds *int                     `json:"MaximumBatchingWindowInSeconds,omitempty"`
	FilterCriteria                 *FilterCriteria          `json:"FilterCriteria,omitempty"`
	KMSKeyArn                      string                   `json:"KMSKeyArn,omitempty"`
	DestinationConfig              *DestinationConfig       `json:"DestinationConfig,omitempty"`
	MaximumRetryAttempts           *int                     `json:"MaximumRetryAttempts,omitempty"`
	MaximumRecordAgeInSeconds      *int                     `json:"MaximumRecordAgeInSeconds,omitempty"`
	BisectBatchOnFunctionError     *bool                    `json:"BisectBatchOnFunctionError,omitempty"`
	FunctionResponseTypes          []string                 `json:"FunctionResponseTypes,omitempty"`
	ProvisionedPollerConfig        *ProvisionedPollerConfig `json:"ProvisionedPollerConfig,omitempty"`
	MetricsConfig                  *MetricsConfig           `json:"MetricsConfig,omitempty"`
	LoggingConfig                  *LoggingConfig           `json:"LoggingConfig,omitempty"`

	// KafkaesmLastProcessingCause is a kafkaesm extension member (AWS has none; SDKs and the AWS
	// CLI ignore unknown members): the underlying cause of the PROBLEM in LastProcessingResult,
	// which keeps Lambda's fixed text. It is the Kafka error code and message, the TLS or SASL
	// failure, or the function's errorType and errorMessage, on one line with secrets redacted;
	// absent while the result is not a problem.
	KafkaesmLastProcessingCause string `json:"KafkaesmLastProcessingCause,omitempty"`
	// KafkaesmCounts is a kafkaesm extension member: what this node's pollers did with the
	// mapping's records since they started it (absent when no poller runs it here). Filled in
	// by Get and List responses; never stored.
	KafkaesmCounts *Counts `json:"KafkaesmCounts,omitempty"`
	// KafkaesmPollers is a kafkaesm extension member: the effective poller count on this node
	// and why the scaler last changed it (absent when no poller runs the mapping here). Filled
	// in by Get and List responses; never stored.
	KafkaesmPollers *Pollers `json:"KafkaesmPollers,omitempty"`

	// Enabled is the user's wish; State is where the mapping is. Not a wire member.
	Enabled bool `json:"-"`
	// Revision counts user changes (create, update, delete requests). The reconciler only
	// settles a transitional state if the revision it acted on is still current. Not a wire member.
	Revision int64 `json:"-"`
	// Tags are returned by ListTags, never in the configuration.
	Tags map[string]string `json:"-"`
}

// BatchingWindow is the effective MaximumBatchingWindowInSeconds: 500 ms unless set.
func (m *EventSourceMapping) BatchingWindow() time.Duration {
	if m.MaximumBatchingWindowInSeconds == nil {
		return 500 * time.Millisecond
	}
	return time.Duration(*m.MaximumBatchingWindowInSeconds) * time.Second
}

// GroupID is the Kafka consumer group: ConsumerGroupId, or the UUID by default.
func (m *EventSourceMapping) GroupID() string {
	if c := m.SelfManagedKafkaEventSourceConfig; c != nil && c.ConsumerGroupId != "" {
		return c.ConsumerGroupId
	}
	return m.UUID
}

// BootstrapServers returns the KAFKA_BOOTSTRAP_SERVERS endpoints.
func (m *EventSourceMapping) BootstrapServers() []string {
	if m.SelfManagedEventSource == nil {
		return nil
	}
	return m.SelfManagedEventSource.Endpoints["KAFKA_BOOTSTRAP_SERVERS"]
}

type SelfManagedEventSource struct {
	Endpoints map[string][]string `json:"Endpoints"`
}

type SourceAccessConfiguration struct {
	Type string `json:"Type"`
	URI  string `json:"URI"`
}

type SelfManagedKafkaEventSourceConfig struct {
	ConsumerGroupId      string                     `json:"ConsumerGroupId,omitempty"`
	ConsumptionMode      string                     `json:"ConsumptionMode,omitempty"`
	SchemaRegistryConfig *KafkaSchemaRegistryConfig `json:"SchemaRegistryConfig,omitempty"`
}

type KafkaSchemaRegistryConfig struct {
	SchemaRegistryURI       string                      `json:"SchemaRegistryURI,omitempty"`
	EventRecordFormat       string                      `json:"EventRecordFormat,omitempty"`
	AccessConfigs           []SourceAccessConfiguration `json:"AccessConfigs,omitempty"`
	SchemaValidationConfigs []SchemaValidationConfig    `json:"SchemaValidationConfigs,omitempty"`
}

type SchemaValidationConfig struct {
	Attribute string `json:"Attribute,omitempty"`
}

type FilterCriteria struct {
	Filters []Filter `json:"Filters"`
}

type Filter struct {
	Pattern string `json:"Pattern,omitempty"`
}

type DestinationConfig struct {
	OnFailure *Destination `json:"OnFailure,omitempty"`
	OnSuccess *Destination `json:"OnSuccess,omitempty"`
}

type Destination struct {
	Destination string `json:"Destination,omitempty"`
}

type ProvisionedPollerConfig struct {
	MinimumPollers  *int   `json:"MinimumPollers,omitempty"`
	MaximumPollers  *int   `json:"MaximumPollers,omitempty"`
	PollerGroupName string `json:"PollerGroupName,omitempty"`
}

type MetricsConfig struct {
	Metrics []string `json:"Metrics"`
}

type LoggingConfig struct {
	SystemLogLevel string `json:"SystemLogLevel,omitempty"`
}
