// Package server assembles one kafkaesm node: store, API, function runtime and pollers, and runs
// them until its context ends. It owns start-up order and shutdown; the pieces own their work.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/api"
	"github.com/kafkaesm/kafkaesm/internal/arn"
	"github.com/kafkaesm/kafkaesm/internal/iam"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/metrics"
	"github.com/kafkaesm/kafkaesm/internal/poller"
	"github.com/kafkaesm/kafkaesm/internal/reconcile"
	"github.com/kafkaesm/kafkaesm/internal/scaler"
	"github.com/kafkaesm/kafkaesm/internal/secrets"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// Config for one node.
type Config struct {
	// Listen is the API address; default 127.0.0.1:9001.
	Listen string
	// DataDir holds the database, function code and logs; default ./kafkaesm-data.
	DataDir string
	// Region and AccountID are used in ARNs; defaults us-east-1 and 000000000000.
	Region    string
	AccountID string
	Logger    *slog.Logger
	// Runner runs mappings. Default: the Kafka poller when Pollers is set, else
	// reconcile.NopRunner
	// (mappings only move through their states).
	Runner reconcile.Runner
	// Pollers runs mappings with internal/poller (serve sets it).
	Pollers bool
	// EventSource is the eventSource of Kafka payloads: "SelfManagedKafka" (default, what AWS
	// sends) or the seed document's "aws:SelfManagedKafka".
	EventSource string
	// KafkaSessionTimeout is the consumer groups' session timeout; default 45 s. A node that
	// crashed holds its partitions this long.
	KafkaSessionTimeout time.Duration
	// ShutdownGrace is how long, when the node shuts down, in-flight invocations may run to
	// their end (each within its function's timeout) before they are stopped and their batches
	// left to be redelivered; delivered offsets are committed and groups left after it in any
	// case. Default DefaultShutdownGrace (flag --shutdown-grace).
	ShutdownGrace time.Duration
	// KafkaAccessBackoff paces the re-probes of a mapping whose Kafka access fails (bad secret,
	// missing ACLs); default 1 s doubling to 30 s. A changed secret re-probes at once.
	KafkaAccessBackoff poller.Backoff
	// Resync is the reconciler's full resync period; default 30 s.
	Resync time.Duration
	// ScaleInterval is how often the scaler evaluates each mapping's consumer lag to size its
	// pollers; default 60 s, as Lambda; at least 1 s.
	ScaleInterval time.Duration
	// NoKafkaClientMetrics leaves franz-go's own client metrics (kprom) out of /metrics.
	NoKafkaClientMetrics bool
	// Python is the default interpreter of python3.* functions (default python3 on PATH) and
	// Pythons the interpreter of each listed version ("3.12" → path); see invoke.Config.
	Python  string
	Pythons map[string]string
	// AccessKeyID and SecretAccessKey are one principal with full access (flags
	// --access-key-id/--secret-access-key or env KAFKAESM_ACCESS_KEY_ID/KAFKAESM_SECRET_ACCESS_KEY).
	AccessKeyID     string
	SecretAccessKey string
	// PrincipalsFile lists principals and their policies (--principals; iam.File), re-read on
	// SIGHUP. Without it and without AccessKeyID, <DataDir>/credentials (an AWS
	// shared-credentials file; every profile is a principal with full access) is used, and
	// created with a new key pair in profile [kafkaesm] on first start.
	PrincipalsFile string
	// NoAuth serves the API without authentication (--no-auth; kafkaesm dev). Only on a
	// loopback address; the browser protections still apply.
	NoAuth bool
	// AllowedHosts are host names or addresses the Host header may carry besides loopback names
	// and addresses and the address a request arrived on (--allowed-host), e.g. the server's DNS
	// name.
	AllowedHosts []string
	// TLSCertFile and TLSKeyFile (PEM) serve the API over HTTPS (--tls-cert, --tls-key).
	TLSCertFile string
	TLSKeyFile  string
	// InsecureListen allows a non-loopback Listen without TLS (--insecure-listen): requests,
	// secret values and function code then cross the network in clear text.
	InsecureListen bool
	// MetricsListen serves /metrics on its own listener without authentication
	// (--metrics-listen); default "": /metrics is on the API listener, behind authentication.
	MetricsListen string
	// MaxConnections bounds the API listener's open connections; default 512. Further
	// connections wait in the kernel's accept queue.
	MaxConnections int
	// SpoolBudget bounds the bytes of request bodies spooled under <DataDir>/tmp at once while
	// their signature cannot be checked yet (--spool-budget); default api.DefaultSpoolBudget
	// (512 MiB). Beyond it requests get 429 TooManyRequestsException.
	SpoolBudget int64
	// ReadTimeout bounds reading a request (headers and body; code uploads get 10 min),
	// default 30 s; WriteTimeout bounds writing the answer (Invoke gets 16 min), default 2 min;
	// IdleTimeout closes idle keep-alive connections, default 2 min. MaxHeaderBytes default 64 KiB.
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	MaxHeaderBytes int
	// SecretKey is the base64 AES-256 key sealing secret values and function environment
	// variables (env KAFKAESM_SECRET_KEY); when empty, SecretKeyFile is used.
	SecretKey string
	// SecretKeyFile is the key file used when SecretKey is empty (flag --secret-key-file);
	// default <DataDir>/secret.key. It is created with mode 0600 on first start; one that group
	// or others can access is refused. Keeping it outside the data directory keeps a copy of the
	// data directory (a backup) from holding the key to its own secrets.
	SecretKeyFile string
	// FunctionUIDs is the uid range functions run under, one uid (and gid) per function, as
	// "FIRST-LAST" or "off" (flag --function-uids). Default: 61000-61999 when the server runs
	// as root, else off (functions then run as the server's user: see docs/functions.md).
	// Give each server on one machine its own range.
	FunctionUIDs string
	// CodeStorageQuota bounds the function code kept on this node, in bytes on disk (flag
	// --code-storage-quota); default 75 GB, Lambda's default code storage quota.
	CodeStorageQuota int64
}

