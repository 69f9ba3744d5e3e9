package invoke

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogRotationAndTail(t *testing.T) {
	dataDir := t.TempDir()
	l := newFnLog(LogDir(dataDir, "f"), 1000, 2)
	defer l.close()
	for i := range 200 {
		l.writeLine(time.Now(), []byte(fmt.Sprintf("line %03d", i)))
	}
	files, _ := filepath.Glob(filepath.Join(LogDir(dataDir, "f"), "function.log*"))
	if len(files) != 3 {
		t.Errorf("files = %v, want function.log, .1, .2", files)
	}
	var total int64
	for _, f := range files {
		st, _ := os.Stat(f)
		total += st.Size()
	}
	if total > 3*1100 {
		t.Errorf("logs take %d bytes, want them bounded", total)
	}
	lines, err := TailLogs(dataDir, "f", 30)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 30 || !strings.HasSuffix(lines[29], " line 199") || !strings.HasSuffix(lines[0], " line 170") {
		t.Errorf("tail: %d lines, first %q last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	if _, err := TailLogs(dataDir, "other", 10); err == nil {
		t.Error("tail of a function without logs: want an error")
	}
	if got := LogDir(dataDir, "../x"); !strings.HasPrefix(got, filepath.Join(dataDir, "logs")+string(os.PathSeparator)) {
		t.Errorf("LogDir escapes: %s", got)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFollowLogs(t *testing.T) {
	dataDir := t.TempDir()
	l := newFnLog(LogDir(dataDir, "f"), 200, 2)
	defer l.close()
	l.writeLine(time.Now(), []byte("before follow"))
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuf
	done := make(chan error, 1)
	go func() { done <- FollowLogs(ctx, dataDir, "f", &out, 10*time.Millisecond) }()
	waitFor(t, func() bool { // the follower has opened the file at its end
		l.writeLine(time.Now(), []byte("probe"))
		return strings.Contains(out.String(), "probe")
	})
	// Crosses several rotations. Like tail -F, the follower sees every rotation it polls in
	// between; lines of a file rotated twice within one poll could be missed.
	for i := range 20 {
		line := fmt.Sprintf("followed %02d", i)
		l.writeLine(time.Now(), []byte(line))
		waitFor(t, func() bool { return strings.Contains(out.String(), line) })
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Contains(got, "before follow") {
		t.Errorf("follow printed old lines:\n%s", got)
	}
	for i := range 20 {
		if !strings.Contains(got, fmt.Sprintf("followed %02d", i)) {
			t.Errorf("follow missed line %d:\n%s", i, got)
		}
	}
}

func TestInvocationLogsInFile(t *testing.T) {
	e, fns := newEngine(t, nil)
	fns.Put(goFunction("logged"))
	res := invoke(t, e, "logged", `{"action":"print","lines":3}`)
	lines, err := TailLogs(e.cfg.DataDir, "logged", 0)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{"START RequestId: " + res.RequestID, "line 0", "line 2", "to stderr", "END RequestId: " + res.RequestID,
		"REPORT RequestId: " + res.RequestID, "Init Duration: "} {
		if !strings.Contains(all, want) {
			t.Errorf("log file lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "WARNING!") { // lambda.WithEnableSIGTERM's extension registration
		t.Errorf("runtime warned:\n%s", all)
	}
	// Output lines sit between START and END of their invocation.
	start := strings.Index(all, "START RequestId: "+res.RequestID)
	end := strings.Index(all, "END RequestId: "+res.RequestID)
	if i := strings.Index(all, "line 2"); i < start || i > end {
		t.Errorf("output outside its invocation:\n%s", all)
	}
}
