package invoke

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// TestUIDHandedOverClean: a uid is handed to a function only once this server holds it
// alone, and then without what an earlier holder left: its processes (a detached child of a
// server that died survives it, and would share the uid of the next function given it, able to
// read that function's environment and answer its Runtime API) and its files in the machine's
// shared writable directories. Another server with the same range skips uids this one holds.
func TestUIDHandedOverClean(t *testing.T) {
	needRoot(t)
	ids := UIDRange{First: 64200, Count: 2} // this test's own
	uid := ids.First
	// What a function of a dead server left under uid: a process and files.
	leftover := exec.Command("sleep", "600")
	leftover.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	if err := leftover.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = leftover.Wait(); close(exited) }()
	t.Cleanup(func() { _ = leftover.Process.Kill(); <-exited })
	var files []string
	for _, dir := range []string{"/dev/shm", "/var/tmp", "/tmp"} {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		p := filepath.Join(dir, "kafkaesm-leftover-"+strconv.Itoa(os.Getpid()))
		if err := os.WriteFile(p, []byte("a secret of the function that had this uid"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(p) })
		files = append(files, p)
	}

	// A System V shared memory segment of the uid, with what the earlier holder wrote in it.
	var shmid string
	if _, err := exec.LookPath("ipcmk"); err == nil {
		shmid = makeShm(t, uid)
	}

	e, fns := newEngine(t, func(c *Config) { c.Users = ids })
	fns.Put(goFunction("heir"))
	if w := callWhoami(t, e, "heir"); w.UID != uid {
		t.Fatalf("heir runs as %d, want %d", w.UID, uid)
	}
	waitFor(t, func() bool { // the leftover process is killed
		select {
		case <-exited:
			return true
		default:
			return false
		}
	})
	for _, p := range files {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s, left by the uid's earlier holder, is still there", p)
		}
	}

	if b, _ := os.ReadFile("/proc/sysvipc/shm"); shmid != "" && ipcOwnedBy(string(b), uid) != nil {
		t.Errorf("System V shared memory of the uid's earlier holder is still there: %v", ipcOwnedBy(string(b), uid))
	}

	// A second server with the same range: the uid the first holds is not given again.
	e2, fns2 := newEngine(t, func(c *Config) { c.Users = ids })
	fns2.Put(goFunction("other-server"))
	if w := callWhoami(t, e2, "other-server"); w.UID == uid {
		t.Fatalf("a second server gave uid %d, held by the first, to its function", uid)
	}
	if w := callWhoami(t, e, "heir"); w.UID != uid {
		t.Fatalf("heir: %+v", w)
	}
}

// TestSilentForeignCallersDoNotStallRuntimeAPI: any local user can connect to an
// environment's Runtime API port. Refusing such a connection waited for its request inside the
// listener's Accept, so connections that send nothing held up the environment's own next
// connection (its runtime's, at a cold start or after a reconnect) by 200 ms each: a steady
// trickle of them kept a function from ever being invoked.
func TestSilentForeignCallersDoNotStallRuntimeAPI(t *testing.T) {
	e, fns := newEngine(t, nil)
	fn := goFunction("stall")
	fn.Timeout = 60
	fns.Put(fn)
	addr := envOf(callWhoami(t, e, "stall"), "AWS_LAMBDA_RUNTIME_API")
	// This test's process is not the environment: its connections are foreign.
	for i := 0; i < 150; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	// 150 silent callers refused one after another would take 30 s; the environment's own new
	// connection is answered well within 15 s (404: no such route) when they do not stand in its way.
	res := invoke(t, e, "stall", `{"action":"get","url":"http://`+addr+`/2018-06-01/nothing-here","ms":15000}`)
	if string(res.Payload) != "404" {
		t.Fatalf("the environment's own call behind silent foreign connections: %s", res.Payload)
	}
}

// makeShm makes a System V shared memory segment owned by uid and returns its id.
func makeShm(t *testing.T, uid int) string {
	t.Helper()
	shm, err := exec.Command("setpriv", "--reuid="+strconv.Itoa(uid), "--regid="+strconv.Itoa(uid), "--clear-groups",
		"--", "ipcmk", "-M", "4096").Output()
	if err != nil {
		t.Fatalf("ipcmk as %d: %v", uid, err)
	}
	shmid := strings.TrimSpace(string(shm))
	if _, after, ok := strings.Cut(shmid, ": "); ok {
		shmid = after
	}
	t.Cleanup(func() { _ = exec.Command("ipcrm", "-m", shmid).Run() })
	return shmid
}

