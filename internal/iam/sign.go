package iam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Sign signs req with the principal's key as an AWS SDK would (SigV4, Authorization header),
// for kafkaesm's own clients that do not go through an SDK (tests, the benchmark). The service
// is the one kafkaesm expects: secretsmanager for POST /, lambda otherwise. req's body is read
// and replaced.
func (p *Principal) Sign(req *http.Request, region string) error {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return err
		}
		req.Body.Close()
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	sum := sha256.Sum256(body)
	service := "lambda"
	if req.URL.Path == "/" {
		service = "secretsmanager"
	}
	creds := aws.Credentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: p.SecretAccessKey}
	return v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, time.Now())
}
