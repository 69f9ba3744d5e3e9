//go:build linux

package invoke

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// sysProcAttr puts the runtime in its own process group (so a timeout kills everything it
// started) and asks the kernel to kill it if kafkaesm dies, so no orphaned runtimes remain.
// With uid >= 0 it runs as uid:uid with no supplementary groups (root's are dropped); with
// privateTmp it starts as root in a mount namespace of its own instead, and its wrapper
// changes to uid after mounting /tmp (env.go).
func sysProcAttr(uid int, privateTmp bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if privateTmp {
		a.Unshareflags = syscall.CLONE_NEWNS
		return a
	}
	if uid >= 0 {
		a.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}
	}
	return a
}

// newMountNS starts a process in a mount namespace of its own ("/" made private in it).
func newMountNS() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
}

// killUID kills every process whose real or effective uid is uid and reports how many it
// signalled.
func killUID(uid int) (n int) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	want := strconv.Itoa(uid)
	for _, de := range ents {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + de.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if ids, ok := strings.CutPrefix(line, "Uid:"); ok {
				f := strings.Fields(ids)
				if len(f) >= 2 && (f[0] == want || f[1] == want) && syscall.Kill(pid, syscall.SIGKILL) == nil {
					n++
				}
				break
			}
		}
	}
	return n
}

// lockFile takes an exclusive flock on path (created 0600, never through a symlink) without
// waiting; ok is false when another open file holds it. The lock lasts while f is open.
func lockFile(path string) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return f, true, nil
}

// fileOwner is fi's owner uid, -1 when unknown.
func fileOwner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// maxRSSMB is the process's peak resident set (VmHWM) in MB, rounded up; 0 when unknown.
func maxRSSMB(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				return 0
			}
			return (kb + 1023) / 1024
		}
	}
	return 0
}
