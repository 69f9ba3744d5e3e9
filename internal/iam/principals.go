package iam

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
)

// Principal is one identity that may call the API: an access key pair and, optionally, a
// policy. A principal without a policy has full access (the generated `kafkaesm` key is one);
// with a policy it may do only what the policy allows.
type Principal struct {
	// Name identifies the principal in ARNs (arn:aws:iam::<account>:user/<Name>), denials and
	// the audit log.
	Name            string  `json:"Name"`
	AccessKeyID     string  `json:"AccessKeyId"`
	SecretAccessKey string  `json:"SecretAccessKey"`
	Policy          *Policy `json:"Policy,omitempty"`
}

// Decide evaluates the principal's policy; without one every action is allowed.
func (p *Principal) Decide(action, resource string) Decision {
	if p.Policy == nil {
		return Allow
	}
	return p.Policy.Decide(action, resource)
}

// ARN is the principal as AWS names a user in AccessDeniedException messages.
func (p *Principal) ARN(account string) string {
	return "arn:aws:iam::" + account + ":user/" + p.Name
}

// File is the principals file (--principals): JSON, documented in docs/api.md.
//
//	{"Principals": [
//	  {"Name": "admin", "AccessKeyId": "AKIA…", "SecretAccessKey": "…"},
//	  {"Name": "reader", "AccessKeyId": "AKIA…", "SecretAccessKey": "…",
//	   "Policy": {"Version": "2012-10-17", "Statement": [
//	     {"Effect": "Allow", "Action": ["lambda:Get*", "lambda:List*"], "Resource": "*"}]}}]}
type File struct {
	Principals []*Principal `json:"Principals"`
}

// LoadFile reads a principals file. Unknown members are refused, so that a misspelt
// "Statment" cannot silently widen or narrow what a principal may do.
func LoadFile(path string) ([]*Principal, error) {
	if err := CheckPrivate(path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("principals file %s: %v", path, err)
	}
	if len(f.Principals) == 0 {
		return nil, fmt.Errorf("principals file %s lists no principals", path)
	}
	for i, p := range f.Principals {
		if p == nil || p.Name == "" || p.AccessKeyID == "" || p.SecretAccessKey == "" {
			return nil, fmt.Errorf("principals file %s: principal %d needs Name, AccessKeyId and SecretAccessKey", path, i)
		}
		if p.Policy != nil {
			if err := p.Policy.Validate(); err != nil {
				return nil, fmt.Errorf("principals file %s: principal %q: %v", path, p.Name, err)
			}
		}
	}
	return f.Principals, nil
}

// CheckPrivate refuses a file of secret keys that another user owns (they could give
// themselves a key) or that others may read or change (mode beyond 0600), as the secret key
// file is refused.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, who could give themselves a key; fix it with: chown %d %s", path, st.Uid, os.Geteuid(), path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s has mode %04o, so other users can read or change the secret keys in it; fix it with: chmod 600 %s", path, perm, path)
	}
	return nil
}

// LoadSharedCredentials reads an AWS shared-credentials file (INI: [profile] sections with
// aws_access_key_id and aws_secret_access_key). Each complete profile is a principal named
// after it, with full access.
func LoadSharedCredentials(path string) ([]*Principal, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	profiles := map[string]*Principal{}
	var cur *Principal
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			name := strings.TrimSpace(strings.TrimPrefix(line[1:len(line)-1], "profile "))
			cur = &Principal{Name: name}
			profiles[name] = cur
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || cur == nil {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			cur.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			cur.SecretAccessKey = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []*Principal
	for _, p := range profiles {
		if p.AccessKeyID != "" && p.SecretAccessKey != "" {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 {
		return nil, fmt.Errorf("credentials file %s has no profile with aws_access_key_id and aws_secret_access_key", path)
	}
	return out, nil
}

// Profile returns the principal named profile from a shared-credentials file.
func Profile(path, profile string) (*Principal, error) {
	ps, err := LoadSharedCredentials(path)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.Name == profile {
			return p, nil
		}
	}
	return nil, fmt.Errorf("credentials file %s has no profile [%s]", path, profile)
}

// CreateSharedCredentials writes a new shared-credentials file at path (mode 0600; it must
// not exist yet) with one profile holding a freshly generated key pair, and returns it.
func CreateSharedCredentials(path, profile string) (*Principal, error) {
	p := &Principal{Name: profile, AccessKeyID: newAccessKeyID(), SecretAccessKey: newSecretKey()}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	content := fmt.Sprintf("# kafkaesm API credentials, generated on first start. Use with the AWS CLI:\n"+
		"#   AWS_SHARED_CREDENTIALS_FILE=%s AWS_PROFILE=%s aws lambda list-functions --endpoint-url http://127.0.0.1:9001\n"+
		"[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", path, profile, profile, p.AccessKeyID, p.SecretAccessKey)
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return p, f.Close()
}

const (
	idAlphabet     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// newAccessKeyID makes an id shaped like AWS's long-term keys (AKIA + 16 characters).
func newAccessKeyID() string { return "AKIA" + randomString(idAlphabet, 16) }

// newSecretKey makes a 40-character secret (240 bits), as AWS's.
func newSecretKey() string { return randomString(secretAlphabet, 40) }

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// Set is the current principals, looked up by access key id on every request and replaced
// as a whole on reload (SIGHUP), so a request sees either the old or the new set.
type Set struct {
	byKey atomic.Pointer[map[string]*Principal]
}

// NewSet builds a set; see Replace.
func NewSet(ps []*Principal) (*Set, error) {
	s := &Set{}
	return s, s.Replace(ps)
}

// Replace swaps in ps. Two principals may not share an access key id or a name.
func (s *Set) Replace(ps []*Principal) error {
	if len(ps) == 0 {
		return errors.New("no principals")
	}
	m := make(map[string]*Principal, len(ps))
	names := map[string]bool{}
	for _, p := range ps {
		if p.AccessKeyID == "" || p.SecretAccessKey == "" {
			return fmt.Errorf("principal %q: access key id and secret access key must both be set", p.Name)
		}
		if _, dup := m[p.AccessKeyID]; dup {
			return fmt.Errorf("access key id %s is listed twice", p.AccessKeyID)
		}
		if names[p.Name] {
			return fmt.Errorf("principal name %q is listed twice", p.Name)
		}
		m[p.AccessKeyID] = p
		names[p.Name] = true
	}
	s.byKey.Store(&m)
	return nil
}

// Lookup finds the principal of an access key id.
func (s *Set) Lookup(accessKeyID string) (*Principal, bool) {
	m := s.byKey.Load()
	if m == nil {
		return nil, false
	}
	p, ok := (*m)[accessKeyID]
	return p, ok
}

// Len is the number of principals.
func (s *Set) Len() int {
	m := s.byKey.Load()
	if m == nil {
		return 0
	}
	return len(*m)
}
