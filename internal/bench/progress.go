package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// progressf writes a phase heading.
func (r *runner) progressf(format string, args ...any) {
	if r.cfg.Progress == nil {
		return
	}
	fmt.Fprintf(r.cfg.Progress, "== "+format+"\n", args...)
}

// startProgress reports count() and its rate until the returned stop is called (idempotent):
// redrawn in place five times a second on a terminal, one line a second otherwise.
func (r *runner) startProgress(what string, count func() int64) (stop func()) {
	w := r.cfg.Progress
	if w == nil {
		return func() {}
	}
	every := time.Second
	if r.cfg.Terminal {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		start := time.Now()
		last, lastT := int64(0), start
		for {
			select {
			case <-done:
				if r.cfg.Terminal {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case now := <-t.C:
				c := count()
				rate := float64(c-last) / now.Sub(lastT).Seconds()
				last, lastT = c, now
				line := fmt.Sprintf("%s %d (%.0f/s, %.1fs)", what, c, rate, now.Sub(start).Seconds())
				if r.cfg.Terminal {
					fmt.Fprint(w, "\r\033[K"+line)
				} else {
					fmt.Fprintln(w, line)
				}
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func numCPU() int { return runtime.NumCPU() }

// cpuModel is /proc/cpuinfo's first "model name" (Linux), else GOOS/GOARCH.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOOS + "/" + runtime.GOARCH
}

// cpuTimes is the machine's busy and total CPU time from /proc/stat (Linux; zero elsewhere),
// in clock ticks. The machine-wide figure includes the broker and the function processes,
// which is the point: on a small machine they all share the same cores.
//
// self is this process's CPU time (kafkaesm's node, the raw consumers and the HTTP target's
// sink all run in it) and children that of its live child processes (the Runtime API function
// processes), both from /proc/<pid>/stat in the same ticks, so that a drain's cost can be split
// into kafkaesm, the function and the rest (the broker, and other jobs on a shared machine).
type cpuTimes struct{ busy, total, self, children uint64 }

func readCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return cpuTimes{}
	}
	var t cpuTimes
	for i, s := range f[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return cpuTimes{}
		}
		t.total += v
		if i != 3 && i != 4 { // idle, iowait
			t.busy += v
		}
	}
	pid := os.Getpid()
	_, t.self = procTimes("/proc/self/stat")
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			if c := e.Name()[0]; c < '1' || c > '9' {
				continue
			}
			if ppid, ticks := procTimes("/proc/" + e.Name() + "/stat"); ppid == pid {
				t.children += ticks
			}
		}
	}
	return t
}

// procTimes reads a /proc/<pid>/stat file: the parent's pid and utime+stime in ticks.
func procTimes(path string) (ppid int, ticks uint64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields count from the
	// last ')'. After it: 3 state, 4 ppid, …, 14 utime, 15 stime.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0
	}
	ppid, _ = strconv.Atoi(f[1])
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return ppid, u + st
}

// processSeconds is the CPU time this process and its children used between a and b, over wall
// seconds: /proc/stat's total counts every CPU's ticks, so total ticks ÷ CPUs is wall time in
// ticks, the unit of /proc/<pid>/stat.
func processSeconds(a, b cpuTimes, wall float64) (self, children float64) {
	if b.total <= a.total {
		return 0, 0
	}
	perTick := wall / (float64(b.total-a.total) / float64(runtime.NumCPU()))
	if b.self >= a.self {
		self = float64(b.self-a.self) * perTick
	}
	if b.children >= a.children { // a function process that exits takes its ticks with it
		children = float64(b.children-a.children) * perTick
	}
	return self, children
}

// busyCores is the average number of busy cores between a and b.
func busyCores(a, b cpuTimes) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total) * float64(runtime.NumCPU())
}
