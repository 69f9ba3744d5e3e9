package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

const (
	testKeyID  = "AKIDKAFKAESMTEST"
	testSecret = "kafkaesm-test-secret-access-key-0123456789"
)

// echo answers 200 with the request body, proving the middleware put it back.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	if len(b) == 0 {
		b = []byte("{}")
	}
	_, _ = w.Write(b)
})

func newSigV4Server(t *testing.T, now func() time.Time) *httptest.Server {
	t.Helper()
	h, err := SigV4(SigV4Config{Credentials: map[string]string{testKeyID: testSecret}, Region: "eu-west-1", Now: now}, echo)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type signed struct {
	method, path, body string
	keyID, secret      string
	service, region    string
	at                 time.Time
	mutate             func(*http.Request) // after signing
}

func (s signed) do(t *testing.T, base string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(s.method, base+s.path, strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	if s.body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header.Set("Content-Type", "application/json")
	if s.service == "secretsmanager" {
		req.Header.Set("X-Amz-Target", "secretsmanager.ListSecrets")
	}
	sum := sha256.Sum256([]byte(s.body))
	if s.keyID != "" {
		creds := aws.Credentials{AccessKeyID: s.keyID, SecretAccessKey: s.secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), s.service, s.region, s.at); err != nil {
			t.Fatal(err)
		}
	}
	if s.mutate != nil {
		s.mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSigV4(t *testing.T) {
	now := time.Now().UTC()
	srv := newSigV4Server(t, func() time.Time { return now })
	ok := signed{method: "GET", path: "/2015-03-31/event-source-mappings/", keyID: testKeyID, secret: testSecret,
		service: "lambda", region: "eu-west-1", at: now}
	with := func(f func(*signed)) signed { s := ok; f(&s); return s }

	tests := []struct {
		name    string
		req     signed
		status  int
		code    string
		message string
	}{
		{"valid GET", ok, 200, "", ""},
		{"escaped path and query", with(func(s *signed) {
			s.path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A000000000000%3Afunction%3Af/invocations?Qualifier=%24LATEST&b=x%20y&a=1"
		}), 200, "", ""},
		{"valid POST", with(func(s *signed) { s.method, s.body = "POST", `{"FunctionName":"f","Topics":["t"]}` }), 200, "", ""},
		{"secretsmanager service", with(func(s *signed) {
			s.service, s.method, s.path, s.body = "secretsmanager", "POST", "/", `{"SecretId":"x"}`
		}), 200, "", ""},
		{"bad secret", with(func(s *signed) { s.secret = "wrong" }), 403, "InvalidSignatureException", msgBadSig},
		{"bad secret, secretsmanager", with(func(s *signed) {
			s.service, s.method, s.path, s.body, s.secret = "secretsmanager", "POST", "/", `{}`, "wrong"
		}), 403, "InvalidSignatureException", msgBadSig},
		{"unknown key id", with(func(s *signed) { s.keyID = "AKIDUNKNOWN" }), 403, "UnrecognizedClientException", msgBadToken},
		{"no authorization", with(func(s *signed) { s.keyID = "" }), 403, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"garbage authorization", with(func(s *signed) {
			s.mutate = func(r *http.Request) { r.Header.Set("Authorization", "Basic Zm9vOmJhcg==") }
		}), 403, "IncompleteSignatureException", "AWS4-HMAC-SHA256"},
		{"expired", with(func(s *signed) { s.at = now.Add(-6 * time.Minute) }), 403, "InvalidSignatureException", "Signature expired"},
		{"future", with(func(s *signed) { s.at = now.Add(6 * time.Minute) }), 403, "InvalidSignatureException", "Signature not yet current"},
		{"within skew", with(func(s *signed) { s.at = now.Add(-4 * time.Minute) }), 200, "", ""},
		{"wrong region", with(func(s *signed) { s.region = "us-east-1" }), 403, "InvalidSignatureException", "valid region"},
		{"wrong service", with(func(s *signed) { s.service = "s3" }), 403, "InvalidSignatureException", "correct service"},
		{"body changed after signing", with(func(s *signed) {
			s.method, s.body = "POST", `{"BatchSize":10}`
			s.mutate = func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader(`{"BatchSize":99}`)) }
		}), 403, "InvalidSignatureException", msgBadSig},
		{"path changed after signing", with(func(s *signed) {
			s.mutate = func(r *http.Request) { r.URL.Path = "/2015-03-31/functions/" }
		}), 403, "InvalidSignatureException", msgBadSig},
		{"healthz exempt", signed{method: "GET", path: "/healthz"}, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.req.do(t, srv.URL)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if strings.Contains(body, testSecret) {
				t.Fatal("response contains the secret access key")
			}
			if tt.code == "" {
				if tt.req.body != "" && body != tt.req.body {
					t.Fatalf("handler saw body %q, want %q", body, tt.req.body)
				}
				return
			}
			if got := resp.Header.Get("X-Amzn-ErrorType"); got != tt.code {
				t.Fatalf("X-Amzn-ErrorType %q, want %q", got, tt.code)
			}
			var m map[string]any
			_ = json.Unmarshal([]byte(body), &m)
			if tt.req.service == "secretsmanager" && m["__type"] != tt.code {
				t.Fatalf("awsJson error without __type: %s", body)
			}
			if msg, _ := m["Message"].(string); !strings.Contains(msg, tt.message) {
				t.Fatalf("message %q, want it to contain %q", msg, tt.message)
			}
		})
	}
}

