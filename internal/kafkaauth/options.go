// Package kafkaauth turns a mapping's SourceAccessConfigurations into franz-go client options
// (SASL/PLAIN, SCRAM, mTLS, private root CA), validates their combinations for the API, probes a
// cluster before a mapping starts, and classifies every connection and authorization failure
// into Lambda's StateTransitionReason and LastProcessingResult — in exactly one place, Classify.
//
// It reads secrets only through SecretSource and never logs, returns or wraps a secret value:
// errors name the secret (its ARN) and the problem, never its content.
package kafkaauth

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/pemkey"
	"github.com/kafkaesm/kafkaesm/internal/secrets"
)

// SourceAccessConfiguration types (Lambda's enum values).
const (
	BasicAuth          = "BASIC_AUTH"
	SASLScram256Auth   = "SASL_SCRAM_256_AUTH"
	SASLScram512Auth   = "SASL_SCRAM_512_AUTH"
	ClientCertTLSAuth  = "CLIENT_CERTIFICATE_TLS_AUTH"
	ServerRootCACert   = "SERVER_ROOT_CA_CERTIFICATE"
	VPCSubnet          = "VPC_SUBNET"
	VPCSecurityGroup   = "VPC_SECURITY_GROUP"
	virtualHost        = "VIRTUAL_HOST"
	iamAuth            = "IAM_AUTH"
	oauthBearerAuth    = "OAUTHBEARER_AUTH"
	iamOAuthBearerAuth = "IAM_OAUTHBEARER_AUTH"
)

// SecretSource reads Secrets Manager secrets. The store-backed secrets service implements it.
type SecretSource interface {
	// GetSecretValue returns the current SecretString of the secret named by ARN or name. A
	// secret that does not exist is an error wrapping secrets.ErrNotFound. The returned error
	// must not contain the secret's value.
	GetSecretValue(ctx context.Context, arnOrName string) (string, error)
}

// ConfigError is a mapping configuration problem Lambda reports as ESM_CONFIG_NOT_VALID: a
// missing or malformed secret. Message is safe to show to the user.
type ConfigError struct {
	Message string
	Err     error
}

func (e *ConfigError) Error() string { return e.Message }
func (e *ConfigError) Unwrap() error { return e.Err }

// CertError means the client certificate or private key cannot be used (not PEM, wrong key
// password, unsupported encryption, key not matching the certificate).
type CertError struct {
	Problem string
	Err     error
}

func (e *CertError) Error() string {
	return "client certificate or private key is invalid: " + e.Problem
}
func (e *CertError) Unwrap() error { return e.Err }

// Options builds the franz-go options that authenticate and encrypt a mapping's connections.
//
// Any of BASIC_AUTH, SASL_SCRAM_*, CLIENT_CERTIFICATE_TLS_AUTH or SERVER_ROOT_CA_CERTIFICATE
// means TLS (Lambda supports SASL only over TLS); with none of them (only VPC_* entries, or no
// entries) the connection is PLAINTEXT. Without SERVER_ROOT_CA_CERTIFICATE the broker's
// certificate must chain to the system roots. Host names are always verified against the
// certificate's SANs.
//
// Options reads every referenced secret once, so a missing or malformed secret fails here (a
// *ConfigError or *CertError, see Classify). Afterwards SASL credentials and the client
// certificate are re-read from src on each new connection, so a changed secret applies when the
// client reconnects, without rebuilding it. The root CA is read only here.
func Options(ctx context.Context, sacs []mapping.SourceAccessConfiguration, src SecretSource) ([]kgo.Opt, error) {
	if msg := Validate(sacs); msg != "" {
		return nil, &ConfigError{Message: msg}
	}
	var (
		useTLS bool
		tcfg   = &tls.Config{MinVersion: tls.VersionTLS12}
		opts   []kgo.Opt
	)
	for _, sac := range sacs {
		switch sac.Type {
		case BasicAuth, SASLScram256Auth, SASLScram512Auth:
			useTLS = true
			if _, err := loadUserPass(ctx, src, sac); err != nil {
				return nil, err
			}
			opts = append(opts, kgo.SASL(mechanism(sac, src)))
		case ClientCertTLSAuth:
			useTLS = true
			cc := &clientCert{src: src, sac: sac}
			if _, err := cc.get(ctx); err != nil {
				return nil, err
			}
			tcfg.GetClientCertificate = cc.getClientCertificate
		case ServerRootCACert:
			useTLS = true
			pool, err := loadRootCA(ctx, src, sac)
			if err != nil {
				return nil, err
			}
			tcfg.RootCAs = pool
		}
	}
	if useTLS {
		// DialTLSConfig clones tcfg per dial and sets ServerName to the broker's host, which is
		// what hostname verification checks against the SANs.
		opts = append(opts, kgo.DialTLSConfig(tcfg))
	}
	return opts, nil
}

