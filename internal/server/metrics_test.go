package server

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMetricsEndpoint: /metrics answers without a signature on a node that requires SigV4,
// in Prometheus text format.
func TestMetricsEndpoint(t *testing.T) {
	s, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), AccessKeyID: "AKID", SecretAccessKey: "very-secret-key",
		Pollers: true, ScaleInterval: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop()
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("%d %s\n%.500s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestScaleIntervalValidation(t *testing.T) {
	cfg := Config{ScaleInterval: 500 * time.Millisecond}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "scale interval") {
		t.Fatalf("err = %v", err)
	}
	cfg = Config{}
	if err := cfg.Validate(); err != nil || cfg.ScaleInterval != time.Minute {
		t.Fatalf("default %v, err %v", cfg.ScaleInterval, err)
	}
}
