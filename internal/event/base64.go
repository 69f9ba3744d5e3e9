package event

import (
	"encoding/base64"
	"encoding/binary"
)

// Base64 (standard alphabet, padded) is the largest cost of building a payload, so it gets a
// faster encoder than encoding/base64's one lookup per 6 bits: a 4096-entry table maps 12 bits
// to two output characters, and the main loop turns 6 input bytes into 8 output bytes with one
// 8-byte load and one 8-byte store. On amd64 with AVX2 (base64_amd64.s) whole 24-byte blocks
// go through a SIMD encoder first, several times faster again, and this code finishes the tail.
// Tests check both paths against encoding/base64 byte for byte.

const stdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// b64pair[v] holds the characters for the 12 bits v, first character in the low byte.
var b64pair = func() (t [4096]uint16) {
	for v := range t {
		t[v] = uint16(stdAlphabet[v>>6]) | uint16(stdAlphabet[v&0x3f])<<8
	}
	return t
}()

// appendBase64 appends the standard, padded base64 encoding of src to dst.
func appendBase64(dst, src []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(src))
	if cap(dst)-len(dst) < n {
		nd := make([]byte, len(dst), len(dst)+n+len(dst)/4)
		copy(nd, dst)
		dst = nd
	}
	out := dst[len(dst) : len(dst)+n]
	si, di := 0, 0
	if useAVX2 && len(src) >= 28 {
		si = encodeAVX2(&out[0], &src[0], len(src))
		di = si / 3 * 4
	}
	// 24 bytes in, 32 out per iteration: three 8-byte loads, four 8-byte stores.
	for ; len(src)-si >= 24; si, di = si+24, di+32 {
		in := src[si : si+24 : si+24]
		o := out[di : di+32 : di+32]
		a := binary.BigEndian.Uint64(in[0:])
		b := binary.BigEndian.Uint64(in[8:])
		c := binary.BigEndian.Uint64(in[16:])
		// 12-bit groups: a holds groups 0-4 and 4 bits of group 5; b the rest of 5, 6-9 and
		// 8 bits of 10; c the rest of 10 and 11-15.
		g5 := (a&0xf)<<8 | b>>56
		g10 := (b&0xff)<<4 | c>>60
		binary.LittleEndian.PutUint64(o[0:], uint64(b64pair[a>>52])|uint64(b64pair[(a>>40)&0xfff])<<16|
			uint64(b64pair[(a>>28)&0xfff])<<32|uint64(b64pair[(a>>16)&0xfff])<<48)
		binary.LittleEndian.PutUint64(o[8:], uint64(b64pair[(a>>4)&0xfff])|uint64(b64pair[g5&0xfff])<<16|
			uint64(b64pair[(b>>44)&0xfff])<<32|uint64(b64pair[(b>>32)&0xfff])<<48)
		binary.LittleEndian.PutUint64(o[16:], uint64(b64pair[(b>>20)&0xfff])|uint64(b64pair[(b>>8)&0xfff])<<16|
			uint64(b64pair[g10&0xfff])<<32|uint64(b64pair[(c>>48)&0xfff])<<48)
		binary.LittleEndian.PutUint64(o[24:], uint64(b64pair[(c>>36)&0xfff])|uint64(b64pair[(c>>24)&0xfff])<<16|
			uint64(b64pair[(c>>12)&0xfff])<<32|uint64(b64pair[c&0xfff])<<48)
	}
	// 8-byte loads read 2 bytes past the 6 consumed: stop while 8 remain.
	for ; len(src)-si >= 8; si, di = si+6, di+8 {
		v := binary.BigEndian.Uint64(src[si:])
		w := uint64(b64pair[(v>>52)&0xfff]) |
			uint64(b64pair[(v>>40)&0xfff])<<16 |
			uint64(b64pair[(v>>28)&0xfff])<<32 |
			uint64(b64pair[(v>>16)&0xfff])<<48
		binary.LittleEndian.PutUint64(out[di:], w)
	}
	for ; len(src)-si >= 3; si, di = si+3, di+4 {
		v := uint(src[si])<<16 | uint(src[si+1])<<8 | uint(src[si+2])
		binary.LittleEndian.PutUint16(out[di:], b64pair[v>>12])
		binary.LittleEndian.PutUint16(out[di+2:], b64pair[v&0xfff])
	}
	switch len(src) - si {
	case 1:
		v := uint(src[si]) << 16
		out[di], out[di+1], out[di+2], out[di+3] = stdAlphabet[v>>18], stdAlphabet[(v>>12)&0x3f], '=', '='
	case 2:
		v := uint(src[si])<<16 | uint(src[si+1])<<8
		out[di], out[di+1], out[di+2], out[di+3] = stdAlphabet[v>>18], stdAlphabet[(v>>12)&0x3f], stdAlphabet[(v>>6)&0x3f], '='
	}
	return dst[:len(dst)+n]
}
