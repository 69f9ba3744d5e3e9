package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeAWSCLIWalkthrough returns the commands of README.md's "Using it" block (between the
// awscli walkthrough markers), continuation lines joined, comments and blank lines dropped.
func readmeAWSCLIWalkthrough(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(b), "<!-- awscli walkthrough")
	block, _, ok2 := strings.Cut(rest, "<!-- /awscli walkthrough -->")
	if !ok1 || !ok2 {
		t.Fatal("README.md: no awscli walkthrough markers")
	}
	_, block, _ = strings.Cut(block, "\n") // the rest of the marker line
	var cmds []string
	cur := ""
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "```") || strings.HasPrefix(l, "<!--") || strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		if c, ok := strings.CutSuffix(l, "\\"); ok {
			cur += c
			continue
		}
		c := cur + l
		if i := strings.Index(c, "  # "); i >= 0 { // a trailing comment (the README's have two spaces before)
			c = strings.TrimSpace(c[:i])
		}
		cmds = append(cmds, c)
		cur = ""
	}
	return cmds
}

// TestReadmeAWSCLIWalkthrough runs `kafkaesm serve` as the README's set-up does (default data
// directory ./kafkaesm-data, on a free port) and then the README's "Using it" commands with the
// AWS CLI, which signs with the credentials file serve generated. The test supplies what the
// README assumes the user has: fn.zip (a bootstrap running the sample handler). It substitutes
// the port, the mapping's <UUID> and `logs` without -f (which follows forever).
func TestReadmeAWSCLIWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("aws CLI not installed (pip install awscli)")
		}
		t.Skip("aws CLI not installed")
	}
	cmds := readmeAWSCLIWalkthrough(t)
	exe, work, bin := kafkaesmShim(t)
	zip, err := zipFiles(zipEntry{name: "bootstrap", mode: 0o755, data: []byte("#!/bin/sh\nexec " + shellQuote(exe) + " sample-handler\n")})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "fn.zip"), zip, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// As root, serve runs functions under other uids, which cannot reach this test binary.
	srv := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--function-uids", "off")
	srv.Dir = work
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	addrC := make(chan string, 1)
	drained := make(chan struct{})
	var serveLog strings.Builder
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			serveLog.WriteString(sc.Text() + "\n")
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "kafkaesm listening" {
				addrC <- line.Addr
			}
		}
	}()
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		<-drained
		_ = srv.Wait()
	}()
	var addr string
	select {
	case addr = <-addrC:
	case <-ctx.Done():
		t.Fatal("serve did not report its address")
	}

	script := []string{"set -eu", "unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN", "export AWS_CONFIG_FILE=/nonexistent AWS_PAGER="}
	for _, c := range cmds {
		c = strings.ReplaceAll(c, "http://127.0.0.1:9001", "http://"+addr)
		c = strings.ReplaceAll(c, goRun, shellQuote(bin))
		c = strings.ReplaceAll(c, "<UUID>", `"$(python3 -c 'import json; print(json.load(open("esm.json"))["UUID"])')"`)
		if strings.Contains(c, " logs ") {
			c = strings.Replace(c, " -f", "", 1)
		}
		if strings.Contains(c, "create-event-source-mapping") {
			c += " > esm.json && cat esm.json"
		}
		script = append(script, "printf '%s\\n' "+shellQuote("$ "+c), c)
	}
	run := exec.CommandContext(ctx, "bash", "-c", strings.Join(script, "\n"))
	run.Dir = work
	out, err := run.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("README walkthrough: %v\nserve log:\n%s", err, serveLog.String())
	}
	for _, want := range []string{`"FunctionName": "my-fn"`, `"State": "Creating"`, `"StatusCode": 200`, "START RequestId"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s", want)
		}
	}
	if n := strings.Count(string(out), `"EventSourceMappingArn"`); n != 2 {
		t.Errorf("create and get-event-source-mapping: %d mappings in the output, want 2", n)
	}
	if b, err := os.ReadFile(filepath.Join(work, "out.json")); err != nil || len(b) == 0 {
		t.Errorf("invoke wrote no result: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(work, "kafkaesm-data", "credentials")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v %v", fi, err)
	}
}
