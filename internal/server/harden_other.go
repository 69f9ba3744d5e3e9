//go:build !linux

package server

func harden() {}
