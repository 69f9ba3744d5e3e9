package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// EnvKey is the environment variable holding the base64 encoding of the 32-byte key.
const EnvKey = "KAFKAESM_SECRET_KEY"

// KeyFileName is the key file's name in the data directory, its default location.
const KeyFileName = "secret.key"

// KeySource says where LoadKey found the key; it is safe to log.
type KeySource string

const (
	KeyFromEnv     KeySource = "env " + EnvKey
	KeyFromFile    KeySource = "key file"
	KeyFileCreated KeySource = "key file (created)"
)

// LoadKey returns the secret encryption key: from the environment value env (the content of
// KAFKAESM_SECRET_KEY; pass os.Getenv(EnvKey)) when non-empty, otherwise from the key file at
// path (by default <data-dir>/secret.key), which is created with mode 0600 on first start. A
// key file readable or writable by group or others, or of another user, is refused, with the
// command that fixes it: the key protects every stored credential.
func LoadKey(env, path string) ([]byte, KeySource, error) {
	if env != "" {
		k, err := decodeKey(env)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", EnvKey, err)
		}
		return k, KeyFromEnv, nil
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createKeyFile(path)
	case err != nil:
		return nil, "", fmt.Errorf("secret key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("secret key file %s is not a regular file", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, "", fmt.Errorf("refusing to start: secret key file %s belongs to uid %d, who knows or can change the key to every stored secret; "+
			"fix it with: chown %d %s, or remove it to have a new key made (secrets sealed with it are then lost)", path, st.Uid, os.Geteuid(), path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, "", fmt.Errorf("refusing to start: secret key file %s has mode %04o, so other users can read or change the key to every stored secret; "+
			"fix it with: chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("secret key file: %w", err)
	}
	k, err := decodeKey(string(b))
	if err != nil {
		return nil, "", fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, KeyFromFile, nil
}

func createKeyFile(path string) ([]byte, KeySource, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, "", err
	}
	// O_EXCL: if two processes start at once, one creates and the other fails rather than both
	// writing different keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("create secret key file: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return nil, "", fmt.Errorf("write secret key file: %w", err)
	}
	return k, KeyFileCreated, nil
}

// decodeKey parses base64 (standard or URL alphabet, padding optional) of exactly 32 bytes.
// Its errors never include the input.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("key is %d bytes, want %d (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, errors.New("key is not base64 (want base64 of 32 random bytes, e.g. `openssl rand -base64 32`)")
}
