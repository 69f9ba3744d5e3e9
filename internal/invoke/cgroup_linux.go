//go:build linux

package invoke

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Each execution environment runs in cgroups of its own, children of the server's own cgroups:
// a memory limit from MemorySize (Lambda's), a limit on processes and threads, the real peak
// for the REPORT line, the OOM kill for Runtime.OutOfMemory, and one place to kill every
// process the function started, including those that left its process group (setsid).
//
// The memory and pids controllers are used where they are mounted: cgroup v1 hierarchies
// (memory.limit_in_bytes, pids.max, tasks killed one by one) or the unified v2 hierarchy
// (memory.max, pids.max, cgroup.kill) when the memory controller is there. Hybrid machines
// mount some controllers on v1 and the unified hierarchy without them; v1 wins where it has
// the controller.

// PidsLimit is the number of processes and threads an environment may run: Lambda's 1,024.
const PidsLimit = 1024

var cgroupSeq atomic.Int64

// cgroups is the engine's parent cgroups, one per hierarchy used.
type cgroups struct {
	v2        bool
	mem, pids string // v1: the parents in the memory and pids hierarchies (pids may be "")
	unified   string // v2: the parent
	pidsLimit bool
}

// envCgroup is one environment's cgroups.
type envCgroup struct {
	v2        bool
	mem, pids string // v1 directories ("" when not used); v2: mem is the one directory
}

// openCgroups makes the engine's parent cgroups, or says why there are none.
func openCgroups() (*cgroups, string) {
	self, err := selfCgroups()
	if err != nil {
		return nil, "reading /proc/self/cgroup: " + err.Error()
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, "reading /proc/self/mountinfo: " + err.Error()
	}
	name := fmt.Sprintf("kafkaesm-%d-%d", os.Getpid(), cgroupSeq.Add(1))
	dirOf := func(ctrl string) string {
		m, ok := mounts[ctrl]
		p, ok2 := self[ctrl]
		if !ok || !ok2 {
			return ""
		}
		rel := strings.TrimPrefix(p, m.root)
		parent := filepath.Join(m.point, rel)
		// The cgroups of a server that died: its runtimes died with it (Pdeathsig), but what
		// they detached may still run there, and is killed.
		removeStale(parent, "kafkaesm-", removeCgroupTree)
		return filepath.Join(parent, name)
	}
	if mem := dirOf("memory"); mem != "" {
		c := &cgroups{mem: mem}
		if err := os.Mkdir(mem, 0o755); err != nil {
			return nil, "creating a memory cgroup: " + err.Error()
		}
		if pids := dirOf("pids"); pids != "" {
			if err := os.Mkdir(pids, 0o755); err == nil {
				c.pids, c.pidsLimit = pids, true
			}
		}
		return c, ""
	}
	// The unified hierarchy, when the memory controller is enabled there.
	m, ok := mounts[""]
	p, ok2 := self[""]
	if !ok || !ok2 {
		return nil, "no cgroup memory controller is mounted"
	}
	parent := filepath.Join(m.point, strings.TrimPrefix(p, m.root))
	ctrls, _ := os.ReadFile(filepath.Join(parent, "cgroup.controllers"))
	if !strings.Contains(" "+string(ctrls)+" ", " memory") {
		return nil, "the memory controller is neither on a cgroup v1 hierarchy nor enabled in the v2 cgroup " + parent
	}
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, "creating a cgroup: " + err.Error()
	}
	// Our children need the controllers delegated: only possible when the server's own cgroup
	// holds no process directly (cgroup v2's no-internal-process rule) or is the root.
	want := "+memory"
	if strings.Contains(string(ctrls), "pids") {
		want += " +pids"
	}
	for _, d := range []string{parent, dir} {
		if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte(want), 0o644); err != nil {
			_ = os.Remove(dir)
			return nil, "enabling the memory controller for child cgroups of " + d + ": " + err.Error() +
				" (run the server in a cgroup of its own, e.g. systemd-run --scope, or with Delegate=yes)"
		}
	}
	return &cgroups{v2: true, unified: dir, pidsLimit: strings.Contains(want, "pids")}, ""
}

