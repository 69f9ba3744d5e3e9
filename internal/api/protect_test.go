package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func newProtected(t *testing.T, auth bool) http.Handler {
	t.Helper()
	cfg := ProtectConfig{Guard: GuardConfig{AllowedHosts: []string{"kafkaesm.internal.example", "[2001:DB8::1]"}}}
	if auth {
		cfg.Auth = &SigV4Config{Credentials: map[string]string{testKeyID: testSecret}, Region: "eu-west-1"}
	}
	h, err := Protect(cfg, echo)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(h http.Handler, r *http.Request) (int, string, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Code, rec.Header().Get("X-Amzn-ErrorType"), rec.Body.String()
}

// TestBrowserProtections: what a web page can make a browser send is refused, with or without
// authentication, and what AWS clients send passes.
func TestBrowserProtections(t *testing.T) {
	tests := []struct {
		name    string
		host    string
		headers map[string]string
		status  int
		message string
	}{
		{"cross-site simple POST", "127.0.0.1:9001", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403, "Origin"},
		{"simple POST text/plain without Origin", "127.0.0.1:9001", map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, 403, "Content-Type text/plain"},
		{"form POST", "127.0.0.1:9001", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 403, "Content-Type application/x-www-form-urlencoded"},
		{"multipart POST", "127.0.0.1:9001", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, 403, "multipart/form-data"},
		{"rebinding Host", "evil.example:9001", map[string]string{"Content-Type": "application/json"}, 403, "Host header 'evil.example:9001'"},
		{"Sec-Fetch-Site cross-site", "127.0.0.1:9001", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403, "Sec-Fetch-Site: cross-site"},
		{"Sec-Fetch-Site same-site (another localhost port)", "localhost:9001", map[string]string{"Sec-Fetch-Site": "same-site"}, 403, "same-site"},
		{"Origin null (sandboxed page)", "127.0.0.1:9001", map[string]string{"Origin": "null", "Content-Type": "application/json"}, 403, "Origin 'null'"},
		{"same-origin page", "127.0.0.1:9001", map[string]string{"Origin": "http://127.0.0.1:9001", "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}, 200, ""},
		{"application/json", "127.0.0.1:9001", map[string]string{"Content-Type": "application/json"}, 200, ""},
		{"awsJson1.1", "localhost:9001", map[string]string{"Content-Type": "application/x-amz-json-1.1"}, 200, ""},
		{"SDK Invoke octet-stream", "[::1]:9001", map[string]string{"Content-Type": "application/octet-stream"}, 200, ""},
		{"botocore Invoke without Content-Type", "127.0.0.1", nil, 200, ""},
		{"listed host", "kafkaesm.internal.example:9001", map[string]string{"Content-Type": "application/json"}, 200, ""},
		{"another IP address", "10.1.2.3:9001", map[string]string{"Content-Type": "application/json"}, 403, "Host header '10.1.2.3:9001'"},
		{"the address it arrived on", "192.0.2.7:9001", map[string]string{"Content-Type": "application/json", "local": "192.0.2.7:9001"}, 200, ""},
		{"another address than it arrived on", "192.0.2.8:9001", map[string]string{"Content-Type": "application/json", "local": "192.0.2.7:9001"}, 403, "Host header '192.0.2.8:9001'"},
		{"listed IPv6 address", "[2001:db8:0::1]:9001", map[string]string{"Content-Type": "application/json"}, 200, ""},
		{"loopback address", "127.0.0.2", nil, 200, ""},
	}
	h := newProtected(t, false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/2015-03-31/functions", strings.NewReader(`{"FunctionName":"f"}`))
			r.Host = tt.host
			for k, v := range tt.headers {
				if k == "local" { // the listener address net/http records for the connection
					a, _ := net.ResolveTCPAddr("tcp", v)
					r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, a))
					continue
				}
				r.Header.Set(k, v)
			}
			code, typ, body := serve(h, r)
			if code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, body)
			}
			if tt.status == 403 {
				var m map[string]string
				_ = json.Unmarshal([]byte(body), &m)
				if typ != "AccessDeniedException" || !strings.Contains(m["Message"], tt.message) {
					t.Fatalf("%s %s, want AccessDeniedException containing %q", typ, body, tt.message)
				}
			}
		})
	}
	// With authentication the guard answers first: a signed request cannot be replayed from a page either.
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{}`))
	r.Host = "evil.example"
	r.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	if code, typ, body := serve(newProtected(t, true), r); code != 403 || typ != "AccessDeniedException" || !strings.Contains(body, `"__type":"AccessDeniedException"`) {
		t.Fatalf("rebinding with auth, awsJson: %d %s %s", code, typ, body)
	}
}

// signManually signs r with only the headers listed, as a client that signs too little would;
// it returns the Authorization header's value.
func signManually(r *http.Request, service string, headers []string, at time.Time, body string) string {
	amzDate := at.UTC().Format(amzDateFormat)
	r.Header.Set("X-Amz-Date", amzDate)
	a := authInfo{accessKey: testKeyID, date: amzDate[:8], region: "eu-west-1", service: service, signedHeaders: headers}
	canonical := strings.Join([]string{r.Method, canonicalURI(r.URL), canonicalQuery(r.URL.RawQuery),
		canonicalHeaders(r, headers), strings.Join(headers, ";"), hexSHA256([]byte(body))}, "\n")
	scope := strings.Join([]string{a.date, a.region, a.service, "aws4_request"}, "/")
	toSign := strings.Join([]string{sigV4Algorithm, amzDate, scope, hexSHA256([]byte(canonical))}, "\n")
	key := hmacSHA256([]byte("AWS4"+testSecret), a.date)
	key = hmacSHA256(key, a.region)
	key = hmacSHA256(key, a.service)
	key = hmacSHA256(key, "aws4_request")
	return sigV4Algorithm + " Credential=" + testKeyID + "/" + scope + ", SignedHeaders=" + strings.Join(headers, ";") +
		", Signature=" + hex.EncodeToString(hmacSHA256(key, toSign))
}

// TestSigV4SignedHeaders: a signature that leaves out a header selecting the operation or its
// input is refused, so a signed DescribeSecret cannot be turned into GetSecretValue.
func TestSigV4SignedHeaders(t *testing.T) {
	h := newProtected(t, true)
	now := time.Now()
	tests := []struct {
		name    string
		headers []string
		set     map[string]string
		message string
	}{
		{"unsigned X-Amz-Target", []string{"host", "x-amz-date", "content-type"}, map[string]string{"X-Amz-Target": "secretsmanager.GetSecretValue"}, "not signed: X-Amz-Target"},
		{"unsigned X-Amz-Date", []string{"host", "content-type", "x-amz-target"}, map[string]string{"X-Amz-Target": "secretsmanager.DescribeSecret"}, "'X-Amz-Date' must be a 'SignedHeader'"},
		{"unsigned Host", []string{"content-type", "x-amz-date", "x-amz-target"}, map[string]string{"X-Amz-Target": "secretsmanager.DescribeSecret"}, "'Host' or ':authority'"},
		{"unsigned Content-Type", []string{"host", "x-amz-date", "x-amz-target"}, map[string]string{"X-Amz-Target": "secretsmanager.DescribeSecret"}, "'Content-Type' must be"},
		{"all signed", []string{"content-type", "host", "x-amz-date", "x-amz-target"}, map[string]string{"X-Amz-Target": "secretsmanager.DescribeSecret"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"SecretId":"kafka"}`
			r := httptest.NewRequest("POST", "http://127.0.0.1:9001/", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			for k, v := range tt.set {
				r.Header.Set(k, v)
			}
			r.Header.Set("Authorization", signManually(r, "secretsmanager", tt.headers, now, body))
			code, typ, out := serve(h, r)
			if tt.message == "" {
				if code != 200 {
					t.Fatalf("%d %s", code, out)
				}
				return
			}
			if code != 403 || typ != "InvalidSignatureException" || !strings.Contains(out, tt.message) {
				t.Fatalf("%d %s %s, want InvalidSignatureException %q", code, typ, out, tt.message)
			}
		})
	}
}

