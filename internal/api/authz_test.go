package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/kafkaesm/kafkaesm/internal/iam"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

func policy(stmts ...iam.Statement) *iam.Policy {
	return &iam.Policy{Version: "2012-10-17", Statement: stmts}
}

func allow(actions []string, resources ...string) iam.Statement {
	return iam.Statement{Effect: "Allow", Action: actions, Resource: resources}
}

func deny(actions []string, resources ...string) iam.Statement {
	return iam.Statement{Effect: "Deny", Action: actions, Resource: resources}
}

// protected is a behind SigV4 authentication of principals, each judged by its policy.
func protected(t *testing.T, a *Server, principals ...*iam.Principal) http.Handler {
	t.Helper()
	set, err := iam.NewSet(principals)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Protect(ProtectConfig{Auth: &SigV4Config{Principals: set}}, a)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// configAs is an AWS SDK configuration for the server at url that signs as p and never retries.
func configAs(url string, p *iam.Principal) aws.Config {
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url), Retryer: func() aws.Retryer { return aws.NopRetryer{} },
		Credentials: credentials.NewStaticCredentialsProvider(p.AccessKeyID, p.SecretAccessKey, "")}
}

// TestPolicies drives the API with the AWS SDK as principals with different policies: an
// admin (no policy), a read-only principal, a mappings-only principal, one allowed everything
// but DeleteFunction (an explicit Deny wins), and a secret reader limited to kafka-* secrets.
// Every denial is 403 AccessDeniedException naming the principal, the action and the resource,
// and is audited.
func TestPolicies(t *testing.T) {
	principals := []*iam.Principal{
		{Name: "admin", AccessKeyID: "AKIAADMIN", SecretAccessKey: "admin-secret"},
		{Name: "reader", AccessKeyID: "AKIAREADER", SecretAccessKey: "reader-secret",
			Policy: policy(allow([]string{"lambda:Get*", "lambda:List*"}, "*"))},
		{Name: "mapper", AccessKeyID: "AKIAMAPPER", SecretAccessKey: "mapper-secret",
			Policy: policy(allow([]string{"lambda:*EventSourceMapping*"}, "*"))},
		{Name: "nodelete", AccessKeyID: "AKIANODELETE", SecretAccessKey: "nodelete-secret",
			Policy: policy(allow([]string{"lambda:*"}, "*"), deny([]string{"lambda:DeleteFunction"}, "arn:aws:lambda:*:*:function:fn*"))},
		{Name: "public", AccessKeyID: "AKIAPUBLIC", SecretAccessKey: "public-secret",
			Policy: policy(allow([]string{"lambda:*"}, "arn:aws:lambda:us-east-1:000000000000:function:public*"))},
		{Name: "kafkasecrets", AccessKeyID: "AKIASECRETS", SecretAccessKey: "secrets-secret",
			Policy: policy(allow([]string{"secretsmanager:GetSecretValue", "secretsmanager:Describe*"}, "arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka-*"))},
	}
	a, _ := newTestAPI(t)
	var logs kafkatest.Buffer // the handlers' goroutines write it
	a.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a.HandleSecretsManager(echo)
	srv := httptest.NewServer(protected(t, a, principals...))
	defer srv.Close()
	cfg := func(p *iam.Principal) aws.Config { return configAs(srv.URL, p) }
	lam := func(i int) *lambda.Client { return lambda.NewFromConfig(cfg(principals[i])) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	denied := func(t *testing.T, err error, who, action, resource string) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
			t.Fatalf("want AccessDeniedException, got %v", err)
		}
		want := "User: arn:aws:iam::000000000000:user/" + who + " is not authorized to perform: " + action + " on resource: " + resource
		if !strings.HasPrefix(ae.ErrorMessage(), want) {
			t.Fatalf("message %q, want prefix %q", ae.ErrorMessage(), want)
		}
	}
	fnARN := "arn:aws:lambda:us-east-1:000000000000:function:fn"
	mapping := &lambda.CreateEventSourceMappingInput{FunctionName: aws.String("fn"), Topics: []string{"orders"},
		SelfManagedEventSource:     &types.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {"k:9092"}}},
		SourceAccessConfigurations: []types.SourceAccessConfiguration{{Type: types.SourceAccessTypeVpcSubnet, URI: aws.String("subnet:s")}},
		StartingPosition:           types.EventSourcePositionLatest}

	t.Run("admin", func(t *testing.T) {
		if _, err := lam(0).ListFunctions(ctx, &lambda.ListFunctionsInput{}); err != nil {
			t.Fatal(err)
		}
	})
	var uuid string
	t.Run("mappings-only", func(t *testing.T) {
		out, err := lam(2).CreateEventSourceMapping(ctx, mapping)
		if err != nil {
			t.Fatal(err)
		}
		uuid = aws.ToString(out.UUID)
		if _, err := lam(2).GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: out.UUID}); err != nil {
			t.Fatal(err)
		}
		if _, err := lam(2).ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{}); err != nil {
			t.Fatal(err)
		}
		_, err = lam(2).GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
		denied(t, err, "mapper", "lambda:GetFunction", fnARN)
		_, err = lam(2).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn")})
		denied(t, err, "mapper", "lambda:InvokeFunction", fnARN)
	})
	t.Run("read-only", func(t *testing.T) {
		if _, err := lam(1).GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")}); err != nil {
			t.Fatal(err)
		}
		if _, err := lam(1).ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{}); err != nil {
			t.Fatal(err)
		}
		if _, err := lam(1).GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)}); err != nil {
			t.Fatal(err)
		}
		_, err := lam(1).CreateEventSourceMapping(ctx, mapping)
		denied(t, err, "reader", "lambda:CreateEventSourceMapping", "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:*")
		_, err = lam(1).DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: aws.String(uuid)})
		denied(t, err, "reader", "lambda:DeleteEventSourceMapping", "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:"+uuid)
		_, err = lam(1).CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("new-fn"), Role: aws.String("arn:aws:iam::000000000000:role/r"),
			Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: []byte("PK")}})
		denied(t, err, "reader", "lambda:CreateFunction", "arn:aws:lambda:us-east-1:000000000000:function:new-fn")
		_, err = lam(1).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("live")})
		denied(t, err, "reader", "lambda:InvokeFunction", fnARN+":live")
		_, err = lam(1).PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("fn"), ReservedConcurrentExecutions: aws.Int32(1)})
		denied(t, err, "reader", "lambda:PutFunctionConcurrency", fnARN)
	})
	t.Run("explicit deny wins", func(t *testing.T) {
		if _, err := lam(3).GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")}); err != nil {
			t.Fatal(err)
		}
		_, err := lam(3).DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn")})
		denied(t, err, "nodelete", "lambda:DeleteFunction", fnARN)
		var ae smithy.APIError
		if errors.As(err, &ae); !strings.HasSuffix(ae.ErrorMessage(), "with an explicit deny in an identity-based policy") {
			t.Fatalf("explicit deny message: %q", ae.ErrorMessage())
		}
	})
	t.Run("names that are not function names", func(t *testing.T) {
		// A policy on function:public* must not cover another function through a malformed
		// name or an ARN of another account.
		for _, name := range []string{"public:function:fn", "arn:aws:lambda:us-east-1:111111111111:function:public-x"} {
			_, err := lam(4).GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
				t.Fatalf("GetFunction(%s): %v", name, err)
			}
		}
	})
	t.Run("secret resources", func(t *testing.T) {
		sm := secretsmanager.NewFromConfig(cfg(principals[5]))
		if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("kafka-prod")}); err != nil {
			t.Fatal(err)
		}
		_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("payroll")})
		denied(t, err, "kafkasecrets", "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:000000000000:secret:payroll")
		_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("kafka-prod"), SecretString: aws.String("x")})
		denied(t, err, "kafkasecrets", "secretsmanager:PutSecretValue", "arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka-prod")
		_, err = lambda.NewFromConfig(cfg(principals[5])).ListFunctions(ctx, &lambda.ListFunctionsInput{})
		denied(t, err, "kafkasecrets", "lambda:ListFunctions", "*")
	})

	// The audit log: one line per state change, GetSecretValue and denial; no secrets, no signatures.
	srv.Close() // waits for the handlers, which log after answering
	log := logs.String()
	for _, want := range []string{
		"msg=audit principal=mapper action=lambda:CreateEventSourceMapping resource=arn:aws:lambda:us-east-1:000000000000:event-source-mapping:* outcome=success status=202",
		"msg=audit principal=reader action=lambda:CreateFunction resource=arn:aws:lambda:us-east-1:000000000000:function:new-fn outcome=denied status=403",
		"msg=audit principal=nodelete action=lambda:DeleteFunction resource=" + fnARN + " outcome=denied",
		"msg=audit principal=kafkasecrets action=secretsmanager:GetSecretValue resource=arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka-prod outcome=success status=200",
		"msg=audit principal=kafkasecrets action=secretsmanager:GetSecretValue resource=arn:aws:secretsmanager:us-east-1:000000000000:secret:payroll outcome=denied",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}
	if strings.Contains(log, "action=lambda:ListFunctions resource=* outcome=success") {
		t.Error("a read was audited")
	}
	for _, p := range principals {
		if strings.Contains(log, p.SecretAccessKey) {
			t.Errorf("secret key of %s in the log", p.Name)
		}
	}
	if strings.Contains(log, "Signature=") || strings.Contains(log, "Authorization") {
		t.Error("signature in the log")
	}
	t.Logf("audit lines:\n%s", grepLines(log, "msg=audit"))
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestLongQualifiedArnAuthorisedAsItsFunction: Invoke takes an ARN of up to 170 characters
// (a long alias), and authorization sees the function and qualifier it names, so that a Deny
// on the function applies. The resource was the raw string behind "function:" once the ARN
// passed 140 characters, which a Deny on function:secret* did not match.
func TestLongQualifiedArnAuthorisedAsItsFunction(t *testing.T) {
	p := &iam.Principal{Name: "nosecret", AccessKeyID: "AKIANOSECRET", SecretAccessKey: "nosecret-secret",
		Policy: policy(allow([]string{"lambda:*"}, "*"), deny([]string{"lambda:InvokeFunction"}, "arn:aws:lambda:us-east-1:000000000000:function:secret*"))}
	a, _ := newTestAPI(t)
	srv := httptest.NewServer(protected(t, a, p))
	defer srv.Close()
	c := lambda.NewFromConfig(configAs(srv.URL, p))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	long := "arn:aws:lambda:us-east-1:000000000000:function:secret:" + strings.Repeat("a", 100) // 154 characters
	_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(long)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" ||
		!strings.Contains(ae.ErrorMessage(), "on resource: arn:aws:lambda:us-east-1:000000000000:function:secret:aaa") {
		t.Fatalf("want AccessDeniedException on function:secret:…, got %v", err)
	}
}
