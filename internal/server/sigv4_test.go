package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/iam"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

func TestListenValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"loopback", Config{Listen: "127.0.0.1:0"}, ""},
		{"localhost no auth", Config{Listen: "localhost:0", NoAuth: true}, ""},
		{"ipv6 loopback no auth", Config{Listen: "[::1]:0", NoAuth: true}, ""},
		{"no auth on all interfaces", Config{Listen: "0.0.0.0:9001", NoAuth: true, InsecureListen: true}, "refusing to listen on 0.0.0.0:9001 without authentication"},
		{"no auth, empty host", Config{Listen: ":9001", NoAuth: true, InsecureListen: true}, "without authentication"},
		{"no TLS off loopback", Config{Listen: "10.1.2.3:9001"}, "refusing to listen on 10.1.2.3:9001 without TLS"},
		{"no TLS off loopback, accepted", Config{Listen: "0.0.0.0:9001", InsecureListen: true}, ""},
		{"TLS off loopback", Config{Listen: "0.0.0.0:9001", TLSCertFile: "c.pem", TLSKeyFile: "k.pem"}, ""},
		{"half a TLS pair", Config{Listen: "127.0.0.1:0", TLSCertFile: "c.pem"}, "both --tls-cert and --tls-key"},
		{"half a key pair", Config{Listen: "127.0.0.1:0", AccessKeyID: "AKID"}, "both"},
		{"no auth with keys", Config{Listen: "127.0.0.1:0", NoAuth: true, AccessKeyID: "AKID", SecretAccessKey: "s"}, "contradicts"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

// TestServeWithCredentials: with credentials, an unsigned API request gets AWS's 403 and
// /healthz stays open.
func TestServeWithCredentials(t *testing.T) {
	var logs kafkatest.Buffer
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
	if code, _ := signedDo(t, s, mustRequest(t, "GET", "http://"+s.Addr()+"/2015-03-31/functions/", "")); code != 200 {
		t.Fatalf("signed request: %d", code)
	}
}

// TestDefaultCredentials: serve without credentials creates <data-dir>/credentials (0600, AWS
// shared-credentials format, profile [kafkaesm]) on first start, logs where it is and how to
// use it but never the secret, keeps it across restarts, and requires it.
func TestDefaultCredentials(t *testing.T) {
	dir := t.TempDir()
	var logs kafkatest.Buffer // written by the server's goroutines
	s, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	path := filepath.Join(dir, "credentials")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	p, err := iam.Profile(path, "kafkaesm")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.AccessKeyID, "AKIA") || len(p.SecretAccessKey) != 40 {
		t.Fatalf("generated key %q / %d-character secret", p.AccessKeyID, len(p.SecretAccessKey))
	}
	if strings.Contains(logs.String(), p.SecretAccessKey) {
		t.Fatal("secret access key logged")
	}
	for _, want := range []string{path, "AWS_SHARED_CREDENTIALS_FILE=" + path + " AWS_PROFILE=kafkaesm aws lambda", p.AccessKeyID} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs.String())
		}
	}
	resp, err := http.Get("http://" + s.Addr() + "/2015-03-31/functions/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("unsigned: %d", resp.StatusCode)
	}
	if code, body := signedDo(t, s, mustRequest(t, "GET", "http://"+s.Addr()+"/2015-03-31/functions/", "")); code != 200 {
		t.Fatalf("signed with the generated key: %d %s", code, body)
	}
	stop()

	// A restart keeps the key.
	s2, _, stop2 := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop2()
	if p2, _ := iam.Profile(path, "kafkaesm"); p2.SecretAccessKey != p.SecretAccessKey {
		t.Fatal("restart replaced the key")
	}
	if code, body := signedDo(t, s2, mustRequest(t, "GET", "http://"+s2.Addr()+"/2015-03-31/functions/", "")); code != 200 {
		t.Fatalf("after restart: %d %s", code, body)
	}
}