// TestUIDsOfMachineUsersSkipped: a uid of the range that names a user or group of the machine
// (a typo in --function-uids, or systemd's DynamicUser range, 61184-65519, which meets the
// default) is never given to a function: the function would share that user's files and
// processes, and handing the uid over kills its processes and removes its files.
func TestUIDsOfMachineUsersSkipped(t *testing.T) {
	needRoot(t)
	if u, err := user.LookupId("65534"); err != nil || u.Username == "" {
		t.Skip("needs the user nobody as uid 65534")
	}
	if _, err := user.LookupId("65535"); err == nil {
		t.Skip("needs uid 65535 to name no user")
	}
	if _, err := user.LookupGroupId("65535"); err == nil {
		t.Skip("needs gid 65535 to name no group")
	}
	e, fns := newEngine(t, func(c *Config) { c.Users = UIDRange{First: 65534, Count: 2} })
	fns.Put(goFunction("not-nobody"))
	if w := callWhoami(t, e, "not-nobody"); w.UID != 65535 {
		t.Fatalf("function runs as uid %d; want 65535 (65534 is nobody's)", w.UID)
	}
}

// TestStaleCgroupProcessesKilled: a detached process of a server that died (Pdeathsig kills
// only the runtime) is still in that server's cgroup; the next server kills it and removes the
// cgroup, rather than leaving both behind.
func TestStaleCgroupProcessesKilled(t *testing.T) {
	needRoot(t)
	e1, _ := newEngine(t, nil)
	if e1.cg == nil || e1.cg.v2 {
		t.Skip("needs cgroup v1 memory hierarchy (this machine's layout)")
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(filepath.Dir(e1.cg.mem), "kafkaesm-"+strconv.Itoa(dead.Process.Pid)+"-1")
	if err := os.MkdirAll(filepath.Join(stale, "env-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroupTree(stale) })
	leftover := exec.Command("sleep", "600")
	leftover.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := leftover.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = leftover.Wait(); close(exited) }()
	t.Cleanup(func() { _ = leftover.Process.Kill(); <-exited })
	if err := os.WriteFile(filepath.Join(stale, "env-1", "cgroup.procs"), []byte(strconv.Itoa(leftover.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}

	newEngine(t, nil) // the next server
	waitFor(t, func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	})
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("the dead server's cgroup %s is still there", stale)
	}
}

// TestRuntimeHasNoControllingTerminal: a runtime leads a session of its own, so it has no
// controlling terminal. In the server's session it shared the terminal the server was started
// from, and could open /dev/tty and, with TIOCSTI, type commands into the operator's shell
// (root's, for a server run as root).
func TestRuntimeHasNoControllingTerminal(t *testing.T) {
	e, fns := newEngine(t, nil)
	fns.Put(goFunction("tty"))
	res := invoke(t, e, "tty", `{"action":"env"}`)
	var out struct{ Pid int }
	if err := json.Unmarshal(res.Payload, &out); err != nil || out.Pid == 0 {
		t.Fatalf("env: %s %v", res.Payload, err)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(out.Pid) + "/stat")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // state ppid pgrp session tty_nr
	if f[3] != strconv.Itoa(out.Pid) || f[4] != "0" {
		t.Fatalf("runtime %d: session %s, tty_nr %s; want a session of its own (%d) and no terminal (0)", out.Pid, f[3], f[4], out.Pid)
	}
}

// TestRuntimeGainsNoPrivileges: under its own uid a runtime runs with no_new_privs, so the
// machine's setuid and file-capability programs (su, mount, ping, …) give it nothing: their
// flaws are not a way from a function to root.
func TestRuntimeGainsNoPrivileges(t *testing.T) {
	needRoot(t)
	e, fns := newEngine(t, func(c *Config) { c.Users = testUIDs })
	if !e.ident.privateTmp() {
		t.Skip("no_new_privs is set by setpriv, used with a private /tmp (util-linux and mount namespaces)")
	}
	fns.Put(goFunction("nnp"))
	res := invoke(t, e, "nnp", `{"action":"env"}`)
	var out struct{ Pid int }
	if err := json.Unmarshal(res.Payload, &out); err != nil || out.Pid == 0 {
		t.Fatalf("env: %s %v", res.Payload, err)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(out.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "NoNewPrivs:\t1") {
		t.Fatalf("runtime %d may gain privileges through setuid programs:\n%s", out.Pid, b)
	}
}
