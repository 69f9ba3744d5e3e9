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
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/iam"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/reconcile"
	"github.com/kafkaesm/kafkaesm/internal/server"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
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
func startServer(t *testing.T, dir string, runner reconcile.Runner) *node {
	t.Helper()
	addr, stop := runServer(t, server.Config{
		Listen:  "127.0.0.1:0",
		DataDir: dir,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Runner:  runner,
	}, 30*time.Second)
	return &node{addr: addr, dir: dir, stop: stop}
}

// testKey is the principal every test node accepts (unless a test configures its own) and
// every test client signs with: client()'s SDK clients, rawRequest.
var testKey = &iam.Principal{Name: "kafkaesm", AccessKeyID: "AKIAKAFKAESME2ETEST", SecretAccessKey: "kafkaesm-e2e-secret-access-key-0123456789"}

// runServer starts a server with cfg and runs it until the test ends or stop is called; stop
// waits up to stopWait for it to finish. Without credentials in cfg the node accepts testKey.
func runServer(t *testing.T, cfg server.Config, stopWait time.Duration) (string, func()) {
	t.Helper()
	if cfg.AccessKeyID == "" && cfg.PrincipalsFile == "" && !cfg.NoAuth {
		cfg.AccessKeyID, cfg.SecretAccessKey = testKey.AccessKeyID, testKey.SecretAccessKey
	}
	s, err := server.New(cfg)
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
		case <-time.After(stopWait):
			t.Error("server did not stop")
		}
	}
	t.Cleanup(stop)
	return s.Addr(), stop
}

func (n *node) url() string { return "http://" + n.addr }

func (n *node) client() *lambda.Client {
	return lambda.New(lambda.Options{
		Region:           region,
		BaseEndpoint:     aws.String(n.url()),
		Credentials:      testCredentials,
		RetryMaxAttempts: 1,
	})
}

// testCredentials are testKey's, for SDK clients.
var testCredentials = credentials.NewStaticCredentialsProvider(testKey.AccessKeyID, testKey.SecretAccessKey, "")

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
	case "PreconditionFailedException":
		var e *types.PreconditionFailedException
		typed = errors.As(err, &e)
	case "ProvisionedConcurrencyConfigNotFoundException":
		var e *types.ProvisionedConcurrencyConfigNotFoundException
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

// heldRunner holds every mapping in its transitional state while held: it reports a mapping
// as got there (done) only once released.
type heldRunner struct {
	held    atomic.Bool
	applied atomic.Int64
	stopped atomic.Int64
}

func (r *heldRunner) finish(count *atomic.Int64, done func()) {
	go func() {
		for r.held.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		count.Add(1)
		if done != nil {
			done()
		}
	}()
}

func (r *heldRunner) Apply(m *mapping.EventSourceMapping, done func()) error {
	if m.Enabled {
		r.finish(&r.applied, done)
	} else {
		r.finish(&r.stopped, done)
	}
	return nil
}

func (r *heldRunner) Remove(_ string, done func()) { r.finish(&r.stopped, done) }

// rawRequest sends a request without the SDK (bad JSON, extension members), signed with
// testKey unless url is presigned.
func rawRequest(t *testing.T, method, url, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	if !req.URL.Query().Has("X-Amz-Signature") {
		if err := testKey.Sign(req, region); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// produceKeyed creates a topic of parts partitions and produces each records to every
// partition: partition p gets key "k<p>" and values "0".."each-1", in order. It returns the
// topic and the producer (which writes to the partition a record names).
func produceKeyed(t *testing.T, kt *kafkatest.Cluster, parts, each int) (string, *kgo.Client) {
	t.Helper()
	topic := kt.CreateTopic(t, int32(parts), nil)
	prod := kt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := 0; i < each; i++ {
		for p := int32(0); p < int32(parts); p++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte("k" + strconv.Itoa(int(p))), Value: []byte(strconv.Itoa(i))})
		}
	}
	kt.ProduceWith(t, prod, recs...)
	return topic, prod
}

// buildKafkaFn builds the aws-lambda-go function in testdata/kafkafn as the executable out and
// returns it.
func buildKafkaFn(t *testing.T, out string) []byte {
	t.Helper()
	build := exec.Command("go", "build", "-o", out, "./testdata/kafkafn")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build function: %v\n%s", err, b)
	}
	code, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// shareWithFunctions lets the function write into dir: as root, the server runs functions
// under their own uids (61000 and up), and a test's temporary directories are its own (0700).
func shareWithFunctions(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	for p := filepath.Dir(dir); p != filepath.Dir(p); p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// createKafkaFn registers the built kafkafn executable as the provided.al2023 function
// "kafkafn" with the environment env.
func createKafkaFn(t *testing.T, ctx context.Context, c *lambda.Client, code []byte, env map[string]string) {
	t.Helper()
	for _, k := range []string{"OUT_FILE", "FAIL_FILE"} {
		if p := env[k]; p != "" {
			shareWithFunctions(t, filepath.Dir(p))
		}
	}
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("kafkafn"),
		Role:         aws.String("arn:aws:iam::000000000000:role/lambda"),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		Code:         &types.FunctionCode{ZipFile: makeZip(t, zipEntry{"bootstrap", string(code), 0o755})},
		Environment:  &types.Environment{Variables: env},
	}); err != nil {
		t.Fatal(err)
	}
}

// createPlaintextMapping maps topic on the broker's plaintext listener to function fn, from
// TRIM_HORIZON in batches of up to batch records.
func createPlaintextMapping(t *testing.T, ctx context.Context, c *lambda.Client, kt *kafkatest.Cluster, fn, topic string, batch int32) *lambda.CreateEventSourceMappingOutput {
	t.Helper()
	esm, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName:           aws.String(fn),
		Topics:                 []string{topic},
		SelfManagedEventSource: &types.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {kt.Plaintext}}},
		// A plaintext broker needs no credentials; AWS then requires the VPC entries, which
		// kafkaesm accepts and ignores.
		SourceAccessConfigurations: []types.SourceAccessConfiguration{
			{Type: types.SourceAccessTypeVpcSubnet, URI: aws.String("subnet:subnet-0123456789abcdef0")},
			{Type: types.SourceAccessTypeVpcSecurityGroup, URI: aws.String("security_group:sg-0123456789abcdef0")},
		},
		StartingPosition: types.EventSourcePositionTrimHorizon,
		BatchSize:        aws.Int32(batch),
	})
	if err != nil {
		t.Fatal(err)
	}
	return esm
}
