package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestFailureHandlingThroughTheAPI: a mapping created with the AWS SDK, with
// MaximumRetryAttempts, a kafka:// on-failure destination and a FilterCriteria, on a real node
// and a real aws-lambda-go function that fails every batch of partition 1: partition 0's
// matching records are delivered, partition 1's go to the destination after 2 attempts each,
// records filtered out are never delivered, everything is committed, and GetEventSourceMapping
// shows the counts (KafkaesmCounts). Bad settings get AWS's InvalidParameterValueException.
func TestFailureHandlingThroughTheAPI(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 2, 30
	topic, _ := produceKeyed(t, kt, parts, each) // values "0".."29": JSON numbers
	dlq := kt.CreateTopic(t, 1, nil)

	dir := t.TempDir()
	code := buildKafkaFn(t, filepath.Join(dir, "build", "bootstrap"))
	outFile, failFile := filepath.Join(dir, "out", "out.txt"), filepath.Join(dir, "out", "fail")
	if err := os.MkdirAll(filepath.Dir(outFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(failFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n := startPollingServer(t, filepath.Join(dir, "data"))
	c := n.client()
	ctx := testCtx(t)
	createKafkaFn(t, ctx, c, code, map[string]string{"OUT_FILE": outFile, "FAIL_FILE": failFile})

	in := &lambda.CreateEventSourceMappingInput{
		FunctionName:           aws.String("kafkafn"),
		Topics:                 []string{topic},
		SelfManagedEventSource: &types.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {kt.Plaintext}}},
		SourceAccessConfigurations: []types.SourceAccessConfiguration{
			{Type: types.SourceAccessTypeVpcSubnet, URI: aws.String("subnet:subnet-0123456789abcdef0")}},
		StartingPosition: types.EventSourcePositionTrimHorizon,
		BatchSize:        aws.Int32(10),
	}
	// Refused settings first: AWS's error, nothing created.
	bad := func(edit func(*lambda.CreateEventSourceMappingInput), msg string) {
		t.Helper()
		cp := *in
		edit(&cp)
		_, err := c.CreateEventSourceMapping(ctx, &cp)
		wantErr(t, err, "InvalidParameterValueException", msg, false)
	}
	bad(func(i *lambda.CreateEventSourceMappingInput) {
		i.DestinationConfig = &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String("arn:aws:sqs:us-east-1:000000000000:q")}}
	}, "kafkaesm supports kafka://<topic> destinations only")
	bad(func(i *lambda.CreateEventSourceMappingInput) {
		i.DestinationConfig = &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String("kafka://" + topic)}}
	}, "must be different from the source topic")
	bad(func(i *lambda.CreateEventSourceMappingInput) {
		i.FilterCriteria = &types.FilterCriteria{Filters: []types.Filter{{Pattern: aws.String(`{"value":[{"numeric":["<"]}]}`)}}}
	}, "Invalid filter pattern definition.")
	bad(func(i *lambda.CreateEventSourceMappingInput) { i.MaximumRecordAgeInSeconds = aws.Int32(30) }, "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)")
	bad(func(i *lambda.CreateEventSourceMappingInput) { i.MaximumRetryAttempts = aws.Int32(10001) }, "Member must have value less than or equal to 10000")

	in.MaximumRetryAttempts = aws.Int32(1)
	in.DestinationConfig = &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String("kafka://" + dlq)}}
	in.FilterCriteria = &types.FilterCriteria{Filters: []types.Filter{{Pattern: aws.String(`{"value":[{"numeric":["<",20]}]}`)}}}
	esm, err := c.CreateEventSourceMapping(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(esm.MaximumRetryAttempts) != 1 || aws.ToString(esm.DestinationConfig.OnFailure.Destination) != "kafka://"+dlq {
		t.Fatalf("echo %+v", esm)
	}

	const matching = 20 // values 0..19 of each partition
	var counts mapping.Counts
	checkFor(t, 90*time.Second, 200*time.Millisecond, func() error {
		code, _, body := rawRequest(t, "GET", n.url()+"/2015-03-31/event-source-mappings/"+aws.ToString(esm.UUID), "")
		var m mapping.EventSourceMapping
		if err := json.Unmarshal([]byte(body), &m); code != 200 || err != nil || m.KafkaesmCounts == nil {
			return fmt.Errorf("GET: %d %v %s", code, err, body)
		}
		counts = *m.KafkaesmCounts
		if counts.OnFailureDestinationDeliveredEventCount < matching || counts.FilteredOutEventCount < 2*(each-matching) {
			return fmt.Errorf("counts %+v", counts)
		}
		return nil
	})
	if counts.InvokedEventCount != matching || counts.OnFailureDestinationDeliveredEventCount != matching ||
		counts.FilteredOutEventCount != 2*(each-matching) || counts.DroppedEventCount != 0 || counts.RetriedEventCount != matching ||
		counts.FailedInvokeEventCount != 2*matching {
		t.Fatalf("KafkaesmCounts %+v", counts)
	}
	got := readDeliveries(t, outFile, topic)
	if len(got[1]) != 0 || len(got[0]) != matching {
		t.Fatalf("delivered: partition 0 %d, partition 1 %d", len(got[0]), len(got[1]))
	}
	for i, d := range got[0] {
		if d.offset != int64(i) || d.value != fmt.Sprint(i) {
			t.Fatalf("partition 0 delivery %d: %+v", i, d)
		}
	}
	// The destination holds partition 1's matching records, in order, keyed as in the source.
	cl := kt.Client(t, kgo.ConsumeTopics(dlq), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var offsets []string
	for len(offsets) < matching {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("destination: %v", offsets)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) != "k1" {
				t.Errorf("destination key %q", r.Key)
			}
			var msg struct {
				RequestContext struct {
					Condition              string `json:"condition"`
					ApproximateInvokeCount int    `json:"approximateInvokeCount"`
				} `json:"requestContext"`
				KafkaBatchInfo struct {
					RecordInfo struct {
						Offset string `json:"offset"`
					} `json:"recordInfo"`
				} `json:"KafkaBatchInfo"`
			}
			if err := json.Unmarshal(r.Value, &msg); err != nil || msg.RequestContext.Condition != "RetryAttemptsExhausted" || msg.RequestContext.ApproximateInvokeCount != 2 {
				t.Errorf("destination message %s (%v)", r.Value, err)
			}
			offsets = append(offsets, msg.KafkaBatchInfo.RecordInfo.Offset)
		})
	}
	for i, o := range offsets {
		if o != fmt.Sprint(i) {
			t.Fatalf("destination offsets %v", offsets)
		}
	}
	// Every offset of both partitions is committed: filtered and given-up records included.
	checkFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		committed, err := kt.Admin(t).FetchOffsets(ctx, aws.ToString(esm.UUID))
		if err != nil {
			return err
		}
		for p := int32(0); p < parts; p++ {
			if o, ok := committed.Lookup(topic, p); !ok || o.At != each {
				return fmt.Errorf("partition %d committed %v", p, o.At)
			}
		}
		return nil
	})
}
