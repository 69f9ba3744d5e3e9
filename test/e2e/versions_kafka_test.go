package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestMappingFollowsAlias runs a mapping on an alias against the real broker. Version 1 and
// version 2 of one aws-lambda-go function write to different files (OUT_FILE is part of each
// version's configuration), so every record shows which version ran it.
//  1. Records flow to version 1.
//  2. The alias moves to version 2 while records are being produced: on each partition a
//     prefix of the offsets ran on version 1 and the rest on version 2: no gap, no duplicate,
//     order kept (in-flight batches finish on version 1, later ones run on version 2), and
//     the pollers are never restarted (the alias update does not touch the mapping).
//  3. The alias splits invocations between versions 1 and 2 by weight 0.5: with BatchSize 1
//     every record is one invocation, and the count on version 1 stays within 6 standard
//     deviations of half.
//  4. Deleting the alias is allowed: the mapping reports the function not found (not checked
//     against AWS) and resumes, with nothing lost or repeated, when the alias is back.
func TestMappingFollowsAlias(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts = 3
	topic := kt.CreateTopic(t, parts, nil)
	prod := kt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	next := make([]int, parts) // next value per partition
	produce := func(each int) {
		var recs []*kgo.Record
		for range each {
			for p := range parts {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Key: []byte("k" + strconv.Itoa(p)), Value: []byte(strconv.Itoa(next[p]))})
				next[p]++
			}
		}
		kt.ProduceWith(t, prod, recs...)
	}

	dir := t.TempDir()
	code := buildKafkaFn(t, filepath.Join(dir, "build", "bootstrap"))
	out1, out2 := filepath.Join(dir, "v1.txt"), filepath.Join(dir, "v2.txt")
	never := filepath.Join(dir, "never-created")
	n := startPollingServer(t, filepath.Join(dir, "data"))
	c := n.client()
	ctx := testCtx(t)
	createKafkaFn(t, ctx, c, code, map[string]string{"OUT_FILE": out1, "FAIL_FILE": never})
	fn := aws.String("kafkafn")
	if v, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: fn}); err != nil || aws.ToString(v.Version) != "1" {
		t.Fatalf("publish 1: %v", err)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: fn,
		Environment: &types.Environment{Variables: map[string]string{"OUT_FILE": out2, "FAIL_FILE": never}}}); err != nil {
		t.Fatal(err)
	}
	if v, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: fn}); err != nil || aws.ToString(v.Version) != "2" {
		t.Fatalf("publish 2: %v", err)
	}
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	esm := createPlaintextMapping(t, ctx, c, kt, "kafkafn:live", topic, 1)

	// delivered returns, per partition, the values delivered by each version, and checks that
	// on every partition version 1's values are 0..k-1 and version 2's k..total-1.
	delivered := func(total int) (v1, v2 [parts]int, err error) {
		d1, d2 := readDeliveries(t, out1, topic), readDeliveries(t, out2, topic)
		for p := range parts {
			v1[p], v2[p] = len(d1[p]), len(d2[p])
			if v1[p]+v2[p] < total {
				return v1, v2, fmt.Errorf("partition %d: %d+%d of %d delivered", p, v1[p], v2[p], total)
			}
			all := append(append([]e2eDelivery{}, d1[p]...), d2[p]...)
			if len(all) != total {
				return v1, v2, nil // reported by the caller's final check
			}
			for i, d := range all {
				if d.offset != int64(i) || d.value != strconv.Itoa(i) {
					t.Fatalf("partition %d: delivery %d is %+v (version 1 ran %d, version 2 %d): a gap, a duplicate or version 1 after version 2", p, i, d, v1[p], v2[p])
				}
			}
		}
		return v1, v2, nil
	}
	exactly := func(total int) (v1, v2 [parts]int) {
		t.Helper()
		var err error
		checkFor(t, 120*time.Second, 100*time.Millisecond, func() error {
			v1, v2, err = delivered(total)
			return err
		})
		for p := range parts {
			if v1[p]+v2[p] != total {
				t.Fatalf("partition %d: %d+%d deliveries, want %d (no duplicates without faults)", p, v1[p], v2[p], total)
			}
		}
		return v1, v2
	}

	// 1. Version 1.
	produce(50)
	if _, v2 := exactly(50); v2 != [parts]int{} {
		t.Fatalf("version 2 ran before the alias pointed at it: %v", v2)
	}
	// 2. Move the alias while producing.
	produce(100)
	if _, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	produce(100)
	v1, v2 := exactly(250)
	t.Logf("alias update under load: version 1 ran %v records per partition, version 2 ran %v", v1, v2)
	for p := range parts {
		if v2[p] < 100 {
			t.Errorf("partition %d: version 2 ran %d records, want at least the 100 produced after the update", p, v2[p])
		}
	}
	got, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: esm.UUID})
	if err != nil || aws.ToString(got.State) != "Enabled" || aws.ToString(got.LastProcessingResult) != "OK" {
		t.Fatalf("mapping after the alias moved: %v %s %s", err, aws.ToString(got.State), aws.ToString(got.LastProcessingResult))
	}

	// 3. Weighted: half of the invocations on version 1 again. Records go to whichever
	// version each invocation picked, so only the union is ordered: check it by offset.
	if _, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("2"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"1": 0.5}}}); err != nil {
		t.Fatal(err)
	}
	const weighted = 200 // per partition: 600 invocations
	produce(weighted)
	total := 250 + weighted
	checkFor(t, 120*time.Second, 100*time.Millisecond, func() error {
		d1, d2 := readDeliveries(t, out1, topic), readDeliveries(t, out2, topic)
		for p := range parts {
			if len(d1[p])+len(d2[p]) < total {
				return fmt.Errorf("partition %d: %d of %d", p, len(d1[p])+len(d2[p]), total)
			}
		}
		return nil
	})
	d1, d2 := readDeliveries(t, out1, topic), readDeliveries(t, out2, topic)
	ran1 := 0
	for p := range parts {
		seen := make([]int, total)
		for _, d := range append(append([]e2eDelivery{}, d1[p]...), d2[p]...) {
			seen[d.offset]++
		}
		for off, k := range seen {
			if k != 1 {
				t.Fatalf("partition %d offset %d delivered %d times", p, off, k)
			}
		}
		for _, d := range d1[p] {
			if d.offset >= 250 {
				ran1++
			}
		}
	}
	nInv := float64(parts * weighted)
	sd := math.Sqrt(nInv * 0.25)
	t.Logf("weighted alias (0.5 on version 1): version 1 ran %d of %.0f invocations (expected %.0f ± %.1f)", ran1, nInv, nInv/2, sd)
	if math.Abs(float64(ran1)-nInv/2) > 6*sd {
		t.Fatalf("version 1 ran %d of %.0f invocations, want about %.0f", ran1, nInv, nInv/2)
	}

	// 4. Deleting the alias is allowed; the mapping then reports that the function is not
	// found and delivers nothing, and resumes where it stopped once the alias exists again.
	if _, err := c.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: fn, Name: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	produce(5)
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		code, _, body := rawRequest(t, "GET", n.url()+"/2015-03-31/event-source-mappings/"+aws.ToString(esm.UUID), "")
		var m struct{ LastProcessingResult, KafkaesmLastProcessingCause string }
		if err := json.Unmarshal([]byte(body), &m); err != nil || code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		if m.LastProcessingResult != "PROBLEM: Function call failed" || !strings.Contains(m.KafkaesmLastProcessingCause, "function not found") {
			return fmt.Errorf("result %q, cause %q", m.LastProcessingResult, m.KafkaesmLastProcessingCause)
		}
		return nil
	})
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	total += 5
	checkFor(t, 120*time.Second, 100*time.Millisecond, func() error {
		d1, d2 := readDeliveries(t, out1, topic), readDeliveries(t, out2, topic)
		for p := range parts {
			seen := map[int64]int{}
			for _, d := range append(append([]e2eDelivery{}, d1[p]...), d2[p]...) {
				seen[d.offset]++
			}
			for off := range int64(total) {
				if seen[off] != 1 {
					return fmt.Errorf("partition %d offset %d delivered %d times", p, off, seen[off])
				}
			}
		}
		return nil
	})
}
