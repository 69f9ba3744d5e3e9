package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
)

func TestLogsCommand(t *testing.T) {
	dir := t.TempDir()
	logDir := invoke.LogDir(dir, "fn")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	content := "2026-01-01T00:00:00.000Z START RequestId: a Version: $LATEST\n2026-01-01T00:00:00.001Z hello\n2026-01-01T00:00:00.002Z END RequestId: a\n"
	if err := os.WriteFile(filepath.Join(logDir, "function.log"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"logs", "fn", "--data-dir", dir, "-n", "2"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != strings.Join(strings.Split(content, "\n")[1:], "\n") {
		t.Errorf("logs -n 2:\n%s", got)
	}
	cmd = newRootCmd()
	cmd.SetArgs([]string{"logs", "nope", "--data-dir", dir})
	cmd.SetOut(&out)
	if err := cmd.Execute(); err == nil {
		t.Error("logs of an unknown function: want an error")
	}
}