// DefaultShutdownGrace is Config.ShutdownGrace's default: Lambda's longest function timeout,
// so that by default a shutdown ends no invocation early. Lower it when your service manager
// kills sooner (systemd's TimeoutStopSec is 90 s by default, docker stop waits 10 s).
const DefaultShutdownGrace = 15 * time.Minute

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:9001"
	}
	if c.DataDir == "" {
		c.DataDir = "./kafkaesm-data"
	}
	if c.SecretKeyFile == "" {
		c.SecretKeyFile = filepath.Join(c.DataDir, secrets.KeyFileName)
	}
	if c.Region == "" {
		c.Region = arn.DefaultRegion
	}
	if c.AccountID == "" {
		c.AccountID = arn.DefaultAccountID
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ScaleInterval == 0 {
		c.ScaleInterval = time.Minute
	}
	if c.ScaleInterval < time.Second {
		return fmt.Errorf("scale interval %v is below 1s", c.ScaleInterval)
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 512
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 2 * time.Minute
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("set both an access key id and a secret access key, or neither")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("set both --tls-cert and --tls-key, or neither")
	}
	if c.NoAuth {
		if c.AccessKeyID != "" || c.PrincipalsFile != "" {
			return errors.New("--no-auth contradicts the credentials given (--access-key-id or --principals)")
		}
		if !isLoopback(host) {
			return fmt.Errorf("refusing to listen on %s without authentication: anyone who can reach it could read secrets and run code; "+
				"drop --no-auth (serve then requires SigV4 with the credentials in <data-dir>/credentials), or listen on a loopback address such as 127.0.0.1", c.Listen)
		}
	}
	if !isLoopback(host) && c.TLSCertFile == "" && !c.InsecureListen {
		return fmt.Errorf("refusing to listen on %s without TLS: secret values and function code would cross the network in clear text; "+
			"set --tls-cert and --tls-key, or --insecure-listen to accept that", c.Listen)
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("metrics listen address %q: %w", c.MetricsListen, err)
		}
	}
	return nil
}

// isLoopback reports whether host (from a listen address) only accepts local connections.
// An empty host or 0.0.0.0 listens on every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is a running node.
type Server struct {
	cfg     Config
	store   *store.SQLite
	secrets *secrets.Repo
	rec     *reconcile.Reconciler
	fr      *functionRuntime
	// pollers is the Runner when Config.Pollers built it; Run stops its mappings on shutdown.
	pollers *poller.AccessGate
	manager *poller.Manager // the pollers' Manager: the scaler and the metrics use it
	scaler  *scaler.Scaler  // sizes pollers' mappings; nil without pollers
	metrics *metrics.Metrics
	api     *api.Server
	handler http.Handler // api, behind api.Protect
	// principals are the API's principals (nil with NoAuth); Reload replaces them.
	principals *iam.Set
	ln         net.Listener
	http       *http.Server
	metricsLn  net.Listener // MetricsListen's listener, when set
	metricsSrv *http.Server
}

