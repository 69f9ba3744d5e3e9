//go:build amd64 && !purego

#include "textflag.h"

// Per 128-bit lane: the 12 input bytes a0 b0 c0 a1 b1 c1 … become the 16 bytes b0 a0 c0 b0 …,
// the layout the multiply trick below needs.
DATA b64shuf<>+0x00(SB)/8, $0x0405030401020001
DATA b64shuf<>+0x08(SB)/8, $0x0a0b090a07080607
DATA b64shuf<>+0x10(SB)/8, $0x0405030401020001
DATA b64shuf<>+0x18(SB)/8, $0x0a0b090a07080607
GLOBL b64shuf<>(SB), RODATA|NOPTR, $32

// What to add to a 6-bit value to get its character, indexed by the class computed in the
// loop: 0 for 26-51 ('a'-26), 1-10 for 52-61 ('0'-52), 11 for 62 ('+'-62), 12 for 63 ('/'-63),
// 13 for 0-25 ('A').
DATA b64lut<>+0x00(SB)/8, $0xfcfcfcfcfcfcfc47
DATA b64lut<>+0x08(SB)/8, $0x000041f0edfcfcfc
DATA b64lut<>+0x10(SB)/8, $0xfcfcfcfcfcfcfc47
DATA b64lut<>+0x18(SB)/8, $0x000041f0edfcfcfc
GLOBL b64lut<>(SB), RODATA|NOPTR, $32

// func encodeAVX2(dst, src *byte, n int) int
//
// Encodes 24 input bytes into 32 characters per iteration while at least 28 input bytes are
// left (each iteration reads 28), and returns how many input bytes it consumed (a multiple of
// 24). The algorithm is Wojciech Muła and Daniel Lemire's ("Faster Base64 Encoding and
// Decoding using AVX2 Instructions", 2018).
TEXT ·encodeAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

	// Only VEX-encoded instructions from here to VZEROUPPER: a legacy SSE instruction (MOVQ to
	// an X register) while upper halves are dirty cost ~850 ns per call on the EPYC we measure on.
	VMOVDQU b64shuf<>(SB), Y8
	VMOVDQU b64lut<>(SB), Y9
	MOVL    $0x0fc0fc00, R8
	VMOVD   R8, X10
	VPBROADCASTD X10, Y10
	MOVL    $0x04000040, R8
	VMOVD   R8, X11
	VPBROADCASTD X11, Y11
	MOVL    $0x003f03f0, R8
	VMOVD   R8, X12
	VPBROADCASTD X12, Y12
	MOVL    $0x01000010, R8
	VMOVD   R8, X13
	VPBROADCASTD X13, Y13
	MOVL    $0x33333333, R8 // 51
	VMOVD   R8, X14
	VPBROADCASTD X14, Y14
	MOVL    $0x1a1a1a1a, R8 // 26
	VMOVD   R8, X15
	VPBROADCASTD X15, Y15
	MOVL    $0x0d0d0d0d, R8 // 13
	VMOVD   R8, X7
	VPBROADCASTD X7, Y7

loop:
	MOVQ CX, R9
	SUBQ AX, R9
	CMPQ R9, $28
	JLT  done

	VMOVDQU     (SI)(AX*1), X0
	VINSERTI128 $1, 12(SI)(AX*1), Y0, Y0
	VPSHUFB     Y8, Y0, Y0

	// 6-bit values: the 4 of each 3 bytes, one per output byte.
	VPAND    Y10, Y0, Y1
	VPMULHUW Y11, Y1, Y1
	VPAND    Y12, Y0, Y2
	VPMULLW  Y13, Y2, Y2
	VPOR     Y1, Y2, Y0

	// Characters: class = sat(v-51) | (v<26 ? 13 : 0), then v + lut[class].
	VPSUBUSB Y14, Y0, Y1
	VPCMPGTB Y0, Y15, Y2
	VPAND    Y7, Y2, Y2
	VPOR     Y2, Y1, Y1
	VPSHUFB  Y1, Y9, Y1
	VPADDB   Y0, Y1, Y0

	VMOVDQU Y0, (DI)
	ADDQ    $24, AX
	ADDQ    $32, DI
	JMP     loop

done:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
