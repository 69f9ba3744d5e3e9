package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/invoke/invoketest"
	"github.com/kafkaesm/kafkaesm/internal/server"
)

// zipBootstrap zips the Go test handler as a provided.al2023 deployment package.
func zipBootstrap(t *testing.T) []byte {
	t.Helper()
	bin, err := os.ReadFile(filepath.Join(invoketest.GoHandler(t), "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bin)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestInvokeZippedGoHandler creates a function from a zip with the SDK, invokes it, updates
// its configuration and invokes the new revision, all through the SDK.
func TestInvokeZippedGoHandler(t *testing.T) {
	n := startServer(t, t.TempDir(), nil)
	c := n.client()
	ctx := testCtx(t)
	_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("gofn"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Timeout: aws.Int32(1),
		Code:        &types.FunctionCode{ZipFile: zipBootstrap(t)},
		Environment: &types.Environment{Variables: map[string]string{"USER_VAR": "one"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	invokeEnv := func() string {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("gofn"), Payload: []byte(`{"action":"env"}`),
			LogType: types.LogTypeTail})
		if err != nil || out.FunctionError != nil {
			t.Fatalf("invoke: %v %s", err, out.Payload)
		}
		logs, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
		if !strings.Contains(string(logs), "REPORT RequestId: ") {
			t.Errorf("LogResult:\n%s", logs)
		}
		return string(out.Payload)
	}
	if p := invokeEnv(); !strings.Contains(p, `"USER_VAR":"one"`) {
		t.Errorf("env: %s", p)
	}
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("gofn"), Payload: []byte(`{"action":"sleep","ms":3000}`)})
	if err != nil || aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), "Task timed out after 1.00 seconds") {
		t.Fatalf("timeout: %v %s", err, out.Payload)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("gofn"),
		Environment: &types.Environment{Variables: map[string]string{"USER_VAR": "two"}}}); err != nil {
		t.Fatal(err)
	}
	if p := invokeEnv(); !strings.Contains(p, `"USER_VAR":"two"`) {
		t.Errorf("after update: %s", p)
	}
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("gofn")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("gofn")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:gofn", true)
}

// TestInvokeZippedPythonHandler does the same for a Python handler run by awslambdaric.
func TestInvokeZippedPythonHandler(t *testing.T) {
	if !invoketest.AwslambdaricAvailable("") {
		if os.Getenv("CI") == "true" {
			t.Fatal("awslambdaric is not importable; CI must run: pip install awslambdaric")
		}
		t.Skip("awslambdaric not installed")
	}
	src, err := os.ReadFile(filepath.Join(invoketest.PythonHandlerDir(), "app.py"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("app.py")
	w.Write(src)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if ok, why := pythonForFunctionUsers(); os.Geteuid() == 0 && !ok {
		// A root server runs functions under their own uids, which need a Python every user can
		// read; this machine's is private to its owner.
		t.Logf("python3 cannot run under a function uid (%s): this test runs its function as the server's user", why)
		cfg.FunctionUIDs = "off"
	}
	addr, _ := runServer(t, cfg, 30*time.Second)
	n := &node{addr: addr, dir: cfg.DataDir}
	c := n.client()
	ctx := testCtx(t)
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("pyfn"), Runtime: types.RuntimePython312, Handler: aws.String("app.handler"),
		Role: aws.String("arn:aws:iam::000000000000:role/r"), Code: &types.FunctionCode{ZipFile: buf.Bytes()},
	}); err != nil {
		t.Fatal(err)
	}
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("pyfn"), Payload: []byte(`{"action":"echo","k":"v"}`),
		LogType: types.LogTypeTail})
	if err != nil || out.FunctionError != nil || !strings.Contains(string(out.Payload), `"k"`) {
		t.Fatalf("python echo: %v %s", err, out.Payload)
	}
	logs, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if !strings.Contains(string(logs), "handling echo") {
		t.Errorf("python LogResult:\n%s", logs)
	}
	out, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("pyfn"), Payload: []byte(`{"action":"error"}`)})
	if err != nil || aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), "ValueError") {
		t.Fatalf("python error: %v %s", err, out.Payload)
	}
}

// pythonForFunctionUsers reports whether python3 (resolved as the engine resolves it) can run
// under a function's own uid, as a root server runs functions; why not when it cannot.
func pythonForFunctionUsers() (bool, string) {
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return false, err.Error()
	}
	if err := invoke.OthersCanRun(strings.TrimSpace(string(out))); err != nil {
		return false, err.Error()
	}
	return true, ""
}