// TestSigV4Scope: the credential scope's service must be the API called.
func TestSigV4Scope(t *testing.T) {
	h := newProtected(t, true)
	now := time.Now()
	for _, tt := range []struct{ path, service, want string }{
		{"/", "lambda", "'secretsmanager'"},
		{"/2015-03-31/functions/", "secretsmanager", "'lambda'"},
	} {
		r := httptest.NewRequest("POST", "http://127.0.0.1:9001"+tt.path, strings.NewReader(`{}`))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("Authorization", signManually(r, tt.service, []string{"content-type", "host", "x-amz-date"}, now, `{}`))
		code, typ, out := serve(h, r)
		if code != 403 || typ != "InvalidSignatureException" || !strings.Contains(out, "correct service: "+tt.want) {
			t.Fatalf("%s signed for %s: %d %s %s", tt.path, tt.service, code, typ, out)
		}
	}
}

// TestSigV4Presigned: presigned query-string requests are accepted until they expire.
func TestSigV4Presigned(t *testing.T) {
	now := time.Now().UTC()
	clock := now
	h, err := Protect(ProtectConfig{Auth: &SigV4Config{Credentials: map[string]string{testKeyID: testSecret}, Region: "eu-west-1",
		Now: func() time.Time { return clock }}}, echo)
	if err != nil {
		t.Fatal(err)
	}
	presign := func(path string, expires int) string {
		r, _ := http.NewRequest("GET", "http://127.0.0.1:9001"+path+"?X-Amz-Expires="+strconv.Itoa(expires), nil)
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret},
			r, hexSHA256(nil), "lambda", "eu-west-1", now)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	u := presign("/2015-03-31/functions/f", 300)
	get := func(u string) (int, string, string) {
		return serve(h, httptest.NewRequest("GET", u, nil))
	}
	if code, _, body := get(u); code != 200 {
		t.Fatalf("valid presigned URL: %d %s", code, body)
	}
	tampered := strings.Replace(u, "/functions/f", "/functions/g", 1)
	if code, typ, _ := get(tampered); code != 403 || typ != "InvalidSignatureException" {
		t.Fatalf("tampered presigned URL: %d %s", code, typ)
	}
	clock = now.Add(301 * time.Second)
	if code, typ, body := get(u); code != 403 || typ != "InvalidSignatureException" || !strings.Contains(body, "Signature expired") {
		t.Fatalf("expired presigned URL: %d %s %s", code, typ, body)
	}
	clock = now
	noExpiry := strings.Replace(u, "X-Amz-Expires=300&", "", 1)
	if code, typ, _ := get(noExpiry); code != 403 || typ != "IncompleteSignatureException" {
		t.Fatalf("presigned URL without X-Amz-Expires: %d %s", code, typ)
	}
	// Correctly signed, but valid for longer than SigV4's 7 days, or for no time at all.
	for _, expires := range []int{604801, 0, -1, -604800} {
		if code, typ, _ := get(presign("/2015-03-31/functions/f", expires)); code != 403 || typ != "IncompleteSignatureException" {
			t.Errorf("presigned URL with X-Amz-Expires=%d: %d %s", expires, code, typ)
		}
	}
	if code, _, body := get(presign("/2015-03-31/functions/f", 604800)); code != 200 {
		t.Errorf("presigned URL valid for 7 days: %d %s", code, body)
	}
}

