package function

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// DefaultCodeQuota is a node's default code storage: Lambda's default quota for function and
// layer storage, 75 GB.
const DefaultCodeQuota = 75 << 30

// ErrCodeStorageExceeded is an upload that would take the node's code storage over its quota
// (the API's CodeStorageExceededException).
type ErrCodeStorageExceeded struct{ Used, Need, Quota int64 }

func (e *ErrCodeStorageExceeded) Error() string {
	return fmt.Sprintf("Code storage limit exceeded: this node holds %d bytes of function code, the upload needs %d more, and its quota is %d bytes.",
		e.Used, e.Need, e.Quota)
}

// CodeStore keeps the functions' code under Root (data-dir/functions/NAME/HEXSHA, with the
// uploaded zip as HEXSHA.zip beside it), within a per-node quota counted in bytes on disk
// (zips and unpacked files).
//
// Every change of one function's code (create, update, dry run, delete) runs under Lock(name),
// so that an update racing a delete can neither install code for a function that is gone nor
// leave it behind: the caller reads the function, installs and records the change, or deletes
// it and its code, while holding the lock.
type CodeStore struct {
	Root string
	// Quota in bytes; default DefaultCodeQuota.
	Quota int64

	installMu sync.Mutex // held while checking the quota and writing
	mu        sync.Mutex // guards locks
	locks     map[string]*nameLock
}

type nameLock struct {
	mu   sync.Mutex
	refs int
}

// Lock serialises the code changes of the function name; call the returned unlock when done.
func (c *CodeStore) Lock(name string) (unlock func()) {
	c.mu.Lock()
	if c.locks == nil {
		c.locks = map[string]*nameLock{}
	}
	l := c.locks[name]
	if l == nil {
		l = &nameLock{}
		c.locks[name] = l
	}
	l.refs++
	c.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		c.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(c.locks, name)
		}
		c.mu.Unlock()
	}
}

// Installed is code written by Install.
type Installed struct {
	Info CodeInfo
	Dir  string
	// Fresh: the directory did not exist before (the same code already installed is shared).
	Fresh bool
}

// Install checks zip for runtime, checks the quota and unpacks it for the function name, with
// the zip kept beside the directory. Nothing is left behind when it fails. The caller holds
// Lock(name).
func (c *CodeStore) Install(name, runtime string, zip []byte) (Installed, error) {
	info, err := InspectZip(zip, runtime)
	if err != nil {
		return Installed{}, err
	}
	dir := CodeDir(c.Root, name, info.HexSha256)
	if _, err := os.Stat(dir); err == nil {
		return Installed{Info: info, Dir: dir}, nil
	}
	// Uploads are checked against the quota and written one at a time, so that two of them
	// cannot both fit in the same free space.
	c.installMu.Lock()
	defer c.installMu.Unlock()
	if err := c.checkQuota(info); err != nil {
		return Installed{}, err
	}
	parentExisted := exists(filepath.Join(c.Root, name))
	err = Unpack(zip, dir)
	if err == nil {
		err = os.WriteFile(dir+".zip", zip, 0o600)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		_ = os.Remove(dir + ".zip")
		if !parentExisted {
			_ = os.Remove(filepath.Join(c.Root, name))
		}
		return Installed{}, err
	}
	return Installed{Info: info, Dir: dir, Fresh: true}, nil
}

// Discard removes what Install wrote (a dry run, or a change that could not be recorded), and
// the function's directory when nothing else is left in it. The caller holds Lock(name).
func (c *CodeStore) Discard(name string, in Installed) {
	if !in.Fresh {
		return
	}
	_ = os.RemoveAll(in.Dir)
	_ = os.Remove(in.Dir + ".zip")
	_ = os.Remove(filepath.Join(c.Root, name)) // only when empty
}

// RemoveFunction deletes all of name's code. The caller holds Lock(name).
func (c *CodeStore) RemoveFunction(name string) error {
	return os.RemoveAll(filepath.Join(c.Root, name))
}

// checkQuota refuses an upload that would take the stored code over the quota. The declared
// unpacked size is what InspectZip accepted; the zip is kept too.
func (c *CodeStore) checkQuota(info CodeInfo) error {
	quota := c.Quota
	if quota <= 0 {
		quota = DefaultCodeQuota
	}
	need := info.Size + info.Unpacked
	used, err := diskUsage(c.Root)
	if err != nil {
		return err
	}
	if used+need > quota {
		return &ErrCodeStorageExceeded{Used: used, Need: need, Quota: quota}
	}
	return nil
}

// diskUsage is the bytes of the regular files under root.
func diskUsage(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(_ string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if de.Type().IsRegular() {
			if fi, err := de.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
