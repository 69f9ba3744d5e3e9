package pemkey

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"hash"
	"unicode/utf16"

	"golang.org/x/crypto/scrypt"
)

// Work limits. Keys come from user-supplied secrets, so a crafted file must not make one parse
// burn minutes of CPU or gigabytes of memory. The limits sit far above what any tool writes
// (OpenSSL 3: 2048 iterations, scrypt N=16384 r=8 p=16; OWASP's PBKDF2 advice: 600,000).
const (
	maxIterations  = 1_000_000
	maxScryptBytes = 64 << 20 // 128·N·r, per parallel lane
	maxScryptP     = 64
)

const (
	oidPBES2  = "1.2.840.113549.1.5.13"
	oidPBKDF2 = "1.2.840.113549.1.5.12"
	oidScrypt = "1.3.6.1.4.1.11591.4.11"
)

// oidNames makes UnsupportedError readable.
var oidNames = map[string]string{
	oidPBES2:                  "PBES2",
	oidPBKDF2:                 "PBKDF2",
	oidScrypt:                 "scrypt",
	"1.2.840.113549.1.5.1":    "pbeWithMD2AndDES-CBC",
	"1.2.840.113549.1.5.3":    "pbeWithMD5AndDES-CBC",
	"1.2.840.113549.1.5.4":    "pbeWithMD2AndRC2-CBC",
	"1.2.840.113549.1.5.6":    "pbeWithMD5AndRC2-CBC",
	"1.2.840.113549.1.5.10":   "pbeWithSHA1AndDES-CBC",
	"1.2.840.113549.1.5.11":   "pbeWithSHA1AndRC2-CBC",
	"1.2.840.113549.1.12.1.1": "pbeWithSHAAnd128BitRC4",
	"1.2.840.113549.1.12.1.2": "pbeWithSHAAnd40BitRC4",
	"1.2.840.113549.1.12.1.3": "pbeWithSHAAnd3-KeyTripleDES-CBC",
	"1.2.840.113549.1.12.1.4": "pbeWithSHAAnd2-KeyTripleDES-CBC",
	"1.2.840.113549.1.12.1.5": "pbeWithSHAAnd128BitRC2-CBC",
	"1.2.840.113549.1.12.1.6": "pbeWithSHAAnd40BitRC2-CBC",
	"1.2.840.113549.3.2":      "rc2-CBC",
	"1.2.840.113549.3.7":      "des-EDE3-CBC",
	"1.3.14.3.2.7":            "desCBC",
	"2.16.840.1.101.3.4.1.2":  "aes128-CBC",
	"2.16.840.1.101.3.4.1.22": "aes192-CBC",
	"2.16.840.1.101.3.4.1.42": "aes256-CBC",
	"2.16.840.1.101.3.4.1.6":  "aes128-GCM",
	"2.16.840.1.101.3.4.1.46": "aes256-GCM",
	"1.2.840.113549.2.7":      "hmacWithSHA1",
	"1.2.840.113549.2.8":      "hmacWithSHA224",
	"1.2.840.113549.2.9":      "hmacWithSHA256",
	"1.2.840.113549.2.10":     "hmacWithSHA384",
	"1.2.840.113549.2.11":     "hmacWithSHA512",
	"1.2.840.113549.2.12":     "hmacWithSHA512-224",
	"1.2.840.113549.2.13":     "hmacWithSHA512-256",
}

// ---- PBES2 (RFC 8018 §6.2) ----

type pbes2Params struct {
	KDF    algorithmIdentifier
	Scheme algorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte // the "specified" CHOICE; otherSource is not used by any tool
	Iterations int
	KeyLength  int                 `asn1:"optional"`
	PRF        algorithmIdentifier `asn1:"optional"`
}

type scryptParams struct {
	Salt      []byte
	N         int
	R         int
	P         int
	KeyLength int `asn1:"optional"`
}

