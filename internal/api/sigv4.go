package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/arn"
	"github.com/kafkaesm/kafkaesm/internal/iam"
)

// SigV4Config configures request authentication with AWS Signature Version 4.
type SigV4Config struct {
	// Principals are the access keys that may sign requests. Required, unless Credentials is set.
	Principals *iam.Set
	// Credentials maps access key ids to secret access keys: a shorthand for Principals with
	// full access, each named after its key id.
	Credentials map[string]string
	// Region every credential scope must name; default us-east-1.
	Region string
	// MaxSkew is the allowed difference between X-Amz-Date and the server clock; default
	// 5 minutes, as Lambda.
	MaxSkew time.Duration
	// MaxBodyBytes bounds the body read to hash it; default 0: the route's limit (BodyLimit).
	MaxBodyBytes int64
	// Exempt requests skip authentication. Default: GET /healthz and GET / (a fixed text
	// pointing a person at the CLIs).
	Exempt func(*http.Request) bool
	// SpoolDir holds bodies above 64 KiB while their signature is checked (unlinked files);
	// default os.TempDir().
	SpoolDir string
	// SpoolBudget bounds the bytes of not yet authenticated bodies spooled to SpoolDir at once,
	// across all requests; beyond it a request is refused with 429 TooManyRequestsException
	// (before its body is read when it announces its length). Default DefaultSpoolBudget
	// (512 MiB).
	SpoolBudget int64
	// Now is the clock; default time.Now.
	Now func() time.Time

	spool *spoolBudget // SpoolBudget's account, shared by every request of one SigV4 handler
}

// Validate fills defaults and checks the configuration.
func (c *SigV4Config) Validate() error {
	if c.Principals == nil {
		if len(c.Credentials) == 0 {
			return errors.New("sigv4: no credentials configured")
		}
		var ps []*iam.Principal
		for id, secret := range c.Credentials {
			if id == "" || secret == "" {
				return errors.New("sigv4: access key id and secret access key must both be non-empty")
			}
			ps = append(ps, &iam.Principal{Name: id, AccessKeyID: id, SecretAccessKey: secret})
		}
		set, err := iam.NewSet(ps)
		if err != nil {
			return fmt.Errorf("sigv4: %w", err)
		}
		c.Principals = set
	}
	if c.Region == "" {
		c.Region = arn.DefaultRegion
	}
	if c.MaxSkew == 0 {
		c.MaxSkew = 5 * time.Minute
	}
	if c.Exempt == nil {
		c.Exempt = func(r *http.Request) bool {
			return r.Method == http.MethodGet && (r.URL.Path == "/healthz" || r.URL.Path == "/")
		}
	}
	if c.SpoolDir == "" {
		c.SpoolDir = os.TempDir()
	}
	if c.SpoolBudget == 0 {
		c.SpoolBudget = DefaultSpoolBudget
	}
	if c.SpoolBudget < 0 {
		return errors.New("sigv4: the spool budget must be positive")
	}
	c.spool = &spoolBudget{max: c.SpoolBudget}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	// maxPresignExpires is SigV4's limit for X-Amz-Expires: 7 days.
	maxPresignExpires = 7 * 24 * 3600
	msgBadToken       = "The security token included in the request is invalid."
	msgBadSig         = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgMissingToken   = "Missing Authentication Token"
)

type principalKey struct{}

// PrincipalFrom is the principal that signed the request; nil when the server runs without
// authentication.
func PrincipalFrom(ctx context.Context) *iam.Principal {
	p, _ := ctx.Value(principalKey{}).(*iam.Principal)
	return p
}

