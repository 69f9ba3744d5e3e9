package invoke

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kafkaesm/kafkaesm/internal/function"
)

// An env is one execution environment: a runtime process and the Runtime API server it talks
// to. Each env has its own loopback listener, because runtimes build fixed paths from
// AWS_LAMBDA_RUNTIME_API and so the address is the only way to tell environments apart.
//
// One invocation at a time: the engine hands an invocation to the /next long poll through
// invCh and waits for /response, /error, the process's exit or the deadline.
type env struct {
	e       *Engine
	fn      *function.Function
	rev     string
	log     *fnLog
	stream  string
	started time.Time

	ln  net.Listener
	srv *http.Server
	cmd *exec.Cmd
	// uid is the function's own user (-1: the server's), tmp its private TMPDIR ("" without).
	uid int
	tmp string
	// cg is the environment's cgroups (nil without); oom and peakMB are read from them when the
	// runtime exits, before exited is closed.
	cg     *envCgroup
	oom    bool
	peakMB int
	// privateTmp: tmp is mounted on the environment's /tmp (else it is its TMPDIR).
	privateTmp bool
	pw         *os.File // the engine's copy of the output pipe, for sync markers

	invCh      chan *invocation
	ready      chan struct{} // closed at the first /next: init is done
	readyOnce  sync.Once
	initFailed chan struct{} // closed when /runtime/init/error is posted
	initOnce   sync.Once
	exited     chan struct{} // closed when the process has exited; exitErr is set before
	exitErr    error
	gone       chan struct{} // closed when the env is fully torn down
	synced     chan struct{} // a sync marker was read

	mu          sync.Mutex
	cur         *invocation // the invocation last handed to the runtime
	tail        *tailBuf    // the current invocation's log capture, nil when not asked
	initErr     []byte
	initErrType string

	lastUsed time.Time // guarded by Engine.mu

	// Owned by the invocation running on the env.
	memMB int
	memAt time.Time
}

type invocation struct {
	id, arn, trace, clientCtx string
	note                      string // Request.LogNote
	payload                   []byte
	deadline                  time.Time
	done                      chan outcome // buffered 1
	answered                  bool         // guarded by env.mu
}

type outcome struct {
	payload []byte
	errType string
	failed  bool
	// tooLarge: the response exceeded 6 MB; the runtime got a 413 and will exit.
	tooLarge bool
}

// errStart is a runtime that could not be started at all (missing bootstrap, bad runtime).
type errStart struct{ err error }

func (e errStart) Error() string { return e.err.Error() }

