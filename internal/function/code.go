package function

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Code limits, as Lambda.
const (
	// MaxZipSize is Lambda's limit for a zip uploaded in the request (50 MB).
	MaxZipSize = 50 * 1024 * 1024
	// MaxUnzippedSize is Lambda's limit for unpacked code (250 MB).
	MaxUnzippedSize = 262144000
	// maxZipEntries bounds the work one archive can cause.
	maxZipEntries = 50000
)

// CodeInfo describes a checked archive.
type CodeInfo struct {
	Sha256    string // base64 SHA-256 of the zip, as CodeSha256
	HexSha256 string // the same, hex: the code directory's name
	Size      int64  // CodeSize: bytes of the zip
	Unpacked  int64  // the entries' declared unpacked bytes (checked again while unpacking)
}

var errBadZip = invalid("Could not unzip uploaded file. Please check your file, then try to upload again.")

// InspectZip checks an uploaded archive for runtime without writing anything: it must be a
// readable zip within Lambda's size limits, a custom runtime needs an executable bootstrap
// at its root.
func InspectZip(data []byte, runtime string) (CodeInfo, error) {
	if len(data) > MaxZipSize {
		return CodeInfo{}, invalid("Zipped size must be smaller than %d bytes", MaxZipSize)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return CodeInfo{}, errBadZip
	}
	if len(zr.File) > maxZipEntries {
		return CodeInfo{}, invalid("The deployment package has more than %d files.", maxZipEntries)
	}
	var total uint64
	var bootstrap *zip.File
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > MaxUnzippedSize {
			return CodeInfo{}, invalid("Unzipped size must be smaller than %d bytes", MaxUnzippedSize)
		}
		if _, err := safeName(f.Name); err != nil {
			return CodeInfo{}, err
		}
		if f.Name == "bootstrap" || f.Name == "./bootstrap" {
			bootstrap = f
		}
	}
	if IsProvided(runtime) {
		if bootstrap == nil || bootstrap.FileInfo().IsDir() {
			return CodeInfo{}, invalid("Runtime %s requires an executable file named 'bootstrap' at the root of the deployment package.", runtime)
		}
		if unixMode(bootstrap) && bootstrap.Mode().Perm()&0o111 == 0 {
			return CodeInfo{}, invalid("The file 'bootstrap' in the deployment package is not executable: set its permissions (chmod 755) before zipping.")
		}
	}
	sum := sha256.Sum256(data)
	return CodeInfo{
		Sha256:    base64.StdEncoding.EncodeToString(sum[:]),
		HexSha256: hex.EncodeToString(sum[:]),
		Size:      int64(len(data)),
		Unpacked:  int64(total),
	}, nil
}

// unixMode reports whether the entry carries Unix permissions (made on Unix, not FAT).
func unixMode(f *zip.File) bool { return f.CreatorVersion>>8 == 3 }

