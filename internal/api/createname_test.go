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
)

// TestCreateFunctionAuthorisedAsTheNameCreated: CreateFunction accepts a FunctionName that is
// a full or partial ARN and creates the function it names, so the policy must judge that
// function's ARN, not an ARN built around the client's text ("function:arn:aws:…"), which a
// Deny on function:prod-* does not match.
func TestCreateFunctionAuthorisedAsTheNameCreated(t *testing.T) {
	const fnPrefix = "arn:aws:lambda:us-east-1:000000000000:function:"
	p := &iam.Principal{Name: "team", AccessKeyID: "AKIATEAM", SecretAccessKey: "team-secret",
		Policy: policy(allow([]string{"lambda:*"}, fnPrefix+"*"), deny([]string{"lambda:CreateFunction"}, fnPrefix+"prod-*"))}
	a, _ := newTestAPI(t)
	srv := httptest.NewServer(protected(t, a, p))
	defer srv.Close()
	lam := lambda.NewFromConfig(configAs(srv.URL, p))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range []string{"prod-x", fnPrefix + "prod-x", "000000000000:function:prod-x"} {
		_, err := lam.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(name), Role: aws.String("arn:aws:iam::000000000000:role/r"),
			Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: []byte("PK")}})
		var ae smithy.APIError
		want := "User: arn:aws:iam::000000000000:user/team is not authorized to perform: lambda:CreateFunction on resource: " + fnPrefix + "prod-x"
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" || !strings.HasPrefix(ae.ErrorMessage(), want) {
			t.Errorf("CreateFunction(%s): %v, want AccessDeniedException %q", name, err, want)
		}
	}
	// An ARN of another account would create prod-x here, judged as that account's function.
	_, err := lam.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:111111111111:function:prod-x"),
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: []byte("PK")}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValueException" || !strings.Contains(ae.ErrorMessage(), "another region or account") {
		t.Errorf("CreateFunction with another account's ARN: %v", err)
	}
}

// TestTagsAuthorisedOnTheTaggedFunction: TagResource on a qualified function ARN tags the
// function itself, so the function's ARN is judged: a Deny on function:fn holds for fn:live.
func TestTagsAuthorisedOnTheTaggedFunction(t *testing.T) {
	const fnARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
	p := &iam.Principal{Name: "team", AccessKeyID: "AKIATEAM", SecretAccessKey: "team-secret",
		Policy: policy(allow([]string{"lambda:*"}, "*"), deny([]string{"lambda:TagResource", "lambda:UntagResource"}, fnARN))}
	a, _ := newTestAPI(t)
	srv := httptest.NewServer(protected(t, a, p))
	defer srv.Close()
	lam := lambda.NewFromConfig(configAs(srv.URL, p))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, arn := range []string{fnARN, fnARN + ":live", fnARN + ":1"} {
		_, err := lam.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{"owner": "team"}})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" || !strings.Contains(ae.ErrorMessage(), "on resource: "+fnARN+" ") {
			t.Errorf("TagResource(%s): %v, want AccessDeniedException on %s", arn, err, fnARN)
		}
	}
	if _, err := lam.ListTags(ctx, &lambda.ListTagsInput{Resource: aws.String(fnARN + ":live")}); err != nil {
		t.Fatalf("ListTags (allowed): %v", err)
	}
}

// TestUnmappedRouteDenied: an extra route without an IAM action of its own is authorised as
// kafkaesm:Unmapped, which a policy allowing every Lambda and Secrets Manager action does not
// cover (only "*" or kafkaesm:* would).
func TestUnmappedRouteDenied(t *testing.T) {
	p := &iam.Principal{Name: "lambdaonly", AccessKeyID: "AKIALAMBDA", SecretAccessKey: "lambda-secret",
		Policy: policy(allow([]string{"lambda:*", "secretsmanager:*"}, "*"))}
	a, _ := newTestAPI(t)
	a.Handle("GET /kafkaesm/debug", echo)
	h := protected(t, a, p)
	r := httptest.NewRequest("GET", "http://127.0.0.1:9001/kafkaesm/debug", nil)
	if err := p.Sign(r, "us-east-1"); err != nil {
		t.Fatal(err)
	}
	code, typ, body := serve(h, r)
	if code != 403 || typ != "AccessDeniedException" || !strings.Contains(body, "kafkaesm:Unmapped") {
		t.Fatalf("an unmapped route: %d %s %s", code, typ, body)
	}
}
