package server

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMetricsEndpoint: /metrics is behind authentication on the API listener, and answers
// in Prometheus text format to a signed request.
func TestMetricsEndpoint(t *testing.T) {
	s, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), AccessKeyID: "AKID", SecretAccessKey: "very-secret-key",
		Pollers: true, ScaleInterval: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop()
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("unsigned /metrics: %d", resp.StatusCode)
	}
	code, body := signedDo(t, s, mustRequest(t, "GET", "http://"+s.Addr()+"/metrics", ""))
	if code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("%d\n%.500s", code, body)
	}
}

// TestMetricsListen: --metrics-listen moves /metrics to its own listener, open (with the
// browser protections), and off the API listener.
func TestMetricsListen(t *testing.T) {
	s, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), MetricsListen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop()
	resp, err := http.Get("http://" + s.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("%d %s\n%.500s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	req, _ := http.NewRequest("GET", "http://"+s.MetricsAddr()+"/metrics", nil)
	req.Host = "evil.example"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("rebinding Host on the metrics listener: %d", resp.StatusCode)
	}
	if code, _ := signedDo(t, s, mustRequest(t, "GET", "http://"+s.Addr()+"/metrics", "")); code != 404 {
		t.Fatalf("/metrics on the API listener: %d, want 404", code)
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
