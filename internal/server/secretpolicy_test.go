package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/iam"
)

// TestSecretPolicyJudgesTheSecretsARN: as in AWS, a policy on a secret applies to the secret's
// own ARN (name-XXXXXX), however the request names it. A Deny written as AWS recommends,
// secret:prod-??????, must hold against SecretId "prod" (the name), the partial ARN and the
// full ARN alike; a secret it does not name stays readable.
func TestSecretPolicyJudgesTheSecretsARN(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "principals.json")
	const prefix = "arn:aws:secretsmanager:us-east-1:000000000000:secret:"
	if err := os.WriteFile(file, []byte(`{"Principals": [
  {"Name": "ops", "AccessKeyId": "AKIAOPS", "SecretAccessKey": "ops-secret"},
  {"Name": "app", "AccessKeyId": "AKIAAPP", "SecretAccessKey": "app-secret",
   "Policy": {"Statement": [
     {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
     {"Effect": "Deny", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:CreateSecret"], "Resource": "`+prefix+`prod*-??????"}]}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), PrincipalsFile: file,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop()
	ops := &iam.Principal{Name: "ops", AccessKeyID: "AKIAOPS", SecretAccessKey: "ops-secret"}
	app := &iam.Principal{Name: "app", AccessKeyID: "AKIAAPP", SecretAccessKey: "app-secret"}
	call := func(p *iam.Principal, op, body string) (int, string) {
		req := mustRequest(t, "POST", "http://"+s.Addr()+"/", body)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "secretsmanager."+op)
		return doAs(t, s, p, req)
	}
	var arns = map[string]string{}
	for _, name := range []string{"prod", "dev"} {
		code, body := call(ops, "CreateSecret", `{"Name":"`+name+`","SecretString":"value-of-`+name+`"}`)
		if code != 200 {
			t.Fatalf("CreateSecret %s: %d %s", name, code, body)
		}
		var out struct{ ARN string }
		_ = json.Unmarshal([]byte(body), &out)
		arns[name] = out.ARN
	}
	for _, id := range []string{"prod", arns["prod"], strings.TrimSuffix(arns["prod"], arns["prod"][len(arns["prod"])-7:])} {
		code, body := call(app, "GetSecretValue", `{"SecretId":"`+id+`"}`)
		if code != 403 || strings.Contains(body, "value-of-prod") ||
			!strings.Contains(body, "secretsmanager:GetSecretValue on resource: "+arns["prod"]) {
			t.Errorf("GetSecretValue %q under a Deny on prod-??????: %d %s", id, code, body)
		}
		if code, body := call(app, "PutSecretValue", `{"SecretId":"`+id+`","SecretString":"overwritten"}`); code != 403 {
			t.Errorf("PutSecretValue %q under a Deny on prod-??????: %d %s", id, code, body)
		}
	}
	if code, body := call(app, "GetSecretValue", `{"SecretId":"dev"}`); code != 200 || !strings.Contains(body, "value-of-dev") {
		t.Fatalf("GetSecretValue dev: %d %s", code, body)
	}
	if code, body := call(app, "DescribeSecret", `{"SecretId":"prod"}`); code != 200 {
		t.Fatalf("DescribeSecret prod (allowed): %d %s", code, body)
	}
	// CreateSecret is judged on the ARN the secret will have, whatever its suffix: a Deny on
	// prod*-?????? keeps app from creating prod-ca (say, a root CA mappings would trust).
	if code, body := call(app, "CreateSecret", `{"Name":"prod-ca","SecretString":"-----BEGIN CERTIFICATE-----"}`); code != 403 ||
		!strings.Contains(body, "secretsmanager:CreateSecret on resource: "+prefix+"prod-ca-??????") {
		t.Errorf("CreateSecret prod-ca under a Deny on prod*-??????: %d %s", code, body)
	}
	if code, body := call(app, "CreateSecret", `{"Name":"dev-ca","SecretString":"x"}`); code != 200 {
		t.Errorf("CreateSecret dev-ca: %d %s", code, body)
	}
}
