//go:build linux

package server

import "golang.org/x/sys/unix"

// harden closes the server process to other processes of its own user (functions, when they
// run as that user): not dumpable, so /proc/<pid>/environ, /proc/<pid>/mem and ptrace need
// CAP_SYS_PTRACE. It is process-wide; execve resets it, so functions are not marked.
func harden() { _ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
