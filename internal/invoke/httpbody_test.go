package invoke

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPayloadRequestBodies sends payloads of several sizes through NewTransport and checks the
// target receives each byte for byte, over one reused connection.
func TestPayloadRequestBodies(t *testing.T) {
	var conns int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if r.ContentLength != int64(len(b)) {
			http.Error(w, "content length", 400)
			return
		}
		w.Write(b[:min(len(b), 16)])
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns++
		}
	}
	srv.Start()
	defer srv.Close()
	tr := NewTransport(2)
	dial := tr.DialContext
	var writes int
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		bc := c.(*bodyConn)
		bc.Conn = &writeCounter{Conn: bc.Conn, n: &writes}
		return bc, nil
	}
	cl := &http.Client{Transport: tr}
	for _, n := range []int{0, 1, 3000, 70_000, 6 << 20} {
		writes = 0
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 7)
		}
		req, err := NewPayloadRequest(context.Background(), srv.URL, p)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, p[:min(n, 16)]) {
			t.Fatalf("%d bytes: %s %q", n, resp.Status, got)
		}
		// Headers with the body's first bytes, then the rest in one write (not one per 32 KB).
		if writes > 2 {
			t.Errorf("%d bytes: %d writes", n, writes)
		}
	}
	if conns != 1 {
		t.Errorf("%d connections, want 1 reused", conns)
	}
}

type writeCounter struct {
	net.Conn
	n *int
}

func (c *writeCounter) Write(b []byte) (int, error) { *c.n++; return c.Conn.Write(b) }

// countingConn counts writes.
type countingConn struct {
	net.Conn
	buf    bytes.Buffer
	writes int
}

func (c *countingConn) Write(b []byte) (int, error) { c.writes++; return c.buf.Write(b) }

// TestBodyConnWritesOnce: the rest of a payloadBody goes out in one Write, from where the
// reader stands and no further than the limit; other readers are copied as usual.
func TestBodyConnWritesOnce(t *testing.T) {
	cc := &countingConn{}
	c := &bodyConn{Conn: cc}
	p := bytes.Repeat([]byte("0123456789"), 100_000)
	body := &payloadBody{b: p}
	head := make([]byte, 100)
	if _, err := body.Read(head); err != nil { // what net/http's bufio.Writer takes first
		t.Fatal(err)
	}
	n, err := c.ReadFrom(&io.LimitedReader{R: body, N: int64(len(p) - 100 - 5)})
	if err != nil || n != int64(len(p)-105) || cc.writes != 1 || !bytes.Equal(cc.buf.Bytes(), p[100:len(p)-5]) {
		t.Fatalf("n %d err %v writes %d", n, err, cc.writes)
	}
	cc.buf.Reset()
	cc.writes = 0
	n, err = c.ReadFrom(bytes.NewReader(p))
	if err != nil || n != int64(len(p)) || !bytes.Equal(cc.buf.Bytes(), p) {
		t.Fatalf("plain reader: n %d err %v", n, err)
	}
}
