package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func TestMappingLifecycle(t *testing.T) {
	runner := &heldRunner{}
	runner.held.Store(true)
	n := startServer(t, t.TempDir(), runner)
	c := n.client()
	ctx := testCtx(t)
	createFunction(t, c, "fn")
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("$LATEST")}); err != nil {
		t.Fatal(err)
	}

	in := kafkaInput("fn:live", "orders")
	created, err := c.CreateEventSourceMapping(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(created.UUID)
	// Defaults exactly as AWS echoes them.
	if got := aws.ToString(created.State); got != "Creating" {
		t.Errorf("State %q, want Creating", got)
	}
	if got := aws.ToString(created.StateTransitionReason); got != "USER_INITIATED" {
		t.Errorf("StateTransitionReason %q", got)
	}
	if got := aws.ToString(created.LastProcessingResult); got != "No records processed" {
		t.Errorf("LastProcessingResult %q", got)
	}
	if got := aws.ToInt32(created.BatchSize); got != 100 {
		t.Errorf("BatchSize %d, want 100", got)
	}
	if created.StartingPosition != types.EventSourcePositionTrimHorizon {
		t.Errorf("StartingPosition %q, want TRIM_HORIZON", created.StartingPosition)
	}
	if g := created.SelfManagedKafkaEventSourceConfig; g == nil || aws.ToString(g.ConsumerGroupId) != id {
		t.Errorf("ConsumerGroupId %+v, want the UUID %s", g, id)
	}
	if got, want := aws.ToString(created.FunctionArn), "arn:aws:lambda:us-east-1:000000000000:function:fn:live"; got != want {
		t.Errorf("FunctionArn %q, want %q (qualifier kept)", got, want)
	}
	if got, want := aws.ToString(created.EventSourceMappingArn), "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:"+id; got != want {
		t.Errorf("EventSourceMappingArn %q, want %q", got, want)
	}
	if created.LastModified == nil || time.Since(*created.LastModified) > time.Hour {
		t.Errorf("LastModified %v", created.LastModified)
	}
	if created.MaximumBatchingWindowInSeconds != nil || created.MaximumRetryAttempts != nil || created.DestinationConfig != nil {
		t.Errorf("unset members echoed: %+v", created)
	}

	// Update while Creating → ResourceInUseException.
	_, err = c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(id), BatchSize: aws.Int32(5)})
	wantErr(t, err, "ResourceInUseException", "in use", false)

	runner.held.Store(false)
	waitState(t, c, id, "Enabled")

	up, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(id), BatchSize: aws.Int32(500),
		MaximumBatchingWindowInSeconds: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.State) != "Updating" && aws.ToString(up.State) != "Enabled" {
		t.Errorf("update state %q", aws.ToString(up.State))
	}
	if aws.ToInt32(up.BatchSize) != 500 || aws.ToInt32(up.MaximumBatchingWindowInSeconds) != 2 {
		t.Errorf("update not applied: %+v", up)
	}
	waitState(t, c, id, "Enabled")

	runner.held.Store(true)
	up, err = c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(id), Enabled: aws.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.State) != "Disabling" {
		t.Errorf("disable: state %q, want Disabling", aws.ToString(up.State))
	}
	runner.held.Store(false)
	waitState(t, c, id, "Disabled")

	runner.held.Store(true)
	up, err = c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(id), Enabled: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.State) != "Enabling" {
		t.Errorf("enable: state %q, want Enabling", aws.ToString(up.State))
	}
	// Delete while Enabling is allowed; delete while Deleting is not.
	del, err := c.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(del.State) != "Deleting" {
		t.Errorf("delete: state %q, want Deleting", aws.ToString(del.State))
	}
	_, err = c.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: aws.String(id)})
	wantErr(t, err, "ResourceInUseException", "", false)
	_, err = c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(id), BatchSize: aws.Int32(1)})
	wantErr(t, err, "ResourceInUseException", "", false)
	runner.held.Store(false)
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		_, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(id)})
		if err == nil {
			return fmt.Errorf("mapping still exists")
		}
		return nil
	})
	_, err = c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(id)})
	wantErr(t, err, "ResourceNotFoundException", "The resource you requested does not exist.", true)
	_, err = c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(id), BatchSize: aws.Int32(1)})
	wantErr(t, err, "ResourceNotFoundException", "The resource you requested does not exist.", true)
	_, err = c.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: aws.String(id)})
	wantErr(t, err, "ResourceNotFoundException", "The resource you requested does not exist.", true)
	if runner.applied.Load() == 0 || runner.stopped.Load() == 0 {
		t.Errorf("runner not driven: applied %d stopped %d", runner.applied.Load(), runner.stopped.Load())
	}
}

