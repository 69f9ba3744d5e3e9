//go:build linux

package invoke

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the runtime in a session of its own, and so in its own process group (a
// timeout kills everything it started) and without a controlling terminal (in the server's
// session it could open the terminal the server was started from, and type commands into the
// operator's shell with TIOCSTI), and asks the kernel to kill it if kafkaesm dies, so no
// orphaned runtimes remain.
// With uid >= 0 it runs as uid:uid with no supplementary groups (root's are dropped); with
// privateTmp it starts as root in a mount namespace of its own instead, and its wrapper
// changes to uid after mounting /tmp (env.go).
func sysProcAttr(uid int, privateTmp bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
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

// removeIPC removes the System V shared memory segments, message queues and semaphore sets
// that uid owns or created.
func removeIPC(uid int) {
	for _, kind := range []struct {
		file string
		ctl  uintptr
	}{{"shm", unix.SYS_SHMCTL}, {"msg", unix.SYS_MSGCTL}, {"sem", unix.SYS_SEMCTL}} {
		b, err := os.ReadFile("/proc/sysvipc/" + kind.file)
		if err != nil {
			continue
		}
		for _, id := range ipcOwnedBy(string(b), uid) {
			_, _, _ = unix.Syscall6(kind.ctl, uintptr(id), unix.IPC_RMID, 0, 0, 0, 0)
		}
	}
}

// ipcOwnedBy returns the ids of the objects of a /proc/sysvipc table that uid owns or created.
func ipcOwnedBy(table string, uid int) []int {
	lines := strings.Split(table, "\n")
	head := strings.Fields(lines[0])
	col := func(name string) int { return slices.Index(head, name) }
	idCol, uidCol, cuidCol := 1, col("uid"), col("cuid")
	if uidCol < 0 || cuidCol < 0 {
		return nil
	}
	want := strconv.Itoa(uid)
	var ids []int
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= max(uidCol, cuidCol) || f[uidCol] != want && f[cuidCol] != want {
			continue
		}
		if id, err := strconv.Atoi(f[idCol]); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}
