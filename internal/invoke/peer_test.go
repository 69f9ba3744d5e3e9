package invoke

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log sink tests read while the engine writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRuntimeAPIRefusesOthers: while an invocation is in progress, neither a local process
// (the test itself) nor another function can take an event from the environment's /next or
// post a response for it: each gets a 403 and a log line, and the invocation ends with what its
// own runtime answered. As the server's user (peers traced to the environment's cgroup, or
// without cgroups to its process group) and, as root, with function uids (peers traced to the
// environment's uid).
func TestRuntimeAPIRefusesOthers(t *testing.T) {
	for _, mode := range []string{"server-user", "server-user-no-cgroups", "function-uids"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "function-uids" {
				needRoot(t)
			}
			defer http.DefaultClient.CloseIdleConnections()
			logs := &lockedBuffer{}
			e, fns := newEngine(t, func(c *Config) {
				c.Logger = slog.New(slog.NewTextHandler(logs, nil))
				if mode == "function-uids" {
					c.Users = testUIDs
				}
				c.NoCgroups = mode == "server-user-no-cgroups" // peers traced to the process group
			})
			fns.Put(goFunction("victim"))
			fns.Put(goFunction("other"))

			release := make(chan struct{})
			hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
			defer hold.Close()
			defer func() {
				select {
				case <-release:
				default:
					close(release)
				}
			}()
			const reqID = "0b1c2d3e-0000-4000-8000-000000000001"
			event := `{"action":"wait","url":"` + hold.URL + `"}`
			done := make(chan Result, 1)
			go func() {
				res, err := e.Invoke(ctxT(t), Request{Function: "victim", RequestID: reqID, Payload: []byte(event)})
				if err != nil {
					t.Error(err)
				}
				done <- res
			}()
			var addr string
			waitFor(t, func() bool {
				e.mu.Lock()
				defer e.mu.Unlock()
				for v := range e.envs {
					if v.fn.FunctionName == "victim" {
						v.mu.Lock()
						busy := v.cur != nil
						v.mu.Unlock()
						if busy {
							addr = v.ln.Addr().String()
						}
					}
				}
				return addr != ""
			})
			base := "http://" + addr + "/2018-06-01/runtime/"

			// A local process polls the port and forges a response.
			if resp, body := do(t, "GET", base+"invocation/next", nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("foreign GET /next: %d %s, want 403", resp.StatusCode, body)
			}
			if resp, body := do(t, "POST", base+"invocation/"+reqID+"/response", []byte(`"forged"`)); resp.StatusCode != http.StatusForbidden {
				t.Errorf("forged response: %d %s, want 403", resp.StatusCode, body)
			}
			// Another function polls it.
			res := invoke(t, e, "other", `{"action":"poll","url":"`+addr+`","ms":5000}`)
			var status any
			_ = json.Unmarshal(res.Payload, &status)
			if status != float64(http.StatusForbidden) {
				t.Errorf("another function's GET /next: %s, want 403", res.Payload)
			}

			close(release)
			got := <-done
			if got.FunctionError != "" || string(got.Payload) != event {
				t.Errorf("victim's result: %s %s, want its own echo", got.FunctionError, got.Payload)
			}
			if n := strings.Count(logs.String(), "runtime API call refused"); n < 3 {
				t.Errorf("%d refusals logged, want 3:\n%s", n, logs.String())
			}
		})
	}
}

// TestSameAddr: /proc/net/tcp's address encoding, IPv4 and IPv4-mapped IPv6.
func TestSameAddr(t *testing.T) {
	a := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	for s, want := range map[string]bool{
		"0100007F:1F90":                         true,
		"0100007F:1F91":                         false,
		"0200007F:1F90":                         false,
		"0000000000000000FFFF00000100007F:1F90": true,
		"00000000000000000000000001000000:1F90": false,
	} {
		if got := sameAddr(s, a); got != want {
			t.Errorf("sameAddr(%s) = %v, want %v", s, got, want)
		}
	}
}
