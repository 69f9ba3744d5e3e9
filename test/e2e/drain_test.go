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

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// slowHTTPFunction is an HTTP target that takes a while per batch and records, per partition,
// how many batches ran at once, whether a request was abandoned by kafkaesm mid-way, and the
// offsets it completed.
type slowHTTPFunction struct {
	d         time.Duration
	mu        sync.Mutex
	running   map[int64]int
	maxAtOnce int
	abandoned int
	done      map[int64]map[int64]bool
	inFlight  int
}

func (f *slowHTTPFunction) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var ev events.KafkaEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var part int64 = -1
	for _, rs := range ev.Records {
		for _, rec := range rs {
			part = rec.Partition
		}
	}
	f.mu.Lock()
	f.running[part]++
	f.inFlight++
	f.maxAtOnce = max(f.maxAtOnce, f.running[part])
	f.mu.Unlock()
	select {
	case <-time.After(f.d):
	case <-r.Context().Done():
		f.mu.Lock()
		f.abandoned++
		f.mu.Unlock()
	}
	f.mu.Lock()
	f.running[part]--
	f.inFlight--
	for _, rs := range ev.Records {
		for _, rec := range rs {
			if f.done[rec.Partition] == nil {
				f.done[rec.Partition] = map[int64]bool{}
			}
			f.done[rec.Partition][rec.Offset] = true
		}
	}
	f.mu.Unlock()
	_, _ = w.Write([]byte("null"))
}

// TestDisableLetsHTTPBatchesFinish: disabling a mapping while its HTTP target is processing
// batches lets those batches finish (the request is not abandoned after a fixed drain), and
// enabling it again never runs a second batch of a partition while the first still runs on the
// remote side.
func TestDisableLetsHTTPBatchesFinish(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 3, 20
	topic, _ := produceKeyed(t, kt, parts, each)
	fn := &slowHTTPFunction{d: 1500 * time.Millisecond, running: map[int64]int{}, done: map[int64]map[int64]bool{}}
	srv := httptest.NewServer(fn)
	t.Cleanup(srv.Close)
	n := startPollingServer(t, t.TempDir())
	c := n.client()
	ctx := testCtx(t)
	code, _, body := rawRequest(t, "POST", n.url()+"/2015-03-31/functions",
		`{"FunctionName":"slow","Role":"arn:aws:iam::000000000000:role/r","KafkaesmHttpTarget":{"Url":"`+srv.URL+`"},"Timeout":30}`)
	if code != 201 {
		t.Fatalf("create HTTP target: %d %s", code, body)
	}
	esm := createPlaintextMapping(t, ctx, c, kt, "slow", topic, 5)
	id := aws.ToString(esm.UUID)
	checkFor(t, 60*time.Second, 10*time.Millisecond, func() error {
		fn.mu.Lock()
		defer fn.mu.Unlock()
		if fn.inFlight < parts {
			return fmt.Errorf("%d batches in flight", fn.inFlight)
		}
		return nil
	})
	if _, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(id), Enabled: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, id, "Disabled")
	fn.mu.Lock()
	inFlight := fn.inFlight
	fn.mu.Unlock()
	if inFlight != 0 {
		t.Errorf("Disabled while %d batches still ran on the target", inFlight)
	}
	if _, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(id), Enabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 120*time.Second, 50*time.Millisecond, func() error {
		fn.mu.Lock()
		defer fn.mu.Unlock()
		for p := int64(0); p < parts; p++ {
			if len(fn.done[p]) < each {
				return fmt.Errorf("partition %d: %d of %d done", p, len(fn.done[p]), each)
			}
		}
		return nil
	})
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if fn.abandoned != 0 || fn.maxAtOnce != 1 {
		t.Fatalf("%d requests abandoned mid-batch, up to %d batches of one partition at once; want 0 and 1", fn.abandoned, fn.maxAtOnce)
	}
}
