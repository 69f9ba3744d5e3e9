//go:build linux

package server

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// harden closes the server process to other processes of its own user (functions, when they
// run as that user): not dumpable, so /proc/<pid>/environ, /proc/<pid>/mem and ptrace need
// CAP_SYS_PTRACE; and a umask of 077, so every file it creates (database, WAL, logs, code) is
// for its owner only. Both are process-wide. execve resets dumpable, so a function is not
// marked; the umask is inherited, so what a function writes is its own uid's only.
func harden() {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	syscall.Umask(0o077)
}
