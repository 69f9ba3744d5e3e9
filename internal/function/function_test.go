package function

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		in                       string
		name, qual, region, acct string
		ok                       bool
	}{
		{"my-fn", "my-fn", "", "", "", true},
		{"my-fn:live", "my-fn", "live", "", "", true},
		{"my-fn:$LATEST", "my-fn", "$LATEST", "", "", true},
		{"000000000000:function:my-fn", "my-fn", "", "", "000000000000", true},
		{"arn:aws:lambda:us-east-1:000000000000:function:my-fn:3", "my-fn", "3", "us-east-1", "000000000000", true},
		{"arn:aws:lambda:us-east-1:000000000000:function:my-fn", "my-fn", "", "us-east-1", "000000000000", true},
		{"", "", "", "", "", false},
		{"bad name", "", "", "", "", false},
		{"000000000000:my-fn", "", "", "", "", false},
		{strings.Repeat("a", 65), "", "", "", "", false},
	}
	for _, tt := range tests {
		r, err := ParseName(tt.in, "functionName")
		if (err == nil) != tt.ok {
			t.Errorf("%q: err %v", tt.in, err)
			continue
		}
		if tt.ok && (r.Name != tt.name || r.Qualifier != tt.qual || r.Region != tt.region || r.Account != tt.acct) {
			t.Errorf("%q: %+v", tt.in, r)
		}
	}
}

func TestUnqualifiedArn(t *testing.T) {
	if got := UnqualifiedArn("arn:aws:lambda:us-east-1:000000000000:function:f:live"); got != "arn:aws:lambda:us-east-1:000000000000:function:f" {
		t.Fatal(got)
	}
	if got := UnqualifiedArn("arn:aws:lambda:us-east-1:000000000000:function:f"); got != "arn:aws:lambda:us-east-1:000000000000:function:f" {
		t.Fatal(got)
	}
}

type entry struct {
	name, body string
	mode       os.FileMode // 0: no Unix attributes
}

func zipOf(t *testing.T, es ...entry) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestInspectAndUnpack(t *testing.T) {
	tests := []struct {
		name    string
		runtime string
		zip     []byte
		wantErr string
	}{
		{"bootstrap", "provided.al2023", zipOf(t, entry{"bootstrap", "x", 0o755}, entry{"lib/a.so", "y", 0o644}), ""},
		{"bootstrap without unix mode", "provided", zipOf(t, entry{"bootstrap", "x", 0}), ""},
		{"python", "python3.12", zipOf(t, entry{"app.py", "x", 0o644}, entry{"pkg/", "", os.ModeDir | 0o755}), ""},
		{"relative symlink", "python3.12", zipOf(t, entry{"app.py", "x", 0o644}, entry{"link.py", "app.py", os.ModeSymlink | 0o777}), ""},
		{"no bootstrap", "provided.al2", zipOf(t, entry{"main", "x", 0o755}), "bootstrap"},
		{"bootstrap not executable", "provided.al2", zipOf(t, entry{"bootstrap", "x", 0o644}), "not executable"},
		{"zip slip", "python3.12", zipOf(t, entry{"a/../../x", "x", 0o644}), "invalid path"},
		{"absolute", "python3.12", zipOf(t, entry{"/x", "x", 0o644}), "invalid path"},
		{"backslash slip", "python3.12", zipOf(t, entry{`..\x`, "x", 0o644}), "invalid path"},
		{"escaping symlink", "python3.12", zipOf(t, entry{"l", "../../etc/passwd", os.ModeSymlink | 0o777}), "symbolic link"},
		{"link through a link", "python3.12", zipOf(t, entry{"d", ".", os.ModeSymlink | 0o777}, entry{"l", "d/../evil", os.ModeSymlink | 0o777}), "symbolic link"},
		{"link below a link", "python3.12", zipOf(t, entry{"d", "sub", os.ModeSymlink | 0o777}, entry{"sub/", "", os.ModeDir | 0o755}, entry{"d/l", "x", os.ModeSymlink | 0o777}), "inside a linked directory"},
		{"file where a link goes", "python3.12", zipOf(t, entry{"d", ".", os.ModeSymlink | 0o777}, entry{"d/f", "x", 0o644}), "twice"},
		{"not a zip", "provided", []byte("PK\x03\x04garbage"), "Could not unzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "code")
			info, err := InspectZip(tt.zip, tt.runtime)
			if err == nil {
				err = Unpack(tt.zip, dir)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
					t.Fatal("failed unpack left a directory")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != int64(len(tt.zip)) || len(info.HexSha256) != 64 {
				t.Fatalf("info %+v", info)
			}
			if IsProvided(tt.runtime) {
				st, err := os.Stat(filepath.Join(dir, "bootstrap"))
				if err != nil || st.Mode().Perm()&0o111 == 0 {
					t.Fatalf("bootstrap: %v %v", st, err)
				}
			}
		})
	}
}