func getSecret(ctx context.Context, src SecretSource, sac mapping.SourceAccessConfiguration) (string, error) {
	s, err := src.GetSecretValue(ctx, sac.URI)
	if err == nil {
		return s, nil
	}
	if errors.Is(err, secrets.ErrNotFound) {
		return "", &ConfigError{Message: fmt.Sprintf("The secret %s (%s) does not exist.", sac.URI, sac.Type), Err: err}
	}
	if ctx.Err() != nil {
		return "", err
	}
	return "", &ConfigError{Message: fmt.Sprintf("The secret %s (%s) cannot be read.", sac.URI, sac.Type), Err: err}
}

func malformed(sac mapping.SourceAccessConfiguration, err error) error {
	var fe *secrets.FormatError
	problem := "it is malformed"
	if errors.As(err, &fe) {
		problem = fe.Problem
	}
	return &ConfigError{Message: fmt.Sprintf("The secret %s (%s) is not valid: %s.", sac.URI, sac.Type, problem), Err: err}
}

func loadUserPass(ctx context.Context, src SecretSource, sac mapping.SourceAccessConfiguration) (secrets.UserPass, error) {
	s, err := getSecret(ctx, src, sac)
	if err != nil {
		return secrets.UserPass{}, err
	}
	up, err := secrets.ParseUserPass(s)
	if err != nil {
		return secrets.UserPass{}, malformed(sac, err)
	}
	return up, nil
}

// mechanism uses the function forms of franz-go's mechanisms: the secret is read on every
// authentication, so rotated credentials apply on the next connection.
func mechanism(sac mapping.SourceAccessConfiguration, src SecretSource) sasl.Mechanism {
	switch sac.Type {
	case BasicAuth:
		return plain.Plain(func(ctx context.Context) (plain.Auth, error) {
			up, err := loadUserPass(ctx, src, sac)
			return plain.Auth{User: up.Username, Pass: up.Password.Reveal()}, err
		})
	case SASLScram256Auth:
		return scram.Sha256(func(ctx context.Context) (scram.Auth, error) {
			up, err := loadUserPass(ctx, src, sac)
			return scram.Auth{User: up.Username, Pass: up.Password.Reveal()}, err
		})
	default:
		return scram.Sha512(func(ctx context.Context) (scram.Auth, error) {
			up, err := loadUserPass(ctx, src, sac)
			return scram.Auth{User: up.Username, Pass: up.Password.Reveal()}, err
		})
	}
}

// clientCert serves the mTLS certificate, re-reading the secret on each handshake and parsing
// it again only when it changed (the key may be encrypted, and decryption costs a KDF run).
type clientCert struct {
	src SecretSource
	sac mapping.SourceAccessConfiguration

	mu   sync.Mutex
	sum  [32]byte // SHA-256 of the secret string the cached certificate came from
	cert *tls.Certificate
}

func (c *clientCert) get(ctx context.Context) (*tls.Certificate, error) {
	s, err := getSecret(ctx, c.src, c.sac)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(s))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert != nil && sum == c.sum {
		return c.cert, nil
	}
	cc, err := secrets.ParseClientCert(s)
	if err != nil {
		return nil, malformed(c.sac, err)
	}
	cert, err := X509KeyPair(cc)
	if err != nil {
		return nil, err
	}
	c.sum, c.cert = sum, cert
	return cert, nil
}

// getClientCertificate returns the certificate unconditionally. With tls.Config.Certificates Go
// sends no certificate when the broker's CertificateRequest CA list does not match the chain,
// and the broker's "certificate required" hides the real cause (an untrusted certificate).
func (c *clientCert) getClientCertificate(info *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return c.get(info.Context())
}

// X509KeyPair builds a TLS certificate from a CLIENT_CERTIFICATE_TLS_AUTH secret: the PEM chain
// (client certificate first, then intermediates) and a pemkey-parsed private key. Errors are
// *CertError and never contain key material or the password.
func X509KeyPair(cc secrets.ClientCert) (*tls.Certificate, error) {
	var chain [][]byte
	rest := []byte(cc.Certificate)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			chain = append(chain, b.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, &CertError{Problem: "the certificate is not a PEM CERTIFICATE chain"}
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, &CertError{Problem: "the first certificate of the chain cannot be parsed", Err: err}
	}
	key, err := pemkey.Parse([]byte(cc.PrivateKey.Reveal()), []byte(cc.PrivateKeyPassword.Reveal()))
	if err != nil {
		return nil, &CertError{Problem: "the private key: " + err.Error(), Err: err}
	}
	if !publicKeyMatches(leaf, key) {
		return nil, &CertError{Problem: "the private key does not match the first certificate of the chain"}
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

func publicKeyMatches(leaf *x509.Certificate, key crypto.Signer) bool {
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}

func loadRootCA(ctx context.Context, src SecretSource, sac mapping.SourceAccessConfiguration) (*x509.CertPool, error) {
	s, err := getSecret(ctx, src, sac)
	if err != nil {
		return nil, err
	}
	ca, err := secrets.ParseRootCA(s)
	if err != nil {
		return nil, malformed(sac, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca.Certificate)) {
		return nil, &CertError{Problem: "the server root CA certificate is not a PEM certificate"}
	}
	return pool, nil
}
