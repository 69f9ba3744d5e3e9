//go:build !amd64 || purego

package event

var useAVX2 = false

func encodeAVX2(dst, src *byte, n int) int { panic("event: no AVX2 encoder on this platform") }
