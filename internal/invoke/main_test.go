package invoke

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/kafkaesm/kafkaesm/internal/invoke/invoketest"
)

// goDir holds the Go test handler as bootstrap, built once per test run.
var goDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kafkaesm-invoke-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := invoketest.BuildGoHandler(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
