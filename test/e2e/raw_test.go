package e2e

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// TestRawRequests covers what SDKs never send: malformed bodies, path variants, error shapes.
func TestRawRequests(t *testing.T) {
	n := startServer(t, t.TempDir(), nil)
	createFunction(t, n.client(), "fn")
	esm := n.url() + "/2015-03-31/event-source-mappings"
	tests := []struct {
		name, method, url, body string
		status                  int
		errType                 string
	}{
		{"malformed JSON", "POST", esm, `{"FunctionName":`, 400, "InvalidRequestContentException"},
		{"not an object", "POST", esm, `[1,2]`, 400, "InvalidRequestContentException"},
		{"wrong member type", "POST", esm, `{"FunctionName":"fn","BatchSize":"ten"}`, 400, "InvalidRequestContentException"},
		{"trailing garbage", "POST", esm, `{"FunctionName":"fn"} x`, 400, "InvalidRequestContentException"},
		{"huge number", "POST", esm, `{"FunctionName":"fn","BatchSize":1e400}`, 400, "InvalidRequestContentException"},
		{"bad timestamp", "POST", esm, `{"FunctionName":"fn","StartingPositionTimestamp":"yesterday"}`, 400, "InvalidRequestContentException"},
		{"empty body", "POST", esm, ``, 400, "ValidationException"},
		{"too large", "POST", esm, `{"FunctionName":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "RequestTooLargeException"},
		{"update malformed", "PUT", esm + "/00000000-0000-0000-0000-000000000000", `{`, 400, "InvalidRequestContentException"},
		{"update unknown", "PUT", esm + "/00000000-0000-0000-0000-000000000000", `{}`, 404, "ResourceNotFoundException"},
		{"function malformed", "POST", n.url() + "/2015-03-31/functions", `{"Code":{"ZipFile":"not base64!"}}`, 400, "InvalidRequestContentException"},
		{"list with slash", "GET", esm + "/", ``, 200, ""},
		{"list without slash", "GET", esm, ``, 200, ""},
		{"functions with slash", "GET", n.url() + "/2015-03-31/functions/", ``, 200, ""},
		{"tags, escaped ARN, unknown", "GET", n.url() + "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Anope", ``, 404, "ResourceNotFoundException"},
		{"tags, not an ARN", "GET", n.url() + "/2017-03-31/tags/hello", ``, 400, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := rawRequest(t, tt.method, tt.url, tt.body)
			if code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, body)
			}
			if tt.errType == "" {
				return
			}
			if got := h.Get("X-Amzn-ErrorType"); got != tt.errType {
				t.Fatalf("X-Amzn-ErrorType %q, want %q: %s", got, tt.errType, body)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatalf("error body is not JSON: %s", body)
			}
			if m["message"] == nil && m["Message"] == nil {
				t.Fatalf("error body without message: %s", body)
			}
			if h.Get("x-amzn-RequestId") == "" {
				t.Fatal("no x-amzn-RequestId")
			}
		})
	}
	// ResourceNotFoundException: {"Type":"User","Message":…}; InvalidParameterValue: lower-case message.
	_, _, body := rawRequest(t, "GET", esm+"/nope", "")
	if body != "{\"Message\":\"The resource you requested does not exist.\",\"Type\":\"User\"}\n" {
		t.Fatalf("404 body %s", body)
	}
	_, _, body = rawRequest(t, "POST", esm, `{"FunctionName":"fn","SelfManagedEventSource":{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["a:1"]}}}`)
	if body != "{\"Type\":\"User\",\"message\":\"Required 'topics' parameter is missing.\"}\n" {
		t.Fatalf("400 body %s", body)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := startServer(t, dir, nil)
	c := n.client()
	ctx := testCtx(t)
	createFunction(t, c, "fn")
	in := kafkaInput("fn", "restart-topic")
	in.Tags = map[string]string{"k": "v"}
	m, err := c.CreateEventSourceMapping(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, c, aws.ToString(m.UUID), "Enabled")
	if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("fn"), ReservedConcurrentExecutions: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	n.stop()

	runner := &heldRunner{}
	n = startServer(t, dir, runner)
	c = n.client()
	got, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: m.UUID})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.State) != "Enabled" || aws.ToString(got.FunctionArn) != aws.ToString(m.FunctionArn) || !got.LastModified.Equal(*m.LastModified) {
		t.Fatalf("after restart: %+v", got)
	}
	tags, err := c.ListTags(ctx, &lambda.ListTagsInput{Resource: m.EventSourceMappingArn})
	if err != nil || tags.Tags["k"] != "v" {
		t.Fatalf("tags after restart: %v %v", tags, err)
	}
	f, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	if err != nil || aws.ToInt32(f.Concurrency.ReservedConcurrentExecutions) != 3 {
		t.Fatalf("function after restart: %+v %v", f, err)
	}
	// The reconciler resumes enabled mappings at start.
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if runner.applied.Load() == 0 {
			return errNotYet
		}
		return nil
	})
	// The duplicate rule still holds across restarts.
	_, err = c.CreateEventSourceMapping(ctx, kafkaInput("fn", "restart-topic"))
	wantErr(t, err, "ResourceConflictException", "already exists", false)
}

var errNotYet = errors.New("runner not applied yet")
