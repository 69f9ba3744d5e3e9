package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

const goRun = "go run ./cmd/kafkaesm"

// readmeWalkthrough returns README.md's `kafkaesm dev` command and the shell lines between the
// walkthrough markers, so the test runs exactly what the README shows.
func readmeWalkthrough(t *testing.T) (dev string, lines []string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, l := range strings.Split(readme, "\n") {
		if strings.HasPrefix(l, goRun+" dev") && dev == "" {
			dev = strings.TrimSpace(l)
		}
	}
	_, rest, ok1 := strings.Cut(readme, "<!-- walkthrough")
	block, _, ok2 := strings.Cut(rest, "<!-- /walkthrough -->")
	if dev == "" || !ok1 || !ok2 {
		t.Fatal("README.md: no `go run ./cmd/kafkaesm dev` line or no walkthrough markers")
	}
	for _, l := range strings.Split(block, "\n") {
		if strings.Contains(l, goRun) {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) == 0 {
		t.Fatal("README.md: the walkthrough block has no commands")
	}
	return dev, lines
}

// kafkaesmShim writes work/kafkaesm, a script that runs this test binary as the kafkaesm
// command (KAFKAESM_TEST_MAIN=1), in a new temporary directory work; exe is the test binary.
func kafkaesmShim(t *testing.T) (exe, work, bin string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	work = t.TempDir()
	bin = filepath.Join(work, "kafkaesm")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nKAFKAESM_TEST_MAIN=1 exec "+shellQuote(exe)+` "$@"`+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return exe, work, bin
}

// TestReadmeWalkthrough runs the README's first command (`kafkaesm dev`) and then every line of
// its walkthrough, as a user would in a second terminal, with this test binary standing in for
// `go run ./cmd/kafkaesm`. Ports are chosen freely (the machine is shared); the CLI finds them
// through KAFKAESM_ENDPOINT and KAFKAESM_BOOTSTRAP, which the README's commands leave unset.
// Finally it sends SIGINT, as Ctrl-C does, and expects a clean exit.
func TestReadmeWalkthrough(t *testing.T) {
	devLine, lines := readmeWalkthrough(t)
	_, work, bin := kafkaesmShim(t)
	expand := func(line string) string { return strings.ReplaceAll(line, goRun, shellQuote(bin)) }

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dev := exec.CommandContext(ctx, "sh", "-c", "exec "+expand(devLine)+" --listen 127.0.0.1:0 --kafka 127.0.0.1:0")
	dev.Dir = work
	var devOut, devErr kafkatest.Buffer
	dev.Stdout, dev.Stderr = &devOut, &devErr
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exitedC := make(chan struct{})
	go func() { waitErr = dev.Wait(); close(exitedC) }()
	defer func() {
		_ = dev.Process.Kill() // no-op after a clean exit
		<-exitedC
	}()

	// The banner names the broker and the API.
	brokerRe := regexp.MustCompile(`Kafka broker\s+(127\.0\.0\.1:\d+)\s+DEVELOPMENT broker`)
	apiRe := regexp.MustCompile(`kafkaesm API\s+(http://127\.0\.0\.1:\d+)`)
	var broker, api string
	for broker == "" || api == "" {
		select {
		case <-exitedC:
			t.Fatalf("kafkaesm dev exited: %v\nstdout:\n%s\nstderr:\n%s", waitErr, devOut.String(), devErr.String())
		case <-time.After(50 * time.Millisecond):
		}
		out := devOut.String()
		if !strings.Contains(out, "Ctrl-C stops everything") {
			continue
		}
		if m := brokerRe.FindStringSubmatch(out); m != nil {
			broker = m[1]
		}
		if m := apiRe.FindStringSubmatch(out); m != nil {
			api = m[1]
		}
		if broker == "" || api == "" {
			t.Fatalf("dev banner without broker or API address:\n%s", out)
		}
	}
	t.Logf("kafkaesm dev:\n%s", devOut.String())

	env := append(os.Environ(), "KAFKAESM_ENDPOINT="+api, "KAFKAESM_BOOTSTRAP="+broker)
	run := func(line string) string {
		cmd := exec.CommandContext(ctx, "sh", "-c", expand(line))
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s\ndev stderr:\n%s", line, err, out, devErr.String())
		}
		return string(out)
	}
	outputs := map[string]string{}
	for _, line := range lines {
		outputs[line] = run(line)
		t.Logf("%s $ %s\n%s", time.Now().Format(time.StampMilli), line, outputs[line])
	}
	for line, out := range outputs {
		switch {
		case strings.Contains(line, " produce "):
			if !strings.HasPrefix(out, "produced 1 record(s) to demo") {
				t.Errorf("%s: %q", line, out)
			}
		case strings.HasSuffix(line, " status"), strings.HasSuffix(line, "mappings list"):
			if !strings.Contains(out, "demo-fn") || !strings.Contains(out, "Enabled") {
				t.Errorf("%s: want the demo mapping, Enabled:\n%s", line, out)
			}
		case strings.HasSuffix(line, "functions list"):
			if !strings.Contains(out, "demo-fn") {
				t.Errorf("%s: want demo-fn:\n%s", line, out)
			}
		}
	}

	// The records flow: the sample function logs them (the logs line is re-run until then,
	// as a user would with -f).
	{
		var logsLine string
		for _, l := range lines {
			if strings.Contains(l, " logs ") {
				logsLine = l
			}
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			out := run(logsLine)
			if strings.Contains(out, `value="hello, kafkaesm"`) && strings.Contains(out, `key="order-1" value="{\"total\":12.5}" source="readme"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the sample function never logged both records:\n%s\ndev stderr:\n%s", out, devErr.String())
			}
			time.Sleep(200 * time.Millisecond) // polling a user-facing command; no timing is asserted
		}
		settled := func() (bool, string) {
			out := run(goRun + " -o json status")
			var st struct {
				Mappings []struct {
					OffsetLag            *int64
					LastProcessingResult string
				}
			}
			if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Mappings) != 1 {
				return false, out
			}
			m := st.Mappings[0]
			return m.OffsetLag != nil && *m.OffsetLag == 0 && m.LastProcessingResult == "OK", out
		}
		for {
			done, out := settled()
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status never showed lag 0 and OK:\n%s", out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Ctrl-C.
	if err := dev.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exitedC:
		if waitErr != nil {
			t.Errorf("kafkaesm dev after SIGINT: %v\nstderr:\n%s", waitErr, devErr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("kafkaesm dev did not stop within 60 s of SIGINT\nstderr:\n%s", devErr.String())
	}
	if s := devErr.String(); strings.Contains(s, "level=ERROR") {
		t.Errorf("kafkaesm dev logged errors:\n%s", s)
	}
}
