package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAWSCLILifecycle builds the kafkaesm binary, starts `kafkaesm serve` on a free port and
// runs test/e2e/awscli/esm_lifecycle.sh against it. It skips when the aws CLI is missing,
// unless CI=true (CI installs it: pip install awscli).
func TestAWSCLILifecycle(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("aws CLI not installed (pip install awscli)")
		}
		t.Skip("aws CLI not installed")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is required by the CLI script")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "kafkaesm")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/kafkaesm/kafkaesm/cmd/kafkaesm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	srv := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
	}()
	addr := make(chan string, 1)
	go func() {
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
	var endpoint string
	select {
	case a := <-addr:
		endpoint = "http://" + a
	case <-ctx.Done():
		t.Fatal("server did not report its address")
	}

	script, err := filepath.Abs("awscli/esm_lifecycle.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(os.Environ(), "ENDPOINT="+endpoint)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("esm_lifecycle.sh: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "OK: AWS CLI life cycle passed") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	t.Logf("%s", out)
}
