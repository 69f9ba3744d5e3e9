//go:build amd64 && !purego

package event

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2 encoder (base64_amd64.s) for the bulk of each value.
var useAVX2 = cpu.X86.HasAVX2

// encodeAVX2 encodes whole 24-byte blocks of src[:n] into dst while at least 28 bytes of src
// are left, and returns how many bytes of src it consumed (a multiple of 24). dst must have
// room for n/3*4 bytes.
//
//go:noescape
func encodeAVX2(dst, src *byte, n int) int
