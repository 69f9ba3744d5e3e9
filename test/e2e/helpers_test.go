// Package e2e drives a real kafkaesm server through real clients: the AWS SDK for Go v2 and
// the AWS CLI.
package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/server"
)

const (
	region  = "us-east-1"
	account = "000000000000"
)

// node is a running kafkaesm server.
type node struct {
	addr string
	dir  string
	stop func()
}

// startServer runs a server on 127.0.0.1:0 over dir until the test ends (or stop is called).
func startServer(t *testing.T, dir string, runner server.Runner) *node {
	t.Helper()
	s, err := server.New(server.Config{
		Listen:  "127.0.0.1:0",
		DataDir: dir,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Runner:  runner,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var stopped atomic.Bool
	stop := func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	}
	t.Cleanup(stop)
	return &node{addr: s.Addr(), dir: dir, stop: stop}
}

func (n *node) url() string { return "http://" + n.addr }

func (n *node) client() *lambda.Client {
	return lambda.New(lambda.Options{
		Region:           region,
		BaseEndpoint:     aws.String(n.url()),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkFor polls fn until it returns nil or wait passes.
func checkFor(t *testing.T, wait, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", wait, err)
		}
		time.Sleep(every)
	}
}

// wantErr asserts err is the AWS error code (typed, for modeled exceptions) and that its
// message contains msg ("" = any). exact asks for message equality.
func wantErr(t *testing.T, err error, code, msg string, exact bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s %q", code, msg)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v (%T), want API error %s", err, err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got %s %q, want %s %q", ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
	typed := true
	switch code {
	case "ResourceNotFoundException":
		var e *types.ResourceNotFoundException
		typed = errors.As(err, &e)
	case "InvalidParameterValueException":
		var e *types.InvalidParameterValueException
		typed = errors.As(err, &e)
	case "ResourceConflictException":
		var e *types.ResourceConflictException
		typed = errors.As(err, &e)
	case "ResourceInUseException":
		var e *types.ResourceInUseException
		typed = errors.As(err, &e)
	}
	if !typed {
		t.Fatalf("%s did not decode into its typed SDK error: %T", code, err)
	}
	if exact && ae.ErrorMessage() != msg || !exact && !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("%s message %q, want %q", code, ae.ErrorMessage(), msg)
	}
}

// zipFiles builds a zip; mode 0 entries are written without Unix permissions.
type zipEntry struct {
	name string
	body string
	mode uint32
}

func makeZip(t *testing.T, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(fs.FileMode(e.mode))
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func bootstrapZip(t *testing.T) []byte {
	return makeZip(t, zipEntry{"bootstrap", "#!/bin/sh\necho hi\n", 0o755})
}

// createFunction registers a provided.al2023 function.
func createFunction(t *testing.T, c *lambda.Client, name string) *lambda.CreateFunctionOutput {
	t.Helper()
	out, err := c.CreateFunction(testCtx(t), &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Role:         aws.String("arn:aws:iam::000000000000:role/lambda"),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		Code:         &types.FunctionCode{ZipFile: bootstrapZip(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kafkaInput is a valid self-managed Kafka mapping request.
func kafkaInput(fn, topic string) *lambda.CreateEventSourceMappingInput {
	return &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String(fn),
		Topics:       []string{topic},
		SelfManagedEventSource: &types.SelfManagedEventSource{Endpoints: map[string][]string{
			"KAFKA_BOOTSTRAP_SERVERS": {"kafka1:9092", "kafka2:9092"}}},
		SourceAccessConfigurations: []types.SourceAccessConfiguration{
			{Type: types.SourceAccessTypeSaslScram512Auth, URI: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka-abc")},
		},
	}
}

// heldRunner blocks Apply and Stop while held, so tests can see transitional states.
type heldRunner struct {
	held    atomic.Bool
	applied atomic.Int64
	stopped atomic.Int64
}

func (r *heldRunner) wait(ctx context.Context) error {
	for r.held.Load() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

func (r *heldRunner) Apply(ctx context.Context, _ *mapping.EventSourceMapping) error {
	if err := r.wait(ctx); err != nil {
		return err
	}
	r.applied.Add(1)
	return nil
}

func (r *heldRunner) Stop(ctx context.Context, _ string) error {
	if err := r.wait(ctx); err != nil {
		return err
	}
	r.stopped.Add(1)
	return nil
}

// rawRequest sends a request without the SDK (bad JSON, extension members).
func rawRequest(t *testing.T, method, url, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
