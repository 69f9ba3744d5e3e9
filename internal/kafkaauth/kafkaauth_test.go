package kafkaauth

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/pemkey"
	"github.com/kafkaesm/kafkaesm/internal/secrets"
)

// mapSource is a SecretSource over a map; a missing key is secrets.ErrNotFound.
type mapSource map[string]string

func (m mapSource) GetSecretValue(_ context.Context, id string) (string, error) {
	s, ok := m[id]
	if !ok {
		return "", fmt.Errorf("secret %s: %w", id, secrets.ErrNotFound)
	}
	return s, nil
}

func sac(typ, uri string) mapping.SourceAccessConfiguration {
	return mapping.SourceAccessConfiguration{Type: typ, URI: uri}
}

func TestValidate(t *testing.T) {
	arn := "arn:aws:secretsmanager:us-east-1:000000000000:secret:s-AbCdEf"
	tests := []struct {
		name string
		sacs []mapping.SourceAccessConfiguration
		want string // substring; "" = valid
	}{
		{"none", nil, ""},
		{"vpc only", []mapping.SourceAccessConfiguration{sac(VPCSubnet, "subnet:subnet-1"), sac(VPCSubnet, "subnet:subnet-2"), sac(VPCSecurityGroup, "security_group:sg-1")}, ""},
		{"scram512", []mapping.SourceAccessConfiguration{sac(SASLScram512Auth, arn)}, ""},
		{"basic+ca", []mapping.SourceAccessConfiguration{sac(BasicAuth, arn), sac(ServerRootCACert, arn)}, ""},
		{"mtls+ca", []mapping.SourceAccessConfiguration{sac(ClientCertTLSAuth, arn), sac(ServerRootCACert, arn)}, ""},
		{"two sasl", []mapping.SourceAccessConfiguration{sac(BasicAuth, arn), sac(SASLScram256Auth, arn)}, "Only one authentication method"},
		{"mtls+sasl", []mapping.SourceAccessConfiguration{sac(ClientCertTLSAuth, arn), sac(SASLScram512Auth, arn)}, "Only one authentication method"},
		{"duplicate", []mapping.SourceAccessConfiguration{sac(ServerRootCACert, arn), sac(ServerRootCACert, arn)}, "Duplicate SourceAccessConfiguration type SERVER_ROOT_CA_CERTIFICATE"},
		{"no uri", []mapping.SourceAccessConfiguration{sac(BasicAuth, "")}, "must be a Secrets Manager secret ARN"},
		{"vhost", []mapping.SourceAccessConfiguration{sac("VIRTUAL_HOST", "/")}, "VIRTUAL_HOST for self-managed Apache Kafka"},
		{"iam", []mapping.SourceAccessConfiguration{sac("IAM_AUTH", "")}, "not supported by kafkaesm"},
		{"unknown", []mapping.SourceAccessConfiguration{sac("FOO", "x")}, "Unsupported SourceAccessConfiguration type FOO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Validate(tt.sacs)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("Validate = %q, want %q", got, tt.want)
			}
		})
	}
}

func remoteAlert(alert string) error {
	return fmt.Errorf("unable to dial: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: " + alert)})
}

