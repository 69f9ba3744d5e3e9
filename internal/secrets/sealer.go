// Package secrets owns secret values: their encryption at rest (Sealer), the key that encrypts
// them, the Lambda secret formats for Kafka credentials (BASIC_AUTH, SCRAM, mTLS, root CA) and
// the Redacted type that keeps a value out of logs. It does no storage: the store keeps sealed
// blobs, the Secrets Manager API and the poller's SecretSource read through it.
//
// Rule for this package and its callers: a secret value never reaches a log line, an error text,
// a metric or an API response other than GetSecretValue. Errors name the problem ("secret has no
// \"password\" key"), never the value.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

// sealedVersion is the first byte of every sealed blob. A new layout gets a new version; Open
// keeps reading the old ones.
const sealedVersion = 1

// ErrOpen is returned when a sealed value cannot be decrypted: wrong key, tampering, or a value
// sealed for another record (associated data mismatch).
var ErrOpen = errors.New("secret value cannot be decrypted (wrong key or corrupted data)")

// Sealer encrypts secret values with AES-256-GCM. Each value gets a fresh random 96-bit nonce.
// The sealed layout is
//
//	version(1) | len(keyID)(1) | keyID | nonce(12) | ciphertext+tag
//
// and the version and key id are authenticated as associated data together with the caller's
// aad (the secret's ARN and version id), so a blob copied into another row fails to open.
// Seal always uses the primary key; Open finds the key by id, so old keys can be kept for
// reading while values are re-sealed under a new one (rotation).
// A Sealer is safe for concurrent use.
type Sealer struct {
	primary string
	aeads   map[string]cipher.AEAD
}

// NewSealer builds a Sealer whose primary key is primary; older keys may follow for Open.
func NewSealer(primary []byte, older ...[]byte) (*Sealer, error) {
	s := &Sealer{aeads: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{primary}, older...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("secret key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		blk, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(blk)
		if err != nil {
			return nil, err
		}
		id := KeyID(k)
		if i == 0 {
			s.primary = id
		}
		s.aeads[id] = aead
	}
	return s, nil
}

// KeyID names a key without revealing it: the first 8 hex digits of SHA-256("kafkaesm-key-id" || key).
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("kafkaesm-key-id"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// PrimaryKeyID is the id Seal writes; a store can re-seal rows whose SealedKeyID differs.
func (s *Sealer) PrimaryKeyID() string { return s.primary }

// Seal encrypts plaintext bound to aad.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	aead := s.aeads[s.primary]
	hdr := make([]byte, 0, 2+len(s.primary)+aead.NonceSize()+len(plaintext)+aead.Overhead())
	hdr = append(hdr, sealedVersion, byte(len(s.primary)))
	hdr = append(hdr, s.primary...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(hdr, nonce...)
	return aead.Seal(out, nonce, plaintext, additional(out[:len(hdr)], aad)), nil
}

// Open decrypts a value sealed by Seal under any of the Sealer's keys with the same aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 2 || sealed[0] != sealedVersion {
		return nil, ErrOpen
	}
	idLen := int(sealed[1])
	if len(sealed) < 2+idLen {
		return nil, ErrOpen
	}
	hdr := sealed[:2+idLen]
	id := string(hdr[2:])
	aead, ok := s.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w: sealed under key %s, which is not configured", ErrOpen, id)
	}
	rest := sealed[len(hdr):]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	nonce, ct := rest[:aead.NonceSize()], rest[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, additional(hdr, aad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// SealedKeyID reports which key sealed a blob ("" if it is not a sealed value).
func SealedKeyID(sealed []byte) string {
	if len(sealed) < 2 || sealed[0] != sealedVersion || len(sealed) < 2+int(sealed[1]) {
		return ""
	}
	return string(sealed[2 : 2+int(sealed[1])])
}

func additional(hdr, aad []byte) []byte {
	out := make([]byte, 0, len(hdr)+len(aad))
	return append(append(out, hdr...), aad...)
}
