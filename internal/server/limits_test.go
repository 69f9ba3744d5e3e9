package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rssBytes is this process's resident set size (Linux).
func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// TestSlowAndOversizedRequests opens 200 connections at once that a client without the key can
// open: headers sent slowly, bodies sent slowly, bodies announced over the limit and chunked
// bodies over the limit, all with a bad signature. The node's RSS may grow by at most 64 MiB
// over idle (this process's RSS, clients included), the oversized ones are refused without
// being read, and the slow ones are cut by the read timeout.
func TestSlowAndOversizedRequests(t *testing.T) {
	s, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), ReadTimeout: 3 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop()
	addr := s.Addr()
	badAuth := "AWS4-HMAC-SHA256 Credential=" + testPrincipal(t, s).AccessKeyID + "/" + time.Now().UTC().Format("20060102") +
		"/us-east-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00"
	head := func(extra string) string {
		return "POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/octet-stream\r\n" +
			"X-Amz-Date: " + time.Now().UTC().Format("20060102T150405Z") + "\r\nAuthorization: " + badAuth + "\r\n" + extra + "\r\n"
	}
	runtime.GC()
	debug.FreeOSMemory()
	idle := rssBytes(t)

	const slowHeaders, slowBodies, announced, chunked = 60, 60, 60, 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[string]int{}
		errs     []error
	)
	record := func(kind string, c net.Conn) {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			statuses[kind+" closed"]++
			return
		}
		resp.Body.Close()
		statuses[kind+" "+strconv.Itoa(resp.StatusCode)]++
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return nil
		}
		return c
	}
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	for i := 0; i < slowHeaders+slowBodies+announced+chunked; i++ {
		wg.Go(func() {
			c := dial()
			if c == nil {
				return
			}
			defer c.Close()
			switch {
			case i < slowHeaders: // half a request line, then silence
				fmt.Fprintf(c, "POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: %s\r\n", addr)
				record("slow headers", c)
			case i < slowHeaders+slowBodies: // 6 MB announced, a few bytes sent
				fmt.Fprint(c, head("Content-Length: 6000000\r\n"))
				fmt.Fprint(c, "xxxx")
				record("slow body", c)
			case i < slowHeaders+slowBodies+announced: // over the limit
				fmt.Fprint(c, head("Content-Length: 104857600\r\n"))
				record("announced 100 MB", c)
			default: // chunked, past the 6 MB limit
				fmt.Fprint(c, head("Transfer-Encoding: chunked\r\n"))
				go func() {
					for sent := 0; sent < 7<<20; sent += len(chunk) {
						if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
							return
						}
					}
				}()
				record("chunked 7 MB", c)
			}
		})
	}
	// Sample RSS while the requests are in flight.
	peak := idle
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(50 * time.Millisecond):
		}
		peak = max(peak, rssBytes(t))
	}
	growth := peak - idle
	t.Logf("RSS idle %.1f MiB, peak %.1f MiB with %d concurrent slow/oversized requests: growth %.1f MiB (limit 64 MiB)",
		float64(idle)/(1<<20), float64(peak)/(1<<20), slowHeaders+slowBodies+announced+chunked, float64(growth)/(1<<20))
	t.Logf("outcomes: %v", statuses)
	if len(errs) > 0 {
		t.Fatalf("dial errors: %v", errs[0])
	}
	if growth > 64<<20 {
		t.Fatalf("RSS grew by %d MiB", growth>>20)
	}
	if statuses["announced 100 MB 413"] != announced || statuses["chunked 7 MB 413"] != chunked {
		t.Fatalf("oversized requests not all refused with 413: %v", statuses)
	}
	if statuses["slow headers closed"]+statuses["slow headers 408"] != slowHeaders {
		t.Fatalf("slow headers not all cut: %v", statuses)
	}
	if statuses["slow body closed"]+statuses["slow body 413"]+statuses["slow body 400"]+statuses["slow body 403"] != slowBodies {
		t.Fatalf("slow bodies not all cut: %v", statuses)
	}
}

// TestConnectionLimit: the listener hands out at most n connections; the next is accepted
// once one of them closes, and Close releases a waiting Accept.
func TestConnectionLimit(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(inner, 2)
	defer ln.Close()
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); err != nil {
		t.Fatal(err)
	}
	third := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		third <- err
	}()
	select {
	case <-third:
		t.Fatal("a third connection was accepted while two were open")
	default:
	}
	first.Close()
	if err := <-third; err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	// A waiting Accept returns when the listener closes.
	waiting := make(chan error, 1)
	ln2 := limitListener(inner, 0)
	go func() { _, err := ln2.Accept(); waiting <- err }()
	ln2.Close()
	if err := <-waiting; err == nil {
		t.Fatal("Accept on a closed listener succeeded")
	}
}

// TestHeaderLimit: request headers beyond 64 KiB are refused (431) before any handler runs.
func TestHeaderLimit(t *testing.T) {
	s, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop()
	req := mustRequest(t, "GET", "http://"+s.Addr()+"/healthz", "")
	req.Header.Set("X-Padding", strings.Repeat("p", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("100 KiB of headers: %d", resp.StatusCode)
	}
}
