package invoke

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Python runtimes. A python3.N function runs `INTERPRETER -m awslambdaric HANDLER`, where the
// interpreter is, in order:
//  1. Config.Pythons["3.N"], when given (serve --python 3.N=PATH);
//  2. python3.N found on PATH, when it is Python 3.N and can import awslambdaric;
//  3. the default interpreter, Config.Python. When its version is not 3.N, every cold start
//     writes one warning line naming both versions to the function's log, and the server logs
//     it once per runtime.
//
// An interpreter that cannot import awslambdaric (and a function that does not bring its own
// copy) fails the invocation with Runtime.ImportModuleError naming awslambdaric and the
// interpreter, instead of a bare exit status.

// pythonProbeTTL is how long a failed probe (an interpreter missing, or without awslambdaric)
// is remembered: installing it takes effect without a restart. Working interpreters are
// remembered for the engine's life.
const pythonProbeTTL = 10 * time.Second

// pythonInfo is what running an interpreter told us.
type pythonInfo struct {
	path    string // sys.executable: shims (pyenv, asdf) need the server's environment, the function's has none
	version string // "3.11"
	ric     bool   // awslambdaric is importable
	err     error  // the interpreter did not run
	at      time.Time
}

// pythonChoice is the interpreter a runtime runs on.
type pythonChoice struct {
	pythonInfo
	want string // the runtime's version ("3.12"); "" for a bare "python3"
}

// mismatch is the warning for a runtime running on another version, "" when none.
func (c pythonChoice) mismatch(runtime string) string {
	if c.want == "" || c.version == c.want {
		return ""
	}
	return fmt.Sprintf("kafkaesm: WARNING: runtime %s asks for Python %s, which is not installed; running on Python %s (%s). "+
		"Install python%s or start the server with --python %s=PATH.", runtime, c.want, c.version, c.path, c.want, c.want)
}

type pythons struct {
	mu     sync.Mutex
	probes map[string]pythonInfo // by command
	warned map[string]bool       // runtimes whose fallback the server has logged
}

var pythonVersionRE = regexp.MustCompile(`^python(3\.[0-9]+)$`)

// runtimeVersion is "3.12" for "python3.12", "" for "python3".
func runtimeVersion(runtime string) string {
	if m := pythonVersionRE.FindStringSubmatch(runtime); m != nil {
		return m[1]
	}
	return ""
}

// probePython runs cmd once (per TTL, for failures) and reports what it is.
func (e *Engine) probePython(cmd string) pythonInfo {
	p := &e.py
	p.mu.Lock()
	if p.probes == nil {
		p.probes = map[string]pythonInfo{}
	}
	if in, ok := p.probes[cmd]; ok && ((in.err == nil && in.ric) || time.Since(in.at) < pythonProbeTTL) {
		p.mu.Unlock()
		return in
	}
	p.mu.Unlock()

	in := pythonInfo{path: cmd, at: time.Now()}
	out, err := exec.Command(cmd, "-c", `import sys, importlib.util
print(sys.executable)
print("%d.%d" % sys.version_info[:2])
print(importlib.util.find_spec("awslambdaric") is not None)`).Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	switch {
	case err != nil:
		in.err = err
	case len(lines) != 3:
		in.err = fmt.Errorf("unexpected output %q", out)
	default:
		if lines[0] != "" {
			in.path = lines[0]
		}
		in.version, in.ric = lines[1], lines[2] == "True"
	}
	p.mu.Lock()
	p.probes[cmd] = in
	p.mu.Unlock()
	return in
}

// choosePython picks the interpreter for a python3.* runtime (see the rules above).
func (e *Engine) choosePython(runtime string) pythonChoice {
	want := runtimeVersion(runtime)
	if want != "" {
		if cmd, ok := e.cfg.Pythons[want]; ok {
			return pythonChoice{pythonInfo: e.probePython(cmd), want: want}
		}
		if cmd, err := exec.LookPath("python" + want); err == nil {
			if in := e.probePython(cmd); in.err == nil && in.version == want && in.ric {
				return pythonChoice{pythonInfo: in, want: want}
			}
		}
	}
	c := pythonChoice{pythonInfo: e.probePython(e.cfg.Python), want: want}
	if msg := c.mismatch(runtime); msg != "" && c.err == nil {
		e.py.mu.Lock()
		first := !e.py.warned[runtime]
		if e.py.warned == nil {
			e.py.warned = map[string]bool{}
		}
		e.py.warned[runtime] = true
		e.py.mu.Unlock()
		if first {
			e.cfg.Logger.Warn("python runtime falls back to the default interpreter", "runtime", runtime,
				"wanted", want, "running", c.version, "interpreter", c.path)
		}
	}
	return c
}

// errImportModule is a python runtime that cannot start its runtime interface client.
type errImportModule struct{ msg string }

func (e errImportModule) Error() string { return e.msg }

// pythonCommand is the argv of a python3.* function, and the warning line for its log when the
// runtime runs on another version. A runtime that cannot start fails with errStart wrapping
// errImportModule (reported as Runtime.ImportModuleError).
func (e *Engine) pythonCommand(runtime, handler, codeDir string) (argv []string, warning string, err error) {
	c := e.choosePython(runtime)
	if c.err != nil {
		return nil, "", errStart{errImportModule{fmt.Sprintf(
			"Unable to start the %s runtime: the Python interpreter %q did not run (%v). Install Python 3 or start the server with --python.",
			runtime, c.path, c.err)}}
	}
	if !c.ric && !bundlesRIC(codeDir) {
		return nil, "", errStart{errImportModule{fmt.Sprintf(
			"Unable to import module 'awslambdaric': No module named 'awslambdaric'. The %s runtime runs %s -m awslambdaric "+
				"(Python %s): install it there (%s -m pip install awslambdaric, in a virtual environment) or start the server with --python %s=PATH.",
			runtime, c.path, c.version, c.path, c.version)}}
	}
	return []string{c.path, "-m", "awslambdaric", handler}, c.mismatch(runtime), nil
}

// bundlesRIC reports whether the function's code brings its own awslambdaric (it is on
// PYTHONPATH).
func bundlesRIC(codeDir string) bool {
	_, err := os.Stat(filepath.Join(codeDir, "awslambdaric", "__init__.py"))
	return err == nil
}
