package main

import (
	"os"
	"strings"
	"testing"
)

// TestScrubArgs: a secret given as a flag is blanked in argv (what /proc/<pid>/cmdline shows),
// and the value kept by the caller survives.
func TestScrubArgs(t *testing.T) {
	saved := os.Args
	defer func() { os.Args = saved }()
	// Heap copies stand in for the kernel's argv (read-only literals cannot be written).
	os.Args = []string{strings.Clone("kafkaesm"), strings.Clone("--secret-access-key=s3cr3t"), strings.Clone("s3cr3t")}
	kept := strings.Clone(os.Args[2])
	scrubArgs(kept)
	if got := strings.Join(os.Args, " "); strings.Contains(got, "s3cr3t") || got != "kafkaesm --secret-access-key=xxxxxx xxxxxx" {
		t.Fatalf("argv after scrub: %q", got)
	}
	if kept != "s3cr3t" {
		t.Fatalf("kept value changed: %q", kept)
	}
}