// newEnv makes the cgroups of one environment.
func (c *cgroups) newEnv(memMB int) (*envCgroup, error) {
	name := "env-" + strconv.FormatInt(cgroupSeq.Add(1), 10)
	limit := strconv.FormatInt(int64(memMB)<<20, 10)
	if c.v2 {
		dir := filepath.Join(c.unified, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		g := &envCgroup{v2: true, mem: dir}
		if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(limit), 0o644); err != nil {
			g.remove()
			return nil, err
		}
		_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0o644)
		if c.pidsLimit {
			_ = os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(PidsLimit)), 0o644)
		}
		return g, nil
	}
	g := &envCgroup{mem: filepath.Join(c.mem, name)}
	if err := os.Mkdir(g.mem, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(g.mem, "memory.limit_in_bytes"), []byte(limit), 0o644); err != nil {
		g.remove()
		return nil, err
	}
	// Swap must not extend the limit (the file exists only with swap accounting).
	_ = os.WriteFile(filepath.Join(g.mem, "memory.memsw.limit_in_bytes"), []byte(limit), 0o644)
	if c.pids != "" {
		g.pids = filepath.Join(c.pids, name)
		if err := os.Mkdir(g.pids, 0o755); err != nil {
			g.remove()
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(g.pids, "pids.max"), []byte(strconv.Itoa(PidsLimit)), 0o644); err != nil {
			g.remove()
			return nil, err
		}
	}
	return g, nil
}

func (c *cgroups) close() {
	for _, d := range []string{c.mem, c.pids, c.unified} {
		if d != "" {
			_ = os.Remove(d)
		}
	}
}

// add moves pid (all its threads) into the environment's cgroups.
func (g *envCgroup) add(pid int) error {
	b := []byte(strconv.Itoa(pid))
	for _, d := range []string{g.mem, g.pids} {
		if d == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// kill kills every process in the environment's cgroups and returns when none is left (or
// after a bound, for a process the kernel cannot kill at once).
func (g *envCgroup) kill() {
	if g.v2 {
		if err := os.WriteFile(filepath.Join(g.mem, "cgroup.kill"), []byte("1"), 0o644); err == nil {
			g.waitEmpty(g.mem)
			return
		}
	}
	for _, d := range []string{g.mem, g.pids} {
		if d == "" {
			continue
		}
		// Kill what is listed until nothing is: a process may fork between the read and the kill.
		for i := 0; i < 500; i++ {
			pids := procsOf(d)
			if len(pids) == 0 {
				break
			}
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

func (g *envCgroup) waitEmpty(d string) {
	for i := 0; i < 500 && len(procsOf(d)) > 0; i++ {
		time.Sleep(2 * time.Millisecond)
	}
}

// procs lists the environment's processes (nil without cgroups).
func (g *envCgroup) procs() []int {
	if g == nil {
		return nil
	}
	return procsOf(g.mem)
}

func procsOf(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// removeCgroupTree kills the processes of a cgroup and its children, and removes them.
func removeCgroupTree(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, de := range ents {
		if de.IsDir() {
			removeCgroupTree(filepath.Join(dir, de.Name()))
		}
	}
	_, err := os.Stat(filepath.Join(dir, "cgroup.kill"))
	g := &envCgroup{v2: err == nil, mem: dir}
	g.kill()
	g.remove()
}

// remove deletes the environment's (empty) cgroups.
func (g *envCgroup) remove() {
	for _, d := range []string{g.mem, g.pids} {
		if d == "" {
			continue
		}
		for i := 0; i < 100; i++ {
			if err := os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(5 * time.Millisecond) // exiting tasks leave the cgroup shortly after the kill
		}
	}
}

// peakMB is the highest memory use of the environment in MB, rounded up; 0 when unknown.
func (g *envCgroup) peakMB() int {
	file := "memory.max_usage_in_bytes"
	if g.v2 {
		file = "memory.peak"
	}
	b, err := os.ReadFile(filepath.Join(g.mem, file))
	if err != nil && g.v2 {
		b, err = os.ReadFile(filepath.Join(g.mem, "memory.current"))
	}
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return int((n + 1<<20 - 1) >> 20)
}

// oomKilled reports whether the kernel killed a process of the environment for exceeding its
// memory limit.
func (g *envCgroup) oomKilled() bool {
	file := "memory.oom_control"
	if g.v2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(g.mem, file))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n > 0
		}
	}
	return false
}

// selfCgroups maps each v1 controller (and "" for the unified hierarchy) to this process's
// cgroup path in it.
func selfCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}

type cgroupMount struct{ root, point string }

// cgroupMounts maps each v1 controller (and "" for cgroup2) to where its hierarchy is mounted.
func cgroupMounts() (map[string]cgroupMount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]cgroupMount{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		m := cgroupMount{root: pf[3], point: unescapeMount(pf[4])}
		switch qf[0] {
		case "cgroup2":
			if _, seen := out[""]; !seen {
				out[""] = m
			}
		case "cgroup":
			for _, o := range strings.Split(qf[2], ",") {
				if o == "memory" || o == "pids" {
					if _, seen := out[o]; !seen {
						out[o] = m
					}
				}
			}
		}
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
