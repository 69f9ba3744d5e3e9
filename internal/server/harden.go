package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// prepareDataDir creates the data directory with mode 0700, or checks an existing one: a data
// directory that group or others can enter or read is refused, with the command that fixes it.
// It holds the database (function configurations, sealed secrets), by default the key file,
// and the functions' code and logs; another local user must not reach any of it.
func prepareDataDir(dir string) error {
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
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("refusing to start: data directory %s has mode %04o, so other users can read the database, "+
			"function code and logs in it; fix it with: chmod 700 %s", dir, perm, dir)
	}
	return nil
}