// safeName cleans an entry name and refuses names that escape the target directory (zip slip).
func safeName(name string) (string, error) {
	n := strings.TrimPrefix(path.Clean("/"+strings.ReplaceAll(name, `\`, "/")), "/")
	if strings.Contains(name, "\x00") || strings.HasPrefix(name, "/") || hasDotDot(name) || (n != "" && !filepath.IsLocal(n)) {
		return "", invalid("The deployment package contains an invalid path: %q.", name)
	}
	return n, nil
}

func hasDotDot(name string) bool {
	for _, p := range strings.FieldsFunc(strings.ReplaceAll(name, `\`, "/"), func(r rune) bool { return r == '/' }) {
		if p == ".." {
			return true
		}
	}
	return false
}

// Unpack extracts a zip checked by InspectZip into dir, atomically: it writes a sibling
// temporary directory and renames it, so dir either holds the whole archive or does not
// exist. An existing dir (same code uploaded again) is kept. Symlinks are written only when
// their target stays inside dir. A custom runtime's bootstrap is made executable when the
// archive carries no Unix permissions.
func Unpack(data []byte, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := dir + ".tmp-" + hex.EncodeToString(rnd[:])
	if err := unpackInto(data, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		if _, statErr := os.Stat(dir); statErr == nil {
			return nil // a concurrent upload of the same code won
		}
		return err
	}
	return nil
}

func unpackInto(data []byte, dir string) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return errBadZip
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Symlinks are created after every file and directory, so no file is ever written through a
	// link from the archive.
	var links []*zip.File
	var written int64
	for _, f := range zr.File {
		name, err := safeName(f.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
			continue
		case mode&os.ModeSymlink != 0:
			links = append(links, f)
			continue
		}
		// Owner only: the data directory is the server's alone. A function running under its
		// own uid gets a copy it can read (internal/invoke).
		perm := os.FileMode(0o600)
		if unixMode(f) {
			perm = mode.Perm()&0o700 | 0o400
			if mode.Perm()&0o111 != 0 {
				perm |= 0o100
			}
		}
		if name == "bootstrap" && !unixMode(f) {
			perm = 0o700
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return err
		}
		n, err := writeFile(f, target, perm, MaxUnzippedSize-written)
		written += n
		if err != nil {
			return err
		}
	}
	for _, f := range links {
		if err := writeSymlink(f, dir); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(f *zip.File, target string, perm os.FileMode, budget int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, errBadZip
	}
	defer rc.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return 0, invalid("The deployment package contains %q twice.", f.Name)
		}
		return 0, err
	}
	// Declared sizes can lie: count what is really written.
	n, err := io.Copy(out, io.LimitReader(rc, budget+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, errBadZip
	}
	if n > budget {
		return n, invalid("Unzipped size must be smaller than %d bytes", MaxUnzippedSize)
	}
	return n, nil
}

// writeSymlink creates a link from the archive. A link must not sit below another link (its
// parent path is then what it appears to be) and must resolve inside dir; a dangling link may
// only point downwards (no ".." in its target), so nothing created later can make it escape.
func writeSymlink(f *zip.File, dir string) error {
	name, _ := safeName(f.Name) // checked by the caller
	rc, err := f.Open()
	if err != nil {
		return errBadZip
	}
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	rc.Close()
	if err != nil {
		return errBadZip
	}
	link := string(b)
	leaves := invalid("The deployment package contains a symbolic link leaving the package: %q -> %q.", f.Name, link)
	if link == "" || path.IsAbs(link) || strings.Contains(link, "\x00") || !filepath.IsLocal(path.Join(path.Dir(name), link)) {
		return leaves
	}
	// No link below a link.
	for p := path.Dir(name); p != "." && p != "/"; p = path.Dir(p) {
		st, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p)))
		if err == nil && st.Mode()&os.ModeSymlink != 0 {
			return invalid("The deployment package contains a symbolic link inside a linked directory: %q.", f.Name)
		}
	}
	at := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(at), 0o700); err != nil {
		return err
	}
	if err := os.Symlink(link, at); err != nil {
		if errors.Is(err, os.ErrExist) {
			return invalid("The deployment package contains %q twice.", f.Name)
		}
		return err
	}
	// Lexical checks cannot see links the target passes through (d -> ".", l -> "d/../x"):
	// resolve it for real.
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	resolved, err := filepath.EvalSymlinks(at)
	if err != nil {
		if hasDotDot(link) {
			return leaves
		}
		return nil
	}
	if resolved != root && !strings.HasPrefix(resolved, root+string(os.PathSeparator)) {
		return leaves
	}
	return nil
}

// CodeDir is where a function's code with hex digest sum lives under root (data-dir/functions).
func CodeDir(root, name, hexSum string) string {
	return filepath.Join(root, name, hexSum)
}

// RemoveOldCode deletes code directories of name other than keep (previous versions may still
// be running a little while; the invoker retires them on update).
func RemoveOldCode(root, name string, keep ...string) error {
	entries, err := os.ReadDir(filepath.Join(root, name))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(root, name, e.Name())
		keepIt := false
		for _, k := range keep {
			if p == k || p == k+".zip" {
				keepIt = true
			}
		}
		if !keepIt {
			errs = append(errs, os.RemoveAll(p))
		}
	}
	return errors.Join(errs...)
}
