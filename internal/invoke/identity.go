package invoke

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// UIDRange is the pool of user and group ids functions run under when the server runs as
// root: each function gets one id of the range (as both its uid and gid) for as long as it has
// environments. Zero Count: functions run as the server's own user.
type UIDRange struct {
	First, Count int
}

// ParseUIDRange parses "FIRST-LAST" (inclusive), or "off" for none.
func ParseUIDRange(s string) (UIDRange, error) {
	if s == "" || s == "off" {
		return UIDRange{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.Atoi(a)
	last, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || first < 1000 || last < first || last > 1<<31-2 {
		return UIDRange{}, fmt.Errorf("function uid range %q: want FIRST-LAST with 1000 <= FIRST <= LAST, or off", s)
	}
	return UIDRange{First: first, Count: last - first + 1}, nil
}

// identities gives functions their own uid, a copy of their code they can read and a /tmp of
// their own, under a root-owned tree only root can list:
//
//	<root>/                      0711 root:root   (traversable, not listable)
//	<root>/<uid>/                0750 root:<uid>   (only this function's uid gets in)
//	<root>/<uid>/code-<rev>/     0750 root:<uid>   a copy of the function's code, read-only to it
//	<root>/<uid>/tmp-<random>/   0700 <uid>:<uid>  one environment's TMPDIR, removed with it
//
// The code is copied rather than linked: a hard link would share the inode, and its owner and
// mode, with the data directory's copy (and, in tests, with other servers' functions).
type identities struct {
	ids  UIDRange
	root string
	// setpriv and mount (util-linux), when found, give each environment a private /tmp;
	// without them its directory is only its TMPDIR.
	setpriv, mount string
	noTmpReason    string // why environments get no private /tmp ("" when they do)
	noPrivateTmp   bool   // tests of the TMPDIR fallback

	// lockDir holds one lock file per uid, shared by every server on the machine: a uid is
	// handed out only while this server holds its flock.
	lockDir string

	// Guarded by Engine.mu.
	byName map[string]int
	byUID  map[int]string
	locks  map[int]*os.File // the uids this server holds

	mu     sync.Mutex // guards staged and latest; held while copying code
	staged map[string]*stagedCode
	latest map[int]string // per uid, the key of the revision staged last
}

// stagedCode is one revision's copy, used by refs environments. The copy of the revision
// staged last is kept while nobody uses it (the next cold start reuses it); others are removed
// as soon as nobody does.
type stagedCode struct {
	uid  int
	dir  string
	refs int
}

func newIdentities(ids UIDRange, parent string) (*identities, error) {
	if err := traversable(parent); err != nil {
		return nil, err
	}
	removeStale(parent, "kafkaesm-fn-", func(dir string) { _ = os.RemoveAll(dir) })
	root, err := os.MkdirTemp(parent, "kafkaesm-fn-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(root, 0o711); err != nil {
		_ = os.RemoveAll(root)
		return nil, err
	}
	lockDir, err := secureDir(UIDLockDir)
	if err != nil {
		_ = os.RemoveAll(root)
		return nil, err
	}
	d := &identities{ids: ids, root: root, lockDir: lockDir, byName: map[string]int{}, byUID: map[int]string{},
		locks: map[int]*os.File{}, staged: map[string]*stagedCode{}, latest: map[int]string{}}
	d.noTmpReason = d.probePrivateTmp()
	return d, nil
}

// probePrivateTmp finds setpriv and mount and checks that a mount namespace with a bind mount
// can be made here (a container without CAP_SYS_ADMIN cannot); it returns why not, "" when
// environments get a /tmp of their own.
func (d *identities) probePrivateTmp() string {
	if abs, _ := filepath.Abs(d.root); abs == "/tmp" || strings.HasPrefix(abs, "/tmp/") {
		return "the run directory " + d.root + " is under /tmp, which a private /tmp would hide"
	}
	setpriv, err1 := exec.LookPath("setpriv")
	mount, err2 := exec.LookPath("mount")
	if err := errors.Join(err1, err2); err != nil {
		return "setpriv and mount (util-linux) are needed: " + err.Error()
	}
	ns := newMountNS()
	if ns == nil {
		return "mount namespaces are Linux only"
	}
	cmd := exec.Command("/bin/sh", "-c", `"$1" --bind "$2" "$2"`, "probe", mount, d.root)
	cmd.SysProcAttr = ns
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Sprintf("a bind mount in a mount namespace of its own failed: %v %s", err, strings.TrimSpace(string(out)))
	}
	d.setpriv, d.mount = setpriv, mount
	return ""
}

// removeStale removes what servers that died left in parent: entries named prefix+PID+"-…"
// whose PID no longer runs.
func removeStale(parent, prefix string, remove func(dir string)) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, de := range ents {
		rest, ok := strings.CutPrefix(de.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat("/proc/" + pidText); err == nil || pid == os.Getpid() {
			continue
		}
		remove(filepath.Join(parent, de.Name()))
	}
}

// traversable checks that every directory from / to dir lets others through, so that function
// users can reach what is staged below it.
func traversable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("function users cannot traverse %s (mode %04o)", p, fi.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// privateTmp reports whether environments get a /tmp of their own.
func (d *identities) privateTmp() bool {
	return d.setpriv != "" && d.mount != "" && !d.noPrivateTmp
}

// OthersCanRun checks that a user other than the owner (a function's uid) can reach and
// execute path: the Python interpreter must pass it for python3.* functions to run under
// their own uids.
func OthersCanRun(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o005 != 0o005 {
		return fmt.Errorf("%s has mode %04o", real, fi.Mode().Perm())
	}
	return traversable(filepath.Dir(real))
}

// UIDLockDir is where servers claim function uids (one flock per uid): under /run, which only
// root can write, and which a reboot empties.
const UIDLockDir = "/run/kafkaesm/uids"

// secureDir creates dir (0700) and checks that it and every directory above it belong to the
// server's user or root and that nobody else can write them, so that nobody else can plant
// or hold its files.
func secureDir(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		if own := fileOwner(fi); !fi.IsDir() || own != 0 && own != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
			return "", fmt.Errorf("%s: not a directory that only root can write (mode %v, owner %d)", p, fi.Mode(), fileOwner(fi))
		}
		if p == filepath.Dir(p) {
			return dir, nil
		}
	}
}

