package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestKillNineKafkaesmMidStream: the kafkaesm binary (and its function processes) is killed
// with SIGKILL while a mapping delivers to a real aws-lambda-go function, then restarted on the
// same data directory: the mapping resumes by itself and every record is delivered at least
// once, first deliveries in offset order per partition.
func TestKillNineKafkaesmMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the kafkaesm binary")
	}
	kt := kafkatest.Get(t)
	const parts, each = 3, 1500
	topic, _ := produceKeyed(t, kt, parts, each)

	dir := t.TempDir()
	kafkaesm := buildBinary(t, testCtx(t)) // shared with the other binary tests
	code := buildKafkaFn(t, filepath.Join(dir, "fn", "bootstrap"))
	addr := freeAddr(t)
	data, outFile := filepath.Join(dir, "data"), filepath.Join(dir, "out.txt")
	// The default 45 s session timeout: the restarted node is the same static group member
	// (its node id is kept in the data directory) and takes its partitions back without
	// waiting it out.
	start, c := serveBinary(t, kafkaesm, dir, addr, data)
	ctx := testCtx(t)

	first := start()
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		_, err := c.ListFunctions(ctx, &lambda.ListFunctionsInput{})
		return err
	})
	createKafkaFn(t, ctx, c, code, map[string]string{"OUT_FILE": outFile, "FAIL_FILE": filepath.Join(dir, "never"), "DELAY_MS": "50"})
	createPlaintextMapping(t, ctx, c, kt, "kafkafn", topic, 20)
	total := func() int {
		n := 0
		for _, ds := range readDeliveries(t, outFile, topic) {
			n += len(ds)
		}
		return n
	}
	checkFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if n := total(); n < parts*each/2 {
			return fmt.Errorf("%d delivered", n)
		}
		return nil
	})
	if err := syscall.Kill(-first.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = first.Process.Wait()
	atKill := total()

	second := start()
	restarted := time.Now()
	checkFor(t, 90*time.Second, 20*time.Millisecond, func() error {
		if n := total(); n <= atKill {
			return fmt.Errorf("nothing delivered since the restart")
		}
		return nil
	})
	toFirst := time.Since(restarted)
	checkFor(t, 90*time.Second, 100*time.Millisecond, func() error {
		got := readDeliveries(t, outFile, topic)
		for p := 0; p < parts; p++ {
			seen := map[int64]bool{}
			for _, d := range got[p] {
				seen[d.offset] = true
			}
			if len(seen) < each {
				return fmt.Errorf("partition %d: %d of %d distinct offsets", p, len(seen), each)
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
		seen, next := map[int64]bool{}, int64(0)
		for _, d := range ds {
			if seen[d.offset] {
				dups++
				continue
			}
			if d.offset != next || d.value != strconv.FormatInt(d.offset, 10) {
				t.Fatalf("partition %d: first delivery of offset %d (value %q) while %d was next", p, d.offset, d.value, next)
			}
			seen[d.offset] = true
			next++
		}
	}
	t.Logf("killed -9 after %d deliveries; all %d records delivered, %d redelivered; restart → first delivery %v (session timeout 45 s)", atKill, parts*each, dups, toFirst.Round(time.Millisecond))
}

// serveBinary prepares `kafkaesm serve --listen addr --data-dir data args...` of the binary
// kafkaesm, its stderr in dir/kafkaesm.log (logged when the test fails), and a client for it.
// start runs a new process in its own process group (a kill -9 of the group takes its
// functions too), killed at the end of the test if still running.
func serveBinary(t *testing.T, kafkaesm, dir, addr, data string, args ...string) (func() *exec.Cmd, *lambda.Client) {
	t.Helper()
	serverLog, err := os.Create(filepath.Join(dir, "kafkaesm.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(serverLog.Name())
			t.Logf("kafkaesm log:\n%s", b)
		}
		serverLog.Close()
	})
	start := func() *exec.Cmd {
		cmd := exec.Command(kafkaesm, append([]string{"serve", "--listen", addr, "--data-dir", data}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Stderr = serverLog
		cmd.Env = append(os.Environ(), "KAFKAESM_ACCESS_KEY_ID="+testKey.AccessKeyID, "KAFKAESM_SECRET_ACCESS_KEY="+testKey.SecretAccessKey)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _, _ = cmd.Process.Wait() })
		return cmd
	}
	n := &node{addr: addr, dir: data}
	return start, n.client()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
