// Package pemkey parses the PEM private keys Lambda's CLIENT_CERTIFICATE_TLS_AUTH secrets hold:
// PKCS#8, plain or encrypted (PBES1, PKCS#12 PBE and PBES2), which the standard library cannot
// decrypt. It owns only key decoding; it does no I/O and never puts key material or passwords
// into errors.
//
// Accepted, in one PEM block:
//   - "PRIVATE KEY": unencrypted PKCS#8 (RSA, ECDSA, Ed25519).
//   - "ENCRYPTED PRIVATE KEY": PKCS#8 EncryptedPrivateKeyInfo with
//   - PBES2 (RFC 8018): PBKDF2 with HMAC-SHA1/224/256/384/512 (and SHA-512/224, /256) or scrypt,
//     and AES-128/192/256-CBC, DES-EDE3-CBC or DES-CBC;
//   - PBES1 (RFC 8018 §6.1): pbeWithMD5AndDES-CBC, pbeWithSHA1AndDES-CBC (what AWS documents);
//   - PKCS#12 PBE (RFC 7292 App. B/C): pbeWithSHAAnd3-KeyTripleDES-CBC and 2-KeyTripleDES-CBC,
//     what `openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES` and old Java tools write.
//   - "RSA PRIVATE KEY" (PKCS#1) and "EC PRIVATE KEY" (SEC1), unencrypted only. AWS documents
//     PKCS#8 only, but these encodings are unambiguous and Go's TLS stack accepts them, so refusing
//     them would only make users convert files for no gain. Their legacy OpenSSL encryption
//     ("Proc-Type: 4,ENCRYPTED") is refused with an error saying to convert to PKCS#8.
//
// Refused with an error naming the algorithm: RC2 and RC4 based schemes, PBES1 with MD2.
package pemkey

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
)

// Errors callers test with errors.Is. Their texts never include key bytes or the password.
var (
	// ErrNotPEM: the input holds no PEM block at all.
	ErrNotPEM = errors.New("private key is not PEM encoded")
	// ErrNoKey: PEM blocks were found, but none is a private key.
	ErrNoKey = errors.New("no private key PEM block found")
	// ErrPasswordRequired: the key is encrypted and no password was given.
	ErrPasswordRequired = errors.New("private key is encrypted but no password was given")
	// ErrIncorrectPassword: decryption produced garbage. With CBC ciphers a wrong password and a
	// wrong algorithm guess are indistinguishable, hence the "or".
	ErrIncorrectPassword = errors.New("private key password incorrect or unsupported algorithm")
	// ErrMalformed: the DER structure is broken.
	ErrMalformed = errors.New("private key is malformed")
)

// UnsupportedError names an algorithm this package does not implement.
type UnsupportedError struct {
	What string // "encryption scheme", "cipher", "key derivation function", "PRF", "PEM type"
	Name string // an OID in dotted form or a PEM type
}

func (e *UnsupportedError) Error() string {
	if n, ok := oidNames[e.Name]; ok {
		return fmt.Sprintf("unsupported private key %s %s (%s)", e.What, e.Name, n)
	}
	return fmt.Sprintf("unsupported private key %s %s", e.What, e.Name)
}

// Parse decodes the first private key PEM block in data. password is used only for encrypted
// keys; it may be nil otherwise. Other blocks (certificates, EC PARAMETERS) are skipped, so a
// combined key+certificate file works. The key is an *rsa.PrivateKey, *ecdsa.PrivateKey or
// ed25519.PrivateKey, all of which implement crypto.Signer.
func Parse(data, password []byte) (crypto.Signer, error) {
	rest := data
	sawPEM := false
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawPEM = true
		switch block.Type {
		case "PRIVATE KEY":
			return parsePKCS8(block.Bytes, ErrMalformed)
		case "ENCRYPTED PRIVATE KEY":
			if len(password) == 0 {
				return nil, ErrPasswordRequired
			}
			der, err := decrypt(block.Bytes, password)
			if err != nil {
				return nil, err
			}
			// A wrong password that happens to yield valid padding still fails here.
			return parsePKCS8(der, ErrIncorrectPassword)
		case "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if _, ok := block.Headers["Proc-Type"]; ok {
				return nil, fmt.Errorf("%w: legacy OpenSSL encryption of a %q block; convert the key with `openssl pkcs8 -topk8`",
					&UnsupportedError{What: "PEM type", Name: block.Type}, block.Type)
			}
			return parseTraditional(block)
		case "OPENSSH PRIVATE KEY", "DSA PRIVATE KEY":
			return nil, &UnsupportedError{What: "PEM type", Name: block.Type}
		}
	}
	if !sawPEM {
		return nil, ErrNotPEM
	}
	return nil, ErrNoKey
}

func parsePKCS8(der []byte, malformed error) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, malformed
	}
	return signer(k)
}

func parseTraditional(block *pem.Block) (crypto.Signer, error) {
	var (
		k   any
		err error
	)
	if block.Type == "RSA PRIVATE KEY" {
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	} else {
		k, err = x509.ParseECPrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, ErrMalformed
	}
	return signer(k)
}

func signer(k any) (crypto.Signer, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, &UnsupportedError{What: "key type", Name: fmt.Sprintf("%T", k)}
}

// encryptedPrivateKeyInfo is RFC 5208 §6.
type encryptedPrivateKeyInfo struct {
	Algo          algorithmIdentifier
	EncryptedData []byte
}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

func decrypt(der, password []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, ErrMalformed
	}
	if len(info.EncryptedData) == 0 {
		return nil, ErrMalformed
	}
	oid := info.Algo.Algorithm.String()
	params := info.Algo.Parameters.FullBytes
	switch {
	case oid == oidPBES2:
		return decryptPBES2(params, password, info.EncryptedData)
	case pbes1Schemes[oid].hash != 0:
		return decryptPBES1(pbes1Schemes[oid], params, password, info.EncryptedData)
	case pkcs12Schemes[oid].keyLen != 0:
		return decryptPKCS12(pkcs12Schemes[oid], params, password, info.EncryptedData)
	}
	return nil, &UnsupportedError{What: "encryption scheme", Name: oid}
}

// unpad removes PKCS#5/#7 padding. Bad padding is the usual sign of a wrong password.
func unpad(b []byte, blockSize int) ([]byte, error) {
	if len(b) == 0 || len(b)%blockSize != 0 {
		return nil, ErrIncorrectPassword
	}
	n := int(b[len(b)-1])
	if n == 0 || n > blockSize || n > len(b) {
		return nil, ErrIncorrectPassword
	}
	if !bytes.Equal(b[len(b)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, ErrIncorrectPassword
	}
	return b[:len(b)-n], nil
}
