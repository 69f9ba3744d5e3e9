package invoke

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Function logs live in <data-dir>/logs/<function>/function.log, rotated to function.log.1 …
// function.log.N when they pass a size. Each line is "<RFC 3339 UTC ms> <text>"; the text is
// exactly what Lambda would put in CloudWatch (START/END/REPORT lines and the function's output).

const logFileName = "function.log"

// tailSize is how much log Invoke returns with LogType=Tail: Lambda's last 4 KB.
const tailSize = 4 * 1024

// LogDir is the directory holding a function's log files.
func LogDir(dataDir, function string) string {
	return filepath.Join(dataDir, "logs", safeName(function))
}

// safeName keeps a function name from escaping the logs directory. Registered names are
// [a-zA-Z0-9-_]+ already; this is defence in depth.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "_" + s
	}
	return s
}

// fnLog is one function's rotated log file, shared by all its environments.
type fnLog struct {
	dir      string
	maxBytes int64
	keep     int

	mu   sync.Mutex
	f    *os.File
	size int64
	err  error // first open error, reported once
	buf  []byte
}

func newFnLog(dir string, maxBytes int64, keep int) *fnLog {
	return &fnLog{dir: dir, maxBytes: maxBytes, keep: keep}
}

// writeLine appends one line (without its newline). Errors are swallowed after the first:
// losing log lines must never fail an invocation.
//
// A carriage return inside the line breaks it: awslambdaric separates the lines of a
// traceback (and of any multi-line log message) with \r so that CloudWatch keeps them in one
// event, and printed as they are they overwrite each other on a terminal. Each part becomes a
// line of its own, with the same timestamp.
func (l *fnLog) writeLine(now time.Time, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		if l.err != nil {
			return
		}
		if err := l.open(); err != nil {
			l.err = err
			return
		}
	}
	l.buf = l.buf[:0]
	for first := true; first || len(line) > 0; first = false {
		part := line
		if i := bytes.IndexByte(line, '\r'); i >= 0 {
			part, line = line[:i], line[i+1:]
		} else {
			line = nil
		}
		l.buf = now.UTC().AppendFormat(l.buf, "2006-01-02T15:04:05.000Z07:00")
		l.buf = append(l.buf, ' ')
		l.buf = append(l.buf, part...)
		l.buf = append(l.buf, '\n')
	}
	n, _ := l.f.Write(l.buf)
	l.size += int64(n)
	if l.size >= l.maxBytes {
		l.rotate()
	}
}

func (l *fnLog) open() error {
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(l.dir, logFileName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

func (l *fnLog) rotate() {
	_ = l.f.Close()
	l.f = nil
	base := filepath.Join(l.dir, logFileName)
	for i := l.keep; i > 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", base, i-1), fmt.Sprintf("%s.%d", base, i))
	}
	if l.keep > 0 {
		_ = os.Rename(base, base+".1")
	} else {
		_ = os.Remove(base)
	}
	if err := l.open(); err != nil {
		l.err = err
	}
}

func (l *fnLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

// tailBuf keeps the last tailSize bytes written to it.
type tailBuf struct{ b []byte }

func (t *tailBuf) writeLine(line []byte) {
	line = bytes.TrimRight(line, "\r")
	start := len(t.b)
	t.b = append(t.b, line...)
	for i := start; i < len(t.b); i++ { // \r breaks lines here too (see fnLog.writeLine)
		if t.b[i] == '\r' {
			t.b[i] = '\n'
		}
	}
	t.b = append(t.b, '\n')
	if len(t.b) > 2*tailSize {
		n := copy(t.b, t.b[len(t.b)-tailSize:])
		t.b = t.b[:n]
	}
}

func (t *tailBuf) bytes() []byte {
	if len(t.b) > tailSize {
		return t.b[len(t.b)-tailSize:]
	}
	return t.b
}

// TailLogs returns the last n lines of a function's logs (all of them when n <= 0), oldest
// first, across rotated files.
func TailLogs(dataDir, function string, n int) ([]string, error) {
	dir := LogDir(dataDir, function)
	base := filepath.Join(dir, logFileName)
	files := []string{base}
	for i := 1; ; i++ {
		p := fmt.Sprintf("%s.%d", base, i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		files = append(files, p)
	}
	var out []string // newest first while collecting
	found := false
	for _, p := range files {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(data) == 0 {
			lines = nil
		}
		for i := len(lines) - 1; i >= 0; i-- {
			out = append(out, lines[i])
			if n > 0 && len(out) == n {
				break
			}
		}
		if n > 0 && len(out) == n {
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("no logs for function %q in %s", function, dir)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// FollowLogs writes lines appended to a function's current log file to w until ctx ends,
// starting at the current end of the file, and follows rotation. poll is how often the file
// is checked (default 250 ms).
func FollowLogs(ctx context.Context, dataDir, function string, w io.Writer, poll time.Duration) error {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	path := filepath.Join(LogDir(dataDir, function), logFileName)
	var (
		f   *os.File
		off int64
		st  os.FileInfo
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	open := func(fromEnd bool) {
		nf, err := os.Open(path)
		if err != nil {
			return
		}
		nst, err := nf.Stat()
		if err != nil {
			nf.Close()
			return
		}
		if f != nil {
			f.Close()
		}
		f, st, off = nf, nst, 0
		if fromEnd {
			off = nst.Size()
		}
	}
	open(true)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	buf := make([]byte, 64*1024)
	for {
		if f == nil {
			open(false)
		}
		if f != nil {
			// Rotation replaces the file: drain the old one, then switch.
			if cur, err := os.Stat(path); err == nil && !os.SameFile(cur, st) {
				if err := copyFrom(f, &off, w, buf); err != nil {
					return err
				}
				open(false)
			}
		}
		if f != nil {
			if err := copyFrom(f, &off, w, buf); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func copyFrom(f *os.File, off *int64, w io.Writer, buf []byte) error {
	for {
		n, err := f.ReadAt(buf, *off)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			*off += int64(n)
		}
		if err != nil || n < len(buf) {
			return nil
		}
	}
}

// lineReader splits a child's output into lines and recognises the sync marker the engine
// writes into the same pipe: everything before the marker has been read once it is seen.
type lineReader struct {
	r *bufio.Reader
}

// syncMarker is written into an environment's output pipe by the engine. Pipe writes of at
// most PIPE_BUF bytes are atomic, so the marker is never interleaved with the child's output.
var syncMarker = []byte("\x00kafkaesm-log-sync\x00\n")

// next returns the next line without its newline, and whether it ended with the marker.
func (lr *lineReader) next() (line []byte, marker bool, err error) {
	line, err = lr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return line, false, nil // an over-long line is split; that is fine for logs
	}
	if bytes.HasSuffix(line, syncMarker) {
		return line[:len(line)-len(syncMarker)], true, nil
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	return line, false, err
}
