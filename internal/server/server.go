// Package server assembles one kafkaesm node: store, API, function runtime and pollers, and runs
// them until its context ends. It owns start-up order and shutdown; the pieces own their work.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/api"
	"github.com/kafkaesm/kafkaesm/internal/poller"
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
	// Runner runs mappings. Default: the Kafka poller when Pollers is set, else NopRunner
	// (mappings only move through their states).
	Runner Runner
	// Pollers runs mappings with internal/poller (serve sets it).
	Pollers bool
	// EventSource is the eventSource of Kafka payloads: "SelfManagedKafka" (default, what AWS
	// sends) or the seed document's "aws:SelfManagedKafka".
	EventSource string
	// KafkaSessionTimeout is the consumer groups' session timeout; default 45 s. A node that
	// crashed holds its partitions this long.
	KafkaSessionTimeout time.Duration
	// Resync is the reconciler's full resync period; default 30 s.
	Resync time.Duration
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:9001"
	}
	if c.DataDir == "" {
		c.DataDir = "./kafkaesm-data"
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	return nil
}

// Server is a running node.
type Server struct {
	cfg   Config
	store *store.SQLite
	rec   *Reconciler
	fr    *functionRuntime
	// pollers is the Runner when Config.Pollers built it; Run stops its mappings on shutdown.
	pollers *poller.Manager
	api     *api.Server
	ln      net.Listener
	http    *http.Server
}

// New prepares a node; Start opens the listener.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st, err := store.OpenSQLite(context.Background(), cfg.DataDir)
	if err != nil {
		return nil, err
	}
	fr, err := newFunctionRuntime(cfg, st.GetFunction, func(err error) bool { return errors.Is(err, store.ErrNotFound) })
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	var pollers *poller.Manager
	if cfg.Runner == nil && cfg.Pollers {
		if pollers, err = newPollers(cfg, st, fr.Engine); err != nil {
			_ = fr.Close()
			_ = st.Close()
			return nil, err
		}
		cfg.Runner = pollers
	}
	rec, err := NewReconciler(ReconcilerConfig{Store: st, Runner: cfg.Runner, Resync: cfg.Resync, Logger: cfg.Logger})
	if err != nil {
		_ = fr.Close()
		_ = st.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, rec: rec, fr: fr, pollers: pollers}
	s.api = api.New(api.Config{Region: cfg.Region, AccountID: cfg.AccountID, Logger: cfg.Logger,
		Store: st, DataDir: cfg.DataDir, MappingChanged: rec.Notify,
		Invoker: fr.Engine, Functions: fr.Functions, Async: fr.Async, FunctionChanged: fr.Changed})
	return s, nil
}

// Store is the node's state store (pollers report status through it).
func (s *Server) Store() *store.SQLite { return s.store }

// Pollers is the poller Manager running this node's mappings, nil unless Config.Pollers built
// it (the benchmark reads its counters).
func (s *Server) Pollers() *poller.Manager { return s.pollers }

// API is the HTTP API, for registering extra routes before Run.
func (s *Server) API() *api.Server { return s.api }

// Start opens the listener. Addr is valid afterwards.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	s.ln = ln
	s.http = &http.Server{Handler: s.api, ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

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
			closeCtx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			if err := s.pollers.Close(closeCtx); err != nil {
				s.cfg.Logger.Warn("stopping pollers", "err", err)
			}
		}()
	}
	s.cfg.Logger.Info("kafkaesm listening", "addr", s.Addr(), "data_dir", s.cfg.DataDir)
	recCtx, stopRec := context.WithCancel(ctx)
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		_ = s.rec.Run(recCtx)
	}()
	defer func() { stopRec(); <-recDone }()
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.http.Shutdown(shutdownCtx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}