var prfs = map[string]func() hash.Hash{
	"1.2.840.113549.2.7":  sha1.New,
	"1.2.840.113549.2.8":  sha256.New224,
	"1.2.840.113549.2.9":  sha256.New,
	"1.2.840.113549.2.10": sha512.New384,
	"1.2.840.113549.2.11": sha512.New,
	"1.2.840.113549.2.12": sha512.New512_224,
	"1.2.840.113549.2.13": sha512.New512_256,
}

type cbcCipher struct {
	keyLen int
	block  func(key []byte) (cipher.Block, error)
}

var pbes2Ciphers = map[string]cbcCipher{
	"2.16.840.1.101.3.4.1.2":  {16, aes.NewCipher},
	"2.16.840.1.101.3.4.1.22": {24, aes.NewCipher},
	"2.16.840.1.101.3.4.1.42": {32, aes.NewCipher},
	"1.2.840.113549.3.7":      {24, des.NewTripleDESCipher},
	"1.3.14.3.2.7":            {8, des.NewCipher},
}

func decryptPBES2(params, password, data []byte) ([]byte, error) {
	var p pbes2Params
	if rest, err := asn1.Unmarshal(params, &p); err != nil || len(rest) != 0 {
		return nil, ErrMalformed
	}
	schemeOID := p.Scheme.Algorithm.String()
	c, ok := pbes2Ciphers[schemeOID]
	if !ok {
		return nil, &UnsupportedError{What: "cipher", Name: schemeOID}
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(p.Scheme.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 {
		return nil, ErrMalformed
	}
	key, err := pbes2Key(p.KDF, password, c.keyLen)
	if err != nil {
		return nil, err
	}
	return cbcDecrypt(c.block, key, iv, data)
}

func pbes2Key(kdf algorithmIdentifier, password []byte, keyLen int) ([]byte, error) {
	switch kdfOID := kdf.Algorithm.String(); kdfOID {
	case oidPBKDF2:
		var kp pbkdf2Params
		if rest, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &kp); err != nil || len(rest) != 0 {
			return nil, ErrMalformed
		}
		if kp.Iterations < 1 || kp.Iterations > maxIterations || (kp.KeyLength != 0 && kp.KeyLength != keyLen) {
			return nil, ErrMalformed
		}
		prf := sha1.New // the DEFAULT of RFC 8018's PBKDF2-params
		if len(kp.PRF.Algorithm) > 0 {
			prfOID := kp.PRF.Algorithm.String()
			h, ok := prfs[prfOID]
			if !ok {
				return nil, &UnsupportedError{What: "PRF", Name: prfOID}
			}
			prf = h
		}
		key, err := pbkdf2.Key(prf, string(password), kp.Salt, kp.Iterations, keyLen)
		if err != nil {
			return nil, ErrMalformed
		}
		return key, nil
	case oidScrypt:
		var sp scryptParams
		if rest, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &sp); err != nil || len(rest) != 0 {
			return nil, ErrMalformed
		}
		if sp.N < 2 || sp.N&(sp.N-1) != 0 || sp.R < 1 || sp.P < 1 || sp.P > maxScryptP ||
			sp.N > maxScryptBytes/128/sp.R || (sp.KeyLength != 0 && sp.KeyLength != keyLen) {
			return nil, ErrMalformed
		}
		key, err := scrypt.Key(password, sp.Salt, sp.N, sp.R, sp.P, keyLen)
		if err != nil {
			return nil, ErrMalformed
		}
		return key, nil
	default:
		return nil, &UnsupportedError{What: "key derivation function", Name: kdfOID}
	}
}

// ---- PBES1 (RFC 8018 §6.1): PBKDF1 + DES-CBC ----

type pbeParams struct {
	Salt       []byte
	Iterations int
}

type pbes1Scheme struct{ hash crypto.Hash }

var pbes1Schemes = map[string]pbes1Scheme{
	"1.2.840.113549.1.5.3":  {crypto.MD5},
	"1.2.840.113549.1.5.10": {crypto.SHA1},
}

