package main

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestReadRecords(t *testing.T) {
	type rec struct {
		Key, Value *string
		Headers    string
	}
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name, line string
		want       rec
		wantErr    string
	}{
		{"plain text", "hello", rec{nil, str("hello"), ""}, ""},
		{"trailing CR", "hello\r", rec{nil, str("hello"), ""}, ""},
		{"record", `{"key":"k","value":"v","headers":{"a":"1"}}`, rec{str("k"), str("v"), "a=1"}, ""},
		{"JSON value", `{"value":{"n":[1, 2]}}`, rec{nil, str(`{"n":[1,2]}`), ""}, ""},
		{"number key", `{"key":42,"value":"v"}`, rec{str("42"), str("v"), ""}, ""},
		{"null value (a tombstone)", `{"key":"k","value":null}`, rec{str("k"), nil, ""}, ""},
		{"other JSON object is a value", `{"total":1}`, rec{nil, str(`{"total":1}`), ""}, ""},
		{"mixed members are a value", `{"key":"k","total":1}`, rec{nil, str(`{"key":"k","total":1}`), ""}, ""},
		{"broken JSON is text", `{"key":`, rec{nil, str(`{"key":`), ""}, ""},
		{"headers not an object", `{"value":"v","headers":["a"]}`, rec{}, "stdin line 1: headers must be an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := readRecords(strings.NewReader(tc.line+"\n\n"), &kgo.Record{Topic: "t"})
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(recs) != 1 {
				t.Fatalf("%v, %d records", err, len(recs))
			}
			r := recs[0]
			got := rec{}
			if r.Key != nil {
				got.Key = str(string(r.Key))
			}
			if r.Value != nil {
				got.Value = str(string(r.Value))
			}
			var hs []string
			for _, h := range r.Headers {
				hs = append(hs, h.Key+"="+string(h.Value))
			}
			got.Headers = strings.Join(hs, ",")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCodeZip(t *testing.T) {
	dir := t.TempDir()
	exe := writeExecutable(t, dir, "handler", "#!/bin/sh\n")
	z, err := codeZip(exe)
	if err != nil {
		t.Fatal(err)
	}
	checkZip(t, z, map[string]os.FileMode{"bootstrap": 0o755})

	sub := filepath.Join(dir, "pkg")
	if err := os.MkdirAll(filepath.Join(sub, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeExecutable(t, sub, "bootstrap", "#!/bin/sh\n")
	if err := os.WriteFile(filepath.Join(sub, "lib", "data.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	z, err = codeZip(sub)
	if err != nil {
		t.Fatal(err)
	}
	checkZip(t, z, map[string]os.FileMode{"bootstrap": 0o755, "lib/data.txt": 0o644})

	zipPath := filepath.Join(dir, "fn.zip")
	if err := os.WriteFile(zipPath, z, 0o644); err != nil {
		t.Fatal(err)
	}
	if again, err := codeZip(zipPath); err != nil || !bytes.Equal(again, z) {
		t.Errorf("a zip must be sent unchanged: %v", err)
	}
	if _, err := codeZip(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing --code: want an error")
	}
}

func checkZip(t *testing.T, data []byte, want map[string]os.FileMode) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]os.FileMode{}
	for _, f := range zr.File {
		got[f.Name] = f.Mode().Perm()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("zip entries (-want +got):\n%s", diff)
	}
}
