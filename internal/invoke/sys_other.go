//go:build !linux

package invoke

import "syscall"

func sysProcAttr(int, bool) *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func killUID(int) {}

func maxRSSMB(int) int { return 0 }

func newMountNS() *syscall.SysProcAttr { return nil }
