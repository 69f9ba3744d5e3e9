package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestSigtermLetsInvocationsFinish: SIGTERM to `kafkaesm serve` while batches are being
// invoked lets every invocation in flight run to its end (within --shutdown-grace), commits
// them and leaves the group: after a restart nothing is delivered twice.
func TestSigtermLetsInvocationsFinish(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and signals the kafkaesm binary")
	}
	kt := kafkatest.Get(t)
	const parts, each = 3, 60
	topic, _ := produceKeyed(t, kt, parts, each)
	dir := t.TempDir()
	kafkaesm := buildBinary(t, testCtx(t))
	code := buildKafkaFn(t, filepath.Join(dir, "fn", "bootstrap"))
	addr := freeAddr(t)
	data := filepath.Join(dir, "data")
	outFile, startedFile := filepath.Join(dir, "out.txt"), filepath.Join(dir, "started.txt")
	start, c := serveBinary(t, kafkaesm, dir, addr, data, "--shutdown-grace", "1m")
	ctx := testCtx(t)
	first := start()
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
		return err
	})
	createKafkaFn(t, ctx, c, code, map[string]string{"OUT_FILE": outFile, "STARTED_FILE": startedFile,
		"FAIL_FILE": filepath.Join(dir, "never"), "DELAY_MS": "1500"})
	createPlaintextMapping(t, ctx, c, kt, "kafkafn", topic, 20)
	started := func() []string {
		b, _ := os.ReadFile(startedFile)
		return strings.Fields(strings.ReplaceAll(string(b), "\n", " \n "))
	}
	// Every partition's first batch is in flight (1.5 s each).
	checkFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if n := len(started()) / 2; n < parts {
			return fmt.Errorf("%d invocations started", n)
		}
		return nil
	})
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Process.Wait(); err != nil {
		t.Fatalf("kafkaesm serve after SIGTERM: %v", err)
	}
	// Every invocation that started finished: its first record was written.
	got := readDeliveries(t, outFile, topic)
	f := started()
	for i := 0; i+1 < len(f); i += 2 {
		p, _ := strconv.Atoi(strings.TrimPrefix(f[i], topic+"-"))
		off, _ := strconv.ParseInt(f[i+1], 10, 64)
		found := false
		for _, d := range got[p] {
			found = found || d.offset == off
		}
		if !found {
			t.Errorf("the invocation of %s from offset %d started but did not finish before the node stopped", f[i], off)
		}
	}
	atStop := 0
	for _, ds := range got {
		atStop += len(ds)
	}

	second := start()
	checkFor(t, 90*time.Second, 100*time.Millisecond, func() error {
		for p, ds := range readDeliveries(t, outFile, topic) {
			if len(ds) < each {
				return fmt.Errorf("partition %d: %d of %d", p, len(ds), each)
			}
		}
		return nil
	})
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, _ = second.Process.Wait()
	dups := 0
	for p, ds := range readDeliveries(t, outFile, topic) {
		seen := map[int64]bool{}
		for _, d := range ds {
			if seen[d.offset] {
				dups++
			}
			seen[d.offset] = true
		}
		if len(seen) != each {
			t.Errorf("partition %d: %d distinct offsets, want %d", p, len(seen), each)
		}
	}
	t.Logf("SIGTERM with %d invocations in flight: %d records delivered before the stop, %d redelivered after the restart", len(f)/2, atStop, dups)
	if dups != 0 {
		t.Errorf("a clean shutdown redelivered %d records", dups)
	}
}
