package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/api"
	"github.com/kafkaesm/kafkaesm/internal/iam"
)

// CredentialsFileName is the AWS shared-credentials file serve creates in its data directory
// when no credentials are configured; its profile is CredentialsProfile.
const (
	CredentialsFileName = "credentials"
	CredentialsProfile  = "kafkaesm"
)

// setupAuth loads the principals and wraps the API in api.Protect: browser protections and
// body limits always, SigV4 unless NoAuth.
func (s *Server) setupAuth() error {
	pc := api.ProtectConfig{Guard: api.GuardConfig{AllowedHosts: s.cfg.AllowedHosts}}
	if !s.cfg.NoAuth {
		ps, err := s.loadPrincipals(true)
		if err != nil {
			return err
		}
		if s.principals, err = iam.NewSet(ps); err != nil {
			return err
		}
		spool := filepath.Join(s.cfg.DataDir, "tmp")
		if err := os.MkdirAll(spool, 0o700); err != nil {
			return err
		}
		pc.Auth = &api.SigV4Config{Principals: s.principals, Region: s.cfg.Region, SpoolDir: spool, SpoolBudget: s.cfg.SpoolBudget}
	}
	h, err := api.Protect(pc, s.api)
	if err != nil {
		return err
	}
	s.handler = h
	return nil
}

// loadPrincipals reads the configured principals: the explicit key pair and the principals
// file, or else <DataDir>/credentials, which it creates (when create) on first start.
func (s *Server) loadPrincipals(create bool) ([]*iam.Principal, error) {
	var ps []*iam.Principal
	if s.cfg.AccessKeyID != "" {
		ps = append(ps, &iam.Principal{Name: CredentialsProfile, AccessKeyID: s.cfg.AccessKeyID, SecretAccessKey: s.cfg.SecretAccessKey})
	}
	if s.cfg.PrincipalsFile != "" {
		fps, err := iam.LoadFile(s.cfg.PrincipalsFile)
		if err != nil {
			return nil, err
		}
		ps = append(ps, fps...)
	}
	if len(ps) > 0 {
		return ps, nil
	}
	path := s.CredentialsFile()
	if abs, err := filepath.Abs(path); err == nil {
		path = abs // logged: usable from any directory
	}
	ps, err := iam.LoadSharedCredentials(path)
	if err == nil {
		s.cfg.Logger.Info("API credentials loaded", "file", path, "principals", len(ps))
		return ps, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return nil, err
	}
	p, err := iam.CreateSharedCredentials(path, CredentialsProfile)
	if err != nil {
		return nil, fmt.Errorf("creating API credentials: %w", err)
	}
	s.cfg.Logger.Info("API credentials created: requests must be signed (SigV4) with the key in this file (mode 0600)",
		"file", path, "access_key_id", p.AccessKeyID,
		"aws_cli", "AWS_SHARED_CREDENTIALS_FILE="+path+" AWS_PROFILE="+CredentialsProfile+" aws lambda list-functions --endpoint-url "+s.endpointHint(),
		"kafkaesm_cli", "found automatically in ./kafkaesm-data, else --credentials "+path)
	return []*iam.Principal{p}, nil
}

// CredentialsFile is <DataDir>/credentials.
func (s *Server) CredentialsFile() string { return filepath.Join(s.cfg.DataDir, CredentialsFileName) }

func (s *Server) endpointHint() string { return s.scheme() + "://" + s.cfg.Listen }

func (s *Server) scheme() string {
	if s.cfg.TLSCertFile != "" {
		return "https"
	}
	return "http"
}

// Reload re-reads the principals (the principals file or <DataDir>/credentials) and swaps them
// in; requests in flight finish with the set they started with. On error the old set stays.
func (s *Server) Reload() error {
	if s.principals == nil {
		return errors.New("the API runs without authentication: nothing to reload")
	}
	ps, err := s.loadPrincipals(false)
	if err != nil {
		return err
	}
	return s.principals.Replace(ps)
}

// watchSIGHUP reloads the principals on every SIGHUP until the returned stop is called.
func (s *Server) watchSIGHUP(ctx context.Context) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				if err := s.Reload(); err != nil {
					s.cfg.Logger.Error("SIGHUP: principals not reloaded; the previous ones stay in force", "err", err)
				} else {
					s.cfg.Logger.Info("SIGHUP: principals reloaded", "principals", s.principals.Len())
				}
			}
		}
	})
	return func() { signal.Stop(ch); cancel(); wg.Wait() }
}

func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, s.cfg.ReadTimeout),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		// net/http's own complaints (TLS handshake errors, bad requests) at debug level:
		// anyone can cause them.
		ErrorLog: slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
	}
}

// limitListener accepts at most n open connections; the next waits (in the kernel's accept
// queue) until one closes.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
}

func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
