package server

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/iam"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestPrincipalsFileReload: the principals file decides who may do what, and SIGHUP re-reads
// it: a principal's policy widened in the file takes effect without a restart; a broken file
// keeps the previous principals.
func TestPrincipalsFileReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "principals.json")
	write := func(readerActions string) {
		t.Helper()
		body := fmt.Sprintf(`{"Principals": [
  {"Name": "ops", "AccessKeyId": "AKIAOPS", "SecretAccessKey": "ops-secret"},
  {"Name": "reader", "AccessKeyId": "AKIAREADER", "SecretAccessKey": "reader-secret",
   "Policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": %s, "Resource": "*"}]}}]}`, readerActions)
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`["lambda:Get*", "lambda:List*"]`)
	data := filepath.Join(dir, "data")
	s, _, stop := runTestServer(t, Config{Listen: "127.0.0.1:0", DataDir: data, PrincipalsFile: file,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer stop()
	if _, err := os.Stat(filepath.Join(data, "credentials")); err == nil {
		t.Fatal("a credentials file was generated although a principals file is configured")
	}
	reader := &iam.Principal{Name: "reader", AccessKeyID: "AKIAREADER", SecretAccessKey: "reader-secret"}
	list := func() (int, string) {
		return doAs(t, s, reader, mustRequest(t, "GET", "http://"+s.Addr()+"/2015-03-31/event-source-mappings/", ""))
	}
	create := func() (int, string) {
		req := mustRequest(t, "POST", "http://"+s.Addr()+"/2015-03-31/event-source-mappings/", `{}`)
		req.Header.Set("Content-Type", "application/json")
		return doAs(t, s, reader, req)
	}
	if code, body := list(); code != 200 {
		t.Fatalf("reader lists: %d %s", code, body)
	}
	if code, body := create(); code != 403 || !strings.Contains(body, "User: arn:aws:iam::000000000000:user/reader is not authorized to perform: lambda:CreateEventSourceMapping") {
		t.Fatalf("reader creates: %d %s", code, body)
	}

	write(`["lambda:Get*", "lambda:List*", "lambda:CreateEventSourceMapping"]`)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 10*time.Second, func() error {
		if code, body := create(); code == 403 {
			return fmt.Errorf("still denied after SIGHUP: %s", body)
		}
		return nil
	})

	// A broken file: the reload fails and the principals in force stay.
	if err := os.WriteFile(file, []byte(`{"Principals": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Fatal("a broken principals file was accepted")
	}
	if code, _ := list(); code != 200 {
		t.Fatalf("after a failed reload: %d", code)
	}
}
