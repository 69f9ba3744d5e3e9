package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestFunctionsVersionsCommands: `functions publish`, `functions versions` and
// `functions alias create|update|get|list|delete`, and invoking through an alias.
func TestFunctionsVersionsCommands(t *testing.T) {
	ep, _ := startServer(t)
	script := writeExecutable(t, t.TempDir(), "echo.sh", echoBootstrap)
	ok(t, ep, "functions", "create", "vecho", "--code", script)

	if out := ok(t, ep, "functions", "publish", "vecho", "--description", "first"); !strings.Contains(out, "version 1 of vecho (arn:aws:lambda:us-east-1:000000000000:function:vecho:1)") {
		t.Errorf("functions publish:\n%s", out)
	}
	// Nothing changed: still version 1.
	var pub struct{ Version string }
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "functions", "publish", "vecho")), &pub); err != nil || pub.Version != "1" {
		t.Errorf("publish again -o json: %v %+v", err, pub)
	}
	if got := fails(t, ep, "functions", "publish", "vecho", "--revision-id", "stale"); !strings.HasPrefix(got, "kafkaesm: PreconditionFailedException: ") {
		t.Errorf("publish with a stale revision: %s", got)
	}
	versions := ok(t, ep, "functions", "versions", "vecho")
	if lines := strings.Split(strings.TrimSpace(versions), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "$LATEST") || !strings.HasPrefix(lines[2], "1 ") {
		t.Errorf("functions versions:\n%s", versions)
	}

	if out := ok(t, ep, "functions", "alias", "create", "vecho", "live", "--version", "1", "--description", "prod"); !strings.Contains(out, "arn:aws:lambda:us-east-1:000000000000:function:vecho:live") {
		t.Errorf("alias create:\n%s", out)
	}
	if got := fails(t, ep, "functions", "alias", "create", "vecho", "live", "--version", "1"); !strings.HasPrefix(got, "kafkaesm: ResourceConflictException: Alias already exists") {
		t.Errorf("alias create twice: %s", got)
	}
	var inv struct{ ExecutedVersion string }
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "functions", "invoke", "vecho:live")), &inv); err != nil || inv.ExecutedVersion != "1" {
		t.Errorf("invoke vecho:live: %v %+v", err, inv)
	}
	out := ok(t, ep, "functions", "alias", "update", "vecho", "live", "--version", "$LATEST")
	if !strings.Contains(out, "$LATEST") {
		t.Errorf("alias update:\n%s", out)
	}
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "functions", "invoke", "vecho:live")), &inv); err != nil || inv.ExecutedVersion != "$LATEST" {
		t.Errorf("invoke vecho:live after update: %v %+v", err, inv)
	}
	if got := fails(t, ep, "functions", "alias", "update", "vecho", "live", "--weight", "1=0.5"); !strings.Contains(got, "$LATEST is not supported for an alias pointing to more than 1 version") {
		t.Errorf("weight on $LATEST: %s", got)
	}
	if got := fails(t, ep, "functions", "alias", "update", "vecho", "live", "--weight", "half"); !strings.Contains(got, "--weight wants VERSION=WEIGHT") {
		t.Errorf("bad --weight: %s", got)
	}
	ok(t, ep, "functions", "publish", "vecho") // nothing changed: no version 2
	if got := fails(t, ep, "functions", "alias", "update", "vecho", "live", "--version", "2"); !strings.Contains(got, "ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:000000000000:function:vecho:2") {
		t.Errorf("alias to a missing version: %s", got)
	}
	ok(t, ep, "functions", "alias", "create", "vecho", "canary", "--version", "1")
	list := ok(t, ep, "functions", "alias", "list", "vecho")
	if lines := strings.Split(strings.TrimSpace(list), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "live ") || !strings.HasPrefix(lines[2], "canary ") {
		t.Errorf("alias list:\n%s", list)
	}
	if out := ok(t, ep, "functions", "alias", "get", "vecho", "canary"); !strings.Contains(out, "Version:") || !strings.Contains(out, "1") {
		t.Errorf("alias get:\n%s", out)
	}
	ok(t, ep, "functions", "alias", "delete", "vecho", "canary")
	if got := fails(t, ep, "functions", "alias", "get", "vecho", "canary"); !strings.HasPrefix(got, "kafkaesm: ResourceNotFoundException: Alias not found") {
		t.Errorf("alias get after delete: %s", got)
	}
}
