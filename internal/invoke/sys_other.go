//go:build !linux

package invoke

import (
	"io/fs"
	"os"
	"syscall"
)

func sysProcAttr(int, bool) *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func killUID(int) int { return 0 }

func lockFile(string) (*os.File, bool, error) { return nil, true, nil }

func fileOwner(fs.FileInfo) int { return -1 }

func removeIPC(int) {}

func ipcOwnedBy(string, int) []int { return nil }

func maxRSSMB(int) int { return 0 }

func newMountNS() *syscall.SysProcAttr { return nil }
