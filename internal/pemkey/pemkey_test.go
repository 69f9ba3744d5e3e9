package pemkey

import (
	"crypto"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const password = "changeit"

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type equaler interface{ Equal(crypto.PrivateKey) bool }

// TestFixtures decrypts every OpenSSL-made fixture (testdata/gen.sh) and compares the key with
// the unencrypted original.
func TestFixtures(t *testing.T) {
	rsaKey, err := Parse(read(t, "rsa.pkcs8.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := Parse(read(t, "ec.pkcs8.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file    string
		pass    string
		want    crypto.Signer // nil: expect wantErr
		wantErr error
		errText string // substring of the error, for unsupported algorithms
	}{
		{file: "rsa.pkcs8.pem", want: rsaKey},
		{file: "rsa.pbes2-aes256-sha256.pem", pass: password, want: rsaKey},
		{file: "rsa.pbes2-aes128-sha1.pem", pass: password, want: rsaKey},
		{file: "rsa.pbes2-aes192-sha224.pem", pass: password, want: rsaKey},
		{file: "rsa.pbes2-aes256-sha384.pem", pass: password, want: rsaKey},
		{file: "rsa.pbes2-aes256-sha512.pem", pass: password, want: rsaKey},
		{file: "rsa.pbes2-des3.pem", pass: password, want: rsaKey},
		{file: "rsa.pbes2-des.pem", pass: password, want: rsaKey},
		{file: "rsa.pbes2-scrypt.pem", pass: password, want: rsaKey},
		{file: "rsa.pbes1-md5-des.pem", pass: password, want: rsaKey},
		{file: "rsa.pbes1-sha1-des.pem", pass: password, want: rsaKey},
		{file: "rsa.pkcs12-sha1-3des.pem", pass: password, want: rsaKey},
		{file: "rsa.pkcs12-sha1-2des.pem", pass: password, want: rsaKey},
		{file: "rsa.pkcs1.pem", want: rsaKey},
		{file: "ec.pkcs8.pem", want: ecKey},
		{file: "ec.sec1.pem", want: ecKey},
		{file: "ec.pbes2-aes256.pem", pass: password, want: ecKey},
		{file: "ec.pkcs12-sha1-3des.pem", pass: password, want: ecKey},
		{file: "ed25519.pkcs8.pem"},

		{file: "rsa.pkcs12-sha1-rc2-40.pem", pass: password, errText: "unsupported private key encryption scheme 1.2.840.113549.1.12.1.6 (pbeWithSHAAnd40BitRC2-CBC)"},
		{file: "rsa.pkcs1-legacy-encrypted.pem", pass: password, errText: "convert the key with `openssl pkcs8 -topk8`"},
		{file: "rsa.crt.pem", wantErr: ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Parse(read(t, tt.file), []byte(tt.pass))
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			case tt.errText != "":
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.errText)
				}
				var ue *UnsupportedError
				if !errors.As(err, &ue) {
					t.Fatalf("err %v is not an *UnsupportedError", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if tt.want != nil && !got.(equaler).Equal(tt.want) {
				t.Fatal("decrypted key differs from the original")
			}
		})
	}
}

// TestWrongPassword: every encrypted fixture with a wrong or missing password fails with the
// documented sentinel, and no error text contains the password.
func TestWrongPassword(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.pem")
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !strings.Contains(string(b), "ENCRYPTED PRIVATE KEY") || strings.Contains(f, "rc2") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			const wrong = "not-the-password-SECRET"
			_, err := Parse(b, []byte(wrong))
			if !errors.Is(err, ErrIncorrectPassword) {
				t.Fatalf("wrong password: err = %v, want ErrIncorrectPassword", err)
			}
			if strings.Contains(err.Error(), wrong) {
				t.Fatal("error text contains the password")
			}
			if _, err := Parse(b, nil); !errors.Is(err, ErrPasswordRequired) {
				t.Fatalf("no password: err = %v, want ErrPasswordRequired", err)
			}
		})
	}
	if n < 12 {
		t.Fatalf("only %d encrypted fixtures found", n)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrNotPEM},
		{"garbage", "this is not a key", ErrNotPEM},
		{"bad der", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", ErrMalformed},
		{"bad encrypted der", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.in), []byte("x")); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestUsableForTLS: the parsed key pairs with its certificate in a tls.Certificate.
func TestUsableForTLS(t *testing.T) {
	key, err := Parse(read(t, "rsa.pkcs12-sha1-3des.pem"), []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	certPEM := read(t, "rsa.crt.pem")
	plain, err := tls.X509KeyPair(certPEM, read(t, "rsa.pkcs8.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !plain.PrivateKey.(equaler).Equal(key) {
		t.Fatal("key does not match certificate")
	}
}

// TestPKCS12KDFVector checks the KDF against a published PKCS#12 test vector (from the
// BouncyCastle / OpenSSL test suites: password "smeg", salt 0A58CF64530D823F, id 1, 1 iteration).
func TestPKCS12KDFVector(t *testing.T) {
	salt := []byte{0x0A, 0x58, 0xCF, 0x64, 0x53, 0x0D, 0x82, 0x3F}
	got := pkcs12KDF(bmpString([]byte("smeg")), salt, 1, 1, 24)
	want := []byte{0x8A, 0xAA, 0xE6, 0x29, 0x7B, 0x6C, 0xB0, 0x46, 0x42, 0xAB, 0x5B, 0x07, 0x78, 0x51, 0x28, 0x4E, 0xB7, 0x12, 0x8F, 0x1A, 0x2A, 0x7F, 0xBC, 0xA3}
	if string(got) != string(want) {
		t.Fatalf("got %X", got)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.pem")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b, []byte(password))
	}
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"), []byte("x"))
	f.Fuzz(func(t *testing.T, data, pass []byte) {
		k, err := Parse(data, pass)
		if (k == nil) == (err == nil) {
			t.Fatalf("Parse returned key %v and error %v", k, err)
		}
	})
}
