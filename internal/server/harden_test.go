package server

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kafkaesm/kafkaesm/internal/secrets"
)

// TestDataDirAndKeyFilePermissions: a new data directory is created 0700 and its database 0600;
// a data directory or key file that others can read is refused with the command that fixes it;
// the key file can live outside the data directory.
func TestDataDirAndKeyFilePermissions(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	root := t.TempDir()
	data, keyFile := filepath.Join(root, "data"), filepath.Join(root, "keys", "kafkaesm.key")
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	s, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: data, SecretKeyFile: keyFile, Logger: quiet})
	stop()
	_ = s
	mode := func(p string) os.FileMode {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(data); m != 0o700 {
		t.Errorf("data dir mode %04o, want 0700", m)
	}
	if m := mode(filepath.Join(data, "kafkaesm.db")); m != 0o600 {
		t.Errorf("database mode %04o, want 0600", m)
	}
	if m := mode(keyFile); m != 0o600 {
		t.Errorf("key file mode %04o, want 0600", m)
	}
	if _, err := os.Stat(filepath.Join(data, secrets.KeyFileName)); err == nil {
		t.Error("a key file was created in the data dir although --secret-key-file names another")
	}

	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := prepareDataDir(empty); err != nil || mode(empty) != 0o700 {
		t.Fatalf("empty 0755 data dir: %v, mode %04o; want it made 0700", err, mode(empty))
	}
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Listen: "127.0.0.1:0", DataDir: data, SecretKeyFile: keyFile, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "chmod 700 "+data) {
		t.Fatalf("0755 data dir: err = %v, want a refusal saying chmod 700", err)
	}
	if err := os.Chmod(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Listen: "127.0.0.1:0", DataDir: data, SecretKeyFile: keyFile, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+keyFile) {
		t.Fatalf("0640 key file: err = %v, want a refusal saying chmod 600", err)
	}
}

// TestServerIsNotDumpable: a function running as the server's user cannot read
// /proc/<server>/environ or ptrace it.
func TestServerIsNotDumpable(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("PR_SET_DUMPABLE is Linux only")
	}
	_, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop()
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil || d != 0 {
		t.Fatalf("PR_GET_DUMPABLE = %d, %v; want 0", d, err)
	}
}
