package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/server"
)

// TestMain lets the test binary act as the kafkaesm binary: for the README walkthrough (run
// with KAFKAESM_TEST_MAIN=1) and for the sample function, whose bootstrap execs
// os.Executable() — here the test binary — with `sample-handler`.
func TestMain(m *testing.M) {
	if os.Getenv("KAFKAESM_TEST_MAIN") == "1" || (len(os.Args) > 1 && os.Args[1] == "sample-handler") {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startServer runs a server in-process on 127.0.0.1:0 (no poller: mappings only move through
// their states, so lag stays where the test puts it) and returns its endpoint and data dir.
func startServer(t *testing.T, opts ...func(*server.Config)) (endpoint, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	cfg := server.Config{Listen: "127.0.0.1:0", DataDir: dataDir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Resync: time.Second,
		// The sample function's bootstrap runs the test binary from the build cache, which a
		// function uid cannot reach (as in `kafkaesm dev`).
		FunctionUIDs: "off"}
	for _, o := range opts {
		o(&cfg)
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("server: %v", err)
		}
	})
	// The CLI finds the credentials serve generated, as a user's --credentials would name them.
	if _, err := os.Stat(s.CredentialsFile()); err == nil {
		t.Setenv("KAFKAESM_CREDENTIALS_FILE", s.CredentialsFile())
	}
	return "http://" + s.Addr(), dataDir
}

type result struct {
	stdout, stderr string
	err            error
}

// cli runs one kafkaesm command in-process against endpoint.
func cli(t *testing.T, endpoint, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	if endpoint != "" {
		args = append([]string{"--endpoint", endpoint}, args...)
	}
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return result{out.String(), errOut.String(), err}
}

// ok runs a command that must succeed and returns its stdout.
func ok(t *testing.T, endpoint string, args ...string) string {
	t.Helper()
	r := cli(t, endpoint, "", args...)
	if r.err != nil {
		t.Fatalf("kafkaesm %s: %v\nstderr: %s", strings.Join(args, " "), r.err, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must fail and returns its error line, as main prints it.
func fails(t *testing.T, endpoint string, args ...string) string {
	t.Helper()
	r := cli(t, endpoint, "", args...)
	if r.err == nil {
		t.Fatalf("kafkaesm %s: want an error, got output:\n%s", strings.Join(args, " "), r.stdout)
	}
	return "kafkaesm: " + r.err.Error()
}
