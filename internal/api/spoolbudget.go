package api

import (
	"io"
	"sync/atomic"
)

// DefaultSpoolBudget is SigV4Config.SpoolBudget's default: 512 MiB, seven code uploads of
// Lambda's largest size (69,905,067 bytes) at once.
const DefaultSpoolBudget = 512 << 20

// spoolStep is how much of the budget a body of unknown length (chunked) takes at a time as
// it is spooled.
const spoolStep = 1 << 20

// spoolBudget bounds the bytes of request bodies that sit on disk before their signature could
// be checked (readBody spools what exceeds memBodyMax). Without it, anyone who knows an access
// key id (it travels in the clear) could fill the data directory's disk: --max-connections
// requests × 70 MB of code. A request whose announced body does not fit is refused before any
// of it is read; a chunked body takes the budget as it arrives and is cut off when it runs out.
// The bytes go back to the budget once the signature was checked, whatever the outcome: a
// forged body's file is closed (and, unlinked, freed) at once, a genuine one belongs to an
// authenticated principal, bounded by the code storage quota.
type spoolBudget struct {
	max  int64
	used atomic.Int64
}

// take reserves n bytes, or reports false without reserving anything.
func (b *spoolBudget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *spoolBudget) give(n int64) { b.used.Add(-n) }

// spoolBusy is the answer when the budget is exhausted: 429, which the SDKs retry.
func spoolBusy() *Error {
	return &Error{Code: TooManyRequests, RetryAfter: 1,
		Message: "Rate Exceeded. Too many large request bodies are being received and checked at once; retry later."}
}

// errSpoolBusy is returned by budgetWriter when a chunked body outgrows the budget.
var errSpoolBusy = spoolBusy()

// budgetWriter takes the budget for what is written to w beyond what was reserved up front.
type budgetWriter struct {
	w        io.Writer
	b        *spoolBudget
	reserved int64 // taken from b, to give back
	written  int64
}

func (bw *budgetWriter) Write(p []byte) (int, error) {
	if need := bw.written + int64(len(p)) - bw.reserved; need > 0 {
		step := max(need, spoolStep)
		if !bw.b.take(step) {
			return 0, errSpoolBusy
		}
		bw.reserved += step
	}
	n, err := bw.w.Write(p)
	bw.written += int64(n)
	return n, err
}