// TestSigV4PayloadHash: X-Amz-Content-Sha256, when sent, must be the body's hash; the
// signature is checked before the body is read.
func TestSigV4PayloadHash(t *testing.T) {
	h := newProtected(t, true)
	body := `{"BatchSize":10}`
	sum := sha256.Sum256([]byte(body))
	for _, tt := range []struct {
		name, header, sent string
		status             int
		code               string
	}{
		{"matching", hex.EncodeToString(sum[:]), body, 200, ""},
		{"body swapped", hex.EncodeToString(sum[:]), `{"BatchSize":99}`, 403, "InvalidSignatureException"},
		{"unsigned payload with a body", "UNSIGNED-PAYLOAD", body, 403, "InvalidSignatureException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("PUT", "http://127.0.0.1:9001/2015-03-31/event-source-mappings/u", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-Amz-Content-Sha256", tt.header)
			if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret},
				r, tt.header, "lambda", "eu-west-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			r.Body = io.NopCloser(strings.NewReader(tt.sent))
			r.ContentLength = int64(len(tt.sent))
			code, typ, out := serve(h, r)
			if code != tt.status || typ != tt.code {
				t.Fatalf("%d %s %s", code, typ, out)
			}
		})
	}
}

// countingReader counts the bytes the server read.
type countingReader struct {
	n    atomic.Int64
	left int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	n = min(n, c.left)
	for i := range p[:n] {
		p[i] = 'x'
	}
	c.left -= n
	c.n.Add(n)
	return int(n), nil
}

