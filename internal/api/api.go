// Package api serves kafkaesm's one HTTP endpoint: the Lambda API subset (event source mappings,
// functions, Invoke, tags), the Secrets Manager subset, /healthz and /metrics. It decodes,
// validates and answers; it never talks to Kafka and never runs functions itself.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"

	"github.com/kafkaesm/kafkaesm/internal/arn"
	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// Config is what the API needs to know about its deployment.
type Config struct {
	// Region for ARNs; default us-east-1.
	Region string
	// AccountID for ARNs; default 000000000000.
	AccountID string
	Logger    *slog.Logger

	// Invoker runs Invoke (RequestResponse); Functions resolves the function it names (404s,
	// DryRun); Async queues Event invocations. Invoke answers ServiceException without them.
	Invoker   invoke.Invoker
	Functions invoke.Functions
	Async     AsyncInvoker
	// Store holds mappings, functions and tags. Required for the Lambda API routes; without it
	// only /healthz and extra routes are served.
	Store store.Store
	// DataDir is the node's data directory; function code goes to DataDir/functions.
	DataDir string
	// CodeQuota bounds the function code stored on this node, in bytes on disk (zips and
	// unpacked files); beyond it uploads fail with CodeStorageExceededException. Default
	// function.DefaultCodeQuota (75 GB, Lambda's default code storage quota).
	CodeQuota int64
	// MappingChanged is called after a mapping was created, updated or marked for deletion,
	// with its UUID (the reconciler's Notify). Optional.
	MappingChanged func(uuid string)
	// FunctionChanged is called after a function was deleted, so the invoker can retire its
	// environments. Optional.
	FunctionChanged func(name string)
	// VersionDeleted is called after a published version was deleted, so the invoker can
	// retire that version's environments (the others stay warm). Optional; FunctionChanged is
	// called instead when it is nil.
	VersionDeleted func(name, version string)
	// LatestChanged is called after $LATEST's code, configuration or reserved concurrency
	// changed, so the invoker can retire $LATEST's environments (published versions are
	// immutable and stay warm). Optional; FunctionChanged is called instead when it is nil.
	LatestChanged func(name string)
	// QualifierChanged is called after a version was published or an alias was created,
	// updated or deleted, so that cached resolutions of the function's qualifiers are
	// forgotten (warm environments stay: versions are immutable). Optional.
	QualifierChanged func(name string)
	// MappingCounts returns what this node's pollers did with a mapping's records, shown in
	// Get and List responses as the extension member KafkaesmCounts; nil or false: absent.
	// Optional.
	MappingCounts func(uuid string) (*mapping.Counts, bool)
	// MappingPollers returns how this node scales a mapping, shown in Get and List responses
	// as the extension member KafkaesmPollers; nil or false: absent. Optional.
	MappingPollers func(uuid string) (*mapping.Pollers, bool)
	// SecretARN resolves a SecretId (name, partial or full ARN) to the ARN of the secret it
	// names, so that policies judge the secret itself, as IAM does, however it is named.
	// Required with HandleSecretsManager when principals may carry policies.
	SecretARN func(ctx context.Context, id string) (string, bool)
}

func (c *Config) setDefaults() {
	if c.Region == "" {
		c.Region = arn.DefaultRegion
	}
	if c.AccountID == "" {
		c.AccountID = arn.DefaultAccountID
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server is the HTTP API.
type Server struct {
	cfg  Config
	mux  *http.ServeMux
	code *function.CodeStore
}

// New builds the API. Routes are registered in routes().
func New(cfg Config) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.code = &function.CodeStore{Root: s.codeRoot(), Quota: cfg.CodeQuota}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	// A person (or a browser) trying the address gets a pointer instead of 405.
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("kafkaesm: AWS Lambda's event source mapping for self-managed Apache Kafka.\n" +
			"This is an API endpoint: use the AWS CLI or an SDK with --endpoint-url (Lambda, Secrets Manager),\n" +
			"or the kafkaesm CLI (kafkaesm status, kafkaesm mappings list). GET /healthz, GET /metrics.\n"))
	})
	s.handle("POST /2015-03-31/functions/{FunctionName}/invocations", s.handleInvoke)
	if s.cfg.Store != nil {
		s.mappingRoutes()
		s.functionRoutes()
		s.tagRoutes()
	}
}

// Handle registers an extra route (metrics, console) on the API's mux, authorised under the
// action routeActions gives its pattern (kafkaesm:Unmapped, allowed only to principals without
// a policy, when none).
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.authorize(actionFor(pattern), func(*http.Request) string { return "*" }, h))
}

// HandleSecretsManager registers the Secrets Manager API (awsJson1.1, POST / with
// X-Amz-Target), authorised per operation on the secret the request names.
func (s *Server) HandleSecretsManager(h http.Handler) {
	s.mux.Handle("POST /{$}", s.authorize("secretsmanager:", nil, h))
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if w.Header().Get("x-amzn-RequestId") == "" {
		w.Header().Set("x-amzn-RequestId", newRequestID())
	}
	defer func() {
		// A bug must cost one request a 500, never the server.
		if v := recover(); v != nil {
			s.cfg.Logger.Error("api panic", "method", r.Method, "path", r.URL.Path, "panic", v)
			WriteError(w, &Error{Code: Service, Message: "An internal error occurred."})
		}
	}()
	s.mux.ServeHTTP(w, r)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
