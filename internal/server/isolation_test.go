package server

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/invoke/invoketest"
	"github.com/kafkaesm/kafkaesm/internal/secrets"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// TestFunctionCannotReadServerSecrets: on a root server, a function (created and invoked through
// the API, running under its own uid) cannot read the key file, the database, the credentials
// file, the data directory or /proc/<server>/environ, and its environment holds none of the
// server's credentials.
func TestFunctionCannotReadServerSecrets(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: functions run under their own uids only when the server runs as root")
	}
	t.Setenv("KAFKAESM_SECRET_ACCESS_KEY", "server-env-credential")
	// Outside /tmp: functions get a /tmp of their own, which would hide a data directory there.
	dir, err := os.MkdirTemp("/var/tmp", "kafkaesm-server-isolation-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: dir, FunctionUIDs: "62000-62009",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop()
	p := testPrincipal(t, s)

	bin, err := os.ReadFile(filepath.Join(invoketest.GoHandler(t), "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, _ := zw.CreateHeader(h)
	w.Write(bin)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	create, _ := json.Marshal(map[string]any{"FunctionName": "prying", "Runtime": "provided.al2023", "Handler": "bootstrap",
		"Role": "arn:aws:iam::000000000000:role/r", "Code": map[string]string{"ZipFile": base64.StdEncoding.EncodeToString(buf.Bytes())}})
	if code, body := signedDo(t, s, mustRequest(t, "POST", "http://"+s.Addr()+"/2015-03-31/functions", string(create))); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	invoke := func(event string) string {
		code, body := signedDo(t, s, mustRequest(t, "POST", "http://"+s.Addr()+"/2015-03-31/functions/prying/invocations", event))
		if code != 200 {
			t.Fatalf("invoke %s: %d %s", event, code, body)
		}
		return body
	}

	secretFiles := []string{filepath.Join(dir, secrets.KeyFileName), filepath.Join(dir, store.FileName), s.CredentialsFile(), dir,
		"/proc/" + strconv.Itoa(os.Getpid()) + "/environ", "/proc/" + strconv.Itoa(os.Getpid()) + "/mem"}
	for _, f := range secretFiles[:3] {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the node has no %s to protect: %v", f, err)
		}
	}
	paths, _ := json.Marshal(secretFiles)
	var got map[string]string
	body := invoke(`{"action":"read","paths":` + string(paths) + `}`)
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("read: %s", body)
	}
	for _, f := range secretFiles {
		if !strings.Contains(got[f], "permission denied") {
			t.Errorf("the function read %s: %q, want permission denied", f, got[f])
		}
	}

	var who struct{ Environ []string }
	body = invoke(`{"action":"whoami"}`)
	if err := json.Unmarshal([]byte(body), &who); err != nil {
		t.Fatalf("whoami: %s", body)
	}
	for _, kv := range who.Environ {
		if strings.Contains(kv, p.SecretAccessKey) || strings.Contains(kv, "server-env-credential") || strings.HasPrefix(kv, "KAFKAESM_") {
			t.Errorf("the function's environment holds the server's %q", kv)
		}
	}
}