// claimLocked takes uid for this server, and reports false when it cannot: never an id that
// names a user or group of the machine (machineID); its flock, unless another server holds
// it; then, the first time, the removal of whatever an earlier holder left (clearUID). Called
// with Engine.mu.
func (d *identities) claimLocked(uid int) bool {
	if d.locks[uid] != nil {
		return true
	}
	if machineID(uid) {
		return false
	}
	f, ok, err := lockFile(filepath.Join(d.lockDir, strconv.Itoa(uid)))
	if err != nil || !ok {
		return false
	}
	d.locks[uid] = f
	clearUID(uid)
	return true
}

// machineID reports whether uid names a user or group of the machine (its user database or
// NSS: systemd's dynamic users too, while their services run). Such an id is never a
// function's: the function would share that user's files and processes.
func machineID(uid int) bool {
	id := strconv.Itoa(uid)
	if _, err := user.LookupId(id); err == nil {
		return true
	}
	_, err := user.LookupGroupId(id)
	return err == nil
}

// sharedDirs are the machine's directories every user can write, where a function may leave
// files that would outlive it and be readable by the next function given its uid.
var sharedDirs = []string{"/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue", "/run/lock"}

// clearUID makes uid fit for a new function: no process runs under it any more (one that an
// earlier function left could read the next one's environment, or answer its Runtime API),
// and what it owns at the top of sharedDirs is removed, as are its System V IPC objects. Files
// it left deeper, in directories of others that everyone can write, are not found.
func clearUID(uid int) {
	for i := 0; i < 100 && killUID(uid) > 0; i++ {
		time.Sleep(10 * time.Millisecond) // killed processes leave /proc shortly
	}
	removeIPC(uid)
	for _, dir := range sharedDirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, de := range ents {
			p := filepath.Join(dir, de.Name())
			if fi, err := os.Lstat(p); err == nil && fileOwner(fi) == uid {
				_ = os.RemoveAll(p) // never follows a link: removes it
			}
		}
	}
}