// WithPrincipal returns ctx carrying p (for handlers and tests).
func WithPrincipal(ctx context.Context, p *iam.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// SigV4 wraps next with AWS Signature Version 4 verification, as AWS checks it: the
// Authorization header form and presigned URLs (X-Amz-Algorithm in the query). Failures
// answer with AWS's exceptions: MissingAuthenticationTokenException without any signature,
// IncompleteSignatureException for a malformed one, UnrecognizedClientException for an unknown
// access key id, InvalidSignatureException for a wrong signature, scope, clock or signed
// header list.
//
// Everything that can be checked from the headers is checked before any of the body is read:
// the key id, the scope (service must be the API called: secretsmanager for POST /, lambda
// otherwise; region), the clock, and that host, x-amz-date, every x-amz-* header and
// content-type are signed. When the client sent X-Amz-Content-Sha256 the signature itself is
// verified first too, and the body must then hash to it. Otherwise the body is read (at most
// the route's limit; above 64 KiB into an unlinked temporary file, so unauthenticated bodies
// cost disk, not memory) and hashed, and the signature verified over it. Neither the secret
// key nor the computed signature appears in any response or log.
func SigV4(cfg SigV4Config, next http.Handler) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.Exempt(r) {
			next.ServeHTTP(w, r)
			return
		}
		p, err := cfg.verify(r)
		if err != nil {
			if err == error(errSpoolBusy) {
				w.Header().Set("Connection", "close") // the unread body must not be parsed as a request
			}
			if w.Header().Get("x-amzn-RequestId") == "" {
				w.Header().Set("x-amzn-RequestId", newRequestID())
			}
			writeProtoError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	}), nil
}

// serviceFor is the SigV4 service a request must be scoped to: the Secrets Manager API is
// POST / (awsJson1.1), everything else is Lambda's.
func serviceFor(r *http.Request) string {
	if r.URL.Path == "/" {
		return "secretsmanager"
	}
	return "lambda"
}

// authInfo is a parsed signature, from the Authorization header or a presigned URL's query.
type authInfo struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
	presigned                        bool
	amzDate                          string // presigned: X-Amz-Date from the query
	expires                          int    // presigned: X-Amz-Expires, seconds
}

func incomplete(format string, args ...any) *Error {
	return Errorf(IncompleteSignature, format, args...)
}

// parseAuthorization parses an AWS4-HMAC-SHA256 Authorization header.
func parseAuthorization(h string) (authInfo, *Error) {
	var a authInfo
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return a, incomplete("Authorization header must use the %s algorithm.", sigV4Algorithm)
	}
	var cred, signed string
	var haveCred, haveSigned, haveSig bool
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred, haveCred = v, true
		case "SignedHeaders":
			signed, haveSigned = v, true
		case "Signature":
			a.signature, haveSig = v, true
		}
	}
	switch {
	case !haveCred || cred == "":
		return a, incomplete("Authorization header requires 'Credential' parameter. Authorization=%s", truncate(h, 64))
	case !haveSigned || signed == "":
		return a, incomplete("Authorization header requires 'SignedHeaders' parameter. Authorization=%s", truncate(h, 64))
	case !haveSig || a.signature == "":
		return a, incomplete("Authorization header requires 'Signature' parameter. Authorization=%s", truncate(h, 64))
	}
	if err := a.setCredential(cred); err != nil {
		return a, err
	}
	if err := a.setSignedHeaders(signed); err != nil {
		return a, err
	}
	return a, nil
}

// parsePresigned parses a presigned URL's X-Amz-* query parameters.
func parsePresigned(q url.Values) (authInfo, *Error) {
	a := authInfo{presigned: true}
	if alg := q.Get("X-Amz-Algorithm"); alg != sigV4Algorithm {
		return a, incomplete("X-Amz-Algorithm only supports \"%s\"", sigV4Algorithm)
	}
	for _, k := range []string{"X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if q.Get(k) == "" {
			return a, incomplete("AWS query-string parameters must include '%s'. Re-examine the query-string parameters.", k)
		}
	}
	if err := a.setCredential(q.Get("X-Amz-Credential")); err != nil {
		return a, err
	}
	if err := a.setSignedHeaders(q.Get("X-Amz-SignedHeaders")); err != nil {
		return a, err
	}
	a.signature, a.amzDate = q.Get("X-Amz-Signature"), q.Get("X-Amz-Date")
	exp, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || exp < 1 || exp > maxPresignExpires {
		return a, incomplete("X-Amz-Expires must be a whole number of seconds from 1 to %d.", maxPresignExpires)
	}
	a.expires = exp
	return a, nil
}

