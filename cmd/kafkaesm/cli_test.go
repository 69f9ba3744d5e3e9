package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/server"
)

// echoBootstrap is a custom runtime in sh + curl: it answers each event with {"echo":EVENT}
// and logs it.
const echoBootstrap = `#!/bin/sh
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
  h=$(mktemp)
  ev=$(curl -sS -D "$h" "$api/next")
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$h" | tr -d '\r' | awk '{print $2}')
  rm -f "$h"
  echo "echo handler got $ev"
  curl -sS -X POST -d "{\"echo\":$ev}" "$api/$id/response" >/dev/null
done
`

func writeExecutable(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFunctionsCommands(t *testing.T) {
	ep, _ := startServer(t)
	dir := t.TempDir()

	// One executable, zipped as bootstrap.
	script := writeExecutable(t, dir, "echo.sh", echoBootstrap)
	out := ok(t, ep, "functions", "create", "echo", "--code", script, "--timeout", "10", "--env", "GREETING=hi")
	for _, want := range []string{"Name:", "echo", "provided.al2023", "GREETING=hi"} {
		if !strings.Contains(out, want) {
			t.Errorf("functions create output lacks %q:\n%s", want, out)
		}
	}
	// A directory holding bootstrap.
	codeDir := filepath.Join(dir, "code")
	if err := os.Mkdir(codeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeExecutable(t, codeDir, "bootstrap", echoBootstrap)
	ok(t, ep, "functions", "create", "echo-dir", "--code", codeDir)
	// A zip, sent as it is; its bootstrap runs the sample handler built into this binary.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	zip, err := zipFiles(zipEntry{name: "bootstrap", mode: 0o755, data: []byte("#!/bin/sh\nexec " + shellQuote(exe) + " sample-handler\n")})
	if err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(dir, "fn.zip")
	if err := os.WriteFile(zipPath, zip, 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, ep, "functions", "create", "sample", "--code", zipPath)

	// An HTTP target.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"http":%s}`, b)
	}))
	defer hs.Close()
	out = ok(t, ep, "functions", "create", "web", "--http-url", hs.URL)
	if !strings.Contains(out, hs.URL) {
		t.Errorf("functions create --http-url output lacks the URL:\n%s", out)
	}

	list := ok(t, ep, "functions", "list")
	if lines := strings.Split(strings.TrimSpace(list), "\n"); len(lines) != 5 || !strings.HasPrefix(lines[0], "NAME") {
		t.Errorf("functions list: want a header and 4 rows:\n%s", list)
	}
	var listed struct {
		Functions []struct{ FunctionName string }
	}
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "functions", "list")), &listed); err != nil || len(listed.Functions) != 4 {
		t.Errorf("functions list -o json: %v %+v", err, listed)
	}
	var got struct {
		Configuration struct {
			FunctionName       string
			KafkaesmHttpTarget struct{ Url string }
		}
	}
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "functions", "get", "web")), &got); err != nil ||
		got.Configuration.FunctionName != "web" || got.Configuration.KafkaesmHttpTarget.Url != hs.URL {
		t.Errorf("functions get -o json: %v %+v", err, got)
	}

	r := cli(t, ep, "", "functions", "invoke", "echo", "--payload", `{"n":1}`)
	if r.err != nil || strings.TrimSpace(r.stdout) != `{"echo":{"n":1}}` || !strings.Contains(r.stderr, `echo handler got {"n":1}`) ||
		!strings.Contains(r.stderr, "REPORT RequestId:") {
		t.Errorf("invoke echo: err %v\nstdout %s\nstderr %s", r.err, r.stdout, r.stderr)
	}
	r = cli(t, ep, `{"k":"v"}`, "functions", "invoke", "echo-dir", "--payload", "-")
	if r.err != nil || strings.TrimSpace(r.stdout) != `{"echo":{"k":"v"}}` {
		t.Errorf("invoke echo-dir with stdin: err %v\nstdout %s", r.err, r.stdout)
	}
	event := `{"eventSource":"SelfManagedKafka","records":{"demo-0":[{"topic":"demo","partition":0,"offset":7,"timestamp":0,"timestampType":"CREATE_TIME","key":"azE=","value":"aGVsbG8=","headers":[{"h":[118]}]}]}}`
	r = cli(t, ep, "", "-o", "json", "functions", "invoke", "sample", "--payload", event)
	var inv struct {
		StatusCode int
		Log        string
		Payload    map[string]int
	}
	if err := json.Unmarshal([]byte(r.stdout), &inv); r.err != nil || err != nil || inv.StatusCode != 200 || inv.Payload["processed"] != 1 ||
		!strings.Contains(inv.Log, `record demo-0@7 key="k1" value="hello" h="v"`) {
		t.Errorf("invoke sample -o json: %v %v\n%s", r.err, err, r.stdout)
	}
	r = cli(t, ep, "", "functions", "invoke", "web", "--payload", `{"a":true}`)
	if r.err != nil || strings.TrimSpace(r.stdout) != `{"http":{"a":true}}` {
		t.Errorf("invoke web: %v %s", r.err, r.stdout)
	}

	ok(t, ep, "functions", "delete", "echo-dir")
	if got, want := fails(t, ep, "functions", "get", "echo-dir"),
		"kafkaesm: ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:000000000000:function:echo-dir"; got != want {
		t.Errorf("get deleted function:\n got %s\nwant %s", got, want)
	}
	if got := fails(t, ep, "functions", "create", "bad", "--code", script, "--runtime", "nodejs20.x"); !strings.HasPrefix(got, "kafkaesm: InvalidParameterValueException: ") {
		t.Errorf("unsupported runtime: %s", got)
	}
	if got := fails(t, ep, "functions", "create", "both", "--code", script, "--http-url", hs.URL); !strings.Contains(got, "exactly one of --code and --http-url") {
		t.Errorf("--code with --http-url: %s", got)
	}
}