// startEnv starts a runtime process for fn. The caller holds an execution slot.
func (e *Engine) startEnv(fn *function.Function, rev string) (*env, error) {
	codeDir, err := filepath.Abs(fn.CodeDir)
	if err != nil {
		return nil, errStart{err}
	}
	uid, tmp := -1, ""
	if e.ident != nil {
		e.mu.Lock()
		uid, err = e.functionUIDLocked(fn.FunctionName)
		e.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if codeDir, err = e.ident.stage(uid, rev, codeDir); err != nil {
			return nil, errStart{fmt.Errorf("preparing the code for uid %d: %w", uid, err)}
		}
		if tmp, err = e.ident.newTmp(uid); err != nil {
			e.ident.unstage(uid, rev)
			return nil, err
		}
	}
	// cleanTmp undoes the staging when the environment does not start.
	cleanTmp := func() {
		if tmp != "" {
			_ = os.RemoveAll(tmp)
			e.ident.unstage(uid, rev)
		}
	}
	var argv []string
	var extra []string
	var warning string // a line for the function's log at this cold start (python.go)
	switch {
	case strings.HasPrefix(fn.Runtime, "python3"):
		if argv, warning, err = e.pythonCommand(fn.Runtime, fn.Handler, codeDir); err != nil {
			cleanTmp()
			return nil, err
		}
		if uid >= 0 {
			if err := OthersCanRun(argv[0]); err != nil {
				cleanTmp()
				return nil, errStart{fmt.Errorf("the Python interpreter cannot be run by the function's uid %d: %w "+
					"(install Python and awslambdaric where every user can read them, or start the server with --python)", uid, err)}
			}
		}
		extra = append(extra, "PYTHONPATH="+codeDir, "PYTHONUNBUFFERED=1")
	case fn.Runtime == "" || strings.HasPrefix(fn.Runtime, "provided"):
		argv = []string{filepath.Join(codeDir, "bootstrap")}
	default:
		cleanTmp()
		return nil, errStart{fmt.Errorf("runtime %q is not supported", fn.Runtime)}
	}

	ln, err := loopback()
	if err != nil {
		cleanTmp()
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		cleanTmp()
		ln.Close()
		return nil, err
	}
	now := time.Now()
	v := &env{
		e:          e,
		fn:         fn,
		rev:        rev,
		log:        e.fnLog(fn.FunctionName),
		stream:     now.UTC().Format("2006/01/02") + "/[" + versionOf(fn) + "]" + strings.ReplaceAll(newUUID(), "-", ""),
		started:    now,
		ln:         ln,
		pw:         pw,
		uid:        uid,
		tmp:        tmp,
		invCh:      make(chan *invocation),
		ready:      make(chan struct{}),
		initFailed: make(chan struct{}),
		exited:     make(chan struct{}),
		gone:       make(chan struct{}),
		synced:     make(chan struct{}, 1),
	}
	v.ln = &peerListener{Listener: ln, v: v, refusing: make(chan struct{}, maxRefusing)} // only v's processes may call (peer.go)
	v.srv = &http.Server{Handler: v.routes(), ReadHeaderTimeout: 10 * time.Second}
	if warning != "" {
		v.log.writeLine(now, []byte(warning))
	}

	// The runtime may start behind /bin/sh, which execs it in the same process once its
	// environment is ready:
	//   - in cgroups, the shell waits on fd 3 until its pid has been moved into the
	//     environment's cgroups, so that nothing the runtime starts is ever outside them;
	//   - with a private /tmp, the shell runs as root in a mount namespace of its own (Go makes
	//     "/" private in it first), bind-mounts the environment's directory on /tmp, and execs
	//     the runtime through setpriv under the function's uid, without groups.
	var gateR, gateW *os.File
	// undo releases what startEnv took when the runtime does not start.
	undo := func() {
		if gateR != nil {
			gateR.Close()
			gateW.Close()
		}
		if v.cg != nil {
			v.cg.remove()
		}
		cleanTmp()
		ln.Close()
		pr.Close()
		pw.Close()
	}
	v.privateTmp = uid >= 0 && e.ident.privateTmp()
	if e.cg != nil || v.privateTmp {
		fail := func(err error) (*env, error) {
			undo()
			return nil, errStart{err}
		}
		if err := checkExecutable(argv[0]); err != nil {
			return fail(err)
		}
		script, args := "", []string{"kafkaesm-runtime"}
		if e.cg != nil {
			mem := fn.MemorySize
			if mem == 0 {
				mem = function.DefaultMemorySize
			}
			if v.cg, err = e.cg.newEnv(mem); err != nil {
				return fail(fmt.Errorf("creating the environment's cgroup: %w", err))
			}
			if gateR, gateW, err = os.Pipe(); err != nil {
				return fail(err)
			}
			script += `read -r _ <&3 || exit 111; exec 3<&-; `
		}
		if v.privateTmp {
			// Everything up to setpriv runs as root, so it gets none of the function's variables
			// (LD_PRELOAD, LD_LIBRARY_PATH, GCONV_PATH, LOCPATH… would run the author's code as
			// root): they travel under names nothing interprets (rootEnviron) and a second
			// shell, already under the function's uid, exports them for the runtime.
			script += `m=$1 t=$2 s=$3 u=$4; shift 4; "$m" --bind "$t" /tmp || exit 112; ` +
				`exec "$s" --reuid="$u" --regid="$u" --clear-groups --no-new-privs --pdeathsig KILL -- /bin/sh -c '` + unpackEnv + `' kafkaesm-runtime "$@"`
			args = append(args, e.ident.mount, tmp, e.ident.setpriv, strconv.Itoa(uid))
		} else {
			script += `unset PWD OLDPWD; exec "$@"`
		}
		argv = append(append([]string{"/bin/sh", "-c", script}, args...), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = codeDir
	cmd.Env = append(v.environ(ln.Addr().String(), codeDir), extra...)
	if v.privateTmp {
		cmd.Env = rootEnviron(cmd.Env)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = sysProcAttr(uid, v.privateTmp)
	if gateR != nil {
		cmd.ExtraFiles = []*os.File{gateR}
	}
	v.cmd = cmd

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		undo()
		return nil, ErrClosed
	}
	if err := cmd.Start(); err != nil {
		e.mu.Unlock()
		undo()
		return nil, errStart{err}
	}
	e.envs[v] = struct{}{}
	e.wg.Add(1)
	e.mu.Unlock()
	if gateR != nil {
		gateR.Close()
		if err := v.cg.add(cmd.Process.Pid); err != nil {
			// The gate closes unopened: the shell exits and the invocation reports it.
			e.cfg.Logger.Error("moving a runtime into its cgroup", "function", fn.FunctionName, "err", err)
		} else {
			_, _ = gateW.Write([]byte("\n"))
		}
		gateW.Close()
	}
	go v.supervise(pr)
	return v, nil
}

// checkExecutable fails as exec would for a runtime that cannot be started, before the cgroup
// gate's shell hides that behind its exit status.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return &fs.PathError{Op: "fork/exec", Path: path, Err: syscall.ENOENT}
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return &fs.PathError{Op: "fork/exec", Path: path, Err: syscall.EACCES}
	}
	return nil
}

