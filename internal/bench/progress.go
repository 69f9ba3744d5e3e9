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
type cpuTimes struct{ busy, total uint64 }

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
	return t
}

// busyCores is the average number of busy cores between a and b.
func busyCores(a, b cpuTimes) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total) * float64(runtime.NumCPU())
}