func waitState(t *testing.T, c *lambda.Client, id, want string) {
	t.Helper()
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		m, err := c.GetEventSourceMapping(testCtx(t), &lambda.GetEventSourceMappingInput{UUID: aws.String(id)})
		if err != nil {
			return err
		}
		if got := aws.ToString(m.State); got != want {
			return fmt.Errorf("state %s, want %s", got, want)
		}
		return nil
	})
}

func TestMappingCreateStoresEverything(t *testing.T) {
	n := startServer(t, t.TempDir(), nil)
	c := n.client()
	ctx := testCtx(t)
	createFunction(t, c, "fn")
	in := kafkaInput("arn:aws:lambda:us-east-1:000000000000:function:fn", "payments")
	in.Enabled = aws.Bool(false)
	in.BatchSize = aws.Int32(10000)
	in.MaximumBatchingWindowInSeconds = aws.Int32(0)
	in.StartingPosition = types.EventSourcePositionAtTimestamp
	in.StartingPositionTimestamp = aws.Time(time.Unix(1700000000, 0))
	in.SelfManagedKafkaEventSourceConfig = &types.SelfManagedKafkaEventSourceConfig{
		ConsumerGroupId: aws.String("payments-group"),
		SchemaRegistryConfig: &types.KafkaSchemaRegistryConfig{
			SchemaRegistryURI: aws.String("https://registry.example.com"),
			EventRecordFormat: types.SchemaRegistryEventRecordFormatJson,
			AccessConfigs: []types.KafkaSchemaRegistryAccessConfig{{Type: types.KafkaSchemaRegistryAuthTypeBasicAuth,
				URI: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:reg")}},
			SchemaValidationConfigs: []types.KafkaSchemaValidationConfig{{Attribute: types.KafkaSchemaValidationAttributeValue}},
		},
	}
	in.FilterCriteria = &types.FilterCriteria{Filters: []types.Filter{{Pattern: aws.String(`{"value":{"kind":["a"]}}`)}}}
	in.DestinationConfig = &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String("kafka://payments-dlq")}}
	in.MaximumRetryAttempts = aws.Int32(3)
	in.MaximumRecordAgeInSeconds = aws.Int32(60)
	in.BisectBatchOnFunctionError = aws.Bool(true)
	in.FunctionResponseTypes = []types.FunctionResponseType{types.FunctionResponseTypeReportBatchItemFailures}
	in.ProvisionedPollerConfig = &types.ProvisionedPollerConfig{MinimumPollers: aws.Int32(1), MaximumPollers: aws.Int32(4)}
	in.MetricsConfig = &types.EventSourceMappingMetricsConfig{Metrics: []types.EventSourceMappingMetric{"EventCount", "KafkaMetrics"}}
	in.LoggingConfig = &types.EventSourceMappingLoggingConfig{SystemLogLevel: "WARN"}
	in.KMSKeyArn = aws.String("arn:aws:kms:us-east-1:000000000000:key/abc")
	in.SourceAccessConfigurations = append(in.SourceAccessConfigurations,
		types.SourceAccessConfiguration{Type: types.SourceAccessTypeServerRootCaCertificate, URI: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:ca")},
		types.SourceAccessConfiguration{Type: types.SourceAccessTypeVpcSubnet, URI: aws.String("subnet:subnet-1")},
		types.SourceAccessConfiguration{Type: types.SourceAccessTypeVpcSecurityGroup, URI: aws.String("security_group:sg-1")})
	in.Tags = map[string]string{"team": "payments"}
	out, err := c.CreateEventSourceMapping(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: out.UUID})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case aws.ToInt32(got.BatchSize) != 10000, aws.ToInt32(got.MaximumBatchingWindowInSeconds) != 0 || got.MaximumBatchingWindowInSeconds == nil,
		got.StartingPosition != types.EventSourcePositionAtTimestamp, !got.StartingPositionTimestamp.Equal(time.Unix(1700000000, 0)),
		aws.ToString(got.SelfManagedKafkaEventSourceConfig.ConsumerGroupId) != "payments-group",
		aws.ToString(got.SelfManagedKafkaEventSourceConfig.SchemaRegistryConfig.SchemaRegistryURI) != "https://registry.example.com",
		aws.ToString(got.FilterCriteria.Filters[0].Pattern) != `{"value":{"kind":["a"]}}`,
		aws.ToString(got.DestinationConfig.OnFailure.Destination) != "kafka://payments-dlq",
		aws.ToInt32(got.MaximumRetryAttempts) != 3, aws.ToInt32(got.MaximumRecordAgeInSeconds) != 60,
		!aws.ToBool(got.BisectBatchOnFunctionError), len(got.FunctionResponseTypes) != 1,
		aws.ToInt32(got.ProvisionedPollerConfig.MaximumPollers) != 4, len(got.MetricsConfig.Metrics) != 2,
		got.LoggingConfig.SystemLogLevel != "WARN", aws.ToString(got.KMSKeyArn) != "arn:aws:kms:us-east-1:000000000000:key/abc",
		len(got.SourceAccessConfigurations) != 4:
		t.Fatalf("not stored as sent: %+v", got)
	}
	waitState(t, c, aws.ToString(out.UUID), "Disabled")
	tags, err := c.ListTags(ctx, &lambda.ListTagsInput{Resource: out.EventSourceMappingArn})
	if err != nil || tags.Tags["team"] != "payments" {
		t.Fatalf("create-time tags: %v %v", tags, err)
	}
	// Update replaces updatable members; create-only ones stay.
	up, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: out.UUID,
		FilterCriteria:    &types.FilterCriteria{Filters: []types.Filter{}},
		DestinationConfig: &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String("")}},
		SourceAccessConfigurations: []types.SourceAccessConfiguration{
			{Type: types.SourceAccessTypeBasicAuth, URI: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:plain")}},
		SelfManagedKafkaEventSourceConfig: &types.SelfManagedKafkaEventSourceConfig{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.FilterCriteria != nil || up.DestinationConfig != nil || len(up.SourceAccessConfigurations) != 1 ||
		aws.ToString(up.SelfManagedKafkaEventSourceConfig.ConsumerGroupId) != "payments-group" || up.Topics[0] != "payments" ||
		up.SelfManagedKafkaEventSourceConfig.SchemaRegistryConfig != nil {
		t.Fatalf("update: %+v", up)
	}
}

func TestMappingValidation(t *testing.T) {
	n := startServer(t, t.TempDir(), nil)
	c := n.client()
	ctx := testCtx(t)
	createFunction(t, c, "fn")
	createFunction(t, c, "other")
	first, err := c.CreateEventSourceMapping(ctx, kafkaInput("fn", "taken"))
	if err != nil {
		t.Fatal(err)
	}
	grouped := kafkaInput("other", "grouped")
	grouped.SelfManagedKafkaEventSourceConfig = &types.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: aws.String("shared-group")}
	if _, err := c.CreateEventSourceMapping(ctx, grouped); err != nil {
		t.Fatal(err)
	}
	const ipv = "InvalidParameterValueException"
	tests := []struct {
		name  string
		edit  func(in *lambda.CreateEventSourceMappingInput)
		code  string
		msg   string
		exact bool
	}{
		{"no event source", func(in *lambda.CreateEventSourceMappingInput) { in.SelfManagedEventSource = nil }, ipv, "Unrecognized event source.", true},
		{"unknown function", func(in *lambda.CreateEventSourceMappingInput) { in.FunctionName = aws.String("nope") }, ipv, "Function does not exist", true},
		{"unknown function arn", func(in *lambda.CreateEventSourceMappingInput) {
			in.FunctionName = aws.String("arn:aws:lambda:us-east-1:000000000000:function:nope:1")
		}, ipv, "Function does not exist", true},
		{"function of another account", func(in *lambda.CreateEventSourceMappingInput) {
			in.FunctionName = aws.String("arn:aws:lambda:us-east-1:111111111111:function:fn")
		}, ipv, "Function does not exist", true},
		{"bad function name", func(in *lambda.CreateEventSourceMappingInput) { in.FunctionName = aws.String("bad name!") }, "ValidationException", "at 'functionName' failed to satisfy constraint", false},
		{"bad starting position", func(in *lambda.CreateEventSourceMappingInput) { in.StartingPosition = "invalid" }, "ValidationException",
			"1 validation error detected: Value 'invalid' at 'startingPosition' failed to satisfy constraint: Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]", true},
		{"timestamp without AT_TIMESTAMP", func(in *lambda.CreateEventSourceMappingInput) {
			in.StartingPosition = types.EventSourcePositionLatest
			in.StartingPositionTimestamp = aws.Time(time.Unix(1700000000, 0))
		}, ipv, "Timestamp only valid with StartingPosition AT_TIMESTAMP", true},
		{"AT_TIMESTAMP without timestamp", func(in *lambda.CreateEventSourceMappingInput) {
			in.StartingPosition = types.EventSourcePositionAtTimestamp
		}, ipv, "StartingPositionTimestamp", false},
		{"future timestamp", func(in *lambda.CreateEventSourceMappingInput) {
			in.StartingPosition = types.EventSourcePositionAtTimestamp
			in.StartingPositionTimestamp = aws.Time(time.Now().Add(time.Hour))
		}, ipv, "future", false},
		{"batch size 0", func(in *lambda.CreateEventSourceMappingInput) { in.BatchSize = aws.Int32(0) }, ipv,
			"1 validation error detected: Value '0' at 'batchSize' failed to satisfy constraint: Member must have value greater than or equal to 1", true},
		{"batch size 10001", func(in *lambda.CreateEventSourceMappingInput) { in.BatchSize = aws.Int32(10001) }, ipv, "less than or equal to 10000", false},
		{"batching window 301", func(in *lambda.CreateEventSourceMappingInput) { in.MaximumBatchingWindowInSeconds = aws.Int32(301) }, ipv, "maximumBatchingWindowInSeconds", false},
		{"two topics", func(in *lambda.CreateEventSourceMappingInput) { in.Topics = []string{"aa", "bb"} }, ipv, "at 'topics'", false},
		{"no topic", func(in *lambda.CreateEventSourceMappingInput) { in.Topics = nil }, ipv, "Required 'topics' parameter is missing.", true},
		{"bad topic", func(in *lambda.CreateEventSourceMappingInput) { in.Topics = []string{"a topic"} }, "ValidationException", "topics.member", false},
		{"bad bootstrap server", func(in *lambda.CreateEventSourceMappingInput) {
			in.SelfManagedEventSource.Endpoints["KAFKA_BOOTSTRAP_SERVERS"] = []string{"no-port"}
		}, ipv, "bootstrap server", false},
		{"bad endpoint key", func(in *lambda.CreateEventSourceMappingInput) {
			in.SelfManagedEventSource.Endpoints = map[string][]string{"SERVERS": {"a:1"}}
		}, "ValidationException", "selfManagedEventSource.endpoints", false},
		{"six filters", func(in *lambda.CreateEventSourceMappingInput) {
			for range 6 {
				in.FilterCriteria = addFilter(in.FilterCriteria, `{"value":[1]}`)
			}
		}, ipv, "filters", false},
		{"filter not JSON", func(in *lambda.CreateEventSourceMappingInput) { in.FilterCriteria = addFilter(nil, `{value`) }, ipv, "Invalid filter pattern definition.", true},
		{"filter too long", func(in *lambda.CreateEventSourceMappingInput) {
			in.FilterCriteria = addFilter(nil, `{"value":["`+string(make([]byte, 0))+fmt.Sprintf("%04100d", 0)+`"]}`)
		}, ipv, "4096", false},
		{"on-success destination", func(in *lambda.CreateEventSourceMappingInput) {
			in.DestinationConfig = &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: aws.String("kafka://ok")}}
		}, ipv, "Unsupported DestinationConfig parameter for given event source mapping type.", true},
		{"on-failure to source topic", func(in *lambda.CreateEventSourceMappingInput) {
			in.DestinationConfig = &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String("kafka://topic-t")}}
		}, ipv, "different from the source topic", false},
		{"on-failure to SQS", func(in *lambda.CreateEventSourceMappingInput) {
			in.DestinationConfig = &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String("arn:aws:sqs:us-east-1:000000000000:q")}}
		}, ipv, "kafka://", false},
		{"retry attempts -2", func(in *lambda.CreateEventSourceMappingInput) { in.MaximumRetryAttempts = aws.Int32(-2) }, ipv, "maximumRetryAttempts", false},
		{"retry attempts 10001", func(in *lambda.CreateEventSourceMappingInput) { in.MaximumRetryAttempts = aws.Int32(10001) }, ipv, "maximumRetryAttempts", false},
		{"record age 30", func(in *lambda.CreateEventSourceMappingInput) { in.MaximumRecordAgeInSeconds = aws.Int32(30) }, ipv, "MaximumRecordAgeInSeconds", false},
		{"record age 604801", func(in *lambda.CreateEventSourceMappingInput) { in.MaximumRecordAgeInSeconds = aws.Int32(604801) }, ipv, "maximumRecordAgeInSeconds", false},
		{"bad response type", func(in *lambda.CreateEventSourceMappingInput) {
			in.FunctionResponseTypes = []types.FunctionResponseType{"Nope"}
		}, "ValidationException", "functionResponseTypes", false},
		{"pollers max < min", func(in *lambda.CreateEventSourceMappingInput) {
			in.ProvisionedPollerConfig = &types.ProvisionedPollerConfig{MinimumPollers: aws.Int32(5), MaximumPollers: aws.Int32(2)}
		}, ipv, "MaximumPollers", false},
		{"pollers min 0", func(in *lambda.CreateEventSourceMappingInput) {
			in.ProvisionedPollerConfig = &types.ProvisionedPollerConfig{MinimumPollers: aws.Int32(0)}
		}, ipv, "minimumPollers", false},
		{"pollers max 2001", func(in *lambda.CreateEventSourceMappingInput) {
			in.ProvisionedPollerConfig = &types.ProvisionedPollerConfig{MaximumPollers: aws.Int32(2001)}
		}, ipv, "maximumPollers", false},
		{"bad metric", func(in *lambda.CreateEventSourceMappingInput) {
			in.MetricsConfig = &types.EventSourceMappingMetricsConfig{Metrics: []types.EventSourceMappingMetric{"Bogus"}}
		}, "ValidationException", "metricsConfig.metrics", false},
		{"bad log level", func(in *lambda.CreateEventSourceMappingInput) {
			in.LoggingConfig = &types.EventSourceMappingLoggingConfig{SystemLogLevel: "TRACE"}
		}, "ValidationException", "loggingConfig.systemLogLevel", false},
		{"bad access type", func(in *lambda.CreateEventSourceMappingInput) {
			in.SourceAccessConfigurations = []types.SourceAccessConfiguration{{Type: "KERBEROS", URI: aws.String("x")}}
		}, "ValidationException", "Value 'KERBEROS' at 'sourceAccessConfigurations.1.member.type' failed to satisfy constraint: Member must satisfy enum value set: [BASIC_AUTH,", false},
		{"two SASL types", func(in *lambda.CreateEventSourceMappingInput) {
			in.SourceAccessConfigurations = append(in.SourceAccessConfigurations,
				types.SourceAccessConfiguration{Type: types.SourceAccessTypeBasicAuth, URI: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:x")})
		}, ipv, "Only one SASL", false},
		{"access type without URI", func(in *lambda.CreateEventSourceMappingInput) {
			in.SourceAccessConfigurations = []types.SourceAccessConfiguration{{Type: types.SourceAccessTypeBasicAuth}}
		}, ipv, "uRI", false},
		{"OAUTHBEARER_SCOPE alone", func(in *lambda.CreateEventSourceMappingInput) {
			in.SourceAccessConfigurations = []types.SourceAccessConfiguration{{Type: types.SourceAccessTypeOauthbearerScope, URI: aws.String("scope")}}
		}, ipv, "requires OAUTHBEARER_AUTH", false},
		{"VIRTUAL_HOST", func(in *lambda.CreateEventSourceMappingInput) {
			in.SourceAccessConfigurations = []types.SourceAccessConfiguration{{Type: types.SourceAccessTypeVirtualHost, URI: aws.String("vh")}}
		}, ipv, "VIRTUAL_HOST", false},
		{"mTLS with SASL", func(in *lambda.CreateEventSourceMappingInput) {
			in.SourceAccessConfigurations = append(in.SourceAccessConfigurations,
				types.SourceAccessConfiguration{Type: types.SourceAccessTypeClientCertificateTlsAuth, URI: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:c")})
		}, ipv, "CLIENT_CERTIFICATE_TLS_AUTH", false},
		{"duplicate mapping", func(in *lambda.CreateEventSourceMappingInput) {
			in.Topics = []string{"taken"}
			in.SelfManagedEventSource.Endpoints["KAFKA_BOOTSTRAP_SERVERS"] = []string{"kafka2:9092", "kafka3:9092"}
		}, "ResourceConflictException", `An event source mapping with event source ("kafka2:9092,kafka3:9092"), function ("arn:aws:lambda:us-east-1:000000000000:function:fn"), topics ("taken") already exists. Please update or delete the existing mapping with UUID ` + aws.ToString(first.UUID), true},
		{"consumer group taken", func(in *lambda.CreateEventSourceMappingInput) {
			in.SelfManagedKafkaEventSourceConfig = &types.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: aws.String("shared-group")}
		}, "ResourceConflictException", "shared-group", false},
		{"consumer group = another mapping's UUID", func(in *lambda.CreateEventSourceMappingInput) {
			in.SelfManagedKafkaEventSourceConfig = &types.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: first.UUID}
		}, "ResourceConflictException", "consumer group", false},
		{"bad consumer group", func(in *lambda.CreateEventSourceMappingInput) {
			in.SelfManagedKafkaEventSourceConfig = &types.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: aws.String("a group")}
		}, "ValidationException", "consumerGroupId", false},
		{"queue mode", func(in *lambda.CreateEventSourceMappingInput) {
			in.SelfManagedKafkaEventSourceConfig = &types.SelfManagedKafkaEventSourceConfig{ConsumptionMode: "Queue"}
		}, ipv, "Queue", false},
		{"parallelization factor", func(in *lambda.CreateEventSourceMappingInput) { in.ParallelizationFactor = aws.Int32(2) }, ipv,
			"Unsupported 'parallelizationFactor' parameter for given event source mapping type.", true},
		{"bad KMS key", func(in *lambda.CreateEventSourceMappingInput) { in.KMSKeyArn = aws.String("not-an-arn") }, "ValidationException", "kMSKeyArn", false},
		{"schema registry without URI", func(in *lambda.CreateEventSourceMappingInput) {
			in.SelfManagedKafkaEventSourceConfig = &types.SelfManagedKafkaEventSourceConfig{SchemaRegistryConfig: &types.KafkaSchemaRegistryConfig{}}
		}, ipv, "schemaRegistryURI", false},
		{"schema registry bad format", func(in *lambda.CreateEventSourceMappingInput) {
			in.SelfManagedKafkaEventSourceConfig = &types.SelfManagedKafkaEventSourceConfig{SchemaRegistryConfig: &types.KafkaSchemaRegistryConfig{
				SchemaRegistryURI: aws.String("https://r"), EventRecordFormat: "XML"}}
		}, "ValidationException", "eventRecordFormat", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := kafkaInput("fn", "topic-t")
			tt.edit(in)
			_, err := c.CreateEventSourceMapping(ctx, in)
			wantErr(t, err, tt.code, tt.msg, tt.exact)
		})
	}

	accepted := []struct {
		name string
		edit func(in *lambda.CreateEventSourceMappingInput)
	}{
		// PLAINTEXT clusters: only VPC entries, which kafkaesm stores and ignores.
		{"plaintext via VPC entries", func(in *lambda.CreateEventSourceMappingInput) {
			in.SourceAccessConfigurations = []types.SourceAccessConfiguration{
				{Type: types.SourceAccessTypeVpcSubnet, URI: aws.String("subnet:subnet-1")},
				{Type: types.SourceAccessTypeVpcSubnet, URI: aws.String("subnet:subnet-2")},
				{Type: types.SourceAccessTypeVpcSecurityGroup, URI: aws.String("security_group:sg-1")}}
		}},
		{"record age -1 and retries -1", func(in *lambda.CreateEventSourceMappingInput) {
			in.MaximumRecordAgeInSeconds = aws.Int32(-1)
			in.MaximumRetryAttempts = aws.Int32(-1)
		}},
		{"mTLS with root CA", func(in *lambda.CreateEventSourceMappingInput) {
			in.SourceAccessConfigurations = []types.SourceAccessConfiguration{
				{Type: types.SourceAccessTypeClientCertificateTlsAuth, URI: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:c")},
				{Type: types.SourceAccessTypeServerRootCaCertificate, URI: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:ca")}}
		}},
		{"same topic, other servers", func(in *lambda.CreateEventSourceMappingInput) {
			in.Topics = []string{"taken"}
			in.SelfManagedEventSource.Endpoints["KAFKA_BOOTSTRAP_SERVERS"] = []string{"elsewhere:9092"}
		}},
		{"partial ARN with $LATEST", func(in *lambda.CreateEventSourceMappingInput) {
			in.FunctionName = aws.String("000000000000:function:fn:$LATEST")
		}},
	}
	for i, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			in := kafkaInput("fn", fmt.Sprintf("ok-%d", i))
			tt.edit(in)
			if _, err := c.CreateEventSourceMapping(ctx, in); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func addFilter(fc *types.FilterCriteria, p string) *types.FilterCriteria {
	if fc == nil {
		fc = &types.FilterCriteria{}
	}
	fc.Filters = append(fc.Filters, types.Filter{Pattern: aws.String(p)})
	return fc
}

func TestMappingUpdateValidation(t *testing.T) {
	n := startServer(t, t.TempDir(), nil)
	c := n.client()
	ctx := testCtx(t)
	createFunction(t, c, "fn")
	createFunction(t, c, "fn2")
	m, err := c.CreateEventSourceMapping(ctx, kafkaInput("fn", "topic-t"))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, c, aws.ToString(m.UUID), "Enabled")
	const ipv = "InvalidParameterValueException"
	tests := []struct {
		name string
		in   lambda.UpdateEventSourceMappingInput
		code string
		msg  string
	}{
		{"batch size", lambda.UpdateEventSourceMappingInput{BatchSize: aws.Int32(0)}, ipv, "batchSize"},
		{"unknown function", lambda.UpdateEventSourceMappingInput{FunctionName: aws.String("nope")}, ipv, "Function does not exist"},
		{"consumer group", lambda.UpdateEventSourceMappingInput{SelfManagedKafkaEventSourceConfig: &types.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: aws.String("new")}}, ipv, "ConsumerGroupId cannot be updated."},
		{"on success", lambda.UpdateEventSourceMappingInput{DestinationConfig: &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: aws.String("kafka://x")}}}, ipv, "Unsupported DestinationConfig parameter"},
		{"bad log level", lambda.UpdateEventSourceMappingInput{LoggingConfig: &types.EventSourceMappingLoggingConfig{SystemLogLevel: "LOUD"}}, "ValidationException", "systemLogLevel"},
		{"scaling config", lambda.UpdateEventSourceMappingInput{ScalingConfig: &types.ScalingConfig{MaximumConcurrency: aws.Int32(2)}}, ipv, "Unsupported 'scalingConfig'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.UUID = m.UUID
			_, err := c.UpdateEventSourceMapping(ctx, &in)
			wantErr(t, err, tt.code, tt.msg, false)
		})
	}
	got, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: m.UUID})
	if err != nil || aws.ToInt32(got.BatchSize) != 100 || aws.ToString(got.State) != "Enabled" {
		t.Fatalf("rejected updates changed the mapping: %+v %v", got, err)
	}
	// A qualifier that names no version or alias is refused, at Update as at Create.
	_, err = c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, FunctionName: aws.String("fn2:prod")})
	wantErr(t, err, "InvalidParameterValueException", "Function does not exist", true)
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn2"), Name: aws.String("prod"), FunctionVersion: aws.String("$LATEST")}); err != nil {
		t.Fatal(err)
	}
	// Retargeting onto a function that already has the same topic and servers is a duplicate.
	other, err := c.CreateEventSourceMapping(ctx, kafkaInput("fn2:prod", "topic-t"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, FunctionName: aws.String("fn2:prod")})
	wantErr(t, err, "ResourceConflictException", "Please update or delete the existing mapping with UUID "+aws.ToString(other.UUID), false)
	if _, err := c.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: other.UUID}); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		_, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: other.UUID})
		if err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	up, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: m.UUID, FunctionName: aws.String("fn2:prod")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:fn2:prod" {
		t.Fatalf("FunctionArn %s", aws.ToString(up.FunctionArn))
	}
}

