package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/secrets"
)

// TestDataDirAndKeyFileOfAnotherUser: a data directory or key file that belongs to another
// user is refused, whatever its mode. Its owner could otherwise replace what the server keeps
// there, or plant links the server follows as root (the database's -wal and -shm are chmod-ed
// and written through them), or, for the key file, know the key to every stored secret. Such
// paths come easily: the default ./kafkaesm-data in a directory others can write, or a key file
// named under /tmp that someone created first.
func TestDataDirAndKeyFileOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory another owner")
	}
	const other = 64301
	for _, empty := range []bool{true, false} {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		// A file of the server's that the other user's link would have it chmod.
		victim := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(victim, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if !empty {
			if err := os.Symlink(victim, filepath.Join(dir, "kafkaesm.db-wal")); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Lchown(dir, other, other); err != nil {
			t.Fatal(err)
		}
		err := prepareDataDir(dir)
		if err == nil || !strings.Contains(err.Error(), "chown") {
			t.Errorf("data directory of uid %d (empty %v): %v; want a refusal saying chown", other, empty, err)
		}
		if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("the file a link in the other user's data directory names: %v %v", fi.Mode(), err)
		}
	}

	key := filepath.Join(t.TempDir(), "planted.key")
	if err := os.WriteFile(key, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(key, other, other); err != nil {
		t.Fatal(err)
	}
	if _, _, err := secrets.LoadKey("", key); err == nil || !strings.Contains(err.Error(), "chown") {
		t.Errorf("key file of uid %d: %v; want a refusal saying chown", other, err)
	}
}
