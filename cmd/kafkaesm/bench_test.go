package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/bench"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestBenchFunctionProcess is not a test: it is the benchmark's no-op function when the test
// binary is started as one (KAFKAESM_BENCH_FUNCTION=1), through the same hidden subcommand the
// kafkaesm binary uses. (A helper process rather than TestMain, which the package may define
// for other commands.)
func TestBenchFunctionProcess(t *testing.T) {
	if os.Getenv("KAFKAESM_BENCH_FUNCTION") != "1" {
		t.Skip("run as the benchmark's function only")
	}
	cmd := newRootCmd()
	cmd.SetArgs([]string{bench.FunctionSubcommand})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
}

// TestBenchCommand runs the whole benchmark with tiny numbers against the real broker so that
// the harness never rots. No timing is asserted: only that every phase completes and the JSON
// holds every field.
func TestBenchCommand(t *testing.T) {
	kt := kafkatest.Get(t)
	out := filepath.Join(t.TempDir(), "bench.json")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"bench", "--bootstrap", kt.Plaintext,
		"--function-command", "env", "--function-command", "KAFKAESM_BENCH_FUNCTION=1",
		"--function-command", exe, "--function-command", "-test.run=^TestBenchFunctionProcess$", "--partitions", "2", "--records", "2000", "--rounds", "1",
		"--latency-rate", "200", "--latency-duration", "1s", "--latency-warmup", "200ms", "--encode-duration", "100ms", "--timeout", "90s",
		"--json", out})
	var table strings.Builder
	cmd.SetOut(&table)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "kafkaesm → Runtime API fn") {
		t.Fatalf("table:\n%s", table.String())
	}
	// -o (the global output flag) is honoured: a bad value is refused before anything runs.
	bad := newRootCmd()
	bad.SetArgs([]string{"bench", "-o", "yaml"})
	if err := bad.Execute(); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Fatalf("bench -o yaml: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Result
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatal(err)
	}
	// Every field is present in the file, and the values say each phase did its work.
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	checkFields(t, "", reflect.TypeOf(res), raw)
	for name, d := range map[string]bench.Drain{"produce": res.Produce, "raw": res.Raw, "raw encoding": res.RawEncode,
		"raw delivery": res.RawDeliver, "runtime api": res.RuntimeAPI, "http": res.HTTP} {
		if d.Records != 2000 || d.RecordsPerSec <= 0 || d.MBPerSec <= 0 {
			t.Errorf("%s drain: %+v", name, d)
		}
	}
	for name, d := range map[string]bench.Drain{"raw encoding": res.RawEncode, "raw delivery": res.RawDeliver} {
		if d.Ratio <= 0 {
			t.Errorf("%s drain: %+v", name, d)
		}
	}
	for name, d := range map[string]bench.Drain{"runtime api": res.RuntimeAPI, "http": res.HTTP} {
		if d.Ratio <= 0 || d.FloorRatio <= 0 || d.Invocations <= 0 {
			t.Errorf("%s drain: %+v", name, d)
		}
	}
	for name, l := range map[string]bench.Latency{"raw": res.LatencyRaw, "runtime api": res.LatencyRuntimeAPI, "http": res.LatencyHTTP} {
		if l.Records != 200 || l.P50Ms <= 0 || l.P99Ms < l.P50Ms {
			t.Errorf("%s latency: %+v", name, l)
		}
	}
	if e := res.Encoding; e.Records <= 0 || e.MBPerSec <= 0 {
		t.Errorf("encoding: %+v", e)
	}
}

// checkFields fails for every JSON field of typ (recursively) missing from m.
func checkFields(t *testing.T, path string, typ reflect.Type, m map[string]any) {
	t.Helper()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || strings.Contains(opts, "omitempty") { // optional: checked by value below
			continue
		}
		v, ok := m[name]
		if !ok {
			t.Errorf("JSON lacks %s.%s", path, name)
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			sub, _ := v.(map[string]any)
			checkFields(t, path+"."+name, f.Type, sub)
		}
	}
}
