package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestSpoolBudget: bodies whose signature cannot be checked before they are read take a
// node-wide budget of spooled bytes. While one large forged body is being received, another
// that would not fit is refused with 429 TooManyRequestsException before any of it is read; a
// chunked one is cut off once it runs out of budget; when the first is done (refused), the
// budget is back and a genuine large request passes.
func TestSpoolBudget(t *testing.T) {
	h, err := Protect(ProtectConfig{Auth: &SigV4Config{Credentials: map[string]string{testKeyID: testSecret},
		Region: "eu-west-1", SpoolBudget: 1 << 20}}, echo)
	if err != nil {
		t.Fatal(err)
	}
	const path = "http://127.0.0.1:9001/2015-03-31/functions/f/invocations"
	badAuth := "AWS4-HMAC-SHA256 Credential=" + testKeyID + "/" + time.Now().UTC().Format("20060102") +
		"/eu-west-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00"
	forged := func(body io.Reader, length int64) *http.Request {
		r := httptest.NewRequest("POST", path, body)
		r.ContentLength = length
		r.Header.Set("Content-Type", "application/octet-stream")
		r.Header.Set("X-Amz-Date", time.Now().UTC().Format(amzDateFormat))
		r.Header.Set("Authorization", badAuth)
		return r
	}

	// The first forged 900 KiB body arrives slowly: it holds 836 KiB of the 1 MiB budget.
	pr, pw := io.Pipe()
	first := make(chan int, 1)
	go func() {
		code, _, _ := serve(h, forged(pr, 900<<10))
		first <- code
	}()
	if _, err := pw.Write([]byte("x")); err != nil { // read: the budget was taken before
		t.Fatal(err)
	}

	second := &countingReader{left: 900 << 10}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, forged(second, 900<<10))
	if rec.Code != 429 || rec.Header().Get("X-Amzn-ErrorType") != "TooManyRequestsException" {
		t.Fatalf("a second 900 KiB body: %d %s %s, want 429 TooManyRequestsException", rec.Code, rec.Header().Get("X-Amzn-ErrorType"), rec.Body)
	}
	if n := second.n.Load(); n != 0 {
		t.Fatalf("the refused body was read (%d bytes); it must be refused from its Content-Length", n)
	}
	if rec.Header().Get("Connection") != "close" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("headers %v: want Connection: close and Retry-After", rec.Header())
	}

	chunked := &countingReader{left: 5 << 20}
	if code, typ, out := serve(h, forged(chunked, -1)); code != 429 || typ != "TooManyRequestsException" {
		t.Fatalf("a chunked 5 MB body: %d %s %s, want 429", code, typ, out)
	}
	if n := chunked.n.Load(); n > 1<<20+64<<10 {
		t.Fatalf("the chunked body was read to %d bytes; the budget left was under 256 KiB", n)
	}

	if _, err := pw.Write(make([]byte, 900<<10-1)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if code := <-first; code != 403 {
		t.Fatalf("the first forged body: %d, want 403", code)
	}

	// The budget is back: a genuine 900 KiB request passes, and so does the next.
	for i := range 2 {
		body := strings.Repeat("a", 900<<10)
		r, _ := http.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/octet-stream")
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret},
			r, hex.EncodeToString(sum[:]), "lambda", "eu-west-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		r.Header.Del("X-Amz-Content-Sha256") // as the SDKs send Lambda requests: verified after reading
		if code, typ, out := serve(h, r); code != 200 || out != body {
			t.Fatalf("genuine request %d: %d %s", i, code, typ)
		}
	}
}
