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
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
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
