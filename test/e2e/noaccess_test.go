package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestMappingWithoutAccessConfigurations: SourceAccessConfigurations is optional, as the seed's
// parameter table says (AWS demands VPC entries; a deliberate difference): the mapping reads
// a PLAINTEXT cluster without credentials, and an update may remove the entries again.
func TestMappingWithoutAccessConfigurations(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	for i := range 3 {
		kt.Produce(t, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("v%d", i))})
	}
	n := startPollingServer(t, filepath.Join(t.TempDir(), "data"))
	c := n.client()
	ctx := testCtx(t)
	target := newKafkaTarget(t)
	if code, _, body := rawRequest(t, "POST", n.url()+"/2015-03-31/functions",
		`{"FunctionName":"plainfn","Role":"arn:aws:iam::000000000000:role/r","KafkaesmHttpTarget":{"Url":"`+target.srv.URL+`"}}`); code != 201 {
		t.Fatalf("create function: %d %s", code, body)
	}
	esm, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName:           aws.String("plainfn"),
		Topics:                 []string{topic},
		SelfManagedEventSource: &types.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {kt.Plaintext}}},
		StartingPosition:       types.EventSourcePositionTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(esm.SourceAccessConfigurations) != 0 {
		t.Errorf("SourceAccessConfigurations %v, want none", esm.SourceAccessConfigurations)
	}
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if got := target.count(topic); got < 3 {
			return fmt.Errorf("%d of 3 records delivered", got)
		}
		return nil
	})

	// VPC entries are accepted and stored; an empty list removes them.
	waitState := func(want string) {
		checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
			got, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: esm.UUID})
			if err != nil {
				return err
			}
			if s := aws.ToString(got.State); s != want {
				return fmt.Errorf("state %s", s)
			}
			return nil
		})
	}
	waitState("Enabled")
	up, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: esm.UUID,
		SourceAccessConfigurations: []types.SourceAccessConfiguration{{Type: types.SourceAccessTypeVpcSubnet, URI: aws.String("subnet:subnet-1")}}})
	if err != nil || len(up.SourceAccessConfigurations) != 1 {
		t.Fatalf("update adding a VPC entry: %v %+v", err, up)
	}
	waitState("Enabled")
	up, err = c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: esm.UUID,
		SourceAccessConfigurations: []types.SourceAccessConfiguration{}})
	if err != nil || len(up.SourceAccessConfigurations) != 0 {
		t.Fatalf("update removing them: %v %+v", err, up)
	}
	waitState("Enabled")
	kt.Produce(t, &kgo.Record{Topic: topic, Value: []byte("v3")})
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if got := target.count(topic); got < 4 {
			return fmt.Errorf("%d of 4 records delivered", got)
		}
		return nil
	})
}