// New prepares a node; Start opens the listener.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	harden()
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	st, err := store.OpenSQLite(context.Background(), cfg.DataDir)
	if err != nil {
		return nil, err
	}
	met := metrics.New(metrics.Config{})
	fr, err := newFunctionRuntime(cfg, st, func(err error) bool { return errors.Is(err, store.ErrNotFound) }, met)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	built := false // until New returns the node, a failure closes what it opened
	defer func() {
		if !built {
			_ = fr.Close()
			_ = st.Close()
		}
	}()
	sec, err := openSecrets(cfg, st)
	if err != nil {
		return nil, err
	}
	var (
		pollers *poller.AccessGate
		manager *poller.Manager
	)
	if cfg.Runner == nil && cfg.Pollers {
		if pollers, manager, err = newPollers(cfg, st, sec, fr.Engine, fr.Functions, met); err != nil {
			return nil, err
		}
		cfg.Runner = pollers
	}
	runner := cfg.Runner
	if runner != nil {
		runner = forgetMetrics{Runner: runner, met: met}
	}
	rec, err := reconcile.New(reconcile.Config{Store: st, Runner: runner, Resync: cfg.Resync, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, secrets: sec, rec: rec, fr: fr, pollers: pollers, manager: manager, metrics: met}
	met.SetConcurrency(fr.Engine)
	if manager != nil {
		met.SetMappings(manager)
		if s.scaler, err = newScaler(cfg, manager, pollers, met); err != nil {
			return nil, err
		}
	}
	s.api = api.New(api.Config{Region: cfg.Region, AccountID: cfg.AccountID, Logger: cfg.Logger,
		Store: st, DataDir: cfg.DataDir, CodeQuota: cfg.CodeStorageQuota, MappingChanged: rec.Notify,
		Invoker: fr.Engine, Functions: fr.Functions, Async: fr.Async, FunctionChanged: fr.Changed,
		LatestChanged: fr.LatestChanged, VersionDeleted: fr.VersionDeleted, QualifierChanged: fr.Functions.Invalidate, MappingCounts: s.mappingCounts,
		MappingPollers: s.mappingPollers, SecretARN: func(ctx context.Context, id string) (string, bool) {
			sec, err := sec.Get(ctx, id)
			if err != nil {
				return "", false
			}
			return sec.ARN, true
		}})
	secretChanged := func(string) {}
	if pollers != nil {
		secretChanged = pollers.SecretChanged // a corrected secret resumes its mappings at once
	}
	smAPI, err := secrets.NewAPI(secrets.APIConfig{Repo: sec, Region: cfg.Region, AccountID: cfg.AccountID, Logger: cfg.Logger,
		Changed: secretChanged})
	if err != nil {
		return nil, err
	}
	s.api.HandleSecretsManager(smAPI) // Secrets Manager (awsJson1.1, X-Amz-Target) on the same endpoint
	if cfg.MetricsListen == "" {
		s.api.Handle("GET /metrics", met.Handler()) // behind authentication, as the API
	}
	if err := s.setupAuth(); err != nil {
		return nil, err
	}
	built = true
	return s, nil
}

// openSecrets adds the secrets tables to the store's database and opens the sealed secret
// repository under the key from cfg.SecretKey or <DataDir>/secret.key.
func openSecrets(cfg Config, st *store.SQLite) (*secrets.Repo, error) {
	if err := store.Migrate(context.Background(), st.DB(), secrets.Migrations); err != nil {
		return nil, err
	}
	key, src, err := secrets.LoadKey(cfg.SecretKey, cfg.SecretKeyFile)
	if err != nil {
		return nil, err
	}
	sealer, err := secrets.NewSealer(key)
	if err != nil {
		return nil, err
	}
	cfg.Logger.Info("secret encryption key loaded", "source", string(src), "key_id", sealer.PrimaryKeyID())
	// Function environment variables are sealed with the same key; rows written in plain text
	// by an earlier version are sealed now.
	n, err := st.SealFunctions(context.Background(), sealer)
	if err != nil {
		return nil, fmt.Errorf("sealing function environment variables: %w", err)
	}
	if n > 0 {
		cfg.Logger.Info("function environment variables encrypted at rest", "functions", n)
	}
	return secrets.NewRepo(st.DB(), sealer), nil
}

// Secrets is the node's secret repository: the Secrets Manager API's storage and the pollers'
// kafkaauth.SecretSource.
func (s *Server) Secrets() *secrets.Repo { return s.secrets }

// Store is the node's state store (pollers report status through it).
func (s *Server) Store() *store.SQLite { return s.store }

// mappingCounts is the API's KafkaesmCounts of a mapping: its poller counters on this node.
func (s *Server) mappingCounts(uuid string) (*mapping.Counts, bool) {
	st, ok := s.MappingStats(uuid)
	if !ok {
		return nil, false
	}
	return &mapping.Counts{PolledEventCount: st.Polled, InvokedEventCount: st.Invoked, FailedInvokeEventCount: st.Failed,
		RetriedEventCount: st.Retried, FilteredOutEventCount: st.Filtered, OnFailureDestinationDeliveredEventCount: st.OnFailureDelivered,
		DroppedEventCount: st.Dropped, ThrottledInvokeCount: st.Throttled}, true
}