func (a *authInfo) setCredential(cred string) *Error {
	f := strings.Split(cred, "/")
	if len(f) != 5 || f[4] != "aws4_request" || f[0] == "" {
		return incomplete("Credential should be of the form <access key id>/<date>/<region>/<service>/aws4_request, not '%s'.", truncate(cred, 64))
	}
	a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
	return nil
}

func (a *authInfo) setSignedHeaders(signed string) *Error {
	a.signedHeaders = strings.Split(signed, ";")
	for _, h := range a.signedHeaders {
		if h == "" || h != strings.ToLower(h) {
			return incomplete("SignedHeaders must be a ';'-separated list of lower-case header names, not '%s'.", truncate(signed, 64))
		}
	}
	return nil
}

// verify authenticates r and returns its principal. On success r.Body is the verified body.
func (c *SigV4Config) verify(r *http.Request) (*iam.Principal, error) {
	var a authInfo
	var perr *Error
	q := r.URL.Query()
	h := r.Header.Get("Authorization")
	switch {
	case h != "" && q.Has("X-Amz-Algorithm"):
		return nil, incomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified")
	case h != "":
		a, perr = parseAuthorization(h)
	case q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential"):
		a, perr = parsePresigned(q)
	default:
		return nil, &Error{Code: MissingAuthenticationToken, Message: msgMissingToken}
	}
	if perr != nil {
		return nil, perr
	}
	p, ok := c.Principals.Lookup(a.accessKey)
	if !ok {
		return nil, &Error{Code: UnrecognizedClient, Message: msgBadToken}
	}
	amzDate := a.amzDate
	if !a.presigned {
		amzDate = r.Header.Get("X-Amz-Date")
	}
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		if a.presigned {
			return nil, incomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
		}
		return nil, incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", truncate(h, 64))
	}
	if len(a.date) != 8 || !strings.HasPrefix(amzDate, a.date) {
		return nil, Errorf(InvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			truncate(a.date, 16), amzDate[:8], amzDate)
	}
	if a.region != c.Region {
		return nil, Errorf(InvalidSignature, "Credential should be scoped to a valid region, not '%s'. ", truncate(a.region, 32))
	}
	if want := serviceFor(r); a.service != want {
		return nil, Errorf(InvalidSignature, "Credential should be scoped to correct service: '%s'. ", want)
	}
	if err := c.checkTime(a, t, amzDate); err != nil {
		return nil, err
	}
	if err := checkSignedHeaders(r, a); err != nil {
		return nil, err
	}

	limit := c.MaxBodyBytes
	if limit == 0 {
		limit = BodyLimit(r)
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	if claimed == unsignedPayload {
		// A presigned URL may leave its payload unsigned, but then whoever holds the URL could
		// send any body: accepted only for requests without one.
		if r.ContentLength != 0 {
			return nil, Errorf(InvalidSignature, "The payload of a request with a body must be signed: UNSIGNED-PAYLOAD is accepted only without one.")
		}
	} else if claimed != "" && !isHexSHA256(claimed) {
		return nil, Errorf(InvalidSignature, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256 hex digest.")
	}
	if claimed == "" && a.presigned && r.ContentLength == 0 && c.signatureOK(r, a, p, amzDate, unsignedPayload) {
		// What presigning SDKs sign when they send no body; else the empty body's hash, below.
		r.Body = http.NoBody
		return p, nil
	}
	if claimed != "" {
		// The header is signed (x-amz-*), so the signature can be checked before the body is read.
		if !c.signatureOK(r, a, p, amzDate, claimed) {
			return nil, &Error{Code: InvalidSignature, Message: msgBadSig}
		}
		if claimed == unsignedPayload {
			r.Body = http.NoBody
			return p, nil
		}
		body, sum, err := c.readBody(r, limit)
		if err != nil {
			return nil, err
		}
		if sum != claimed {
			body.Close()
			return nil, Errorf(InvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		r.Body = body
		return p, nil
	}
	body, sum, err := c.readBody(r, limit)
	if err != nil {
		return nil, err
	}
	if !c.signatureOK(r, a, p, amzDate, sum) {
		body.Close()
		return nil, &Error{Code: InvalidSignature, Message: msgBadSig}
	}
	r.Body = body
	return p, nil
}

func (c *SigV4Config) checkTime(a authInfo, t time.Time, amzDate string) *Error {
	now := c.Now().UTC()
	if a.presigned {
		if t.Sub(now) > c.MaxSkew {
			return Errorf(InvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s.)",
				amzDate, now.Add(c.MaxSkew).Format(amzDateFormat), now.Format(amzDateFormat), skewText(c.MaxSkew))
		}
		if end := t.Add(time.Duration(a.expires) * time.Second); now.After(end) {
			return Errorf(InvalidSignature, "Signature expired: %s is now earlier than %s (X-Amz-Date %s + X-Amz-Expires %d s.)",
				end.Format(amzDateFormat), now.Format(amzDateFormat), amzDate, a.expires)
		}
		return nil
	}
	if d := now.Sub(t); d > c.MaxSkew {
		return Errorf(InvalidSignature, "Signature expired: %s is now earlier than %s (%s - %s.)",
			amzDate, now.Add(-c.MaxSkew).Format(amzDateFormat), now.Format(amzDateFormat), skewText(c.MaxSkew))
	} else if d < -c.MaxSkew {
		return Errorf(InvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s.)",
			amzDate, now.Add(c.MaxSkew).Format(amzDateFormat), now.Format(amzDateFormat), skewText(c.MaxSkew))
	}
	return nil
}

// checkSignedHeaders enforces what AWS requires to be signed, so that no header that selects
// an operation or its input (X-Amz-Target, X-Amz-Invocation-Type, Content-Type…) can be changed
// on a signed request.
func checkSignedHeaders(r *http.Request, a authInfo) *Error {
	signed := make(map[string]bool, len(a.signedHeaders))
	for _, h := range a.signedHeaders {
		signed[h] = true
	}
	if !signed["host"] {
		return Errorf(InvalidSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if !a.presigned && !signed["x-amz-date"] {
		return Errorf(InvalidSignature, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if r.Header.Get("Content-Type") != "" && !signed["content-type"] {
		return Errorf(InvalidSignature, "'Content-Type' must be a 'SignedHeader' in the AWS Authorization.")
	}
	var unsigned []string
	for name := range r.Header {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "x-amz-") && !signed[l] {
			unsigned = append(unsigned, name)
		}
	}
	if len(unsigned) > 0 {
		sort.Strings(unsigned)
		return Errorf(InvalidSignature, "Every x-amz-* header must be a 'SignedHeader' in the AWS Authorization; not signed: %s.",
			truncate(strings.Join(unsigned, ", "), 128))
	}
	return nil
}

// signatureOK recomputes the signature over r with payloadHash and compares it in constant time.
func (c *SigV4Config) signatureOK(r *http.Request, a authInfo, p *iam.Principal, amzDate, payloadHash string) bool {
	rawQuery := r.URL.RawQuery
	if a.presigned {
		rawQuery = withoutParam(rawQuery, "X-Amz-Signature")
	}
	canonical := strings.Join([]string{
		r.Method,
		canonicalURI(r.URL),
		canonicalQuery(rawQuery),
		canonicalHeaders(r, a.signedHeaders),
		strings.Join(a.signedHeaders, ";"),
		payloadHash,
	}, "\n")
	want := sign(p.SecretAccessKey, a.date, a.region, a.service, amzDate, canonical)
	return hmac.Equal([]byte(want), []byte(a.signature))
}

// sign is the SigV4 signature of a canonical request, with the key derived from secret for
// the credential scope date/region/service.
func sign(secret, date, region, service, amzDate, canonical string) string {
	scope := strings.Join([]string{date, region, service, "aws4_request"}, "/")
	toSign := strings.Join([]string{sigV4Algorithm, amzDate, scope, hexSHA256([]byte(canonical))}, "\n")
	key := hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

// memBodyMax is how much of an unverified body is held in memory; the rest is spooled.
const memBodyMax = 64 << 10

// readBody reads r's body, at most limit bytes, hashing it as it goes. Up to memBodyMax stays
// in memory; a larger body goes to an unlinked temporary file, so that 200 concurrent 6 MB
// bodies of unauthenticated requests cost disk, not 1.2 GB of memory, and the disk they may
// take at once is bounded by the spool budget (TooManyRequestsException beyond it, before
// anything is read when Content-Length announces the size). It returns a replacement body
// for the handler and the body's hex SHA-256.
func (c *SigV4Config) readBody(r *http.Request, limit int64) (io.ReadCloser, string, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return http.NoBody, hexSHA256(nil), nil
	}
	spooled := &budgetWriter{b: c.spool}
	if r.ContentLength > memBodyMax {
		n := min(r.ContentLength, limit) - memBodyMax
		if !c.spool.take(n) {
			return nil, "", errSpoolBusy
		}
		spooled.reserved = n
	}
	// Once readBody returns, the body was either found to hash as signed or is about to be
	// dropped: the caller compares at once, so the budget goes back here.
	defer func() { c.spool.give(spooled.reserved) }()
	defer r.Body.Close()
	h := sha256.New()
	src := io.TeeReader(http.MaxBytesReader(nil, r.Body, limit), h)
	head := make([]byte, 0, min(memBodyMax, max(r.ContentLength, 512)))
	buf := bytes.NewBuffer(head)
	n, err := io.Copy(buf, io.LimitReader(src, memBodyMax))
	if err != nil {
		return nil, "", bodyError(err, limit)
	}
	if n < memBodyMax {
		return io.NopCloser(buf), sumHex(h), nil
	}
	f, err := os.CreateTemp(c.SpoolDir, "kafkaesm-body-")
	if err != nil {
		return nil, "", fmt.Errorf("spooling a request body: %w", err)
	}
	_ = os.Remove(f.Name()) // unlinked: the space is freed when f is closed, whatever happens
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("spooling a request body: %w", err)
	}
	spooled.w = f
	if _, err := io.Copy(spooled, src); err != nil {
		f.Close()
		return nil, "", bodyError(err, limit)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, "", err
	}
	return f, sumHex(h), nil
}

func bodyError(err error, limit int64) error {
	if e, ok := err.(*Error); ok {
		return e
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return tooLarge(limit)
	}
	return Errorf(InvalidRequestContent, "Could not read request body: %v", err)
}

func tooLarge(limit int64) *Error {
	return Errorf(RequestTooLarge, "Request must be smaller than %d bytes for this operation.", limit)
}

func sumHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// withoutParam removes every occurrence of the query parameter name from a raw query.
func withoutParam(raw, name string) string {
	parts := strings.Split(raw, "&")
	out := parts[:0]
	for _, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, "&")
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
	// Sorted by encoded key, then encoded value, as SigV4 (and the SDKs) sort: encoding changes
	// the order ('@' becomes %40, before '.').
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range vals {
		ek := awsEscape(k, true)
		for _, v := range vs {
			pairs = append(pairs, pair{ek, awsEscape(v, true)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
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

// presignGET turns rawURL (an absolute URL on this server) into a GET URL presigned with p's
// key for the lambda service, valid for expires: GetFunction's Code.Location, which clients
// fetch without signing, as they fetch AWS's presigned S3 URL.
func presignGET(p *iam.Principal, region, rawURL string, now time.Time, expires time.Duration) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	amzDate := now.UTC().Format(amzDateFormat)
	scope := strings.Join([]string{amzDate[:8], region, "lambda", "aws4_request"}, "/")
	q := u.Query()
	q.Set("X-Amz-Algorithm", sigV4Algorithm)
	q.Set("X-Amz-Credential", p.AccessKeyID+"/"+scope)
	q.Set("X-Amz-Date", amzDate)
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
	q.Set("X-Amz-SignedHeaders", "host")
	u.RawQuery = q.Encode()
	canonical := strings.Join([]string{"GET", canonicalURI(u), canonicalQuery(u.RawQuery), "host:" + u.Host + "\n", "host", unsignedPayload}, "\n")
	return u.String() + "&X-Amz-Signature=" + sign(p.SecretAccessKey, amzDate[:8], region, "lambda", amzDate, canonical), nil
}
