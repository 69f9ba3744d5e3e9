package e2e

import (
	"fmt"
	"os"
	"testing"
)

// TestMain moves the tests' temporary directories out of /tmp when they run as root: a root
// server runs each function under its own uid with a /tmp of its own mounted over the
// machine's, so files a test shares with its functions (OUT_FILE, FAIL_FILE) must be elsewhere.
func TestMain(m *testing.M) {
	if os.Geteuid() != 0 || os.Getenv("TMPDIR") != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("/var/tmp", "kafkaesm-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Setenv("TMPDIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
