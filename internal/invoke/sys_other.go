//go:build !linux

package invoke

import "syscall"

func sysProcAttr(int) *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func killUID(int) {}

func maxRSSMB(int) int { return 0 }