// environ is the runtime's environment: the function's variables, then Lambda's reserved ones
// (exec uses the last value of a duplicated key, so reserved names win). Nothing of kafkaesm's
// own environment leaks in except PATH.
func (v *env) environ(addr, codeDir string) []string {
	fn := v.fn
	var env []string
	if fn.Environment != nil {
		for k, val := range fn.Environment.Variables {
			env = append(env, k+"="+val)
		}
	}
	mem := fn.MemorySize
	if mem == 0 {
		mem = function.DefaultMemorySize
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	runtime := fn.Runtime
	if runtime == "" {
		runtime = "provided"
	}
	if v.tmp != "" && !v.privateTmp {
		env = append(env, "TMPDIR="+v.tmp) // no private /tmp: the environment's own directory instead
	}
	return append(env,
		"AWS_LAMBDA_RUNTIME_API="+addr,
		"_HANDLER="+fn.Handler,
		"AWS_LAMBDA_FUNCTION_NAME="+fn.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION="+versionOf(fn),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(mem),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+fn.FunctionName,
		"AWS_LAMBDA_LOG_STREAM_NAME="+v.stream,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION="+v.e.cfg.Region,
		"AWS_DEFAULT_REGION="+v.e.cfg.Region,
		"LAMBDA_TASK_ROOT="+codeDir,
		"LAMBDA_RUNTIME_DIR="+codeDir,
		"AWS_EXECUTION_ENV=AWS_Lambda_"+runtime,
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH="+path,
	)
}

// envPrefix names the function's variables while they pass through the root part of the
// private /tmp's wrapper, under names no program run there interprets.
const envPrefix = "_KAFKAESM_ENV_"

// unpackEnv, run by /bin/sh under the function's uid, exports each envPrefix variable's
// "KEY=VALUE" value as KEY and execs the runtime (PWD and OLDPWD, which the shell sets, go
// first; a function's own PWD is kept).
const unpackEnv = `unset PWD OLDPWD; _KAFKAESM_i=0; while eval "[ -n \"\${` + envPrefix + `$_KAFKAESM_i+x}\" ]"; do ` +
	`eval "_KAFKAESM_kv=\$` + envPrefix + `$_KAFKAESM_i"; unset "` + envPrefix + `$_KAFKAESM_i"; export "$_KAFKAESM_kv"; ` +
	`_KAFKAESM_i=$((_KAFKAESM_i+1)); done; unset _KAFKAESM_kv _KAFKAESM_i; exec "$@"`

// rootEnviron is the environment of the wrapper's root part: a fixed PATH and the runtime's
// environment env under envPrefix names (exec keeps the last of duplicated keys: so does the
// shell's export order).
func rootEnviron(env []string) []string {
	out := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	for i, kv := range env {
		out = append(out, envPrefix+strconv.Itoa(i)+"="+kv)
	}
	return out
}

// supervise owns the env's goroutines: it serves the Runtime API, reads the output, waits
// for the process and then tears everything down.
func (v *env) supervise(pr *os.File) {
	defer v.e.wg.Done()
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		_ = v.srv.Serve(v.ln)
	}()
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		v.readLogs(pr)
	}()

	v.exitErr = v.cmd.Wait()
	if v.cg != nil {
		v.oom, v.peakMB = v.cg.oomKilled(), v.cg.peakMB()
	}
	close(v.exited)
	// The runtime may have left children behind in its group, or, in cgroups, anywhere.
	_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
	if v.cg != nil {
		v.cg.kill()
	}
	_ = v.srv.Close()
	<-serveDone
	_ = v.pw.Close()
	select {
	case <-logDone:
	case <-time.After(2 * time.Second):
		// Something outside the process group still holds the pipe open.
		_ = pr.Close()
		<-logDone
	}
	_ = pr.Close()
	if v.cg != nil {
		v.cg.remove()
	}
	if v.tmp != "" {
		_ = os.RemoveAll(v.tmp)
		v.e.ident.unstage(v.uid, v.rev)
	}
	v.e.mu.Lock()
	delete(v.e.envs, v)
	v.e.mu.Unlock()
	close(v.gone)
}

