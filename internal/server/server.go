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
	// AccessKeyID and SecretAccessKey enable AWS Signature V4 on the API (flags
	// --access-key-id/--secret-access-key or env KAFKAESM_ACCESS_KEY_ID/KAFKAESM_SECRET_ACCESS_KEY).
	// Without them the API is unauthenticated and may only listen on a loopback address.
	AccessKeyID     string
	SecretAccessKey string
	Logger          *slog.Logger
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
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("set both an access key id and a secret access key, or neither")
	}
	if c.AccessKeyID == "" && !isLoopback(host) {
		return fmt.Errorf("refusing to listen on %s without credentials: anyone who can reach it could read secrets and run functions; "+
			"set --access-key-id and --secret-access-key (or KAFKAESM_ACCESS_KEY_ID and KAFKAESM_SECRET_ACCESS_KEY), "+
			"or listen on a loopback address such as 127.0.0.1", c.Listen)
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
	api     *api.Server
	handler http.Handler // api, behind SigV4 when credentials are configured
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
	s := &Server{cfg: cfg}
	s.api = api.New(api.Config{Region: cfg.Region, AccountID: cfg.AccountID, Logger: cfg.Logger})
	s.handler = s.api
	if cfg.AccessKeyID != "" {
		h, err := api.SigV4(api.SigV4Config{
			Credentials: map[string]string{cfg.AccessKeyID: cfg.SecretAccessKey},
			Region:      cfg.Region,
		}, s.api)
		if err != nil {
			return nil, err
		}
		s.handler = h
	}
	return s, nil
}

// Start opens the listener. Addr is valid afterwards.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	s.ln = ln
	s.http = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Start(); err != nil {
			return err
		}
	}
	s.cfg.Logger.Info("kafkaesm listening", "addr", s.Addr(), "data_dir", s.cfg.DataDir, "sigv4", s.cfg.AccessKeyID != "")
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
