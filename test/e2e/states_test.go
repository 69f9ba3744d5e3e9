package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// httpFunction is an HTTP target that records the values it is sent.
type httpFunction struct {
	mu     sync.Mutex
	values []string
}

func (f *httpFunction) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var ev events.KafkaEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	for _, rs := range ev.Records {
		for _, rec := range rs {
			f.values = append(f.values, rec.Value)
		}
	}
	f.mu.Unlock()
	_, _ = w.Write([]byte("null"))
}

func (f *httpFunction) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.values...)
}

// TestEnabledMeansConsuming: a LATEST mapping reports Enabled only once its poller has joined
// the group and got its assignment (its start resolved and committed), so a record produced
// the moment the mapping reads Enabled (what `mappings create --wait` waits for) is delivered.
func TestEnabledMeansConsuming(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 3, nil)
	fn := &httpFunction{}
	srv := httptest.NewServer(fn)
	t.Cleanup(srv.Close)
	n := startPollingServer(t, t.TempDir())
	c := n.client()
	ctx := testCtx(t)
	code, _, body := rawRequest(t, "POST", n.url()+"/2015-03-31/functions",
		`{"FunctionName":"web","Role":"arn:aws:iam::000000000000:role/r","KafkaesmHttpTarget":{"Url":"`+srv.URL+`"},"Timeout":10}`)
	if code != 201 {
		t.Fatalf("create HTTP target: %d %s", code, body)
	}
	esm, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName:           aws.String("web"),
		Topics:                 []string{topic},
		SelfManagedEventSource: &types.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {kt.Plaintext}}},
		SourceAccessConfigurations: []types.SourceAccessConfiguration{
			{Type: types.SourceAccessTypeVpcSubnet, URI: aws.String("subnet:subnet-0123456789abcdef0")},
			{Type: types.SourceAccessTypeVpcSecurityGroup, URI: aws.String("security_group:sg-0123456789abcdef0")},
		},
		StartingPosition: types.EventSourcePositionLatest,
	})
	if err != nil {
		t.Fatal(err)
	}
	// --wait's loop: poll until the state is no longer transitional.
	checkFor(t, 60*time.Second, 5*time.Millisecond, func() error {
		got, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: esm.UUID})
		if err != nil {
			return err
		}
		if s := aws.ToString(got.State); s != "Enabled" {
			return fmt.Errorf("state %s", s)
		}
		return nil
	})
	prod := kt.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for p := int32(0); p < 3; p++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprint("right-after-enabled-", p))})
	}
	kt.ProduceWith(t, prod, recs...)
	checkFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if got := fn.got(); len(got) < 3 {
			return fmt.Errorf("delivered %v", got)
		}
		return nil
	})
}
