package secrets

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// openDB opens a SQLite file with the secrets migrations applied (the store's Migrate does the
// same in production; this package does not import the store).
func openDB(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kafkaesm.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	names, _ := fs.Glob(Migrations, "*.sql")
	if len(names) == 0 {
		t.Fatal("no migrations")
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "01") {
			t.Fatalf("migration %s outside the reserved 0100-0199 range", n)
		}
		b, _ := fs.ReadFile(Migrations, n)
		if _, err := db.Exec(string(b)); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	return db, path
}

func TestRepo(t *testing.T) {
	ctx := context.Background()
	db, path := openDB(t)
	sealer, _ := NewSealer(key(3))
	r := NewRepo(db, sealer)

	const v1, v2 = `{"username":"u","password":"first-SECRET-9a1"}`, `{"username":"u","password":"second-SECRET-4c7"}`
	arn := NewARN("us-east-1", "000000000000", "kafka/creds")
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka/creds-") || len(arn) != len("arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka/creds-")+6 {
		t.Fatalf("arn %s", arn)
	}
	s := &Secret{ARN: arn, Name: "kafka/creds", Description: "d", Tags: map[string]string{"team": "a"}}
	first := &Value{String: NewRedacted(v1)}
	if err := r.Create(ctx, s, first); err != nil {
		t.Fatal(err)
	}
	if err := r.Create(ctx, &Secret{ARN: NewARN("us-east-1", "000000000000", "kafka/creds"), Name: "kafka/creds"}, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	for _, id := range []string{arn, "kafka/creds", arn[:len(arn)-7]} {
		got, err := r.GetSecretValue(ctx, id)
		if err != nil || got != v1 {
			t.Fatalf("GetSecretValue(%s) = %v", id, err)
		}
	}
	if _, err := r.GetSecretValue(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}

	second := &Value{VersionID: "token-2", String: NewRedacted(v2)}
	if _, err := r.PutValue(ctx, arn, second); err != nil {
		t.Fatal(err)
	}
	// Same token, same value: idempotent. Same token, other value: conflict.
	if _, err := r.PutValue(ctx, arn, &Value{VersionID: "token-2", String: NewRedacted(v2)}); err != nil {
		t.Fatalf("idempotent put: %v", err)
	}
	if _, err := r.PutValue(ctx, arn, &Value{VersionID: "token-2", String: NewRedacted("other")}); !errors.Is(err, ErrVersionExists) {
		t.Fatalf("conflicting put: %v", err)
	}
	got, _ := r.Get(ctx, arn)
	if got.CurrentVersion != "token-2" || got.PreviousVersion != first.VersionID || got.Tags["team"] != "a" {
		t.Fatalf("after put: %+v", got)
	}
	if _, v, err := r.GetValue(ctx, arn, "", StagePrevious); err != nil || v.String.Reveal() != v1 {
		t.Fatalf("AWSPREVIOUS: %v", err)
	}
	if _, v, err := r.GetValue(ctx, arn, first.VersionID, ""); err != nil || v.String.Reveal() != v1 {
		t.Fatalf("by version id: %v", err)
	}
	if _, _, err := r.GetValue(ctx, arn, first.VersionID, StageCurrent); !errors.Is(err, ErrNoValue) {
		t.Fatalf("version with wrong stage: %v", err)
	}
	if _, err := r.PutValue(ctx, arn, &Value{IsBinary: true, Binary: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetSecretValue(ctx, arn); !errors.Is(err, ErrMalformed) {
		t.Fatalf("binary as SecretSource: %v", err)
	}
	if _, err := r.Update(ctx, arn, func(s *Secret) error { s.Description = "new"; return nil }); err != nil {
		t.Fatal(err)
	}

	// Key rotation: old values stay readable under a rotated sealer, Reseal moves them.
	rotated, _ := NewSealer(key(4), key(3))
	r2 := NewRepo(db, rotated)
	if n, err := r2.Reseal(ctx); err != nil || n != 3 {
		t.Fatalf("Reseal = %d, %v", n, err)
	}
	onlyNew, _ := NewSealer(key(4))
	if _, v, err := NewRepo(db, onlyNew).GetValue(ctx, arn, "token-2", ""); err != nil || v.String.Reveal() != v2 {
		t.Fatalf("after reseal, new key alone: %v", err)
	}

	// Scheduled deletion hides the value; forced deletion removes the secret.
	if _, err := r2.Delete(ctx, arn, false, 7*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.GetSecretValue(ctx, arn); !errors.Is(err, ErrNotFound) {
		t.Fatalf("scheduled deletion: %v", err)
	}
	r2.now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	if n, err := r2.PurgeDeleted(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeDeleted = %d, %v", n, err)
	}
	if _, err := r2.Get(ctx, arn); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after purge: %v", err)
	}

	// Nothing in the database file (and its WAL) is readable as a secret value.
	_ = db.Close()
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, secret := range []string{"first-SECRET-9a1", "second-SECRET-4c7"} {
			if strings.Contains(string(b), secret) {
				t.Fatalf("%s contains %s in clear", f, secret)
			}
		}
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{"a": true, "kafka/prod_creds+1=@.-": true, "": false, "has space": false, "ü": false, strings.Repeat("a", 513): false} {
		if ValidName(name) != want {
			t.Errorf("ValidName(%q) != %v", name, want)
		}
	}
}
