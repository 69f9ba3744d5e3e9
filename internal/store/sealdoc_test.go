package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/secrets"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// TestFunctionEnvironmentSealedAtRest: a function's environment variables never reach the
// database file in plain text once the store seals documents, and rows written before are
// re-written sealed at start.
func TestFunctionEnvironmentSealedAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const secret = "env-value-that-must-not-be-on-disk"
	s, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	old := &function.Function{FunctionName: "old", FunctionArn: "arn:old", Environment: &function.Environment{Variables: map[string]string{"PW": secret}}}
	if err := s.CreateFunction(ctx, old); err != nil {
		t.Fatal(err)
	}
	publish := func(name string) {
		t.Helper()
		if _, _, err := s.PublishVersion(ctx, name, func(latest, _ *function.Function) (*function.Function, error) {
			return latest.Snapshot("", time.Now(), "r"), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	publish("old") // a published version holds the same variables
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	sealer, err := secrets.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err = store.OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.SealFunctions(ctx, sealer); err != nil || n != 2 {
		t.Fatalf("SealFunctions = %d, %v; want 2 rows migrated (function and version)", n, err)
	}
	neu := &function.Function{FunctionName: "new", FunctionArn: "arn:new", Environment: &function.Environment{Variables: map[string]string{"PW": secret}}}
	if err := s.CreateFunction(ctx, neu); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFunction(ctx, "new", func(f *function.Function) error { f.Description = "d"; return nil }); err != nil {
		t.Fatal(err)
	}
	publish("new")
	for _, name := range []string{"old", "new"} {
		f, err := s.GetFunction(ctx, name)
		if err != nil || f.Environment.Variables["PW"] != secret {
			t.Fatalf("GetFunction(%s) = %+v, %v", name, f, err)
		}
		v, err := s.GetFunctionVersion(ctx, name, "1")
		if err != nil || v.Environment.Variables["PW"] != secret {
			t.Fatalf("GetFunctionVersion(%s, 1) = %+v, %v", name, v, err)
		}
	}
	if fs, _, err := s.ListFunctions(ctx, store.Page{}); err != nil || len(fs) != 2 {
		t.Fatalf("ListFunctions = %v, %v", fs, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing of the value in the database, its WAL or its shared memory.
	files, _ := filepath.Glob(filepath.Join(dir, store.FileName+"*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the environment value in plain text", f)
		}
	}

	// Without the key the documents cannot be read, and say why.
	s, err = store.OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetFunction(ctx, "new"); err == nil {
		t.Fatal("sealed document read without the key")
	}
}
