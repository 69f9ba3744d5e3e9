package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestCLIFindsGeneratedCredentials: the CLI signs with ./kafkaesm-data/credentials (what serve
// writes with its default --data-dir) without being told, unless others may read or change it,
// and with --credentials FILE.
func TestCLIFindsGeneratedCredentials(t *testing.T) {
	ep, dataDir := startServer(t)
	for _, k := range []string{"KAFKAESM_CREDENTIALS_FILE", "KAFKAESM_ACCESS_KEY_ID", "KAFKAESM_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "")
	}
	generated, err := os.ReadFile(filepath.Join(dataDir, "credentials"))
	if err != nil {
		t.Fatal(err)
	}
	cwd := t.TempDir()
	t.Chdir(cwd)
	// Nothing to sign with: the placeholders are refused.
	if got := fails(t, ep, "functions", "list"); !regexp.MustCompile(`^kafkaesm: UnrecognizedClientException: `).MatchString(got) {
		t.Fatalf("without credentials: %q", got)
	}
	if err := os.MkdirAll("kafkaesm-data", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("kafkaesm-data/credentials", generated, 0o600); err != nil {
		t.Fatal(err)
	}
	ok(t, ep, "functions", "list")

	// One others can read or change (a checked-out repository's, another user's) is not
	// picked up unasked; named, it is used.
	if err := os.Chmod("kafkaesm-data/credentials", 0o644); err != nil {
		t.Fatal(err)
	}
	if got := fails(t, ep, "functions", "list"); !regexp.MustCompile(`^kafkaesm: not signing with ./kafkaesm-data/credentials: .*mode 0644`).MatchString(got) {
		t.Fatalf("a 0644 ./kafkaesm-data/credentials: %q", got)
	}
	ok(t, ep, "--credentials", "kafkaesm-data/credentials", "functions", "list")

	if err := os.Rename("kafkaesm-data/credentials", "elsewhere"); err != nil {
		t.Fatal(err)
	}
	ok(t, ep, "--credentials", "elsewhere", "functions", "list")
	if got := fails(t, ep, "--credentials", "missing", "functions", "list"); !regexp.MustCompile(`^kafkaesm: --credentials: .*missing`).MatchString(got) {
		t.Fatalf("a missing --credentials file: %q", got)
	}
}