func TestErrors(t *testing.T) {
	ep, _ := startServer(t)
	for _, tc := range []struct {
		args []string
		want string // a regexp of the whole line
	}{
		{[]string{"mappings", "get", "6f1b4a6e-0000-4000-8000-000000000000"},
			`^kafkaesm: ResourceNotFoundException: The resource you requested does not exist\.$`},
		{[]string{"mappings", "delete", "6f1b4a6e-0000-4000-8000-000000000000"},
			`^kafkaesm: ResourceNotFoundException: The resource you requested does not exist\.$`},
		{[]string{"mappings", "create", "--function", "nope", "--topic", "orders", "--bootstrap", "127.0.0.1:9092"},
			`^kafkaesm: InvalidParameterValueException: Function does not exist`},
		{[]string{"mappings", "create", "--function", "nope", "--topic", "orders", "--bootstrap", "127.0.0.1:9092", "--starting-position", "SOMETIME"},
			`^kafkaesm: ValidationException: 1 validation error detected: Value 'SOMETIME' at 'startingPosition'`},
		{[]string{"functions", "invoke", "nope"},
			`^kafkaesm: ResourceNotFoundException: Function not found: `},
		{[]string{"-o", "yaml", "mappings", "list"}, `^kafkaesm: --output must be table or json, got "yaml"$`},
	} {
		got := fails(t, ep, tc.args...)
		if !regexp.MustCompile(tc.want).MatchString(got) || strings.Contains(got, "\n") {
			t.Errorf("kafkaesm %s:\n got %q\nwant %s", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	// A server that is not there: one line saying so.
	got := fails(t, "http://127.0.0.1:1", "mappings", "list")
	if !strings.HasPrefix(got, "kafkaesm: cannot reach the kafkaesm server at http://127.0.0.1:1") || strings.Contains(got, "\n") {
		t.Errorf("unreachable server: %q", got)
	}
}

// TestSigV4 uses a server that requires signed requests: the CLI signs with the credentials
// serve reads (KAFKAESM_ACCESS_KEY_ID / KAFKAESM_SECRET_ACCESS_KEY), else AWS's variables.
func TestSigV4(t *testing.T) {
	ep, _ := startServer(t, func(c *server.Config) { c.AccessKeyID, c.SecretAccessKey = "AKIDCLI", "cli-secret" })
	for _, k := range []string{"KAFKAESM_ACCESS_KEY_ID", "KAFKAESM_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "")
	}
	if got := fails(t, ep, "functions", "list"); !regexp.MustCompile(`^kafkaesm: (UnrecognizedClientException|InvalidSignatureException): `).MatchString(got) {
		t.Errorf("unsigned with placeholders: %q", got)
	}
	t.Setenv("KAFKAESM_ACCESS_KEY_ID", "AKIDCLI")
	t.Setenv("KAFKAESM_SECRET_ACCESS_KEY", "cli-secret")
	ok(t, ep, "functions", "list")
	t.Setenv("KAFKAESM_ACCESS_KEY_ID", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCLI")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	if got := fails(t, ep, "functions", "list"); !strings.HasPrefix(got, "kafkaesm: InvalidSignatureException: ") {
		t.Errorf("wrong secret: %q", got)
	}
}
