package invoke

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// Payloads of up to 6 MB go to HTTP targets on every invocation, so how net/http writes a
// request body matters. With a known Content-Length it copies the body through a 32 KB buffer
// into one write(2) per 32 KB: an extra copy of every byte and ~200 system calls per payload.
// A payloadBody sent through NewTransport's plain-HTTP connections is written straight from
// the payload, in one write. (TLS connections encrypt through their own buffers anyway and are
// left alone.)

// NewTransport returns http.DefaultTransport's settings with connections that write a
// payloadBody without copying it, keeping up to maxIdlePerHost idle connections per host.
func NewTransport(maxIdlePerHost int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * maxIdlePerHost
	t.MaxIdleConnsPerHost = maxIdlePerHost
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bodyConn{Conn: c}, nil
	}
	return t
}

// NewPayloadRequest is a POST of payload to url whose body a NewTransport connection writes
// in one piece. The request can be retried (GetBody), as one made with a bytes.Reader can.
func NewPayloadRequest(ctx context.Context, url string, payload []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &payloadBody{b: payload})
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(payload))
	req.GetBody = func() (io.ReadCloser, error) { return &payloadBody{b: payload}, nil }
	if len(payload) == 0 {
		req.Body, req.GetBody = http.NoBody, nil
	}
	return req, nil
}

// payloadBody reads a byte slice. It is its own io.ReadCloser so that http.NewRequest does not
// wrap it, and net/http hands it to bodyConn.ReadFrom inside an io.LimitedReader.
type payloadBody struct {
	b   []byte
	off int
}

func (p *payloadBody) Read(b []byte) (int, error) {
	if p.off >= len(p.b) {
		return 0, io.EOF
	}
	n := copy(b, p.b[p.off:])
	p.off += n
	return n, nil
}

func (p *payloadBody) Close() error { return nil }

// bodyConn is a connection whose ReadFrom writes what is left of a payloadBody in one Write.
// net/http reaches it through io.Copy once the request's headers are flushed.
type bodyConn struct{ net.Conn }

func (c *bodyConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if p, ok := lr.R.(*payloadBody); ok {
			rest := p.b[p.off:]
			if int64(len(rest)) > lr.N {
				rest = rest[:lr.N]
			}
			n, err := c.Conn.Write(rest)
			p.off += n
			lr.N -= int64(n)
			return int64(n), err
		}
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// writerOnly hides the connection's own ReadFrom, so that io.Copy does not come back here.
type writerOnly struct{ io.Writer }
