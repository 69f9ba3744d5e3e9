//go:build unix

package bench

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLoopbackCopy is the part of the delivery floor that no HTTP server or client can
// avoid: moving payload-sized buffers from one socket to another over loopback TCP, from and into
// buffers that rotate as batch buffers and function read buffers do. It reports the CPU the
// transfer costs this process (both ends) per 10^9 bytes moved.
//
//	go test -run XXX -bench LoopbackCopy ./internal/bench/
func BenchmarkLoopbackCopy(b *testing.B) {
	const size = 2 << 20 // a kafkaesm payload of one partition's fetch
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan int64)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- 0
			return
		}
		defer c.Close()
		bufs := [3][]byte{make([]byte, size), make([]byte, size), make([]byte, size)}
		var n int64
		for i := 0; ; i++ {
			k, err := io.ReadFull(c, bufs[i%3])
			n += int64(k)
			if err != nil {
				done <- n
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	var bufs [4][]byte
	for i := range bufs {
		bufs[i] = make([]byte, size)
		for j := range bufs[i] {
			bufs[i][j] = byte(j)
		}
	}
	b.SetBytes(size)
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(bufs[i%4]); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	n := <-done
	cpu, wall := cpuTime()-cpu0, time.Since(t0)
	b.StopTimer()
	if n != int64(b.N)*size {
		b.Fatalf("received %d of %d bytes", n, int64(b.N)*size)
	}
	b.ReportMetric(cpu.Seconds()/(float64(n)/1e9), "core-s/GB")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
}

// cpuTime is this process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