func decryptPBES1(s pbes1Scheme, params, password, data []byte) ([]byte, error) {
	var p pbeParams
	if rest, err := asn1.Unmarshal(params, &p); err != nil || len(rest) != 0 {
		return nil, ErrMalformed
	}
	if len(p.Salt) != 8 || p.Iterations < 1 || p.Iterations > maxIterations {
		return nil, ErrMalformed
	}
	// PBKDF1: T1 = H(P || S), Ti = H(Ti-1); DK = T_c, key = DK[0:8], IV = DK[8:16].
	newHash := md5.New
	if s.hash == crypto.SHA1 {
		newHash = sha1.New
	}
	h := newHash()
	h.Write(password)
	h.Write(p.Salt)
	dk := h.Sum(nil)
	for i := 1; i < p.Iterations; i++ {
		h.Reset()
		h.Write(dk)
		dk = h.Sum(dk[:0])
	}
	return cbcDecrypt(des.NewCipher, dk[:8], dk[8:16], data)
}

// ---- PKCS#12 PBE (RFC 7292 App. B.2 KDF, App. C OIDs) ----

type pkcs12Scheme struct{ keyLen int }

var pkcs12Schemes = map[string]pkcs12Scheme{
	"1.2.840.113549.1.12.1.3": {24},
	"1.2.840.113549.1.12.1.4": {16},
}

func decryptPKCS12(s pkcs12Scheme, params, password, data []byte) ([]byte, error) {
	var p pbeParams
	if rest, err := asn1.Unmarshal(params, &p); err != nil || len(rest) != 0 {
		return nil, ErrMalformed
	}
	if p.Iterations < 1 || p.Iterations > maxIterations {
		return nil, ErrMalformed
	}
	pass := bmpString(password)
	key := pkcs12KDF(pass, p.Salt, 1, p.Iterations, s.keyLen)
	iv := pkcs12KDF(pass, p.Salt, 2, p.Iterations, des.BlockSize)
	if s.keyLen == 16 { // two-key 3DES: K1 K2 K1
		key = append(key, key[:8]...)
	}
	return cbcDecrypt(des.NewTripleDESCipher, key, iv, data)
}

// bmpString is the password as RFC 7292 B.1 wants it: UTF-16BE with a two-byte NUL terminator.
// Passwords are treated as UTF-8, as OpenSSL does.
func bmpString(password []byte) []byte {
	u := utf16.Encode([]rune(string(password)))
	out := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		out = append(out, byte(c>>8), byte(c))
	}
	return append(out, 0, 0)
}

// pkcs12KDF is RFC 7292 App. B.2 with SHA-1 (u = 20, v = 64).
func pkcs12KDF(pass, salt []byte, id byte, iterations, n int) []byte {
	const u, v = sha1.Size, sha1.BlockSize
	fill := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		out := make([]byte, v*((len(b)+v-1)/v))
		for i := range out {
			out[i] = b[i%len(b)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	I := append(fill(salt), fill(pass)...)
	h := sha1.New()
	var out []byte
	for {
		h.Reset()
		h.Write(d)
		h.Write(I)
		a := h.Sum(nil)
		for i := 1; i < iterations; i++ {
			h.Reset()
			h.Write(a)
			a = h.Sum(a[:0])
		}
		out = append(out, a...)
		if len(out) >= n {
			return out[:n]
		}
		// I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block, B = a repeated to v bytes.
		var b [v]byte
		for i := range b {
			b[i] = a[i%u]
		}
		for j := 0; j < len(I); j += v {
			carry := 1
			for k := v - 1; k >= 0; k-- {
				s := int(I[j+k]) + int(b[k]) + carry
				I[j+k] = byte(s)
				carry = s >> 8
			}
		}
	}
}

func cbcDecrypt(newBlock func([]byte) (cipher.Block, error), key, iv, data []byte) ([]byte, error) {
	blk, err := newBlock(key)
	if err != nil {
		return nil, ErrMalformed
	}
	bs := blk.BlockSize()
	if len(iv) != bs || len(data) == 0 || len(data)%bs != 0 {
		return nil, ErrMalformed
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(blk, iv).CryptBlocks(out, data)
	return unpad(out, bs)
}