// TestOversizedBodyBadSignature: a body over the route's limit is refused from its
// Content-Length without reading any of it; a chunked one is cut at the limit; a bad signature
// on a large body within the limit costs no more than the limit.
func TestOversizedBodyBadSignature(t *testing.T) {
	h := newProtected(t, true)
	badAuth := "AWS4-HMAC-SHA256 Credential=" + testKeyID + "/" + time.Now().UTC().Format("20060102") +
		"/eu-west-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00"
	for _, tt := range []struct {
		name          string
		contentLength int64
		size          int64
		maxRead       int64
		status        int
	}{
		{"announced 7 MB to Invoke", 7 << 20, 7 << 20, 0, 413},
		{"chunked 8 MB to Invoke", -1, 8 << 20, 6<<20 + 64<<10, 413},
		{"announced 2 MB to CreateEventSourceMapping", 2 << 20, 2 << 20, 0, 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := "/2015-03-31/functions/f/invocations"
			if strings.Contains(tt.name, "EventSourceMapping") {
				path = "/2015-03-31/event-source-mappings/"
			}
			body := &countingReader{left: tt.size}
			r := httptest.NewRequest("POST", "http://127.0.0.1:9001"+path, body)
			r.ContentLength = tt.contentLength
			r.Header.Set("Content-Type", "application/octet-stream")
			r.Header.Set("X-Amz-Date", time.Now().UTC().Format(amzDateFormat))
			r.Header.Set("Authorization", badAuth)
			code, typ, out := serve(h, r)
			if code != tt.status || typ != "RequestTooLargeException" {
				t.Fatalf("%d %s %s", code, typ, out)
			}
			if got := body.n.Load(); got > tt.maxRead {
				t.Fatalf("server read %d bytes, want at most %d", got, tt.maxRead)
			}
		})
	}
	// Within the limit, a 5 MB body with a bad signature is read (spooled) and refused.
	body := &countingReader{left: 5 << 20}
	r := httptest.NewRequest("POST", "http://127.0.0.1:9001/2015-03-31/functions/f/invocations", body)
	r.ContentLength = 5 << 20
	r.Header.Set("Content-Type", "application/octet-stream")
	r.Header.Set("X-Amz-Date", time.Now().UTC().Format(amzDateFormat))
	r.Header.Set("Authorization", badAuth)
	if code, typ, _ := serve(h, r); code != 403 || typ != "InvalidSignatureException" {
		t.Fatalf("5 MB with a bad signature: %d %s", code, typ)
	}
}

// TestSigV4LargeBody: a signed body above the in-memory part (spooled to a file) reaches the
// handler intact.
func TestSigV4LargeBody(t *testing.T) {
	h := newProtected(t, true)
	body := `{"Payload":"` + strings.Repeat("abcdefgh", 40_000) + `"}`
	r, _ := http.NewRequest("POST", "http://127.0.0.1:9001/2015-03-31/functions/f/invocations", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret},
		r, hex.EncodeToString(sum[:]), "lambda", "eu-west-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	code, _, out := serve(h, r)
	if code != 200 || out != body {
		t.Fatalf("%d, body intact: %v", code, out == body)
	}
}

// FuzzParseSignature feeds arbitrary Authorization headers and presigned query strings to the
// parsers: they must return a result or an AWS error, never panic.
func FuzzParseSignature(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab", "")
	f.Add("AWS4-HMAC-SHA256 Credential=,SignedHeaders=,Signature=", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Expires=99999999999")
	f.Add("", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Flambda%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
	f.Fuzz(func(t *testing.T, header, query string) {
		if a, err := parseAuthorization(header); err == nil {
			if a.accessKey == "" || len(a.signedHeaders) == 0 || a.signature == "" {
				t.Fatalf("accepted an incomplete header: %+v", a)
			}
		} else if err.Code != IncompleteSignature {
			t.Fatalf("code %s", err.Code)
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		if a, err := parsePresigned(q); err == nil {
			if a.expires < 1 || a.expires > maxPresignExpires || a.signature == "" {
				t.Fatalf("accepted %+v", a)
			}
		}
		_ = withoutParam(query, "X-Amz-Signature")
		_ = canonicalQuery(query)
	})
}

// TestNoCORS: a browser asks before sending application/json to another origin (a preflight,
// OPTIONS with Origin and Access-Control-Request-Method). kafkaesm refuses it and grants
// nothing: no Access-Control-Allow-* header on any answer, with or without authentication, so
// the browser never sends the request itself.
func TestNoCORS(t *testing.T) {
	for _, auth := range []bool{true, false} {
		h := newProtected(t, auth)
		for _, method := range []string{"OPTIONS", "POST"} {
			r := httptest.NewRequest(method, "http://127.0.0.1:9001/2015-03-31/functions", strings.NewReader(`{}`))
			r.Header.Set("Origin", "http://evil.example")
			if method == "OPTIONS" {
				r.Header.Set("Access-Control-Request-Method", "POST")
				r.Header.Set("Access-Control-Request-Headers", "content-type,authorization")
			} else {
				r.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != 403 {
				t.Errorf("auth %v, %s from another origin: %d", auth, method, rec.Code)
			}
			for k := range rec.Header() {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("auth %v, %s: CORS header %s: %v", auth, method, k, rec.Header()[k])
				}
			}
		}
	}
}
