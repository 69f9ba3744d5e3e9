package api

import (
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Browser protections. A web page the user visits can make the browser send requests to
// 127.0.0.1 (a "simple" cross-site POST needs no preflight), and a DNS-rebinding page can even
// read the answers. The guard refuses what only a browser acting for another site sends, before
// authentication, on every listener, so that a server running without authentication (dev,
// --no-auth) is as safe from web pages as one with it:
//   - a Host that does not name this server (rebinding: the page's own name pointing at us);
//   - an Origin of another site, or Sec-Fetch-Site: cross-site / same-site;
//   - the content types a form or a no-preflight fetch can send (text/plain,
//     multipart/form-data, application/x-www-form-urlencoded), which no AWS client sends.

// GuardConfig lists what the guard accepts besides loopback.
type GuardConfig struct {
	// AllowedHosts are extra host names (without port) the Host header may carry, e.g. the
	// server's DNS name when it is reached over the network (--allowed-host). Loopback names
	// (localhost, *.localhost), loopback addresses and the address the request arrived on are
	// always accepted: a page cannot rebind an address literal.
	AllowedHosts []string
}

// Guard wraps next with the browser protections.
func Guard(cfg GuardConfig, next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, h := range cfg.AllowedHosts {
		h = normHost(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		allowed[h] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := guardCheck(r, allowed); err != nil {
			writeProtoError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func guardCheck(r *http.Request, allowed map[string]bool) *Error {
	host := hostOnly(r.Host)
	if !hostAllowed(host, localIP(r), allowed) {
		return Errorf(AccessDenied, "Request refused: the Host header '%s' does not name this server. kafkaesm answers requests for loopback names and addresses, the address the request arrived on and the hosts listed with --allowed-host (a web page's own name pointing at this server, DNS rebinding, is refused).",
			truncate(r.Host, 64))
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if o == "null" || err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return Errorf(AccessDenied, "Request refused: cross-origin request from Origin '%s'. kafkaesm answers only its own pages and non-browser clients.", truncate(o, 64))
		}
	}
	switch strings.ToLower(r.Header.Get("Sec-Fetch-Site")) {
	case "cross-site", "same-site":
		return Errorf(AccessDenied, "Request refused: the browser marked it Sec-Fetch-Site: %s. kafkaesm answers only its own pages and non-browser clients.",
			strings.ToLower(r.Header.Get("Sec-Fetch-Site")))
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			mt = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
		}
		switch mt {
		case "text/plain", "multipart/form-data", "application/x-www-form-urlencoded":
			return Errorf(AccessDenied, "Request refused: Content-Type %s is what a web page can send to another site without asking. Send application/json, application/x-amz-json-1.1, application/octet-stream or no Content-Type.", mt)
		}
	}
	return nil
}

// hostOnly strips the port from a Host header value.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return normHost(h)
	}
	return normHost(strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"))
}

func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".") }

// hostAllowed says whether host names this server: a loopback name or address, the address the
// connection arrived on (local, nil when unknown), or a host the operator listed.
func hostAllowed(host string, local net.IP, allowed map[string]bool) bool {
	switch {
	case host == "":
		return false
	case host == "localhost" || strings.HasSuffix(host, ".localhost"):
		return true // RFC 6761: browsers resolve these to loopback themselves
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || (local != nil && ip.Equal(local)) || allowed[ip.String()]
	}
	return allowed[host]
}

// localIP is the address the request's connection arrived on (net/http records it), or nil.
func localIP(r *http.Request) net.IP {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return nil
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return net.ParseIP(h)
	}
	return nil
}

// writeProtoError answers in the protocol of the request: awsJson1.1 (Secrets Manager, marked by
// X-Amz-Target) carries the code in the body's "__type", which is where botocore looks for it;
// restJson1 (Lambda) uses the shared error table's shape.
func writeProtoError(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := err.(*Error)
	if !ok || r.Header.Get("X-Amz-Target") == "" {
		WriteError(w, err)
		return
	}
	def, ok := errorTable[e.Code]
	if !ok {
		def = errorTable[Service]
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", string(e.Code))
	w.WriteHeader(def.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": string(e.Code), "Message": e.Message})
}
