package kafkatest

import (
	"bytes"
	"sync"
)

// Buffer collects what a logger or a child process writes while the test reads it: a
// bytes.Buffer whose Write and String may be called from different goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