// TestSigV4RealClients drives the middleware with the AWS SDK's Lambda and Secrets Manager
// clients, as users will.
func TestSigV4RealClients(t *testing.T) {
	srv := newSigV4Server(t, nil)
	cfg := func(secret string) aws.Config {
		return aws.Config{
			Region:       "eu-west-1",
			Credentials:  credentials.NewStaticCredentialsProvider(testKeyID, secret, ""),
			BaseEndpoint: aws.String(srv.URL),
			Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := lambda.NewFromConfig(cfg(testSecret)).ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{
		FunctionName: aws.String("arn:aws:lambda:eu-west-1:000000000000:function:f:$LATEST"),
	}); err != nil {
		t.Fatalf("lambda with the right secret: %v", err)
	}
	if _, err := secretsmanager.NewFromConfig(cfg(testSecret)).ListSecrets(ctx, &secretsmanager.ListSecretsInput{}); err != nil {
		t.Fatalf("secretsmanager with the right secret: %v", err)
	}
	// The echo handler answers the request body; PutSecretValue's body round-trips.
	if _, err := secretsmanager.NewFromConfig(cfg(testSecret)).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("s"), SecretString: aws.String(`{"username":"u","password":"p w+/=?"}`),
	}); err != nil {
		t.Fatalf("secretsmanager PutSecretValue: %v", err)
	}

	// Query values that sort differently encoded than decoded ('@' is %40, before '.'; 'é' is
	// %C3%A9, before 'z'): SigV4 sorts the encoded pairs, as the SDK does.
	if _, err := lambda.NewFromConfig(cfg(testSecret)).UntagResource(ctx, &lambda.UntagResourceInput{
		Resource: aws.String("arn:aws:lambda:eu-west-1:000000000000:function:f"), TagKeys: []string{"a.b", "a@b", "az", "aé", "a b"},
	}); err != nil {
		t.Fatalf("UntagResource with tag keys that sort differently encoded: %v", err)
	}

	_, err := lambda.NewFromConfig(cfg("wrong")).ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" || apiErr.ErrorMessage() != msgBadSig {
		t.Fatalf("lambda with a wrong secret: %v", err)
	}
	_, err = secretsmanager.NewFromConfig(cfg("wrong")).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("secretsmanager with a wrong secret: %v", err)
	}
}

func TestSigV4BodyLimit(t *testing.T) {
	h, err := SigV4(SigV4Config{Credentials: map[string]string{testKeyID: testSecret}, MaxBodyBytes: 10}, echo)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, _ := signed{method: "POST", path: "/", body: strings.Repeat("x", 11), keyID: testKeyID, secret: testSecret,
		service: "secretsmanager", region: "us-east-1", at: time.Now()}.do(t, srv.URL)
	if resp.StatusCode != 413 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := SigV4(SigV4Config{}, echo); err == nil {
		t.Fatal("no credentials accepted")
	}
}

// FuzzSigV4 feeds arbitrary Authorization and X-Amz-Date headers, paths and bodies: the
// middleware must answer an AWS error (or pass a valid request) and never panic.
func FuzzSigV4(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDKAFKAESMTEST/20260101/eu-west-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20260101T000000Z", "/a%2Fb?x=1", "{}")
	f.Add("AWS4-HMAC-SHA256 Credential=/, SignedHeaders=, Signature=", "", "/", "")
	h, err := SigV4(SigV4Config{Credentials: map[string]string{testKeyID: testSecret}, Region: "eu-west-1"}, echo)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, auth, date, target, body string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		req, err := http.NewRequest("POST", "http://localhost"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("X-Amz-Date", date)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Header().Get("X-Amzn-ErrorType") == "" {
			t.Fatalf("status %d without an AWS error type", rec.Code)
		}
		if strings.Contains(rec.Body.String(), testSecret) {
			t.Fatal("secret in response")
		}
	})
}

// TestSignatureBindsTheRoutedRequest: a signature made for one request is refused on any
// variant the router would still serve: a trailing slash (routed to the same handler), the
// path spelt with an escape (routed the same), a query parameter added, another port in Host,
// a second X-Amz-Date.
func TestSignatureBindsTheRoutedRequest(t *testing.T) {
	a, _ := newTestAPI(t)
	h, err := Protect(ProtectConfig{Auth: &SigV4Config{Credentials: map[string]string{testKeyID: testSecret}}}, a)
	if err != nil {
		t.Fatal(err)
	}
	signedReq := func() *http.Request {
		r, _ := http.NewRequest("GET", "http://127.0.0.1:9001/2015-03-31/functions/fn?Qualifier=live", nil)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret},
			r, hexSHA256(nil), "lambda", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if code, typ, out := serve(h, signedReq()); code != 200 {
		t.Fatalf("as signed: %d %s %s", code, typ, out)
	}
	for name, mutate := range map[string]func(*http.Request){
		"trailing slash":      func(r *http.Request) { r.URL.Path += "/" },
		"escaped path":        func(r *http.Request) { r.URL.RawPath = "/2015-03-31/functions/f%6E" },
		"query added":         func(r *http.Request) { r.URL.RawQuery += "&Qualifier=%24LATEST" },
		"other port":          func(r *http.Request) { r.Host = "127.0.0.1:9002" },
		"second X-Amz-Date":   func(r *http.Request) { r.Header.Add("X-Amz-Date", "20200101T000000Z") },
		"method":              func(r *http.Request) { r.Method = "DELETE" },
		"X-Amz-Target added":  func(r *http.Request) { r.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue") },
		"signed header blank": func(r *http.Request) { r.Header.Set("X-Amz-Date", " "+r.Header.Get("X-Amz-Date")+"x") },
	} {
		r := signedReq()
		mutate(r)
		if code, typ, _ := serve(h, r); code != 403 {
			t.Errorf("%s: %d %s, want 403", name, code, typ)
		}
	}
}
