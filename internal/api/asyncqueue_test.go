package api_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/kafkaesm/kafkaesm/internal/api"
	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
)

// TestEventQueueBytesFullIs429: Event invocations beyond the queue's byte cap are refused with
// 429 TooManyRequestsException (aws-sdk-go-v2), while the queue holds what it accepted.
func TestEventQueueBytesFullIs429(t *testing.T) {
	release := make(chan struct{})
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Write([]byte(`null`))
	}))
	defer target.Close()
	defer close(release)
	fns := &invoke.MapFunctions{}
	fns.Put(&function.Function{FunctionName: "held", Timeout: 10, HTTPTarget: &function.HTTPTarget{URL: target.URL}})
	eng, err := invoke.New(invoke.Config{Functions: fns, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	async, err := invoke.NewAsync(invoke.AsyncConfig{Invoker: eng, Workers: 1, QueueBytes: 1500 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer async.Close()
	srv := httptest.NewServer(api.New(api.Config{Invoker: eng, Functions: fns, Async: async}))
	defer srv.Close()
	client := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), Retryer: aws.NopRetryer{}})

	payload := append(append([]byte(`"`), bytes.Repeat([]byte("x"), 700<<10)...), '"')
	event := func() error {
		_, err := client.Invoke(testCtx(t), &lambda.InvokeInput{FunctionName: aws.String("held"),
			InvocationType: types.InvocationTypeEvent, Payload: payload})
		return err
	}
	for i := 0; i < 2; i++ {
		if err := event(); err != nil {
			t.Fatalf("event %d of 700 KB in a 1500 KB queue: %v", i, err)
		}
	}
	var tm *types.TooManyRequestsException
	if err := event(); !errors.As(err, &tm) {
		t.Fatalf("a third 700 KB event: %v, want 429 TooManyRequestsException", err)
	}
}
