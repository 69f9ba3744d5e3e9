package mapping

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/filter"
)

// Error is a request the API must reject. Validation errors are the framework's
// ValidationException (enum and pattern constraints of AWS's model); the others are
// InvalidParameterValueException, as Lambda answers them.
type Error struct {
	Validation bool
	Message    string
}

func (e *Error) Error() string { return e.Message }

func invalid(format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

// Enum value sets, in the order AWS prints them.
var (
	startingPositions  = []string{"LATEST", "AT_TIMESTAMP", "TRIM_HORIZON"}
	sourceAccessTypes  = []string{"BASIC_AUTH", "VPC_SUBNET", "VPC_SECURITY_GROUP", "SASL_SCRAM_512_AUTH", "SASL_SCRAM_256_AUTH", "VIRTUAL_HOST", "CLIENT_CERTIFICATE_TLS_AUTH", "SERVER_ROOT_CA_CERTIFICATE", "OAUTHBEARER_AUTH", "OAUTHBEARER_SCOPE", "OAUTHBEARER_AUDIENCE", "OAUTHBEARER_LOGICAL_CLUSTER", "OAUTHBEARER_IDENTITY_POOL", "IAM_AUTH", "IAM_OAUTHBEARER_AUTH"}
	responseTypes      = []string{"ReportBatchItemFailures"}
	metricNames        = []string{"EventCount", "ErrorCount", "KafkaMetrics"}
	systemLogLevels    = []string{"DEBUG", "INFO", "WARN"}
	consumptionModes   = []string{"Stream", "Queue"}
	recordFormats      = []string{"JSON", "SOURCE"}
	registryAuthTypes  = []string{"BASIC_AUTH", "CLIENT_CERTIFICATE_TLS_AUTH", "SERVER_ROOT_CA_CERTIFICATE", "OAUTHBEARER_AUTH"}
	validationAttrs    = []string{"KEY", "VALUE"}
	endpointTypes      = []string{"KAFKA_BOOTSTRAP_SERVERS"}
	bootstrapServerRE  = regexp.MustCompile(`^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9]):[0-9]{1,5}$`)
	topicRE            = regexp.MustCompile(`^[^.]([a-zA-Z0-9\-_.]+)$`)
	uriRE              = regexp.MustCompile(`^[a-zA-Z0-9-\/*:_+=.@-]*$`)
	kmsKeyRE           = regexp.MustCompile(`^(?:(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|())$`)
	kafkaDestinationRE = regexp.MustCompile(`^kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))$`)
)

// Kafka SASL mechanisms: at most one per mapping.
var saslTypes = []string{"BASIC_AUTH", "SASL_SCRAM_256_AUTH", "SASL_SCRAM_512_AUTH", "OAUTHBEARER_AUTH", "IAM_AUTH", "IAM_OAUTHBEARER_AUTH"}

// framework collects model-constraint violations so they can be reported together, in
// AWS's "N validation errors detected: …; …" form.
type framework []string

func (f *framework) enum(path, v string, set []string) {
	if !slices.Contains(set, v) {
		*f = append(*f, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", v, path, strings.Join(set, ", ")))
	}
}

func (f *framework) enumList(path string, vs []string, set []string) {
	for _, v := range vs {
		if !slices.Contains(set, v) {
			*f = append(*f, fmt.Sprintf("Value '[%s]' at '%s' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [%s]]", strings.Join(vs, ", "), path, strings.Join(set, ", ")))
			return
		}
	}
}

func (f *framework) pattern(path, v string, re *regexp.Regexp) {
	if !re.MatchString(v) {
		*f = append(*f, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", v, path, re.String()))
	}
}

func (f framework) err() error {
	if len(f) == 0 {
		return nil
	}
	noun := "error"
	if len(f) > 1 {
		noun = "errors"
	}
	return &Error{Validation: true, Message: fmt.Sprintf("%d validation %s detected: %s", len(f), noun, strings.Join(f, "; "))}
}

// rangeErr is the message Lambda gives for a member outside its range.
func rangeErr(member string, v int, cmp string, bound int) *Error {
	word := "greater than or equal to"
	if cmp == "<=" {
		word = "less than or equal to"
	}
	return invalid("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value %s %d", v, member, word, bound)
}

func checkRange(member string, v, lo, hi int) error {
	if v < lo {
		return rangeErr(member, v, ">=", lo)
	}
	if v > hi {
		return rangeErr(member, v, "<=", hi)
	}
	return nil
}

// checkFramework runs the enum and pattern constraints of AWS's model over m.
func checkFramework(m *EventSourceMapping) error {
	var f framework
	if m.StartingPosition != "" {
		f.enum("startingPosition", m.StartingPosition, startingPositions)
	}
	for i, c := range m.SourceAccessConfigurations {
		f.enum(fmt.Sprintf("sourceAccessConfigurations.%d.member.type", i+1), c.Type, sourceAccessTypes)
		f.pattern(fmt.Sprintf("sourceAccessConfigurations.%d.member.uRI", i+1), c.URI, uriRE)
	}
	if src := m.SelfManagedEventSource; src != nil {
		for k := range src.Endpoints {
			f.enum("selfManagedEventSource.endpoints", k, endpointTypes)
		}
	}
	for _, t := range m.Topics {
		f.pattern("topics.member", t, topicRE)
	}
	f.enumList("functionResponseTypes", m.FunctionResponseTypes, responseTypes)
	if m.MetricsConfig != nil {
		f.enumList("metricsConfig.metrics", m.MetricsConfig.Metrics, metricNames)
	}
	if m.LoggingConfig != nil && m.LoggingConfig.SystemLogLevel != "" {
		f.enum("loggingConfig.systemLogLevel", m.LoggingConfig.SystemLogLevel, systemLogLevels)
	}
	if c := m.SelfManagedKafkaEventSourceConfig; c != nil {
		if c.ConsumptionMode != "" {
			f.enum("selfManagedKafkaEventSourceConfig.consumptionMode", c.ConsumptionMode, consumptionModes)
		}
		if c.ConsumerGroupId != "" {
			f.pattern("selfManagedKafkaEventSourceConfig.consumerGroupId", c.ConsumerGroupId, uriRE)
		}
		if r := c.SchemaRegistryConfig; r != nil {
			if r.EventRecordFormat != "" {
				f.enum("selfManagedKafkaEventSourceConfig.schemaRegistryConfig.eventRecordFormat", r.EventRecordFormat, recordFormats)
			}
			for i, a := range r.AccessConfigs {
				f.enum(fmt.Sprintf("selfManagedKafkaEventSourceConfig.schemaRegistryConfig.accessConfigs.%d.member.type", i+1), a.Type, registryAuthTypes)
			}
			for i, a := range r.SchemaValidationConfigs {
				f.enum(fmt.Sprintf("selfManagedKafkaEventSourceConfig.schemaRegistryConfig.schemaValidationConfigs.%d.member.attribute", i+1), a.Attribute, validationAttrs)
			}
		}
	}
	if m.KMSKeyArn != "" {
		if !kmsKeyRE.MatchString(m.KMSKeyArn) {
			f = append(f, fmt.Sprintf("Value '%s' at 'kMSKeyArn' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()", m.KMSKeyArn))
		}
	}
	return f.err()
}

// Validate checks a whole mapping against Lambda's rules for self-managed Kafka. It is run
// on the result of Create and of every Update, so both enforce the same rules.
func (m *EventSourceMapping) Validate() error {
	if err := checkFramework(m); err != nil {
		return err
	}
	if m.SelfManagedEventSource == nil {
		return invalid("Unrecognized event source.")
	}
	servers := m.BootstrapServers()
	if len(servers) == 0 {
		return invalid("Required 'selfManagedEventSource.endpoints.KAFKA_BOOTSTRAP_SERVERS' parameter is missing.")
	}
	if len(servers) > MaxBootstrapServers {
		return invalid("1 validation error detected: Value at 'selfManagedEventSource.endpoints.KAFKA_BOOTSTRAP_SERVERS' failed to satisfy constraint: Member must have length less than or equal to %d", MaxBootstrapServers)
	}
	for _, s := range servers {
		if len(s) > 300 || !bootstrapServerRE.MatchString(s) {
			return invalid("Invalid bootstrap server '%s': expected host:port.", s)
		}
	}
	if len(m.Topics) == 0 {
		return invalid("Required 'topics' parameter is missing.")
	}
	if len(m.Topics) > 1 {
		return invalid("1 validation error detected: Value '[%s]' at 'topics' failed to satisfy constraint: Member must have length less than or equal to 1", strings.Join(m.Topics, ", "))
	}
	if len(m.Topics[0]) > 249 {
		return invalid("1 validation error detected: Value at 'topics.member' failed to satisfy constraint: Member must have length less than or equal to 249")
	}
	if err := validateAccess(m.SourceAccessConfigurations); err != nil {
		return err
	}
	if err := validateStart(m); err != nil {
		return err
	}
	if err := checkRange("batchSize", m.BatchSize, 1, MaxBatchSize); err != nil {
		return err
	}
	if w := m.MaximumBatchingWindowInSeconds; w != nil {
		if err := checkRange("maximumBatchingWindowInSeconds", *w, 0, MaxBatchingWindow); err != nil {
			return err
		}
	}
	if err := validateFilters(m.FilterCriteria); err != nil {
		return err
	}
	if err := validateDestination(m); err != nil {
		return err
	}
	if v := m.MaximumRetryAttempts; v != nil {
		if err := checkRange("maximumRetryAttempts", *v, -1, MaxRetryAttempts); err != nil {
			return err
		}
	}
	if v := m.MaximumRecordAgeInSeconds; v != nil {
		if err := checkRange("maximumRecordAgeInSeconds", *v, -1, MaxRecordAge); err != nil {
			return err
		}
		if *v != -1 && *v < MinRecordAge {
			return invalid("MaximumRecordAgeInSeconds must be either -1 (forever) or between %d and %d (inclusive)", MinRecordAge, MaxRecordAge)
		}
	}
	if len(m.FunctionResponseTypes) > 1 {
		return invalid("1 validation error detected: Value at 'functionResponseTypes' failed to satisfy constraint: Member must have length less than or equal to 1")
	}
	if err := validatePollers(m.ProvisionedPollerConfig); err != nil {
		return err
	}
	if mc := m.MetricsConfig; mc != nil {
		if len(mc.Metrics) > 3 {
			return invalid("1 validation error detected: Value at 'metricsConfig.metrics' failed to satisfy constraint: Member must have length less than or equal to 3")
		}
		for i, a := range mc.Metrics {
			if slices.Contains(mc.Metrics[:i], a) {
				return invalid("Duplicate metric '%s' in MetricsConfig.", a)
			}
		}
	}
	return validateKafkaConfig(m.SelfManagedKafkaEventSourceConfig)
}

// validateAccess checks SourceAccessConfigurations. None at all is valid: the seed's parameter
// table makes the member optional and a mapping without it connects over PLAINTEXT without
// credentials. AWS itself demands VPC entries for such a cluster; that is a deliberate
// difference (docs/api.md), and VPC entries are still accepted (and ignored).
func validateAccess(cs []SourceAccessConfiguration) error {
	if len(cs) == 0 {
		return nil
	}
	if len(cs) > MaxSourceAccessConf {
		return invalid("1 validation error detected: Value at 'sourceAccessConfigurations' failed to satisfy constraint: Member must have length less than or equal to %d", MaxSourceAccessConf)
	}
	count := map[string]int{}
	var sasl []string
	for _, c := range cs {
		count[c.Type]++
		if slices.Contains(saslTypes, c.Type) {
			sasl = append(sasl, c.Type)
		}
		switch c.Type {
		case "VIRTUAL_HOST":
			return invalid("Unsupported SourceAccessConfiguration type VIRTUAL_HOST for self-managed Apache Kafka.")
		case "IAM_AUTH", "IAM_OAUTHBEARER_AUTH":
			if c.URI != "" {
				return invalid("SourceAccessConfiguration type %s does not take a URI.", c.Type)
			}
			return invalid("SourceAccessConfiguration type %s is not supported by kafkaesm.", c.Type)
		default:
			if c.URI == "" {
				return invalid("1 validation error detected: Value null at 'sourceAccessConfigurations.member.uRI' failed to satisfy constraint: Member must not be null.")
			}
			if len(c.URI) > 200 {
				return invalid("1 validation error detected: Value at 'sourceAccessConfigurations.member.uRI' failed to satisfy constraint: Member must have length less than or equal to 200")
			}
		}
	}
	if len(sasl) > 1 {
		return invalid("Only one SASL authentication type is allowed, got %s.", strings.Join(sasl, ", "))
	}
	for t, n := range count {
		if n > 1 && t != "VPC_SUBNET" && t != "VPC_SECURITY_GROUP" {
			return invalid("Duplicate SourceAccessConfiguration type %s.", t)
		}
	}
	if count["CLIENT_CERTIFICATE_TLS_AUTH"] > 0 && len(sasl) > 0 {
		return invalid("CLIENT_CERTIFICATE_TLS_AUTH cannot be combined with a SASL authentication type (%s).", sasl[0])
	}
	for _, t := range []string{"OAUTHBEARER_SCOPE", "OAUTHBEARER_LOGICAL_CLUSTER", "OAUTHBEARER_IDENTITY_POOL", "OAUTHBEARER_AUDIENCE"} {
		if count[t] > 0 && count["OAUTHBEARER_AUTH"] == 0 {
			return invalid("SourceAccessConfiguration type %s requires OAUTHBEARER_AUTH.", t)
		}
	}
	if count["OAUTHBEARER_AUTH"] > 0 {
		return invalid("SourceAccessConfiguration type OAUTHBEARER_AUTH is not supported by kafkaesm.")
	}
	return nil
}

func validateStart(m *EventSourceMapping) error {
	ts := m.StartingPositionTimestamp
	if ts != nil && m.StartingPosition != "AT_TIMESTAMP" {
		return invalid("Timestamp only valid with StartingPosition AT_TIMESTAMP")
	}
	if m.StartingPosition == "AT_TIMESTAMP" {
		if ts == nil {
			return invalid("StartingPositionTimestamp is required with StartingPosition AT_TIMESTAMP")
		}
		if ts.After(time.Now().Add(time.Minute)) {
			return invalid("StartingPositionTimestamp cannot be in the future")
		}
	}
	return nil
}

func validateFilters(fc *FilterCriteria) error {
	if fc == nil {
		return nil
	}
	if len(fc.Filters) > MaxFilters {
		return invalid("The number of filters (%d) exceeds the limit of %d per event source mapping.", len(fc.Filters), MaxFilters)
	}
	for _, f := range fc.Filters {
		if len(f.Pattern) > MaxFilterPattern {
			return invalid("1 validation error detected: Value at 'filterCriteria.filters.member.pattern' failed to satisfy constraint: Member must have length less than or equal to %d", MaxFilterPattern)
		}
		if err := filter.Validate(f.Pattern); err != nil {
			return invalid("Invalid filter pattern definition.")
		}
	}
	return nil
}

func validateDestination(m *EventSourceMapping) error {
	d := m.DestinationConfig
	if d == nil {
		return nil
	}
	if d.OnSuccess != nil {
		return invalid("Unsupported DestinationConfig parameter for given event source mapping type.")
	}
	if d.OnFailure == nil || d.OnFailure.Destination == "" {
		return nil
	}
	dest := d.OnFailure.Destination
	if len(dest) > 350 {
		return invalid("1 validation error detected: Value at 'destinationConfig.onFailure.destination' failed to satisfy constraint: Member must have length less than or equal to 350")
	}
	sub := kafkaDestinationRE.FindStringSubmatch(dest)
	if sub == nil {
		return invalid("Unsupported on-failure destination '%s': kafkaesm supports kafka://<topic> destinations only.", dest)
	}
	if slices.Contains(m.Topics, sub[1]) {
		return invalid("The on-failure destination topic '%s' must be different from the source topic.", sub[1])
	}
	return nil
}

func validatePollers(p *ProvisionedPollerConfig) error {
	if p == nil {
		return nil
	}
	if p.MinimumPollers != nil {
		if err := checkRange("provisionedPollerConfig.minimumPollers", *p.MinimumPollers, 1, MaxMinimumPollers); err != nil {
			return err
		}
	}
	if p.MaximumPollers != nil {
		if err := checkRange("provisionedPollerConfig.maximumPollers", *p.MaximumPollers, 1, MaxMaximumPollers); err != nil {
			return err
		}
	}
	if p.MinimumPollers != nil && p.MaximumPollers != nil && *p.MaximumPollers < *p.MinimumPollers {
		return invalid("MaximumPollers (%d) must be greater than or equal to MinimumPollers (%d).", *p.MaximumPollers, *p.MinimumPollers)
	}
	if len(p.PollerGroupName) > 128 {
		return invalid("1 validation error detected: Value at 'provisionedPollerConfig.pollerGroupName' failed to satisfy constraint: Member must have length less than or equal to 128")
	}
	return nil
}

func validateKafkaConfig(c *SelfManagedKafkaEventSourceConfig) error {
	if c == nil {
		return nil
	}
	if len(c.ConsumerGroupId) > 200 {
		return invalid("1 validation error detected: Value at 'selfManagedKafkaEventSourceConfig.consumerGroupId' failed to satisfy constraint: Member must have length less than or equal to 200")
	}
	if c.ConsumptionMode == "Queue" {
		return invalid("ConsumptionMode Queue is not supported by kafkaesm.")
	}
	if r := c.SchemaRegistryConfig; r != nil {
		if r.SchemaRegistryURI == "" {
			return invalid("Required 'schemaRegistryConfig.schemaRegistryURI' parameter is missing.")
		}
		if len(r.SchemaRegistryURI) > 10000 {
			return invalid("1 validation error detected: Value at 'schemaRegistryConfig.schemaRegistryURI' failed to satisfy constraint: Member must have length less than or equal to 10000")
		}
	}
	return nil
}

// New builds a mapping from a create request: defaults as Lambda echoes them, then Validate.
// FunctionName resolution and duplicate checks are the caller's (they need the store).
func New(in *CreateInput, id Identity) (*EventSourceMapping, error) {
	if name := in.unsupported(); name != "" {
		return nil, invalid("Unsupported '%s' parameter for given event source mapping type.", name)
	}
	if in.SelfManagedEventSource == nil && in.EventSourceArn != nil && *in.EventSourceArn != "" {
		return nil, invalid("Unsupported event source: kafkaesm supports SelfManagedEventSource (self-managed Apache Kafka) only.")
	}
	m := &EventSourceMapping{
		UUID:                       id.UUID,
		EventSourceMappingArn:      id.Arn,
		FunctionArn:                id.FunctionArn,
		State:                      StateCreating,
		StateTransitionReason:      ReasonUserInitiated,
		LastModified:               EpochTime{id.Now.Truncate(time.Millisecond).UTC()},
		LastProcessingResult:       ResultNoRecordsProcessed,
		SelfManagedEventSource:     in.SelfManagedEventSource,
		Topics:                     in.Topics,
		SourceAccessConfigurations: in.SourceAccessConfigurations,
		StartingPosition:           "TRIM_HORIZON",
		StartingPositionTimestamp:  in.StartingPositionTimestamp,
		BatchSize:                  DefaultBatchSize,
		Enabled:                    true,
		Revision:                   1,
	}
	if in.StartingPosition != nil {
		m.StartingPosition = *in.StartingPosition
	}
	if in.Enabled != nil {
		m.Enabled = *in.Enabled
	}
	in.Common.apply(m)
	c := SelfManagedKafkaEventSourceConfig{}
	if in.SelfManagedKafkaEventSourceConfig != nil {
		c = *in.SelfManagedKafkaEventSourceConfig
	}
	if c.ConsumerGroupId == "" {
		c.ConsumerGroupId = id.UUID // echoed by AWS
	}
	m.SelfManagedKafkaEventSourceConfig = &c
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func (in *CreateInput) unsupported() string {
	switch {
	case !isNullOrAbsent(in.AmazonManagedKafkaEventSourceConfig):
		return "amazonManagedKafkaEventSourceConfig"
	case !isNullOrAbsent(in.Queues):
		return "queues"
	case !isNullOrAbsent(in.DocumentDBEventSourceConfig):
		return "documentDBEventSourceConfig"
	}
	return in.Common.unsupported()
}

// ApplyUpdate changes m as an UpdateEventSourceMapping request asks, moves it to its
// transitional state and validates the result. functionArn is the resolved FunctionName
// ("" when the request does not change it). On error m may be partly changed: work on a copy.
func (m *EventSourceMapping) ApplyUpdate(in *UpdateInput, functionArn string, now time.Time) error {
	if err := m.CanUpdate(); err != nil {
		return err
	}
	switch {
	case !isNullOrAbsent(in.AmazonManagedKafkaEventSourceConfig):
		return invalid("Unsupported 'amazonManagedKafkaEventSourceConfig' parameter for given event source mapping type.")
	case !isNullOrAbsent(in.DocumentDBEventSourceConfig):
		return invalid("Unsupported 'documentDBEventSourceConfig' parameter for given event source mapping type.")
	}
	if name := in.Common.unsupported(); name != "" {
		return invalid("Unsupported '%s' parameter for given event source mapping type.", name)
	}
	wasEnabled := m.Enabled
	if functionArn != "" {
		m.FunctionArn = functionArn
	}
	if in.Enabled != nil {
		m.Enabled = *in.Enabled
	}
	if in.SourceAccessConfigurations != nil {
		m.SourceAccessConfigurations = in.SourceAccessConfigurations
	}
	if c := in.SelfManagedKafkaEventSourceConfig; c != nil {
		cur := m.SelfManagedKafkaEventSourceConfig
		if cur == nil {
			cur = &SelfManagedKafkaEventSourceConfig{ConsumerGroupId: m.UUID}
		}
		// ConsumerGroupId and ConsumptionMode cannot be updated (AWS API reference).
		if c.ConsumerGroupId != "" && c.ConsumerGroupId != cur.ConsumerGroupId {
			return invalid("ConsumerGroupId cannot be updated.")
		}
		if c.ConsumptionMode != "" && c.ConsumptionMode != cur.ConsumptionMode && !(cur.ConsumptionMode == "" && c.ConsumptionMode == "Stream") {
			return invalid("ConsumptionMode cannot be updated.")
		}
		next := *cur
		next.SchemaRegistryConfig = c.SchemaRegistryConfig
		m.SelfManagedKafkaEventSourceConfig = &next
	}
	in.Common.apply(m)
	if err := m.Validate(); err != nil {
		return err
	}
	m.State = transitionState(wasEnabled, m.Enabled)
	m.StateTransitionReason = ReasonUserInitiated
	m.LastModified = EpochTime{now.Truncate(time.Millisecond).UTC()}
	m.Revision++
	return nil
}

// Clone returns a deep copy (through JSON plus the non-wire fields).
func (m *EventSourceMapping) Clone() *EventSourceMapping {
	b, err := json.Marshal(m)
	if err != nil {
		panic("mapping: marshal: " + err.Error()) // only plain data types: cannot fail
	}
	c := new(EventSourceMapping)
	if err := json.Unmarshal(b, c); err != nil {
		panic("mapping: unmarshal: " + err.Error())
	}
	c.Enabled, c.Revision = m.Enabled, m.Revision
	if m.Tags != nil {
		c.Tags = make(map[string]string, len(m.Tags))
		for k, v := range m.Tags {
			c.Tags[k] = v
		}
	}
	return c
}