// uidLocked returns name's uid, allocating one. live reports whether a function still has
// environments (an id is taken back only from a function that has none). Called with Engine.mu.
func (d *identities) uidLocked(name string, live func(name string) bool) (int, error) {
	if uid, ok := d.byName[name]; ok {
		return uid, nil
	}
	for round := 0; round < 2; round++ {
		for uid := d.ids.First; uid < d.ids.First+d.ids.Count; uid++ {
			if _, used := d.byUID[uid]; !used && d.claimLocked(uid) {
				d.byName[name], d.byUID[uid] = uid, name
				return uid, nil
			}
		}
		// Full: take back the ids of functions without environments.
		for n, uid := range d.byName {
			if !live(n) {
				clearUID(uid) // anything a function left behind must not meet the next owner
				_ = os.RemoveAll(filepath.Join(d.root, strconv.Itoa(uid)))
				d.mu.Lock()
				for k, sc := range d.staged {
					if sc.uid == uid {
						delete(d.staged, k)
					}
				}
				d.mu.Unlock()
				delete(d.byName, n)
				delete(d.byUID, uid)
			}
		}
	}
	return 0, fmt.Errorf("all %d function uids (%d-%d) are in use, by this server or others on the machine", d.ids.Count, d.ids.First, d.ids.First+d.ids.Count-1)
}

// stage returns a copy of codeDir that uid can read, made once per revision; the caller
// calls unstage(uid, rev) when its environment is gone.
func (d *identities) stage(uid int, rev, codeDir string) (string, error) {
	key := strconv.Itoa(uid) + "/" + rev
	d.mu.Lock()
	defer d.mu.Unlock()
	d.latest[uid] = key
	if sc, ok := d.staged[key]; ok {
		sc.refs++
		return sc.dir, nil
	}
	// Copies of this uid's other revisions that no environment uses go now.
	for k, sc := range d.staged {
		if sc.uid == uid && sc.refs == 0 {
			_ = os.RemoveAll(sc.dir)
			delete(d.staged, k)
		}
	}
	home := filepath.Join(d.root, strconv.Itoa(uid))
	if err := mkdirOwned(home, 0o750, 0, uid); err != nil {
		return "", err
	}
	dir := filepath.Join(home, "code-"+rev)
	_ = os.RemoveAll(dir) // a partial copy from a failed attempt
	if err := copyTree(codeDir, dir, uid); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	d.staged[key] = &stagedCode{uid: uid, dir: dir, refs: 1}
	return dir, nil
}

// unstage releases an environment's use of a staged copy.
func (d *identities) unstage(uid int, rev string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := strconv.Itoa(uid) + "/" + rev
	sc, ok := d.staged[key]
	if !ok || sc.refs == 0 {
		return
	}
	if sc.refs--; sc.refs == 0 && d.latest[uid] != key {
		_ = os.RemoveAll(sc.dir)
		delete(d.staged, key)
	}
}

// newTmp makes an environment's private TMPDIR.
func (d *identities) newTmp(uid int) (string, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	dir := filepath.Join(d.root, strconv.Itoa(uid), "tmp-"+hex.EncodeToString(b[:]))
	if err := mkdirOwned(dir, 0o700, uid, uid); err != nil {
		return "", err
	}
	return dir, nil
}

// close removes the run directory and gives the uids back. Called once the environments are gone.
func (d *identities) close() error {
	err := os.RemoveAll(d.root)
	for uid, f := range d.locks {
		_ = f.Close()
		delete(d.locks, uid)
	}
	return err
}

func mkdirOwned(dir string, mode os.FileMode, uid, gid int) error {
	if err := os.Mkdir(dir, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

// copyTree copies src to dst for gid: directories 0750, executables 0750, other files 0640,
// all owned by root:gid. Symlinks are copied as links (the archive's were checked to stay
// inside the code); other special files are skipped.
func copyTree(src, dst string, gid int) error {
	return filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case de.IsDir():
			return mkdirOwned(target, 0o750, 0, gid)
		case de.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
			return os.Lchown(target, 0, gid)
		case !de.Type().IsRegular():
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		mode := os.FileMode(0o640)
		if fi.Mode().Perm()&0o111 != 0 {
			mode = 0o750
		}
		return copyFile(p, target, mode, gid)
	})
}

func copyFile(src, dst string, mode os.FileMode, gid int) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chown(dst, 0, gid); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}
