//go:build !linux

package invoke

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func maxRSSMB(int) int { return 0 }
