package invoke

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// Attacks by a function's author on the server that runs it as root.

// TestFunctionVariablesNeverReachRoot: a function's own variables are given to its runtime
// only, never to what runs as root before it drops to the function's uid (the private /tmp's
// shell, mount, setpriv). LD_PRELOAD in a function's configuration used to load the author's
// library into those root processes: root code execution for anyone allowed to create a function.
func TestFunctionVariablesNeverReachRoot(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc to build the preloaded library")
	}
	dir, err := os.MkdirTemp("/var/tmp", "kafkaesm-preload-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	proof := filepath.Join(dir, "ran-as-root")
	src := filepath.Join(dir, "preload.c")
	lib := filepath.Join(dir, "preload.so")
	code := `#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void hit(void) {
	if (geteuid() != 0) return;
	FILE *f = fopen("` + proof + `", "a");
	if (f) { fprintf(f, "%d\n", (int)getpid()); fclose(f); }
}
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v %s", err, out)
	}
	if err := os.Chmod(lib, 0o755); err != nil {
		t.Fatal(err)
	}

	e, fns := newEngine(t, func(c *Config) { c.Users = testUIDs })
	fn := goFunction("preload")
	odd := "a b\n'c\"$HOME`x`\\"
	fn.Environment = &function.Environment{Variables: map[string]string{"LD_PRELOAD": lib, "USER_VAR": odd, "EMPTY": "", "kv": "k", "i": "1"}}
	fns.Put(fn)
	w := callWhoami(t, e, "preload")
	if b, err := os.ReadFile(proof); err == nil {
		t.Fatalf("the function's LD_PRELOAD ran as root in processes %s", strings.TrimSpace(string(b)))
	}
	// The variables still reach the runtime, unchanged.
	if got := envOf(w, "LD_PRELOAD"); got != lib {
		t.Errorf("LD_PRELOAD = %q, want %q", got, lib)
	}
	if envOf(w, "kv") != "k" || envOf(w, "i") != "1" {
		t.Errorf("kv, i = %q, %q; want k, 1", envOf(w, "kv"), envOf(w, "i"))
	}
	if got := envOf(w, "USER_VAR"); got != odd {
		t.Errorf("USER_VAR = %q, want %q", got, odd)
	}
	found := false
	for _, kv := range w.Environ {
		if kv == "EMPTY=" {
			found = true
		}
		if strings.HasPrefix(kv, "_KAFKAESM") || strings.HasPrefix(kv, "PWD=") {
			t.Errorf("function environment holds %q", kv)
		}
	}
	if !found {
		t.Errorf("EMPTY missing from %q", w.Environ)
	}
}
