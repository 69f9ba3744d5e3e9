//go:build linux

package invoke

import (
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

// killUID kills every process whose real or effective uid is uid.
func killUID(uid int) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
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
				if len(f) >= 2 && (f[0] == want || f[1] == want) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				break
			}
		}
	}
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
