package iam

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "lambda:GetFunction", true},
		{"lambda:get*", "lambda:getfunction", true},
		{"lambda:*eventsourcemapping*", "lambda:createeventsourcemapping", true},
		{"lambda:*eventsourcemapping*", "lambda:listeventsourcemappings", true},
		{"lambda:*eventsourcemapping*", "lambda:getfunction", false},
		{"arn:aws:lambda:*:*:function:fn", "arn:aws:lambda:us-east-1:000000000000:function:fn", true},
		{"arn:aws:lambda:*:*:function:fn", "arn:aws:lambda:us-east-1:000000000000:function:fn:live", false},
		{"arn:aws:lambda:*:*:function:fn*", "arn:aws:lambda:us-east-1:000000000000:function:fn:live", true},
		{"secret:kafka-??", "secret:kafka-ab", true},
		{"secret:kafka-??", "secret:kafka-abc", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{strings.Repeat("*a", 30), strings.Repeat("a", 40) + "b", false}, // no exponential backtracking
		// A '*' in the resource (ListFunctions' "*", CreateEventSourceMapping's
		// event-source-mapping:*) is a character like any other: a pattern's '*' still
		// matches any run, never only a literal '*'.
		{"*a", "*ba", true},
		{"*?", "*", true},
		{"*:event-source-mapping:*", "*:x:event-source-mapping:*", true},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestDecide(t *testing.T) {
	p := &Policy{Statement: []Statement{
		{Effect: "Allow", Action: strList{"lambda:Get*", "lambda:List*"}, Resource: strList{"*"}},
		{Effect: "Allow", Action: strList{"lambda:*"}, Resource: strList{"arn:aws:lambda:*:*:function:team-*"}},
		{Effect: "Deny", Action: strList{"lambda:DeleteFunction"}, Resource: strList{"arn:aws:lambda:*:*:function:team-prod*"}},
	}}
	for _, tt := range []struct {
		action, resource string
		want             Decision
	}{
		{"lambda:GetFunction", "arn:aws:lambda:us-east-1:1:function:other", Allow},
		{"lambda:GETFUNCTION", "arn:aws:lambda:us-east-1:1:function:other", Allow}, // actions ignore case
		{"lambda:DeleteFunction", "arn:aws:lambda:us-east-1:1:function:other", ImplicitDeny},
		{"lambda:DeleteFunction", "arn:aws:lambda:us-east-1:1:function:team-dev", Allow},
		{"lambda:DeleteFunction", "arn:aws:lambda:us-east-1:1:function:team-prod", ExplicitDeny},
		{"lambda:DeleteFunction", "arn:aws:lambda:us-east-1:1:function:TEAM-dev", ImplicitDeny}, // resources do not
		{"secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:1:secret:x", ImplicitDeny},
	} {
		if got := p.Decide(tt.action, tt.resource); got != tt.want {
			t.Errorf("%s on %s: %v, want %v", tt.action, tt.resource, got, tt.want)
		}
	}
	if (&Principal{}).Decide("lambda:DeleteFunction", "*") != Allow {
		t.Error("a principal without a policy has full access")
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "principals.json")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ps, err := LoadFile(write(`{"Principals":[
		{"Name":"admin","AccessKeyId":"AKIA1","SecretAccessKey":"s1"},
		{"Name":"reader","AccessKeyId":"AKIA2","SecretAccessKey":"s2",
		 "Policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:Get*","Resource":"*"}]}}]}`))
	if err != nil || len(ps) != 2 || ps[1].Policy.Statement[0].Action[0] != "lambda:Get*" {
		t.Fatalf("%v %+v", err, ps)
	}
	for _, bad := range []struct{ json, want string }{
		{`{"Principals":[{"Name":"a","AccessKeyId":"k","SecretAccessKey":"s","Policy":{"Statment":[]}}]}`, "unknown field"},
		{`{"Principals":[{"Name":"a","AccessKeyId":"k"}]}`, "needs Name, AccessKeyId and SecretAccessKey"},
		{`{"Principals":[{"Name":"a","AccessKeyId":"k","SecretAccessKey":"s","Policy":{"Statement":[{"Effect":"Alow","Action":"*","Resource":"*"}]}}]}`, "Effect must be Allow or Deny"},
		{`{"Principals":[{"Name":"a","AccessKeyId":"k","SecretAccessKey":"s","Policy":{"Statement":[{"Effect":"Allow","Action":"GetFunction","Resource":"*"}]}}]}`, "service:Action"},
		{`{"Principals":[]}`, "no principals"},
	} {
		if _, err := LoadFile(write(bad.json)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err %v, want %q", bad.json, err, bad.want)
		}
	}
	// Other users may not read the keys in it (nor change them).
	p := write(`{"Principals":[{"Name":"admin","AccessKeyId":"AKIA1","SecretAccessKey":"s1"}]}`)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o620} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: err %v, want a refusal", mode, err)
		}
	}
	if _, err := NewSet([]*Principal{{Name: "a", AccessKeyID: "k", SecretAccessKey: "s"}, {Name: "b", AccessKeyID: "k", SecretAccessKey: "t"}}); err == nil {
		t.Error("duplicate access key id accepted")
	}
}

func TestSharedCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	p, err := CreateSharedCredentials(path, "kafkaesm")
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if _, err := CreateSharedCredentials(path, "kafkaesm"); err == nil {
		t.Fatal("an existing file was overwritten")
	}
	got, err := Profile(path, "kafkaesm")
	if err != nil || got.AccessKeyID != p.AccessKeyID || got.SecretAccessKey != p.SecretAccessKey {
		t.Fatalf("%v %+v", err, got)
	}
	// More profiles: each a principal.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\n[ci]\naws_access_key_id=AKIACI\naws_secret_access_key = ci-secret\n[incomplete]\naws_access_key_id=X\n")
	f.Close()
	ps, err := LoadSharedCredentials(path)
	if err != nil || len(ps) != 2 || ps[0].Name != "ci" || ps[0].SecretAccessKey != "ci-secret" {
		t.Fatalf("%v %+v", err, ps)
	}
}
