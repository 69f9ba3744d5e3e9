package event

import (
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

func TestAppendBase64MatchesStdlib(t *testing.T) {
	t.Run("simd", func(t *testing.T) {
		if !useAVX2 {
			t.Skip("no SIMD encoder on this machine")
		}
		checkBase64(t)
	})
	t.Run("portable", func(t *testing.T) {
		defer func(v bool) { useAVX2 = v }(useAVX2)
		useAVX2 = false
		checkBase64(t)
	})
}

func checkBase64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lens := make([]int, 0, 400)
	for n := range 300 {
		lens = append(lens, n)
	}
	for range 100 {
		lens = append(lens, int(r.UintN(100_000)))
	}
	for _, n := range lens {
		for range 5 {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(r.UintN(256))
			}
			prefix := []byte("xy")
			got := appendBase64(prefix, src)
			want := append([]byte("xy"), base64.StdEncoding.EncodeToString(src)...)
			if string(got) != string(want) {
				t.Fatalf("len %d: got %s want %s", n, got, want)
			}
		}
	}
	if got := appendBase64(nil, nil); len(got) != 0 {
		t.Fatalf("empty input: %q", got)
	}
}

func BenchmarkBase64(b *testing.B) {
	src := make([]byte, 1024)
	dst := make([]byte, 0, 2048)
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for i := 0; i < b.N; i++ {
			dst = base64.StdEncoding.AppendEncode(dst[:0], src)
		}
	})
	b.Run("pairs", func(b *testing.B) {
		defer func(v bool) { useAVX2 = v }(useAVX2)
		useAVX2 = false
		b.SetBytes(int64(len(src)))
		for i := 0; i < b.N; i++ {
			dst = appendBase64(dst[:0], src)
		}
	})
	b.Run("simd", func(b *testing.B) {
		if !useAVX2 {
			b.Skip("no SIMD encoder on this machine")
		}
		b.SetBytes(int64(len(src)))
		for i := 0; i < b.N; i++ {
			dst = appendBase64(dst[:0], src)
		}
	})
}
