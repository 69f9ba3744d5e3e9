package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestListenRequiresCredentials(t *testing.T) {
	tests := []struct {
		listen, id, secret string
		wantErr            string
	}{
		{"127.0.0.1:0", "", "", ""},
		{"localhost:0", "", "", ""},
		{"[::1]:0", "", "", ""},
		{"0.0.0.0:9001", "", "", "refusing to listen on 0.0.0.0:9001 without credentials"},
		{":9001", "", "", "refusing to listen"},
		{"10.1.2.3:9001", "", "", "refusing to listen"},
		{"0.0.0.0:9001", "AKID", "s3cr3t", ""},
		{"127.0.0.1:0", "AKID", "", "both"},
	}
	for _, tt := range tests {
		cfg := Config{Listen: tt.listen, AccessKeyID: tt.id, SecretAccessKey: tt.secret}
		err := cfg.Validate()
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s id=%q: err = %v, want %q", tt.listen, tt.id, err, tt.wantErr)
		}
	}
}

// TestServeWithCredentials: with credentials, an unsigned API request gets AWS's 403 and
// /healthz stays open.
func TestServeWithCredentials(t *testing.T) {
	var logs strings.Builder
	s, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), AccessKeyID: "AKID", SecretAccessKey: "very-secret-key",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer func() {
		stop()
		if strings.Contains(logs.String(), "very-secret-key") {
			t.Error("secret access key logged")
		}
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType") + " " + string(b)
	}
	if code, body := get("/2015-03-31/event-source-mappings/"); code != 403 || !strings.Contains(body, "MissingAuthenticationTokenException") {
		t.Fatalf("unsigned request: %d %s", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
}

// TestSecretsManagerEndpoint: the node serves the Secrets Manager API on its one endpoint and
// keeps values sealed in its database.
func TestSecretsManagerEndpoint(t *testing.T) {
	dir := t.TempDir()
	s, ctx, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop()
	post := func(target, body string) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("secretsmanager.CreateSecret", `{"Name":"k","SecretString":"{\"username\":\"u\",\"password\":\"srv-SECRET-5d\"}"}`); code != 200 {
		t.Fatalf("CreateSecret: %d %s", code, body)
	}
	if v, err := s.Secrets().GetSecretValue(ctx, "k"); err != nil || !strings.Contains(v, "srv-SECRET-5d") {
		t.Fatalf("SecretSource: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret.key: %v %v", fi, err)
	}
}

// runTestServer starts a server with cfg and runs it for at most 30 s under ctx; stop ends it
// and reports its error.
func runTestServer(t *testing.T, cfg Config) (*Server, context.Context, func()) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s, ctx, func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
