package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/kafkaesm/kafkaesm/internal/store"
)

// prepareDataDir makes the data directory 0700: it creates it so, and an existing empty one
// (made by mkdir or a test's temporary directory) is set so. An existing directory with
// content that group or others can enter or read, or one of another user, is refused, with the
// command that fixes it:
// what it holds may already have been read, and its owner should know. It holds the database
// (function configurations, sealed secrets), by default the key file, and the functions' code
// and logs; another local user must not reach any of it.
func prepareDataDir(dir string) error {
	if err := checkDataDir(dir); err != nil {
		return err
	}
	// The database is created 0600 here, before SQLite opens it: SQLite would create it 0644,
	// and gives its -wal and -shm files the database file's mode.
	db := filepath.Join(dir, store.FileName)
	f, err := os.OpenFile(db, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	_ = f.Close()
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	return nil
}

func checkDataDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		// MkdirAll's mode is filtered by the umask of whoever started us.
		return os.Chmod(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	// Its owner can replace what is in it, or plant links the server would follow.
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("refusing to start: data directory %s belongs to uid %d, who could change the database and key "+
			"in it or plant links there; fix it with: chown -R %d %s (after checking what is in it)", dir, st.Uid, os.Geteuid(), dir)
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) == 0 {
		return os.Chmod(dir, 0o700)
	}
	return fmt.Errorf("refusing to start: data directory %s has mode %04o, so other users can read the database, "+
		"function code and logs in it; fix it with: chmod 700 %s", dir, perm, dir)
}