func TestListMappings(t *testing.T) {
	n := startServer(t, t.TempDir(), nil)
	c := n.client()
	ctx := testCtx(t)
	createFunction(t, c, "a")
	createFunction(t, c, "b")
	want := map[string]bool{}
	for i := range 7 {
		fn := "a"
		if i%3 == 0 {
			fn = "b"
		}
		m, err := c.CreateEventSourceMapping(ctx, kafkaInput(fn, fmt.Sprintf("t%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		want[aws.ToString(m.UUID)] = true
	}
	got := map[string]bool{}
	pages := 0
	p := lambda.NewListEventSourceMappingsPaginator(c, &lambda.ListEventSourceMappingsInput{MaxItems: aws.Int32(3)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.EventSourceMappings) > 3 {
			t.Fatalf("page of %d", len(out.EventSourceMappings))
		}
		for _, m := range out.EventSourceMappings {
			if got[aws.ToString(m.UUID)] {
				t.Fatalf("%s listed twice", aws.ToString(m.UUID))
			}
			got[aws.ToString(m.UUID)] = true
		}
	}
	if len(got) != 7 || pages != 3 {
		t.Fatalf("listed %d in %d pages, want 7 in 3", len(got), pages)
	}
	for _, name := range []string{"b", "arn:aws:lambda:us-east-1:000000000000:function:b", "000000000000:function:b"} {
		out, err := c.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.EventSourceMappings) != 3 {
			t.Fatalf("FunctionName=%s: %d mappings, want 3", name, len(out.EventSourceMappings))
		}
	}
	out, err := c.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{EventSourceArn: aws.String("arn:aws:kafka:us-east-1:000000000000:cluster/x/y")})
	if err != nil || len(out.EventSourceMappings) != 0 {
		t.Fatalf("EventSourceArn filter: %v %v", out, err)
	}
	_, err = c.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{MaxItems: aws.Int32(0)})
	wantErr(t, err, "ValidationException", "maxItems", false)
	_, err = c.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{Marker: aws.String("bogus!")})
	wantErr(t, err, "InvalidParameterValueException", "marker", false)
	// MaxItems above 100 still pages by 100.
	out, err = c.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{MaxItems: aws.Int32(10000)})
	if err != nil || len(out.EventSourceMappings) != 7 || out.NextMarker != nil {
		t.Fatalf("MaxItems 10000: %v %v", out, err)
	}
}