// signalKill kills the process group, and in cgroups every process of the environment
// (detached ones too), without waiting for the teardown.
func (v *env) signalKill() {
	_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
	if v.cg != nil {
		v.cg.kill()
	}
}

// kill kills the process group and waits until the env is torn down and its logs drained.
func (v *env) kill() {
	v.signalKill()
	<-v.gone
}

func (v *env) readLogs(pr *os.File) {
	lr := lineReader{r: bufio.NewReaderSize(pr, 64*1024)}
	for {
		line, marker, err := lr.next()
		if len(line) > 0 || (!marker && err == nil) {
			v.emit(time.Now(), line)
		}
		if marker {
			select {
			case v.synced <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

// emit writes one line to the function log and to the current invocation's capture.
func (v *env) emit(now time.Time, line []byte) {
	v.log.writeLine(now, line)
	v.mu.Lock()
	if v.tail != nil {
		v.tail.writeLine(line)
	}
	v.mu.Unlock()
}

// syncLogs waits until everything the runtime wrote before now has been read: the runtime's
// writes precede its HTTP response, and the marker is queued behind them in the same pipe.
func (v *env) syncLogs() {
	select {
	case <-v.synced:
	default:
	}
	select {
	case <-v.exited:
		// Teardown drains the pipe to its end.
		<-v.gone
		return
	default:
	}
	if _, err := v.pw.Write(syncMarker); err != nil {
		<-v.gone
		return
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-v.synced:
	case <-v.gone:
	case <-t.C:
	}
}

// Runtime API.

func (v *env) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", v.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", v.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", v.error)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", v.initError)
	// lambda.WithEnableSIGTERM registers an internal extension; it only needs to succeed.
	mux.HandleFunc("POST /2020-01-01/extension/register", v.extRegister)
	mux.HandleFunc("GET /2020-01-01/extension/event/next", v.extNext)
	return mux
}

func (v *env) next(w http.ResponseWriter, r *http.Request) {
	v.readyOnce.Do(func() { close(v.ready) })
	var inv *invocation
	select {
	case inv = <-v.invCh:
	case <-r.Context().Done():
		return
	case <-v.exited:
		return
	}
	v.mu.Lock()
	v.cur = inv
	v.mu.Unlock()
	// START is written here, before the runtime can see the event, so that it precedes all of
	// the invocation's output in the log.
	now := time.Now()
	v.emit(now, []byte("START RequestId: "+inv.id+" Version: "+versionOf(v.fn)))
	if inv.note != "" {
		v.emit(now, []byte(inv.note))
	}
	h := w.Header()
	inv.setRuntimeHeaders(h)
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(inv.payload))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

// setRuntimeHeaders sets the Lambda-Runtime-* headers that describe the invocation, the same
// for the Runtime API's /next and for a request to an HTTP target.
func (inv *invocation) setRuntimeHeaders(h http.Header) {
	h["Lambda-Runtime-Aws-Request-Id"] = []string{inv.id}
	h["Lambda-Runtime-Deadline-Ms"] = []string{strconv.FormatInt(inv.deadline.UnixMilli(), 10)}
	h["Lambda-Runtime-Invoked-Function-Arn"] = []string{inv.arn}
	h["Lambda-Runtime-Trace-Id"] = []string{inv.trace}
	if inv.clientCtx != "" {
		h["Lambda-Runtime-Client-Context"] = []string{inv.clientCtx}
	}
}

// answer finds the invocation a /response or /error is for, or writes the Runtime API error.
func (v *env) answer(w http.ResponseWriter, r *http.Request) *invocation {
	id := r.PathValue("id")
	v.mu.Lock()
	defer v.mu.Unlock()
	inv := v.cur
	if inv == nil || inv.id != id {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
		return nil
	}
	if inv.answered {
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "State transition from ResponseSent to "+
			"InvocationResponse failed for runtime. Error: State transition is not allowed")
		return nil
	}
	inv.answered = true
	return inv
}

func (v *env) response(w http.ResponseWriter, r *http.Request) {
	v.finish(w, r, func(body []byte) outcome { return outcome{payload: body} })
}

func (v *env) error(w http.ResponseWriter, r *http.Request) {
	v.finish(w, r, func(body []byte) outcome {
		return outcome{payload: body, failed: true, errType: r.Header.Get("Lambda-Runtime-Function-Error-Type")}
	})
}

// finish hands the invocation the outcome built from the runtime's /response or /error body.
func (v *env) finish(w http.ResponseWriter, r *http.Request, result func(body []byte) outcome) {
	inv := v.answer(w, r)
	if inv == nil {
		return
	}
	body, ok := ReadPayload(r.Body, r.ContentLength, function.MaxPayload)
	if !ok {
		v.tooLarge(w, r, inv)
		return
	}
	inv.done <- result(body)
	accepted(w)
}

func (v *env) initError(w http.ResponseWriter, r *http.Request) {
	select {
	case <-v.ready:
		runtimeError(w, http.StatusForbidden, "InvalidStateTransition", "Init error after init")
		return
	default:
	}
	body, _ := ReadPayload(r.Body, r.ContentLength, function.MaxPayload)
	v.mu.Lock()
	v.initErr, v.initErrType = body, r.Header.Get("Lambda-Runtime-Function-Error-Type")
	v.mu.Unlock()
	v.initOnce.Do(func() { close(v.initFailed) })
	accepted(w)
}

func (v *env) extRegister(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	w.Header().Set("Lambda-Extension-Identifier", newUUID())
	WriteJSONBytes(w, http.StatusOK, []byte(`{"functionName":"`+v.fn.FunctionName+
		`","functionVersion":"`+versionOf(v.fn)+`","handler":"`+v.fn.Handler+`"}`))
}

// extNext never delivers an event: environments are killed, not shut down politely.
func (v *env) extNext(_ http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-v.exited:
	}
}