func TestClassify(t *testing.T) {
	authn, authz, cfg := mapping.ReasonAuthnError, mapping.ReasonAuthzError, mapping.ReasonConfigNotValid
	tests := []struct {
		name   string
		err    error
		reason string
		result string
	}{
		{"nil", nil, "", ""},
		{"topic acl", fmt.Errorf("describe topic: %w", kerr.TopicAuthorizationFailed), authz, ResultAuthzFailed},
		{"group acl in session", &kgo.ErrGroupSession{Err: kerr.GroupAuthorizationFailed}, authz, ResultAuthzFailed},
		{"kadm auth", &kadm.AuthError{Err: kerr.ClusterAuthorizationFailed}, authz, ResultAuthzFailed},
		{"sasl", fmt.Errorf("%w: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512", kerr.SaslAuthenticationFailed), authn, ResultSASLFailed},
		{"sasl mechanism", kerr.UnsupportedSaslMechanism, authn, ResultSASLFailed},
		{"cert required", remoteAlert("certificate required"), authn, ResultServerRejected},
		{"unknown ca remote", remoteAlert("unknown certificate authority"), authn, ResultServerRejected},
		{"untrusted cert remote (Java's certificate_unknown)", remoteAlert("unknown certificate"), authn, ResultServerRejected},
		{"bad cert remote", &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}, authn, ResultServerRejected},
		{"other remote alert", remoteAlert("protocol version not supported"), "", ResultConnectionError},
		{"unknown ca local", fmt.Errorf("unable to dial: %w", x509.UnknownAuthorityError{}), authn, ResultServerNotTrusted},
		{"hostname", fmt.Errorf("unable to dial: %w", x509.HostnameError{Host: "127.0.0.1"}), authn, ResultServerNotTrusted},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, authn, ResultServerNotTrusted},
		{"wrong key password", &CertError{Problem: "p", Err: pemkey.ErrIncorrectPassword}, authn, ResultInvalidCertOrKey},
		{"bare pemkey", pemkey.ErrNotPEM, authn, ResultInvalidCertOrKey},
		{"unsupported key enc", &pemkey.UnsupportedError{What: "cipher", Name: "1.2.3"}, authn, ResultInvalidCertOrKey},
		{"config", &ConfigError{Message: "The secret x does not exist."}, cfg, "PROBLEM: The secret x does not exist."},
		{"bare not found", fmt.Errorf("x: %w", secrets.ErrNotFound), cfg, "PROBLEM: The secret of a source access configuration is missing or malformed."},
		{"refused", &net.OpError{Op: "dial", Err: errors.New("connect: connection refused")}, "", ResultConnectionError},
		{"timeout", context.DeadlineExceeded, "", ResultConnectionError},
		{"first read eof", &kgo.ErrFirstReadEOF{}, "", ResultConnectionError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.err)
			if got.Reason != tt.reason || got.Result != tt.result {
				t.Fatalf("Classify(%v) = %+v, want {%s %s}", tt.err, got, tt.reason, tt.result)
			}
		})
	}
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../pemkey/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonSecret(t *testing.T, m map[string]string) string {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOptionsErrors builds options from broken secrets: each error classifies as Lambda does and
// no error text contains any secret value.
func TestOptionsErrors(t *testing.T) {
	const (
		pw    = "sasl-PASSWORD-value-7d1f"
		keyPw = "changeit"
	)
	crt := read(t, "rsa.crt.pem")
	encKey := read(t, "rsa.pkcs12-sha1-3des.pem")
	otherKey := read(t, "ec.pkcs8.pem")
	src := mapSource{
		"up-ok":       jsonSecret(t, map[string]string{"username": "u", "password": pw}),
		"up-nopass":   jsonSecret(t, map[string]string{"username": "u", "pass": pw}),
		"up-notjson":  "username=u password=" + pw,
		"cc-ok":       jsonSecret(t, map[string]string{"certificate": crt, "privateKey": encKey, "privateKeyPassword": keyPw}),
		"cc-wrongpw":  jsonSecret(t, map[string]string{"certificate": crt, "privateKey": encKey, "privateKeyPassword": pw}),
		"cc-nopw":     jsonSecret(t, map[string]string{"certificate": crt, "privateKey": encKey}),
		"cc-garbage":  jsonSecret(t, map[string]string{"certificate": crt, "privateKey": "garbage " + pw}),
		"cc-mismatch": jsonSecret(t, map[string]string{"certificate": crt, "privateKey": otherKey}),
		"cc-notpem":   jsonSecret(t, map[string]string{"certificate": "not a cert", "privateKey": encKey, "privateKeyPassword": keyPw}),
		"ca-ok":       jsonSecret(t, map[string]string{"certificate": crt}),
		"ca-bad":      jsonSecret(t, map[string]string{"certificate": "MIIB" + pw}),
	}
	tests := []struct {
		name   string
		sacs   []mapping.SourceAccessConfiguration
		reason string
		result string // substring
	}{
		{"ok sasl", []mapping.SourceAccessConfiguration{sac(SASLScram512Auth, "up-ok")}, "", ""},
		{"ok mtls", []mapping.SourceAccessConfiguration{sac(ClientCertTLSAuth, "cc-ok"), sac(ServerRootCACert, "ca-ok")}, "", ""},
		{"missing", []mapping.SourceAccessConfiguration{sac(BasicAuth, "nope")}, mapping.ReasonConfigNotValid, "The secret nope (BASIC_AUTH) does not exist."},
		{"no password key", []mapping.SourceAccessConfiguration{sac(BasicAuth, "up-nopass")}, mapping.ReasonConfigNotValid, `is not valid: no "password" key.`},
		{"not json", []mapping.SourceAccessConfiguration{sac(SASLScram256Auth, "up-notjson")}, mapping.ReasonConfigNotValid, "not a JSON object"},
		{"wrong key password", []mapping.SourceAccessConfiguration{sac(ClientCertTLSAuth, "cc-wrongpw")}, mapping.ReasonAuthnError, ResultInvalidCertOrKey},
		{"no key password", []mapping.SourceAccessConfiguration{sac(ClientCertTLSAuth, "cc-nopw")}, mapping.ReasonAuthnError, ResultInvalidCertOrKey},
		{"garbage key", []mapping.SourceAccessConfiguration{sac(ClientCertTLSAuth, "cc-garbage")}, mapping.ReasonAuthnError, ResultInvalidCertOrKey},
		{"key mismatch", []mapping.SourceAccessConfiguration{sac(ClientCertTLSAuth, "cc-mismatch")}, mapping.ReasonAuthnError, ResultInvalidCertOrKey},
		{"cert not pem", []mapping.SourceAccessConfiguration{sac(ClientCertTLSAuth, "cc-notpem")}, mapping.ReasonAuthnError, ResultInvalidCertOrKey},
		{"bad ca", []mapping.SourceAccessConfiguration{sac(ServerRootCACert, "ca-bad")}, mapping.ReasonAuthnError, ResultInvalidCertOrKey},
		{"invalid combination", []mapping.SourceAccessConfiguration{sac(BasicAuth, "up-ok"), sac(ClientCertTLSAuth, "cc-ok")}, mapping.ReasonConfigNotValid, "Only one authentication method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := Options(context.Background(), tt.sacs, src)
			p := Classify(err)
			if p.Reason != tt.reason || !strings.Contains(p.Result, tt.result) {
				t.Fatalf("err %v classified %+v, want {%s …%s…}", err, p, tt.reason, tt.result)
			}
			if err == nil && len(opts) == 0 {
				t.Fatal("no options")
			}
			if err != nil {
				for _, s := range []string{pw, keyPw, "garbage", "MIIB"} {
					if strings.Contains(err.Error(), s) || strings.Contains(p.Result, s) {
						t.Fatalf("error %q / result %q contains a secret value", err, p.Result)
					}
				}
			}
		})
	}
}

func TestPlaintextWithoutAuth(t *testing.T) {
	opts, err := Options(context.Background(), []mapping.SourceAccessConfiguration{sac(VPCSubnet, "subnet:s")}, mapSource{})
	if err != nil || len(opts) != 0 {
		t.Fatalf("VPC only: %d options, %v", len(opts), err)
	}
}

// The store-backed repository is the production SecretSource.
var _ SecretSource = (*secrets.Repo)(nil)
