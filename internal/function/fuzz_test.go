package function

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzUnpack: whatever the archive, nothing is written outside the target directory and
// nothing panics. Run with: go test ./internal/function -run '^$' -fuzz FuzzUnpack -fuzztime 20s
func FuzzUnpack(f *testing.F) {
	t := &testing.T{}
	f.Add(zipOf(t, entry{"bootstrap", "x", 0o755}))
	f.Add(zipOf(t, entry{"a/../../x", "x", 0o644}))
	f.Add(zipOf(t, entry{"l", "../x", 0o777 | fs.ModeSymlink}, entry{"l/y", "z", 0o644}))
	f.Add(zipOf(t, entry{"d/", "", fs.ModeDir | 0o755}, entry{"d/f", "x", 0o600}))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "code", "dir")
		if _, err := InspectZip(data, "python3.12"); err != nil {
			return
		}
		_ = Unpack(data, dir)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p == root || p == filepath.Join(root, "code") {
				return nil
			}
			if !strings.HasPrefix(p, dir+string(os.PathSeparator)) && p != dir {
				t.Fatalf("written outside the target: %s", p)
			}
			if d.Type()&fs.ModeSymlink != 0 {
				target, err := filepath.EvalSymlinks(p)
				if err == nil && !strings.HasPrefix(target, dir) {
					t.Fatalf("symlink %s leaves the target: %s", p, target)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
