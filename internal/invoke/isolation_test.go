package invoke

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/invoke/invoketest"
)

// needRoot skips tests of the isolation that only a root server can give: functions under their
// own uids, cgroups. CI runs as root, so there they run.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: functions run under their own uids (and in cgroups) only when the server runs as root")
	}
}

// testUIDs is the invoke tests' own range, apart from the server's default (61000-61999), so
// that packages testing in parallel never share a uid.
var testUIDs = UIDRange{First: 64000, Count: 64}

type whoami struct {
	UID, GID    int
	Groups      []int
	Tmpdir      string
	TmpWritable bool
	Environ     []string
}

func callWhoami(t *testing.T, e *Engine, name string) whoami {
	t.Helper()
	res := invoke(t, e, name, `{"action":"whoami"}`)
	if res.FunctionError != "" {
		t.Fatalf("whoami: %s", res.Payload)
	}
	var w whoami
	if err := json.Unmarshal(res.Payload, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

func envOf(w whoami, key string) string {
	for _, kv := range w.Environ {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// TestFunctionIdentity: as root, each function runs as its own unprivileged uid with a private
// TMPDIR, holds only Lambda's variables and its own, and cannot read the server's key, its
// database, its /proc/<pid>/environ or another function's code, while it can read its own.
func TestFunctionIdentity(t *testing.T) {
	needRoot(t)
	t.Setenv("KAFKAESM_SECRET_ACCESS_KEY", "server-credential-never-in-a-function")
	// The data directory outside /tmp, where the function would see it if it could (its own /tmp
	// hides the machine's).
	dataDir, err := os.MkdirTemp("/var/tmp", "kafkaesm-isolation-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	e, fns := newEngine(t, func(c *Config) { c.Users = testUIDs; c.DataDir = dataDir })
	key, db := filepath.Join(dataDir, "secret.key"), filepath.Join(dataDir, "kafkaesm.db")
	for _, p := range []string{key, db} {
		if err := os.WriteFile(p, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, b := goFunction("iso-a"), goFunction("iso-b")
	a.Environment = &function.Environment{Variables: map[string]string{"USER_VAR": "mine"}}
	fns.Put(a)
	fns.Put(b)

	wb := callWhoami(t, e, "iso-b")
	wa := callWhoami(t, e, "iso-a")
	for _, w := range []whoami{wa, wb} {
		if w.UID < testUIDs.First || w.UID >= testUIDs.First+testUIDs.Count || w.GID != w.UID || len(w.Groups) != 0 {
			t.Fatalf("function runs as uid %d gid %d groups %v; want its own id of %+v and no groups", w.UID, w.GID, w.Groups, testUIDs)
		}
		if !w.TmpWritable {
			t.Fatalf("%s is not writable", w.Tmpdir)
		}
		if e.ident.privateTmp() {
			// /tmp is the environment's own: what it wrote there is not in the machine's /tmp.
			if w.Tmpdir != "/tmp" || envOf(w, "TMPDIR") != "" {
				t.Fatalf("temporary directory %q, TMPDIR %q; want a private /tmp", w.Tmpdir, envOf(w, "TMPDIR"))
			}
			if _, err := os.Stat("/tmp/probe-" + strconv.Itoa(w.UID)); err == nil {
				t.Fatalf("the function's /tmp/probe-%d is in the machine's /tmp", w.UID)
			}
		} else if w.Tmpdir == os.TempDir() {
			t.Fatalf("TMPDIR %q; want a private one (no setpriv/mount: no private /tmp)", w.Tmpdir)
		}
	}
	if wa.UID == wb.UID {
		t.Fatalf("two functions share uid %d", wa.UID)
	}
	allowed := []string{"AWS_LAMBDA_RUNTIME_API", "_HANDLER", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
		"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_REGION", "AWS_DEFAULT_REGION", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
		"AWS_EXECUTION_ENV", "TZ", "LANG", "PATH", "TMPDIR", "USER_VAR", "_X_AMZN_TRACE_ID"}
	for _, kv := range wa.Environ {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(allowed, k) {
			t.Errorf("function environment holds %q, which is neither Lambda's nor the function's", kv)
		}
		if strings.Contains(kv, "server-credential") {
			t.Errorf("function environment holds the server's credential: %q", kv)
		}
	}
	if envOf(wa, "USER_VAR") != "mine" {
		t.Errorf("USER_VAR = %q", envOf(wa, "USER_VAR"))
	}

	ownCode := filepath.Join(envOf(wa, "LAMBDA_TASK_ROOT"), "bootstrap")
	otherCode := filepath.Join(envOf(wb, "LAMBDA_TASK_ROOT"), "bootstrap")
	otherTmp := wb.Tmpdir // b's TMPDIR, or, with private /tmps, what b wrote to its /tmp
	if e.ident.privateTmp() {
		otherTmp = "/tmp/probe-" + strconv.Itoa(wb.UID)
	}
	denied := []string{key, db, dataDir, "/proc/" + strconv.Itoa(os.Getpid()) + "/environ", otherCode, otherTmp,
		filepath.Dir(filepath.Dir(filepath.Dir(ownCode)))} // the run directory's root: not listable
	paths, _ := json.Marshal(append(slices.Clone(denied), ownCode))
	res := invoke(t, e, "iso-a", `{"action":"read","paths":`+string(paths)+`}`)
	var got map[string]string
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatalf("read: %s", res.Payload)
	}
	for _, p := range denied {
		if p == otherTmp && e.ident.privateTmp() && strings.Contains(got[p], "no such file") {
			continue // a's /tmp does not hold b's files
		}
		if !strings.Contains(got[p], "permission denied") {
			t.Errorf("function read %s: %q, want permission denied", p, got[p])
		}
	}
	if got[ownCode] != "ok" {
		t.Errorf("function cannot read its own code %s: %q", ownCode, got[ownCode])
	}
}

// TestStagedCodeIsRemoved: the copy of a function's code made for its uid goes once no
// environment runs that revision any more.
func TestStagedCodeIsRemoved(t *testing.T) {
	needRoot(t)
	e, fns := newEngine(t, func(c *Config) { c.Users = testUIDs })
	fn := goFunction("staged")
	fns.Put(fn)
	old := envOf(callWhoami(t, e, "staged"), "LAMBDA_TASK_ROOT")
	next := goFunction("staged")
	next.RevisionId = "r2"
	fns.Put(next)
	cur := envOf(callWhoami(t, e, "staged"), "LAMBDA_TASK_ROOT")
	if cur == old {
		t.Fatalf("a new revision runs from the old copy %s", old)
	}
	waitFor(t, func() bool { _, err := os.Stat(old); return os.IsNotExist(err) })
	if _, err := os.Stat(cur); err != nil {
		t.Fatalf("the current copy: %v", err)
	}
}

// TestFunctionTmpdirWithoutPrivateTmp: without setpriv and mount (util-linux), a function's
// private directory is its TMPDIR, writable by it alone.
func TestFunctionTmpdirWithoutPrivateTmp(t *testing.T) {
	needRoot(t)
	e, fns := newEngine(t, func(c *Config) { c.Users = testUIDs })
	e.ident.noPrivateTmp = true
	fns.Put(goFunction("tmpdir"))
	w := callWhoami(t, e, "tmpdir")
	if !w.TmpWritable || w.Tmpdir == "/tmp" || envOf(w, "TMPDIR") != w.Tmpdir {
		t.Fatalf("TMPDIR %q (environ %q) writable=%v; want a private writable one", w.Tmpdir, envOf(w, "TMPDIR"), w.TmpWritable)
	}
	fi, err := os.Stat(w.Tmpdir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("TMPDIR %s: %v %v, want mode 0700", w.Tmpdir, fi, err)
	}
}

// TestPythonUnderFunctionUID: an awslambdaric handler runs under its function's uid, with its
// private /tmp and the Runtime API check, when the interpreter is one every user can run (the
// virtual environment test/all.sh builds).
func TestPythonUnderFunctionUID(t *testing.T) {
	needRoot(t)
	out, err := exec.Command("python3", "-c", "import sys, awslambdaric; print(sys.executable)").Output()
	if err != nil {
		t.Skip("python3 with awslambdaric is not on PATH (test/all.sh puts its virtual environment there)")
	}
	python := strings.TrimSpace(string(out))
	if err := OthersCanRun(python); err != nil {
		t.Skipf("python3 (%s) cannot run under a function uid: %v (test/all.sh builds a virtual environment that can)", python, err)
	}
	e, fns := newEngine(t, func(c *Config) { c.Users = testUIDs; c.Python = python })
	fns.Put(&function.Function{FunctionName: "py-uid", Runtime: "python3", Handler: "app.handler", Timeout: 5,
		CodeDir: invoketest.PythonHandlerDir()})
	res := invoke(t, e, "py-uid", `{"action":"echo","n":1}`)
	if res.FunctionError != "" || !strings.Contains(string(res.Payload), `"n": 1`) && !strings.Contains(string(res.Payload), `"n":1`) {
		t.Fatalf("python echo under a function uid: %q %s\n%s", res.FunctionError, res.Payload, res.LogTail)
	}
	if p := decodeErr(t, invoke(t, e, "py-uid", `{"action":"error"}`)); p.ErrorType != "ValueError" {
		t.Errorf("python error: %+v", p)
	}
}
