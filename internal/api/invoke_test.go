package api_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/kafkaesm/kafkaesm/internal/api"
	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/invoke/invoketest"
)

type invokeEnv struct {
	fns    *invoke.MapFunctions
	client *lambda.Client
}

func newInvokeEnv(t *testing.T) *invokeEnv {
	t.Helper()
	fns := &invoke.MapFunctions{}
	eng, err := invoke.New(invoke.Config{Functions: fns, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	async, err := invoke.NewAsync(invoke.AsyncConfig{Invoker: eng, RetryDelays: []time.Duration{time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Invoker: eng, Functions: fns, Async: async}))
	httpc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		httpc.CloseIdleConnections()
		srv.Close()
		async.Close()
		eng.Close()
	})
	client := lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		HTTPClient:   httpc,
		Retryer:      aws.NopRetryer{},
	})
	return &invokeEnv{fns: fns, client: client}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestInvokeGoHandlerThroughSDK(t *testing.T) {
	env := newInvokeEnv(t)
	env.fns.Put(&function.Function{FunctionName: "echo", Runtime: "provided.al2023", Handler: "bootstrap",
		Timeout: 1, MemorySize: 128, CodeDir: invoketest.GoHandler(t)})
	ctx := testCtx(t)

	out, err := env.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"),
		Payload: []byte(`{"action":"echo","v":"x"}`), LogType: types.LogTypeTail})
	if err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != 200 || out.FunctionError != nil || string(out.Payload) != `{"action":"echo","v":"x"}` ||
		aws.ToString(out.ExecutedVersion) != "$LATEST" {
		t.Fatalf("echo: %d %v %s %v", out.StatusCode, out.FunctionError, out.Payload, out.ExecutedVersion)
	}
	logs, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"START RequestId: ", "handling echo", "END RequestId: ", "REPORT RequestId: ", "Billed Duration: "} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("LogResult lacks %q:\n%s", want, logs)
		}
	}

	cases := []struct {
		payload, want string
	}{
		{`{"action":"error"}`, `"errorMessage":"boom"`},
		{`{"action":"panic"}`, `kaboom`},
		{`{"action":"exit"}`, `Runtime exited with error: exit status 3`},
		{`{"action":"sleep","ms":5000}`, `Task timed out after 1.00 seconds`},
	}
	for _, c := range cases {
		out, err := env.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(c.payload)})
		if err != nil {
			t.Fatal(err)
		}
		if out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), c.want) {
			t.Errorf("%s: %d %v %s", c.payload, out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
		}
		// A fresh environment answers after every failure.
		out, err = env.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"action":"echo"}`)})
		if err != nil || out.FunctionError != nil {
			t.Fatalf("after %s: %v %s", c.payload, err, out.Payload)
		}
	}

	// Qualified names and ARNs.
	for _, name := range []string{"echo:$LATEST", "arn:aws:lambda:us-east-1:000000000000:function:echo"} {
		if _, err := env.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name)}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// DryRun.
	out, err = env.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeDryRun})
	if err != nil || out.StatusCode != 204 {
		t.Errorf("DryRun: %v %v", err, out)
	}

	// Unknown function and qualifier.
	var nf *types.ResourceNotFoundException
	_, err = env.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("nope")})
	if !errors.As(err, &nf) || aws.ToString(nf.Message) != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope" {
		t.Errorf("unknown function: %v", err)
	}
	_, err = env.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Qualifier: aws.String("7")})
	if !errors.As(err, &nf) || aws.ToString(nf.Message) != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:echo:7" {
		t.Errorf("unknown qualifier: %v", err)
	}

	// Not JSON.
	var bad *types.InvalidRequestContentException
	_, err = env.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{not json`)})
	if !errors.As(err, &bad) || !strings.HasPrefix(aws.ToString(bad.Message), "Could not parse request body into json") {
		t.Errorf("invalid JSON: %v", err)
	}

	// 6 MB limit.
	var tl *types.RequestTooLargeException
	_, err = env.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: make([]byte, function.MaxPayload+1)})
	if !errors.As(err, &tl) || aws.ToString(tl.Message) != "Request must be smaller than 6291456 bytes for the InvokeFunction operation" {
		t.Errorf("too large: %v", err)
	}
	_, err = env.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), InvocationType: types.InvocationTypeEvent,
		Payload: []byte(`"` + strings.Repeat("x", invoke.MaxAsyncPayload) + `"`)})
	if !errors.As(err, &tl) || !strings.Contains(aws.ToString(tl.Message), "too large for the Event invocation type") {
		t.Errorf("async too large: %v", err)
	}
}

