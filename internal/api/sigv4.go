package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/arn"
)

// SigV4Config configures request authentication with AWS Signature Version 4.
type SigV4Config struct {
	// Credentials maps access key ids to secret access keys. Required (at least one).
	Credentials map[string]string
	// Region every credential scope must name; default us-east-1.
	Region string
	// Services accepted in the credential scope; default lambda and secretsmanager.
	Services []string
	// MaxSkew is the allowed difference between X-Amz-Date and the server clock; default
	// 15 minutes, as AWS.
	MaxSkew time.Duration
	// MaxBodyBytes bounds the body read to hash it; default 128 MiB (a 50 MB zip as base64 in
	// CreateFunction's JSON fits).
	MaxBodyBytes int64
	// Exempt requests skip authentication (health checks, Prometheus scrapes). Default:
	// GET /healthz and GET /metrics.
	Exempt func(*http.Request) bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Validate fills defaults and checks the configuration.
func (c *SigV4Config) Validate() error {
	if len(c.Credentials) == 0 {
		return errors.New("sigv4: no credentials configured")
	}
	for id, secret := range c.Credentials {
		if id == "" || secret == "" {
			return errors.New("sigv4: access key id and secret access key must both be non-empty")
		}
	}
	if c.Region == "" {
		c.Region = arn.DefaultRegion
	}
	if len(c.Services) == 0 {
		c.Services = []string{"lambda", "secretsmanager"}
	}
	if c.MaxSkew == 0 {
		c.MaxSkew = 15 * time.Minute
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 128 << 20
	}
	if c.Exempt == nil {
		c.Exempt = func(r *http.Request) bool {
			return r.Method == http.MethodGet && (r.URL.Path == "/healthz" || r.URL.Path == "/metrics")
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// SigV4 failure codes without a Lambda-modelled shape. They extend errors.go's table from here
// so that the table file stays untouched by this feature (merge-friendly); they are still
// written by WriteError like every other API error.
const (
	MissingAuthenticationToken Code = "MissingAuthenticationTokenException"
	IncompleteSignature        Code = "IncompleteSignatureException"
)

func init() {
	errorTable[MissingAuthenticationToken] = errorDef{status: 403, noType: true}
	errorTable[IncompleteSignature] = errorDef{status: 403, noType: true}
}

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	msgBadToken    = "The security token included in the request is invalid."
	msgBadSig      = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// SigV4 wraps next with AWS Signature Version 4 verification of the Authorization header form
// (presigned URLs are not accepted). Failures answer with AWS's error shapes:
// MissingAuthenticationTokenException without an Authorization header,
// IncompleteSignatureException for a malformed one, UnrecognizedClientException for an unknown
// access key id, InvalidSignatureException for a wrong signature, scope or clock skew.
//
// The body is read once to hash it and put back for next. The payload hash is always computed
// from the body: a client that sends X-Amz-Content-Sha256 signs that value, so a header that
// does not match the body fails as a bad signature. Neither the secret key nor the computed
// signature appears in any response or log.
func SigV4(cfg SigV4Config, next http.Handler) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.Exempt(r) {
			next.ServeHTTP(w, r)
			return
		}
		if err := cfg.verify(r); err != nil {
			if w.Header().Get("x-amzn-RequestId") == "" {
				w.Header().Set("x-amzn-RequestId", newRequestID())
			}
			writeSigV4Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}

// writeSigV4Error answers in the protocol of the request: awsJson1.1 (Secrets Manager, marked by
// X-Amz-Target) carries the code in the body's "__type", which is where botocore looks for it;
// restJson1 (Lambda) uses the shared error table's shape.
func writeSigV4Error(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := err.(*Error)
	if !ok || r.Header.Get("X-Amz-Target") == "" {
		WriteError(w, err)
		return
	}
	def := errorTable[e.Code]
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", string(e.Code))
	w.WriteHeader(def.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": string(e.Code), "Message": e.Message})
}

type authHeader struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseAuthorization(h string) (authHeader, *Error) {
	var a authHeader
	incomplete := func(what string) *Error {
		return Errorf(IncompleteSignature, "Authorization header requires '%s' parameter.", what)
	}
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return a, Errorf(IncompleteSignature, "Authorization header must use the %s algorithm.", sigV4Algorithm)
	}
	var cred, signed string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			a.signature = v
		}
	}
	switch {
	case cred == "":
		return a, incomplete("Credential")
	case signed == "":
		return a, incomplete("SignedHeaders")
	case a.signature == "":
		return a, incomplete("Signature")
	}
	f := strings.Split(cred, "/")
	if len(f) != 5 || f[4] != "aws4_request" {
		return a, Errorf(IncompleteSignature, "Credential should be of the form <access key id>/<date>/<region>/<service>/aws4_request.")
	}
	a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
	a.signedHeaders = strings.Split(signed, ";")
	return a, nil
}

func (c *SigV4Config) verify(r *http.Request) error {
	h := r.Header.Get("Authorization")
	if h == "" {
		return &Error{Code: MissingAuthenticationToken, Message: "Missing Authentication Token"}
	}
	a, perr := parseAuthorization(h)
	if perr != nil {
		return perr
	}
	secret, ok := c.Credentials[a.accessKey]
	if !ok {
		return &Error{Code: UnrecognizedClient, Message: msgBadToken}
	}
	if a.region != c.Region {
		return Errorf(InvalidSignature, "Credential should be scoped to a valid region, not '%s'. ", truncate(a.region, 32))
	}
	if !contains(c.Services, a.service) {
		return Errorf(InvalidSignature, "Credential should be scoped to correct service: '%s'. ", c.Services[0])
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return Errorf(IncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if !strings.HasPrefix(amzDate, a.date) || len(a.date) != 8 {
		return Errorf(InvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			truncate(a.date, 16), amzDate[:8], amzDate)
	}
	now := c.Now().UTC()
	if d := now.Sub(t); d > c.MaxSkew || d < -c.MaxSkew {
		if d > 0 {
			return Errorf(InvalidSignature, "Signature expired: %s is now earlier than %s (%s - %s.)",
				amzDate, now.Add(-c.MaxSkew).Format(amzDateFormat), now.Format(amzDateFormat), skewText(c.MaxSkew))
		}
		return Errorf(InvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s.)",
			amzDate, now.Add(c.MaxSkew).Format(amzDateFormat), now.Format(amzDateFormat), skewText(c.MaxSkew))
	}
	if !contains(a.signedHeaders, "host") {
		return Errorf(InvalidSignature, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}

	payloadHash, err := c.hashBody(r)
	if err != nil {
		return Errorf(RequestTooLarge, "Request must be smaller than %d bytes.", c.MaxBodyBytes)
	}
	canonical := strings.Join([]string{
		r.Method,
		canonicalURI(r.URL),
		canonicalQuery(r.URL.RawQuery),
		canonicalHeaders(r, a.signedHeaders),
		strings.Join(a.signedHeaders, ";"),
		payloadHash,
	}, "\n")
	scope := strings.Join([]string{a.date, a.region, a.service, "aws4_request"}, "/")
	toSign := strings.Join([]string{sigV4Algorithm, amzDate, scope, hexSHA256([]byte(canonical))}, "\n")
	key := hmacSHA256([]byte("AWS4"+secret), a.date)
	key = hmacSHA256(key, a.region)
	key = hmacSHA256(key, a.service)
	key = hmacSHA256(key, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return &Error{Code: InvalidSignature, Message: msgBadSig}
	}
	return nil
}

// hashBody reads the body once, restores it for the handler and returns its hex SHA-256.
func (c *SigV4Config) hashBody(r *http.Request) (string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return hexSHA256(nil), nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, c.MaxBodyBytes+1))
	_ = r.Body.Close()
	if err != nil {
		return "", err
	}
	if int64(len(body)) > c.MaxBodyBytes {
		return "", errors.New("body too large")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return hexSHA256(body), nil
}

// canonicalURI escapes the path as sent (already percent-encoded) once more, as SigV4 does
// for every service but S3: the SDKs sign EscapePath(EscapedPath()).
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return awsEscape(p, false)
}

func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	vals, _ := url.ParseQuery(raw)
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), vals[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, awsEscape(k, true)+"="+awsEscape(v, true))
		}
	}
	return strings.Join(parts, "&")
}

func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		var vals []string
		switch name {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = r.Header.Values("Content-Length")
			if len(vals) == 0 && r.ContentLength >= 0 {
				vals = []string{fmt.Sprint(r.ContentLength)}
			}
		default:
			vals = r.Header.Values(name)
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.Join(strings.Fields(v), " "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// awsEscape percent-encodes every byte except A-Z a-z 0-9 - . _ ~ (and '/' unless encodeSep).
func awsEscape(s string, encodeSep bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && !encodeSep) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return d.String()
}

// truncate bounds client-supplied text echoed in an error.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