// TestSecretsManagerEndpoint: the node serves the Secrets Manager API on its one endpoint and
// keeps values sealed in its database.
func TestSecretsManagerEndpoint(t *testing.T) {
	dir := t.TempDir()
	var logs kafkatest.Buffer
	s, ctx, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer stop()
	post := func(target, body string) (int, string) {
		req := mustRequest(t, "POST", "http://"+s.Addr()+"/", body)
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		return signedDo(t, s, req)
	}
	if code, body := post("secretsmanager.CreateSecret", `{"Name":"k","SecretString":"{\"username\":\"u\",\"password\":\"srv-SECRET-5d\"}"}`); code != 200 {
		t.Fatalf("CreateSecret: %d %s", code, body)
	}
	if v, err := s.Secrets().GetSecretValue(ctx, "k"); err != nil || !strings.Contains(v, "srv-SECRET-5d") {
		t.Fatalf("SecretSource: %v", err)
	}
	if code, body := post("secretsmanager.GetSecretValue", `{"SecretId":"k"}`); code != 200 || !strings.Contains(body, "srv-SECRET-5d") {
		t.Fatalf("GetSecretValue: %d", code)
	}
	// Audited: the create and the read, with principal, action, resource and outcome; never the value.
	stop()
	for _, want := range []string{
		"msg=audit principal=kafkaesm action=secretsmanager:CreateSecret resource=arn:aws:secretsmanager:us-east-1:000000000000:secret:k-?????? outcome=success status=200",
		// The read names the secret's own ARN (k-XXXXXX), which policies are judged on.
		"msg=audit principal=kafkaesm action=secretsmanager:GetSecretValue resource=arn:aws:secretsmanager:us-east-1:000000000000:secret:k-",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(logs.String(), "srv-SECRET-5d") {
		t.Error("secret value logged")
	}
	fi, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret.key: %v %v", fi, err)
	}
}

func mustRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	return req
}

// testPrincipal is the full-access principal of a test node: its explicit key pair, or the
// one it generated in its data directory.
func testPrincipal(t *testing.T, s *Server) *iam.Principal {
	t.Helper()
	if s.cfg.AccessKeyID != "" {
		return &iam.Principal{Name: "kafkaesm", AccessKeyID: s.cfg.AccessKeyID, SecretAccessKey: s.cfg.SecretAccessKey}
	}
	p, err := iam.Profile(s.CredentialsFile(), CredentialsProfile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signedDo signs req as the node's principal and sends it; it returns the status and body.
func signedDo(t *testing.T, s *Server, req *http.Request) (int, string) {
	t.Helper()
	return doAs(t, s, testPrincipal(t, s), req)
}

func doAs(t *testing.T, s *Server, p *iam.Principal, req *http.Request) (int, string) {
	t.Helper()
	if err := p.Sign(req, s.cfg.Region); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// runTestServer starts a server with cfg and runs it for at most 30 s under ctx; stop ends it
// and reports its error. Without credentials in cfg the node generates its own (signedDo
// signs with them).
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
	var stopped bool
	return s, ctx, func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestUnsafeModesWarn: --no-auth and a non-loopback listener without TLS each log a warning.
func TestUnsafeModesWarn(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Listen: "127.0.0.1:0", NoAuth: true}, "the API is NOT authenticated (--no-auth)"},
		{Config{Listen: "0.0.0.0:0", InsecureListen: true}, "WITHOUT TLS (--insecure-listen)"},
	} {
		var logs kafkatest.Buffer
		tt.cfg.DataDir = filepath.Join(t.TempDir(), "data")
		tt.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		_, _, stop := runTestServer(t, tt.cfg)
		kafkatest.WaitFor(t, 10*time.Second, func() error {
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), tt.want) {
				return fmt.Errorf("no warning %q yet", tt.want)
			}
			return nil
		})
		stop()
	}
}
