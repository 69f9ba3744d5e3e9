package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// Request body limits, per route, enforced while the body is read (Limits, SigV4) and before
// any of it when Content-Length announces more.
const (
	// maxBody bounds every request without a larger limit of its own.
	maxBody = 1 << 20
	// maxCodeBody: CreateFunction and UpdateFunctionCode carry a base64 zip of up to 50 MB;
	// Lambda's limit for such a request is 69905067 bytes.
	maxCodeBody = 69905067
	// maxSecretsBody: a 64 KiB SecretString JSON-escaped (\u00XX: 6 bytes a byte) in its request.
	maxSecretsBody = 6*65536 + 64<<10
	// codeReadTimeout replaces the server's read timeout for code uploads: 70 MB at 120 kB/s.
	codeReadTimeout = 10 * time.Minute
	// invokeWriteTimeout replaces the server's write timeout for Invoke: a function may run for
	// Lambda's maximum of 15 minutes before its answer is written.
	invokeWriteTimeout = 16 * time.Minute
)

// BodyLimit is the largest body the route of r accepts: 6 MB for Invoke (function.MaxPayload),
// 69905067 bytes for function code, enough for a 64 KiB secret value on the Secrets Manager
// endpoint, 1 MiB otherwise.
func BodyLimit(r *http.Request) int64 {
	switch {
	case isInvoke(r):
		return function.MaxPayload
	case isCodeUpload(r):
		return maxCodeBody
	case r.URL.Path == "/":
		return maxSecretsBody
	}
	return maxBody
}

func isInvoke(r *http.Request) bool {
	p := strings.TrimSuffix(r.URL.Path, "/")
	return r.Method == http.MethodPost && strings.HasPrefix(p, "/2015-03-31/functions/") && strings.HasSuffix(p, "/invocations")
}

func isCodeUpload(r *http.Request) bool {
	p := strings.TrimSuffix(r.URL.Path, "/")
	return (r.Method == http.MethodPost && p == "/2015-03-31/functions") ||
		(r.Method == http.MethodPut && strings.HasPrefix(p, "/2015-03-31/functions/") && strings.HasSuffix(p, "/code"))
}

// Limits wraps next with the route's body limit (a larger Content-Length is refused before
// anything is read; a chunked body is cut while it is read) and the route's deadlines: code
// uploads may take longer to read, Invoke longer to answer, than the server's defaults.
func Limits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := BodyLimit(r)
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close") // the unread body must not be parsed as a request
			writeProtoError(w, r, tooLarge(limit))
			return
		}
		rc := http.NewResponseController(w)
		if isCodeUpload(r) {
			_ = rc.SetReadDeadline(time.Now().Add(codeReadTimeout))
		}
		if isInvoke(r) {
			_ = rc.SetWriteDeadline(time.Now().Add(invokeWriteTimeout))
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}
