package store

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// TestUpgradeKeepsFunctions: a database written before versions existed (migration 0001
// only) opens with the current schema; its functions are kept and can be published,
// aliased and deleted.
func TestUpgradeKeepsFunctions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	body, err := fs.ReadFile(Migrations, "0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	all := Migrations
	Migrations = fstest.MapFS{"0001_init.sql": {Data: body}}
	s, err := OpenSQLite(ctx, dir)
	Migrations = all
	if err != nil {
		t.Fatal(err)
	}
	f := &function.Function{FunctionName: "old", FunctionArn: function.Arn("us-east-1", "000000000000", "old"),
		Runtime: "provided.al2023", Handler: "bootstrap", Version: function.Latest, CodeDir: "/d/old/abc"}
	if err := s.CreateFunction(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.GetFunction(ctx, "old"); err != nil || got.CodeDir != f.CodeDir {
		t.Fatalf("function after upgrade: %+v %v", got, err)
	}
	v, created, err := s.PublishVersion(ctx, "old", func(latest, _ *function.Function) (*function.Function, error) {
		return latest.Snapshot("", time.Now(), "r"), nil
	})
	if err != nil || !created || v.Version != "1" {
		t.Fatalf("publish after upgrade: %+v %v %v", v, created, err)
	}
	if err := s.CreateAlias(ctx, "old", &function.Alias{Name: "live", FunctionVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFunction(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetFunctionVersion(ctx, "old", "1"); err != ErrNotFound {
		t.Fatalf("version after delete: %v", err)
	}
}
