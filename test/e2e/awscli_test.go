package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestAWSCLILifecycle builds the kafkaesm binary, starts `kafkaesm serve` on a free port and
// runs test/e2e/awscli/esm_lifecycle.sh against it. It skips when the aws CLI is missing,
// unless CI=true (CI installs it: pip install awscli).
func TestAWSCLILifecycle(t *testing.T) {
	t.Logf("%s", runAWSCLIScript(t, "esm_lifecycle.sh", "OK: AWS CLI life cycle passed"))
}

// runAWSCLIScript starts the kafkaesm binary and runs test/e2e/awscli/NAME against it, with
// ENDPOINT, CREDENTIALS and env set; the script must succeed and print ok. Its output is
// returned. It skips when the aws CLI is missing, unless CI=true (CI installs it).
func runAWSCLIScript(t *testing.T, name, ok string, env ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("aws CLI not installed (pip install awscli)")
		}
		t.Skip("aws CLI not installed")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is required by the CLI scripts")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, endpoint, dataDir := startBinary(t, ctx)
	script, err := filepath.Abs(filepath.Join("awscli", name))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(append(os.Environ(), "ENDPOINT="+endpoint, "CREDENTIALS="+filepath.Join(dataDir, "credentials")), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), ok) {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	return out
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildBinary builds cmd/kafkaesm once per test run.
func buildBinary(t *testing.T, ctx context.Context) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kafkaesm-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "kafkaesm")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", builtBin, "github.com/kafkaesm/kafkaesm/cmd/kafkaesm").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// startBinary runs `kafkaesm serve` on a free loopback port with a fresh data dir and returns
// the binary, the API endpoint and the data dir (where serve wrote its credentials file). The
// server gets SIGTERM when the test ends, and must exit 0.
func startBinary(t *testing.T, ctx context.Context) (bin, endpoint, dataDir string) {
	t.Helper()
	bin = buildBinary(t, ctx)
	dataDir = t.TempDir()
	// Not CommandContext: the test's context ends before the cleanup that must SIGTERM the server.
	srv := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() { // keep draining so the server never blocks on its log
			var line struct{ Msg, Addr string }
			if !sent && json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "kafkaesm listening" {
				addr <- line.Addr
				sent = true
			}
		}
	}()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		<-drained
		if err := srv.Wait(); err != nil {
			t.Errorf("kafkaesm serve did not exit cleanly on SIGTERM: %v", err)
		}
	})
	select {
	case a := <-addr:
		return bin, "http://" + a, dataDir
	case <-ctx.Done():
		t.Fatal("server did not report its address")
	}
	return "", "", ""
}

// TestAWSCLIVersions runs test/e2e/awscli/versions.sh: publish → alias → mapping on the alias →
// update the alias → roll back, with the AWS CLI, invoking the Go test handler at each step.
func TestAWSCLIVersions(t *testing.T) {
	zip := filepath.Join(t.TempDir(), "fn.zip")
	if err := os.WriteFile(zip, zipBootstrap(t), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", runAWSCLIScript(t, "versions.sh", "OK: AWS CLI versions and aliases passed", "HANDLER_ZIP="+zip))
}

// TestAWSCLISecrets stores Kafka credentials the way a user does: `aws secretsmanager` against
// the node's one endpoint.
func TestAWSCLISecrets(t *testing.T) {
	runAWSCLIScript(t, "secrets.sh", "OK: AWS CLI secrets passed")
}

// TestBinary proves the binary itself: `version`, and `serve` answering /healthz and stopping
// cleanly on SIGTERM.
func TestBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, endpoint, _ := startBinary(t, ctx)
	out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "kafkaesm ") {
		t.Fatalf("kafkaesm version: %v: %q", err, out)
	}
	resp, err := http.Get(endpoint + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}
}
