package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/server"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestPollerDeliversToAwsLambdaGoFunction runs the whole path on a real node: a mapping created
// with the AWS SDK consumes a real 12-partition topic holding 100,000 keyed records and invokes a
// real aws-lambda-go function (which decodes every payload into events.KafkaEvent); every record
// arrives once and in order per partition, a failing partition retries while the other eleven
// flow and then completes from where it stopped, and LastProcessingResult tells the truth.
func TestPollerDeliversToAwsLambdaGoFunction(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 12, 8334 // 100,008 records
	topic, prod := produceKeyed(t, kt, parts, each)

	dir := t.TempDir()
	code := buildKafkaFn(t, filepath.Join(dir, "build", "bootstrap"))
	outFile, failFile := filepath.Join(dir, "out.txt"), filepath.Join(dir, "fail")
	if err := os.WriteFile(failFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	n := startPollingServer(t, filepath.Join(dir, "data"))
	c := n.client()
	ctx := testCtx(t)
	createKafkaFn(t, ctx, c, code, map[string]string{"OUT_FILE": outFile, "FAIL_FILE": failFile})
	esm := createPlaintextMapping(t, ctx, c, kt, "kafkafn", topic, 500)
	result := func() string {
		got, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: esm.UUID})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(got.LastProcessingResult)
	}

	// The other eleven partitions complete while partition 1 fails.
	checkFor(t, 120*time.Second, 250*time.Millisecond, func() error {
		got := readDeliveries(t, outFile, topic)
		for p := 0; p < parts; p++ {
			if p != 1 && len(got[p]) < each {
				return fmt.Errorf("partition %d: %d of %d delivered", p, len(got[p]), each)
			}
		}
		if r := result(); r != "PROBLEM: Function call failed" {
			return fmt.Errorf("result %q", r)
		}
		return nil
	})
	if got := readDeliveries(t, outFile, topic); len(got[1]) != 0 {
		t.Fatalf("failing partition delivered %d records", len(got[1]))
	}
	// Fixed: partition 1 completes from its first record.
	if err := os.Remove(failFile); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 120*time.Second, 250*time.Millisecond, func() error {
		got := readDeliveries(t, outFile, topic)
		if len(got[1]) < each || result() != "OK" {
			return fmt.Errorf("partition 1: %d of %d, result %q", len(got[1]), each, result())
		}
		return nil
	})
	got := readDeliveries(t, outFile, topic)
	for p := 0; p < parts; p++ {
		if len(got[p]) != each {
			t.Fatalf("partition %d: %d deliveries, want %d (no duplicates without faults)", p, len(got[p]), each)
		}
		for i, d := range got[p] {
			if d.offset != int64(i) || d.key != "k"+strconv.Itoa(p) || d.value != strconv.Itoa(i) {
				t.Fatalf("partition %d delivery %d: %+v", p, i, d)
			}
		}
	}

	// Life cycle through the API: disabling stops consumption and leaves the group; records
	// produced meanwhile wait; enabling resumes from the committed offsets (nothing delivered
	// twice); deleting leaves the group and removes the mapping.
	adm := kt.Admin(t)
	groupMembers := func() (int, error) {
		gs, err := adm.DescribeGroups(ctx, aws.ToString(esm.UUID))
		if err != nil {
			return 0, err
		}
		return len(gs[aws.ToString(esm.UUID)].Members), gs.Error()
	}
	state := func() string {
		got, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: esm.UUID})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(got.State)
	}
	if _, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: esm.UUID, Enabled: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if st := state(); st != "Disabled" {
			return fmt.Errorf("state %s", st)
		}
		if n, err := groupMembers(); err != nil || n != 0 {
			return fmt.Errorf("group members %d (%v) after disable", n, err)
		}
		return nil
	})
	var more []*kgo.Record
	for p := int32(0); p < parts; p++ {
		more = append(more, &kgo.Record{Topic: topic, Partition: p, Key: []byte("k" + strconv.Itoa(int(p))), Value: []byte(strconv.Itoa(each))})
	}
	kt.ProduceWith(t, prod, more...)
	if got := readDeliveries(t, outFile, topic); len(got[0]) != each {
		t.Fatalf("a disabled mapping delivered: partition 0 has %d", len(got[0]))
	}
	if _, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: esm.UUID, Enabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 120*time.Second, 250*time.Millisecond, func() error {
		got := readDeliveries(t, outFile, topic)
		for p := 0; p < parts; p++ {
			if len(got[p]) < each+1 {
				return fmt.Errorf("partition %d: %d of %d after enable", p, len(got[p]), each+1)
			}
		}
		return nil
	})
	got = readDeliveries(t, outFile, topic)
	for p := 0; p < parts; p++ {
		if len(got[p]) != each+1 || got[p][each].offset != int64(each) {
			t.Fatalf("partition %d after enable: %d deliveries, last %+v (want %d, resumed at the committed offset)", p, len(got[p]), got[p][len(got[p])-1], each+1)
		}
	}
	if _, err := c.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: esm.UUID}); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		_, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: esm.UUID})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			return fmt.Errorf("after delete: %v", err)
		}
		if n, err := groupMembers(); err != nil || n != 0 {
			return fmt.Errorf("group members %d (%v) after delete", n, err)
		}
		return nil
	})
}

type e2eDelivery struct {
	offset     int64
	key, value string
}

func readDeliveries(t *testing.T, path, topic string) map[int][]e2eDelivery {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	// The function appends while we read: a write still in progress leaves a last line without
	// its newline, which is not a delivery yet.
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	out := map[int][]e2eDelivery{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || !strings.HasPrefix(f[0], topic+"-") {
			t.Fatalf("bad line %q", sc.Text())
		}
		p, _ := strconv.Atoi(strings.TrimPrefix(f[0], topic+"-"))
		off, _ := strconv.ParseInt(f[1], 10, 64)
		k, _ := base64.StdEncoding.DecodeString(f[2])
		v, _ := base64.StdEncoding.DecodeString(f[3])
		out[p] = append(out[p], e2eDelivery{off, string(k), string(v)})
	}
	return out
}

// startPollingServer runs a node whose mappings really consume Kafka (Config.Pollers).
func startPollingServer(t *testing.T, dir string) *node {
	t.Helper()
	addr, _ := runServer(t, server.Config{
		Listen:  "127.0.0.1:0",
		DataDir: dir,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Pollers: true,
		Resync:  time.Second,
	}, 60*time.Second)
	return &node{addr: addr, dir: dir}
}