func TestTags(t *testing.T) {
	n := startServer(t, t.TempDir(), nil)
	c := n.client()
	ctx := testCtx(t)
	f := createFunction(t, c, "fn")
	m, err := c.CreateEventSourceMapping(ctx, kafkaInput("fn", "topic-t"))
	if err != nil {
		t.Fatal(err)
	}
	for _, arn := range []string{aws.ToString(m.EventSourceMappingArn), aws.ToString(f.FunctionArn)} {
		if _, err := c.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{"a": "1", "b": "2"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UntagResource(ctx, &lambda.UntagResourceInput{Resource: aws.String(arn), TagKeys: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		out, err := c.ListTags(ctx, &lambda.ListTagsInput{Resource: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tags) != 1 || out.Tags["b"] != "2" {
			t.Fatalf("%s tags %v", arn, out.Tags)
		}
	}
	gf, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	if err != nil || gf.Tags["b"] != "2" {
		t.Fatalf("GetFunction tags: %v %v", gf, err)
	}
	_, err = c.ListTags(ctx, &lambda.ListTagsInput{Resource: aws.String("arn:aws:lambda:us-east-1:000000000000:event-source-mapping:00000000-0000-0000-0000-000000000000")})
	wantErr(t, err, "ResourceNotFoundException", "The resource you requested does not exist.", true)
	_, err = c.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String("arn:aws:lambda:us-east-1:000000000000:function:nope"), Tags: map[string]string{"a": "b"}})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope", true)
	_, err = c.TagResource(ctx, &lambda.TagResourceInput{Resource: m.EventSourceMappingArn, Tags: map[string]string{"aws:x": "b"}})
	wantErr(t, err, "InvalidParameterValueException", "aws:", false)

	// Unescaped colons in the path work too.
	code, _, body := rawRequest(t, "GET", n.url()+"/2017-03-31/tags/"+aws.ToString(m.EventSourceMappingArn), "")
	if code != 200 || body != "{\"Tags\":{\"b\":\"2\"}}\n" {
		t.Fatalf("raw ListTags: %d %s", code, body)
	}
}

// Parallel identical creates: the duplicate rule holds atomically, exactly one wins.
func TestConcurrentDuplicateCreates(t *testing.T) {
	n := startServer(t, t.TempDir(), nil)
	c := n.client()
	createFunction(t, c, "fn")
	const workers = 8
	errs := make(chan error, workers)
	for range workers {
		go func() {
			_, err := c.CreateEventSourceMapping(testCtx(t), kafkaInput("fn", "race-topic"))
			errs <- err
		}()
	}
	ok := 0
	for range workers {
		err := <-errs
		if err == nil {
			ok++
			continue
		}
		wantErr(t, err, "ResourceConflictException", "already exists", false)
	}
	if ok != 1 {
		t.Fatalf("%d creates succeeded, want 1", ok)
	}
}
