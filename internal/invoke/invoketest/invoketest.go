// Package invoketest builds the test functions the invoke and api tests run: a Go handler made
// with aws-lambda-go and a Python handler for awslambdaric.
package invoketest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// GoHandlerPkg is the test handler's import path (internal/invoke/testdata/handler).
const GoHandlerPkg = "github.com/kafkaesm/kafkaesm/internal/invoke/testdata/handler"

// BuildGoHandler builds the Go test handler as dir/bootstrap, the layout of a provided.al2023
// zip. Tests call it once from TestMain; the go build cache makes repeats cheap.
func BuildGoHandler(dir string) error {
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "bootstrap"), GoHandlerPkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", GoHandlerPkg, err, out)
	}
	return nil
}

// PythonHandlerDir is the directory holding app.py (handler "app.handler").
func PythonHandlerDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "python")
}

// AwslambdaricAvailable reports whether python3 can import awslambdaric. Tests skip the
// Python cases without it, except in CI (CI=true) where it must be installed
// (pip install awslambdaric).
func AwslambdaricAvailable(python string) bool {
	if python == "" {
		python = "python3"
	}
	return exec.Command(python, "-c", "import awslambdaric").Run() == nil
}

var (
	goOnce sync.Once
	goDir  string
	goErr  error
)

// GoHandler returns a directory holding the Go test handler as bootstrap, building it once per
// test process. The directory is shared by test runs (per user) and replaced atomically, so
// packages testing in parallel do not disturb each other.
func GoHandler(tb testing.TB) string {
	tb.Helper()
	goOnce.Do(func() {
		goDir = filepath.Join(os.TempDir(), fmt.Sprintf("kafkaesm-test-gohandler-%d", os.Getuid()))
		if goErr = os.MkdirAll(goDir, 0o700); goErr != nil {
			return
		}
		tmp, err := os.MkdirTemp(goDir, "build-")
		if err != nil {
			goErr = err
			return
		}
		defer os.RemoveAll(tmp)
		if goErr = BuildGoHandler(tmp); goErr != nil {
			return
		}
		goErr = os.Rename(filepath.Join(tmp, "bootstrap"), filepath.Join(goDir, "bootstrap"))
	})
	if goErr != nil {
		tb.Fatal(goErr)
	}
	return goDir
}
