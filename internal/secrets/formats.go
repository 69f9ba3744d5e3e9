package secrets

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrNotFound is what a secret source returns (wrapped) when a secret does not exist.
var ErrNotFound = errors.New("secret not found")

// ErrMalformed is wrapped by every format error below: the secret exists but does not hold what
// its SourceAccessConfiguration type needs. Messages name the key that is wrong, never a value.
var ErrMalformed = errors.New("secret value is malformed")

// FormatError says what is wrong with a secret's value.
type FormatError struct{ Problem string }

func (e *FormatError) Error() string { return "secret value is malformed: " + e.Problem }
func (e *FormatError) Unwrap() error { return ErrMalformed }

// UserPass is the secret of BASIC_AUTH, SASL_SCRAM_256_AUTH and SASL_SCRAM_512_AUTH:
// {"username":"…","password":"…"}.
type UserPass struct {
	Username string
	Password Redacted
}

// ClientCert is the secret of CLIENT_CERTIFICATE_TLS_AUTH: {"certificate":"<PEM chain, client
// certificate first>","privateKey":"<PEM PKCS#8>","privateKeyPassword":"<optional>"}.
type ClientCert struct {
	// Certificate is public data, but kept as written.
	Certificate        string
	PrivateKey         Redacted
	PrivateKeyPassword Redacted
}

// RootCA is the secret of SERVER_ROOT_CA_CERTIFICATE: {"certificate":"<PEM>"}.
type RootCA struct {
	Certificate string
}

// ParseUserPass parses a SASL secret. Both keys are required and must be non-empty strings.
func ParseUserPass(secretString string) (UserPass, error) {
	m, err := object(secretString)
	if err != nil {
		return UserPass{}, err
	}
	u, err := str(m, "username", true)
	if err != nil {
		return UserPass{}, err
	}
	p, err := str(m, "password", true)
	if err != nil {
		return UserPass{}, err
	}
	return UserPass{Username: u, Password: NewRedacted(p)}, nil
}

// ParseClientCert parses an mTLS secret. certificate and privateKey are required non-empty
// strings; privateKeyPassword is optional. Whether the PEM contents are usable is checked
// where the TLS configuration is built, because Lambda reports that as a different problem
// ("Provided certificate or private key is invalid.").
func ParseClientCert(secretString string) (ClientCert, error) {
	m, err := object(secretString)
	if err != nil {
		return ClientCert{}, err
	}
	c, err := str(m, "certificate", true)
	if err != nil {
		return ClientCert{}, err
	}
	k, err := str(m, "privateKey", true)
	if err != nil {
		return ClientCert{}, err
	}
	p, err := str(m, "privateKeyPassword", false)
	if err != nil {
		return ClientCert{}, err
	}
	return ClientCert{Certificate: c, PrivateKey: NewRedacted(k), PrivateKeyPassword: NewRedacted(p)}, nil
}

// ParseRootCA parses a SERVER_ROOT_CA_CERTIFICATE secret.
func ParseRootCA(secretString string) (RootCA, error) {
	m, err := object(secretString)
	if err != nil {
		return RootCA{}, err
	}
	c, err := str(m, "certificate", true)
	if err != nil {
		return RootCA{}, err
	}
	return RootCA{Certificate: c}, nil
}

// HasPEM reports whether s holds at least one PEM block; used to tell "not PEM at all" apart.
func HasPEM(s string) bool {
	b, _ := pem.Decode([]byte(s))
	return b != nil
}

func object(s string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	// The json error text can quote input bytes, so it is dropped.
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return nil, &FormatError{Problem: "not a JSON object"}
	}
	return m, nil
}

// str reads key from m. Keys match exactly, as Lambda's documentation spells them.
func str(m map[string]json.RawMessage, key string, required bool) (string, error) {
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		if required {
			return "", &FormatError{Problem: fmt.Sprintf("no %q key", key)}
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &FormatError{Problem: fmt.Sprintf("%q is not a string", key)}
	}
	if required && s == "" {
		return "", &FormatError{Problem: fmt.Sprintf("%q is empty", key)}
	}
	return s, nil
}
