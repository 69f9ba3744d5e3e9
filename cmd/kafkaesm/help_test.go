package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/server"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestHelpTexts guards the help a new user reads first (issue 13): flags only where they mean
// something, no stale defaults, the endpoints serve offers.
func TestHelpTexts(t *testing.T) {
	help := func(args ...string) string {
		t.Helper()
		r := cli(t, "", "", append(args, "--help")...)
		if r.err != nil {
			t.Fatalf("%s --help: %v", strings.Join(args, " "), r.err)
		}
		return r.stdout
	}
	for _, cmd := range [][]string{{"serve"}, {"dev"}, {"version"}, {"logs"}} {
		if h := help(cmd...); strings.Contains(h, "--endpoint") || strings.Contains(h, "--output") {
			t.Errorf("%s --help lists the API client's flags:\n%s", cmd[0], h)
		}
	}
	for _, cmd := range [][]string{{"mappings", "list"}, {"functions", "list"}, {"status"}} {
		if h := help(cmd...); !strings.Contains(h, "--endpoint") || !strings.Contains(h, "--output") {
			t.Errorf("%s --help lacks --endpoint or --output:\n%s", strings.Join(cmd, " "), h)
		}
	}
	produce := help("produce")
	for _, bad := range []string{"--bootstrap kafkaesm dev", "[127.0.0.1:9092]", "--endpoint"} {
		if strings.Contains(produce, bad) {
			t.Errorf("produce --help shows %q:\n%s", bad, produce)
		}
	}
	for _, want := range []string{"--bootstrap host:port[,host:port]", "--output", "--connect-timeout"} {
		if !strings.Contains(produce, want) {
			t.Errorf("produce --help lacks %q:\n%s", want, produce)
		}
	}
	if h := help("mappings", "update"); strings.Contains(h, "(default 100)") {
		t.Errorf("mappings update --help claims a default batch size:\n%s", h)
	}
	serve := help("serve")
	for _, want := range []string{"/healthz", "/metrics", "--python", "kafkaesm stopped"} {
		if !strings.Contains(serve, want) {
			t.Errorf("serve --help lacks %q:\n%s", want, serve)
		}
	}
	if strings.Contains(serve, "seed") {
		t.Errorf("serve --help speaks of the seed document:\n%s", serve)
	}
}

// TestLogsHint: logs without --data-dir, after kafkaesm dev, names dev's data directory.
func TestLogsHint(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	r := cli(t, "", "", "logs", "demo-fn")
	if r.err == nil || !strings.Contains(r.err.Error(), "--data-dir, ./kafkaesm-dev for kafkaesm dev") {
		t.Errorf("logs without any data dir: %v", r.err)
	}
	if err := os.MkdirAll(invoke.LogDir(filepath.Join(dir, "kafkaesm-dev"), "demo-fn"), 0o700); err != nil {
		t.Fatal(err)
	}
	r = cli(t, "", "", "logs", "demo-fn")
	if r.err == nil || !strings.Contains(r.err.Error(), "logs demo-fn --data-dir ./kafkaesm-dev") {
		t.Errorf("logs after dev: %v", r.err)
	}
}

func TestSelfCommand(t *testing.T) {
	for _, c := range []struct{ exe, arg0, want string }{
		{"/tmp/go-build123/b001/exe/kafkaesm", "/tmp/go-build123/b001/exe/kafkaesm", "go run ./cmd/kafkaesm"},
		{"/home/u/.cache/go-build/d8/" + strings.Repeat("ab", 32) + "-d/kafkaesm", "x", "go run ./cmd/kafkaesm"},
		{"/ci/gocache/d8/" + strings.Repeat("0f", 32) + "-d/kafkaesm", "x", "go run ./cmd/kafkaesm"}, // GOCACHE set
		{"/usr/local/bin/kafkaesm", "kafkaesm", "kafkaesm"},
		{"/home/u/src/kafkaesm/kafkaesm", "./kafkaesm", "./kafkaesm"},
	} {
		if got := selfCommandFor(c.exe, c.arg0); got != c.want {
			t.Errorf("selfCommandFor(%q, %q) = %q, want %q", c.exe, c.arg0, got, c.want)
		}
	}
}

// TestServeSaysWhenItStops: serve's run loop logs when it is asked to stop and when it has.
func TestServeSaysWhenItStops(t *testing.T) {
	var logs kafkatest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := server.New(server.Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data"), Logger: log,
		Resync: time.Second, FunctionUIDs: "off"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, s, log) }()
	kafkatest.WaitFor(t, time.Minute, func() error {
		if !strings.Contains(logs.String(), "kafkaesm listening") {
			return errors.New("not listening yet")
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`msg="kafkaesm stopping`, `msg="kafkaesm stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("serve's log lacks %s:\n%s", want, logs.String())
		}
	}
}