func accepted(w http.ResponseWriter) {
	WriteJSONBytes(w, http.StatusAccepted, []byte(`{"status":"OK"}`))
}

func runtimeError(w http.ResponseWriter, status int, typ, msg string) {
	WriteJSONBytes(w, status, errorJSON(typ, msg))
}

// WriteJSONBytes writes a JSON body with its status.
func WriteJSONBytes(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ReadPayload reads a payload of at most limit bytes (length is the Content-Length, -1 when
// unknown), in one allocation when the length is known; ok is false when the body is larger.
// A body shorter than its length yields what arrived.
func ReadPayload(body io.Reader, length int64, limit int) ([]byte, bool) {
	if length > int64(limit) {
		return nil, false
	}
	if length >= 0 {
		b := make([]byte, length)
		n, _ := io.ReadFull(body, b)
		return b[:n], true
	}
	var buf bytes.Buffer
	n, _ := buf.ReadFrom(io.LimitReader(body, int64(limit)+1))
	if n > int64(limit) {
		return nil, false
	}
	return buf.Bytes(), true
}

// drain reads what is left of a rejected body (up to a bound) so that the runtime receives the
// error status instead of a reset connection.
func drain(body io.Reader) { _, _ = io.CopyN(io.Discard, body, 4*function.MaxPayload) }

// outcomeAfterExit is the outcome of an invocation whose runtime has exited, when the runtime
// answered it first: a Go runtime answers, then exits after a panic; a runtime given a 413 for a
// response too large exits while tooLarge is still reporting it, so an answered invocation's
// outcome is waited for (until deadline) rather than only looked for. ok is false when the
// runtime exited without answering.
func (v *env) outcomeAfterExit(inv *invocation, deadline <-chan time.Time) (o outcome, ok bool) {
	select {
	case o = <-inv.done:
		return o, true
	default:
	}
	v.mu.Lock()
	answered := inv.answered
	v.mu.Unlock()
	if !answered {
		return outcome{}, false
	}
	select {
	case o = <-inv.done: // the handler that took the answer always reports it
		return o, true
	case <-deadline:
		return outcome{}, false
	}
}

// tooLarge answers an oversized response or error with 413 before reporting it: once
// reported, the environment is killed and the runtime would see a reset instead.
func (v *env) tooLarge(w http.ResponseWriter, r *http.Request, inv *invocation) {
	drain(r.Body)
	runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
		fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", function.MaxPayload))
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	inv.done <- outcome{tooLarge: true}
}
