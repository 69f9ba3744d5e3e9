package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestSealOpen(t *testing.T) {
	s, err := NewSealer(key(1))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("arn:aws:secretsmanager:us-east-1:000000000000:secret:a-AbCdEf/v1")
	pt := []byte(`{"username":"u","password":"p"}`)
	a, _ := s.Seal(pt, aad)
	b, _ := s.Seal(pt, aad)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	if bytes.Contains(a, pt) {
		t.Fatal("plaintext visible in sealed value")
	}
	got, err := s.Open(a, aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(a, []byte("another row")); !errors.Is(err, ErrOpen) {
		t.Fatalf("other aad: err = %v", err)
	}
	a[len(a)-1] ^= 1
	if _, err := s.Open(a, aad); !errors.Is(err, ErrOpen) {
		t.Fatalf("tampered: err = %v", err)
	}
	for _, bad := range [][]byte{nil, {1}, {1, 200}, {2, 0}} {
		if _, err := s.Open(bad, aad); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open(%v): err = %v", bad, err)
		}
	}
}

func TestRotation(t *testing.T) {
	old, _ := NewSealer(key(1))
	sealed, _ := old.Seal([]byte("v"), nil)
	rotated, err := NewSealer(key(2), key(1))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(sealed, nil); err != nil || string(got) != "v" {
		t.Fatalf("old value under rotated sealer: %q, %v", got, err)
	}
	if SealedKeyID(sealed) != KeyID(key(1)) || rotated.PrimaryKeyID() != KeyID(key(2)) {
		t.Fatal("key ids")
	}
	resealed, _ := rotated.Seal([]byte("v"), nil)
	if _, err := old.Open(resealed, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("new key unknown to old sealer: err = %v", err)
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	k1, src, err := LoadKey("", filepath.Join(dir, KeyFileName))
	if err != nil || src != KeyFileCreated || len(k1) != KeySize {
		t.Fatalf("first start: %v %v", src, err)
	}
	fi, _ := os.Stat(filepath.Join(dir, KeyFileName))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %o", fi.Mode().Perm())
	}
	k2, src, err := LoadKey("", filepath.Join(dir, KeyFileName))
	if err != nil || src != KeyFromFile || !bytes.Equal(k1, k2) {
		t.Fatalf("second start: %v %v", src, err)
	}
	if err := os.Chmod(filepath.Join(dir, KeyFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadKey("", filepath.Join(dir, KeyFileName)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("0644 key file: err = %v", err)
	}

	env := base64.StdEncoding.EncodeToString(key(7))
	k, src, err := LoadKey(env, filepath.Join(dir, KeyFileName))
	if err != nil || src != KeyFromEnv || !bytes.Equal(k, key(7)) {
		t.Fatalf("env: %v %v", src, err)
	}
	for _, bad := range []string{"not base64 !!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		_, _, err := LoadKey(bad, filepath.Join(dir, KeyFileName))
		if err == nil || strings.Contains(err.Error(), bad) {
			t.Fatalf("bad env key: err = %v", err)
		}
	}
}

func TestRedacted(t *testing.T) {
	const secret = "hunter2-SECRET"
	r := NewRedacted(secret)
	type inner struct{ p Redacted }
	v := struct {
		Pass  Redacted
		inner inner
		Ptr   *Redacted
	}{r, inner{r}, &r}
	var out bytes.Buffer
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		fmt.Fprintf(&out, f+"\n", r)
		fmt.Fprintf(&out, f+"\n", v)
	}
	fmt.Fprintln(&out, r, v, r.String(), r.GoString())
	js, _ := json.Marshal(v)
	out.Write(js)
	log := slog.New(slog.NewJSONHandler(&out, nil))
	log.Info("x", "pass", r, "v", v)
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "pass", r, "v", v)
	if strings.Contains(out.String(), secret) {
		t.Fatalf("secret leaked:\n%s", out.String())
	}
	if r.Reveal() != secret || r.IsZero() || !(Redacted{}).IsZero() {
		t.Fatal("Reveal/IsZero")
	}
}

func TestFormats(t *testing.T) {
	const pw = "pw-SECRET-value"
	up, err := ParseUserPass(`{"username":"alice","password":"` + pw + `"}`)
	if err != nil || up.Username != "alice" || up.Password.Reveal() != pw {
		t.Fatalf("ParseUserPass: %+v %v", up, err)
	}
	cc, err := ParseClientCert(`{"certificate":"C","privateKey":"K","privateKeyPassword":"` + pw + `"}`)
	if err != nil || cc.Certificate != "C" || cc.PrivateKey.Reveal() != "K" || cc.PrivateKeyPassword.Reveal() != pw {
		t.Fatalf("ParseClientCert: %v", err)
	}
	cc, err = ParseClientCert(`{"certificate":"C","privateKey":"K"}`)
	if err != nil || !cc.PrivateKeyPassword.IsZero() {
		t.Fatalf("ParseClientCert without password: %v", err)
	}
	if ca, err := ParseRootCA(`{"certificate":"C"}`); err != nil || ca.Certificate != "C" {
		t.Fatalf("ParseRootCA: %v", err)
	}

	bad := []struct {
		parse func(string) error
		in    string
		want  string
	}{
		{userPass, pw, "not a JSON object"},
		{userPass, `["` + pw + `"]`, "not a JSON object"},
		{userPass, `{"password":"` + pw + `"}`, `no "username" key`},
		{userPass, `{"username":"u"}`, `no "password" key`},
		{userPass, `{"username":"u","password":""}`, `"password" is empty`},
		{userPass, `{"username":"u","password":12345}`, `"password" is not a string`},
		{userPass, `{"Username":"u","Password":"` + pw + `"}`, `no "username" key`},
		{clientCert, `{"certificate":"C"}`, `no "privateKey" key`},
		{clientCert, `{"privateKey":"` + pw + `"}`, `no "certificate" key`},
		{clientCert, `{"certificate":"C","privateKey":"K","privateKeyPassword":7}`, `"privateKeyPassword" is not a string`},
		{rootCA, `{"cert":"` + pw + `"}`, `no "certificate" key`},
		{rootCA, `{"certificate":"` + pw, "not a JSON object"},
	}
	for _, tt := range bad {
		err := tt.parse(tt.in)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("%s: error contains the secret: %v", tt.in, err)
		}
	}
}

func userPass(s string) error   { _, err := ParseUserPass(s); return err }
func clientCert(s string) error { _, err := ParseClientCert(s); return err }
func rootCA(s string) error     { _, err := ParseRootCA(s); return err }
