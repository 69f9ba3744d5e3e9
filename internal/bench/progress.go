package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
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