// mappingPollers is the API's KafkaesmPollers of a mapping: its effective poller count on
// this node, why the scaler last changed it, and its concurrency limit after throttles.
func (s *Server) mappingPollers(uuid string) (*mapping.Pollers, bool) {
	if s.manager == nil {
		return nil, false
	}
	n := s.manager.Pollers(uuid)
	if n == 0 {
		return nil, false
	}
	p := &mapping.Pollers{Pollers: n, ConcurrencyLimit: s.manager.ConcurrencyLimit(uuid)}
	if s.scaler != nil {
		if st, ok := s.scaler.Status(uuid); ok {
			p.Reason = st.Reason
			p.Changed = &mapping.EpochTime{Time: st.Changed}
		}
	}
	return p, true
}

// MappingStats returns the poller counters of a running mapping; false when no poller of this
// node runs it (the benchmark reads them).
func (s *Server) MappingStats(uuid string) (poller.Stats, bool) {
	if s.pollers == nil {
		return poller.Stats{}, false
	}
	return s.pollers.Stats(uuid)
}

// API is the HTTP API, for registering extra routes before Run.
func (s *Server) API() *api.Server { return s.api }

// Start opens the listeners. Addr is valid afterwards.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	if s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("TLS certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	s.ln = limitListener(ln, s.cfg.MaxConnections)
	s.http = s.newHTTPServer(s.handler)
	if s.cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			s.ln.Close()
			return fmt.Errorf("metrics listener: %w", err)
		}
		s.metricsLn = limitListener(mln, 64)
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metrics.Handler())
		h, _ := api.Protect(api.ProtectConfig{Guard: api.GuardConfig{AllowedHosts: s.cfg.AllowedHosts}}, mux)
		s.metricsSrv = s.newHTTPServer(h)
	}
	return nil
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// MetricsAddr is the address of the MetricsListen listener ("" without one).
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// Run serves until ctx is done, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	if s.ln == nil {
		if err := s.Start(); err != nil {
			return err
		}
	}
	defer s.fr.Close() // after the HTTP server: no invocation starts any more
	if s.pollers != nil {
		// After the reconciler stopped (deferred below, so it runs first), before the function
		// runtime closes: in-flight batches finish and are committed, consumers leave their groups.
		defer func() {
			// The grace period bounds the in-flight invocations only: the final commits and
			// LeaveGroups run after it on contexts of their own.
			closeCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
			defer cancel()
			if err := s.pollers.Close(closeCtx); err != nil {
				s.cfg.Logger.Warn("stopping pollers", "err", err)
			}
		}()
	}
	s.cfg.Logger.Info("kafkaesm listening", "addr", s.Addr(), "scheme", s.scheme(), "data_dir", s.cfg.DataDir, "sigv4", !s.cfg.NoAuth)
	if s.cfg.NoAuth {
		s.cfg.Logger.Warn("the API is NOT authenticated (--no-auth): every local user and process can create and invoke functions and read secrets")
	}
	if host, _, _ := net.SplitHostPort(s.cfg.Listen); !isLoopback(host) && s.cfg.TLSCertFile == "" {
		s.cfg.Logger.Warn("the API listens beyond loopback WITHOUT TLS (--insecure-listen): requests, secret values and function code cross the network in clear text",
			"addr", s.Addr())
	}
	if !s.cfg.NoAuth {
		defer s.watchSIGHUP(ctx)()
	}
	defer goRun(ctx, s.rec.Run)() // starts the reconciler now; stops it when Run returns
	if s.scaler != nil {
		// Stops before the reconciler (defers run last first) and the pollers.
		defer goRun(ctx, s.scaler.Run)()
	}
	type served struct {
		srv *http.Server
		ln  net.Listener
	}
	all := []served{{s.http, s.ln}}
	if s.metricsSrv != nil {
		s.cfg.Logger.Info("metrics listening", "addr", s.metricsLn.Addr().String())
		all = append(all, served{s.metricsSrv, s.metricsLn})
	}
	errc := make(chan error, len(all))
	for _, sv := range all {
		go func() { errc <- sv.srv.Serve(sv.ln) }()
	}
	var err error
	pending := len(all)
	select {
	case err = <-errc: // a listener failed: stop the others too
		pending--
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, sv := range all {
		err = errors.Join(err, sv.srv.Shutdown(shutdownCtx))
	}
	for ; pending > 0; pending-- {
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
			err = errors.Join(err, e)
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// goRun starts run in a goroutine with a context derived from ctx; the returned stop cancels
// that context and waits for run to return (its error is dropped: it returns nil on
// cancellation).
func goRun(ctx context.Context, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = run(ctx)
	}()
	return func() { cancel(); <-done }
}