func TestInvokeEventRetries(t *testing.T) {
	env := newInvokeEnv(t)
	var calls atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`"done"`))
	}))
	defer target.Close()
	env.fns.Put(&function.Function{FunctionName: "hook", Timeout: 3, HTTPTarget: &function.HTTPTarget{URL: target.URL}})

	out, err := env.client.Invoke(testCtx(t), &lambda.InvokeInput{FunctionName: aws.String("hook"),
		InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("Event: %v %+v", err, out)
	}
	// Two failures, then the second retry succeeds: three calls, never a fourth.
	deadline := time.Now().Add(20 * time.Second)
	for calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("calls = %d, want 3", calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInvokeThrottled(t *testing.T) {
	env := newInvokeEnv(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Write([]byte(`{}`))
	}))
	defer target.Close()
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	defer open()
	two := 2
	env.fns.Put(&function.Function{FunctionName: "slow", Timeout: 10, ReservedConcurrentExecutions: &two,
		HTTPTarget: &function.HTTPTarget{URL: target.URL}})

	const n = 5
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := env.client.Invoke(testCtx(t), &lambda.InvokeInput{FunctionName: aws.String("slow")})
			errs <- err
		}()
	}
	for range n - 2 {
		err := <-errs
		var tm *types.TooManyRequestsException
		if !errors.As(err, &tm) || tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded {
			t.Fatalf("want 429 TooManyRequestsException, got %v", err)
		}
	}
	<-arrived
	<-arrived
	open()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestInvokePythonThroughSDK(t *testing.T) {
	if !invoketest.AwslambdaricAvailable("") {
		if invoketestCI() {
			t.Fatal("awslambdaric is not importable; CI must run: pip install awslambdaric")
		}
		t.Skip("awslambdaric not installed")
	}
	env := newInvokeEnv(t)
	env.fns.Put(&function.Function{FunctionName: "py", Runtime: "python3.12", Handler: "app.handler", Timeout: 3,
		CodeDir: invoketest.PythonHandlerDir()})
	ctx := testCtx(t)
	out, err := env.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("py"), Payload: []byte(`{"action":"error"}`),
		LogType: types.LogTypeTail})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), `"errorType": "ValueError"`) &&
		!strings.Contains(string(out.Payload), `"errorType":"ValueError"`) {
		t.Errorf("python error: %v %s", aws.ToString(out.FunctionError), out.Payload)
	}
	logs, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if !strings.Contains(string(logs), "handling error") || !strings.Contains(string(logs), "REPORT RequestId: ") {
		t.Errorf("python LogResult:\n%s", logs)
	}
}

// TestInvokeRefusesMalformedFunctionNames: Invoke checks FunctionName against Lambda's
// pattern, as every other operation does. "public:function:secret" once ran secret, while
// authorization saw the resource function:public:function:secret, which a policy on
// function:public* allows; an ARN of another account or with a second qualifier ran too.
func TestInvokeRefusesMalformedFunctionNames(t *testing.T) {
	env := newInvokeEnv(t)
	for _, n := range []string{"public", "secret"} {
		env.fns.Put(&function.Function{FunctionName: n, Runtime: "provided.al2023", Handler: "bootstrap", Timeout: 1, MemorySize: 128})
	}
	env.fns.PutVersion(&function.Function{FunctionName: "secret", Version: "1", Runtime: "provided.al2023", Handler: "bootstrap", Timeout: 1, MemorySize: 128})
	ctx := testCtx(t)
	dry := func(name, qualifier string) error {
		in := &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeDryRun}
		if qualifier != "" {
			in.Qualifier = aws.String(qualifier)
		}
		_, err := env.client.Invoke(ctx, in)
		return err
	}
	for _, ok := range []string{"secret", "secret:1", "000000000000:function:secret", "arn:aws:lambda:us-east-1:000000000000:function:secret:1"} {
		if err := dry(ok, ""); err != nil {
			t.Fatalf("%s: %v", ok, err)
		}
	}
	for name, want := range map[string]string{
		"public:function:secret": "ValidationException",
		"public:1:secret":        "ValidationException",
		"arn:aws:lambda:us-east-1:000000000000:function:secret:1:2": "ValidationException",
		"secret:1:2": "ValidationException",
		"arn:aws:lambda:us-east-1:111111111111:function:secret":   "ResourceNotFoundException",
		"arn:aws:lambda:eu-west-1:000000000000:function:secret:1": "ResourceNotFoundException",
	} {
		err := dry(name, "")
		var ae interface{ ErrorCode() string }
		if !errors.As(err, &ae) || ae.ErrorCode() != want {
			t.Errorf("%s: got %v, want %s", name, err, want)
		}
	}
}
