package invoke

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/invoke/invoketest"
)

// realPython is the interpreter (sys.executable) of python3 on PATH when it can import
// awslambdaric; the test is skipped otherwise (test/all.sh provides one: its virtual
// environment).
func realPython(t *testing.T) string {
	t.Helper()
	if !invoketest.AwslambdaricAvailable("") {
		if os.Getenv("CI") == "true" {
			t.Fatal("awslambdaric is not importable by python3; run the tests with test/all.sh")
		}
		t.Skip("awslambdaric not installed (test/all.sh installs it into its virtual environment)")
	}
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// fakePython writes an executable that answers the engine's probe as Python version with
// awslambdaric present (ric) or not, and otherwise runs real (when set) with its arguments.
func fakePython(t *testing.T, dir, name, version string, ric bool, real string) string {
	t.Helper()
	has := "False"
	if ric {
		has = "True"
	}
	script := "#!/bin/sh\nif [ \"$1\" = -c ]; then echo \"$0\"; echo " + version + "; echo " + has + "; exit 0; fi\n"
	if real != "" {
		script += "exec '" + real + "' \"$@\"\n"
	} else {
		script += "echo 'No module named awslambdaric' >&2; exit 1\n"
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func pyFunction(name, runtime string) *function.Function {
	return &function.Function{FunctionName: name, Runtime: runtime, Handler: "app.handler", Timeout: 3,
		CodeDir: invoketest.PythonHandlerDir()}
}

func logText(t *testing.T, e *Engine, name string) string {
	t.Helper()
	lines, err := TailLogs(e.cfg.DataDir, name, 0)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestPythonRuntimeVersions: python3.N runs on a Python N found on PATH or given in Pythons;
// without one it runs on the default interpreter, and each cold start says so in the
// function's log.
func TestPythonRuntimeVersions(t *testing.T) {
	real := realPython(t)
	bin := t.TempDir()
	onPath := fakePython(t, bin, "python3.77", "3.77", true, real)
	given := fakePython(t, t.TempDir(), "py", "3.78", true, real)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	def := fakePython(t, t.TempDir(), "default", "3.76", true, real)
	e, fns := newEngine(t, func(c *Config) {
		c.Python = def
		c.Pythons = map[string]string{"3.78": given}
		c.IdleTimeout = time.Hour
	})

	cases := []struct {
		runtime, interpreter string
		warn                 bool
	}{
		{"python3.77", onPath, false},
		{"python3.78", given, false},
		{"python3.76", def, false},
		{"python3.79", def, true},
	}
	for _, c := range cases {
		name := "py" + strings.ReplaceAll(c.runtime, ".", "")
		if got := e.choosePython(c.runtime); got.path != c.interpreter || got.err != nil {
			t.Errorf("%s: interpreter %s (%v), want %s", c.runtime, got.path, got.err, c.interpreter)
		}
		fns.Put(pyFunction(name, c.runtime))
		if res := invoke(t, e, name, `{"action":"echo"}`); res.FunctionError != "" {
			t.Fatalf("%s: %s", c.runtime, res.Payload)
		}
		log := logText(t, e, name)
		warning := "runtime " + c.runtime + " asks for Python " + strings.TrimPrefix(c.runtime, "python") +
			", which is not installed; running on Python 3.76 (" + def + ")"
		if got := strings.Count(log, warning); (got == 1) != c.warn || got > 1 {
			t.Errorf("%s: the warning appears %d times in the log:\n%s", c.runtime, got, log)
		}
	}
	// One line per cold start, not per invocation.
	if res := invoke(t, e, "pypython379", `{"action":"echo"}`); res.FunctionError != "" {
		t.Fatal(string(res.Payload))
	}
	if n := strings.Count(logText(t, e, "pypython379"), "WARNING: runtime python3.79"); n != 1 {
		t.Errorf("a warm invocation repeated the warning: %d lines", n)
	}
}

// TestPythonWithoutAwslambdaric: Invoke names the missing module and the interpreter, and the
// function's log says it too.
func TestPythonWithoutAwslambdaric(t *testing.T) {
	bare := fakePython(t, t.TempDir(), "bare", "3.75", false, "")
	e, fns := newEngine(t, func(c *Config) { c.Python = bare })
	fns.Put(pyFunction("noric", "python3.75"))
	p := decodeErr(t, invoke(t, e, "noric", `{}`))
	if p.ErrorType != "Runtime.ImportModuleError" || !strings.Contains(p.ErrorMessage, "No module named 'awslambdaric'") ||
		!strings.Contains(p.ErrorMessage, bare) {
		t.Errorf("error: %+v", p)
	}
	if log := logText(t, e, "noric"); !strings.Contains(log, "No module named 'awslambdaric'") {
		t.Errorf("log:\n%s", log)
	}
	// A function that brings its own awslambdaric is started (and fails as its interpreter does).
	code := t.TempDir()
	if err := os.MkdirAll(filepath.Join(code, "awslambdaric"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(code, "awslambdaric", "__init__.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fns.Put(&function.Function{FunctionName: "bundled", Runtime: "python3.75", Handler: "app.handler", Timeout: 3, CodeDir: code})
	if p := decodeErr(t, invoke(t, e, "bundled", `{}`)); p.ErrorType != "Runtime.ExitError" {
		t.Errorf("bundled awslambdaric: %+v", p)
	}
}

// TestPythonTracebackLines: awslambdaric separates a traceback's lines with \r; the log file
// and the Invoke log tail have them as lines.
func TestPythonTracebackLines(t *testing.T) {
	realPython(t)
	e, fns := newEngine(t, nil)
	fns.Put(pyFunction("tb", "python3.11"))
	res := invoke(t, e, "tb", `{"action":"error"}`)
	if strings.Contains(string(res.LogTail), "\r") || !strings.Contains(string(res.LogTail), "\nTraceback (most recent call last):") {
		t.Errorf("log tail:\n%q", res.LogTail)
	}
	lines, err := TailLogs(e.cfg.DataDir, "tb", 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range lines {
		if strings.Contains(l, "\r") {
			t.Errorf("log line with \\r: %q", l)
		}
		_, text, _ := strings.Cut(l, " ")
		found = found || text == "Traceback (most recent call last):"
	}
	if !found {
		t.Errorf("no traceback line in the log:\n%s", strings.Join(lines, "\n"))
	}
}

func TestLogLinesSplitAtCarriageReturn(t *testing.T) {
	dir := t.TempDir()
	l := newFnLog(dir, 1<<20, 1)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l.writeLine(now, []byte("a\rb\r\rc\r"))
	l.writeLine(now, []byte(""))
	l.close()
	b, err := os.ReadFile(filepath.Join(dir, logFileName))
	if err != nil {
		t.Fatal(err)
	}
	ts := "2026-01-02T03:04:05.000Z "
	if want := ts + "a\n" + ts + "b\n" + ts + "\n" + ts + "c\n" + ts + "\n"; string(b) != want {
		t.Errorf("file:\n%q\nwant\n%q", b, want)
	}
	var tb tailBuf
	tb.writeLine([]byte("x\ry\r"))
	if got := string(tb.bytes()); got != "x\ny\n" {
		t.Errorf("tail %q", got)
	}
}
