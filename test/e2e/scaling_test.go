package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/kafkaesm/kafkaesm/internal/server"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestScalingAndMetricsOnANode: on a real node with a 1 s --scale-interval, a mapping's
// ProvisionedPollerConfig applies at once and on every update, without a restart: the
// effective poller count and why it changed show in GetEventSourceMapping's KafkaesmPollers,
// kafkaesm_Pollers and kafkaesm_PollerChanges. A backlog for a slow HTTP-target function is
// delivered once per record (more pollers would not help it: each already invokes all its
// partitions), and /metrics (signed) reports the mapping's counters, the function's
// invocations and the Kafka client's own metrics.
func TestScalingAndMetricsOnANode(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 6, 60
	topic, _ := produceKeyed(t, kt, parts, each)

	var mu sync.Mutex
	seen := map[string]int{}
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev events.KafkaEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		time.Sleep(200 * time.Millisecond) // a slow function: the backlog lasts
		mu.Lock()
		for k, rs := range ev.Records {
			for _, rec := range rs {
				seen[fmt.Sprintf("%s/%d", k, rec.Offset)]++
			}
		}
		mu.Unlock()
		_, _ = io.WriteString(w, `"ok"`)
	}))
	defer fn.Close()

	n, esm, stop := scalingNode(t, kt, fn.URL, "slow", topic, 1)
	defer stop() // before fn closes
	ctx := testCtx(t)
	uuid := aws.ToString(esm.UUID)

	scrape := func() map[string]float64 {
		code, _, body := rawRequest(t, "GET", n.url()+"/metrics", "")
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d %s", code, body)
		}
		return parseSeries(t, strings.NewReader(body))
	}
	mapping := func(name string) string {
		return name + `{event_source_mapping_uuid="` + uuid + `",function_name="slow"}`
	}
	// pollers waits until the node runs want pollers for the mapping, for reason.
	pollers := func(want int, reason string) {
		t.Helper()
		checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
			if p := scrape()[mapping("kafkaesm_Pollers")]; p != float64(want) {
				return fmt.Errorf("%v pollers", p)
			}
			code, _, body := rawRequest(t, "GET", n.url()+"/2015-03-31/event-source-mappings/"+uuid, "")
			var got struct {
				KafkaesmPollers *struct {
					Pollers int
					Reason  string
				}
			}
			if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got.KafkaesmPollers == nil ||
				got.KafkaesmPollers.Pollers != want || got.KafkaesmPollers.Reason != reason {
				return fmt.Errorf("GetEventSourceMapping %d: %s", code, body)
			}
			return nil
		})
	}
	// bound updates the mapping's ProvisionedPollerConfig (once it is no longer Creating).
	bound := func(lo, hi int32) {
		t.Helper()
		checkFor(t, 30*time.Second, 100*time.Millisecond, func() error {
			_, err := n.client().UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: esm.UUID,
				ProvisionedPollerConfig: &types.ProvisionedPollerConfig{MinimumPollers: aws.Int32(lo), MaximumPollers: aws.Int32(hi)}})
			return err
		})
	}
	bound(3, 4)
	pollers(3, "MinimumPollers 3")
	total := parts * each
	checkFor(t, 90*time.Second, 100*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < total {
			return fmt.Errorf("%d of %d delivered", len(seen), total)
		}
		return nil
	})
	mu.Lock()
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%s delivered %d times", k, c)
		}
	}
	mu.Unlock()
	var m map[string]float64
	checkFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		m = scrape()
		if got := m[mapping("kafkaesm_InvokedEventCount")]; got != float64(total) {
			return fmt.Errorf("InvokedEventCount %v, want %d", got, total)
		}
		return nil
	})
	if m[`kafkaesm_Invocations{function_name="slow"}`] < float64(total) || m[mapping("kafkaesm_PolledEventCount")] < float64(total) ||
		m[mapping("kafkaesm_BatchSize_count")] != float64(total) {
		t.Fatalf("metrics: %v", m)
	}
	if got := m[`kafkaesm_PollerChanges{event_source_mapping_uuid="`+uuid+`",function_name="slow",reason="MinimumPollers"}`]; got != 1 {
		t.Fatalf("PollerChanges for MinimumPollers: %v", got)
	}
	// Lowering the bounds takes effect as live.
	bound(1, 1)
	pollers(1, "MaximumPollers 1")
	kafka := false
	for k := range m {
		if strings.HasPrefix(k, "kafkaesm_kafka_connects_total{") && strings.Contains(k, uuid) {
			kafka = true
		}
	}
	if !kafka {
		t.Fatal("no Kafka client metrics for the mapping")
	}
}

// parseSeries reads Prometheus text: "name{labels} value" per line, comments skipped.
// scalingNode runs a node with pollers that scales every second, an HTTP-target function name
// that calls fnURL, and a mapping of it on topic with batch size batch. stop stops the node:
// call it before fnURL's server closes.
func scalingNode(t *testing.T, kt *kafkatest.Cluster, fnURL, name, topic string, batch int32) (*node, *lambda.CreateEventSourceMappingOutput, func()) {
	t.Helper()
	addr, stop := runServer(t, server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Pollers: true, Resync: time.Second,
		ScaleInterval: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, 60*time.Second)
	n := &node{addr: addr}
	if code, _, body := rawRequest(t, "POST", n.url()+"/2015-03-31/functions",
		`{"FunctionName":"`+name+`","Role":"arn:aws:iam::000000000000:role/r","KafkaesmHttpTarget":{"Url":"`+fnURL+`"},"Timeout":10}`); code != 201 {
		stop()
		t.Fatalf("create function: %d %s", code, body)
	}
	return n, createPlaintextMapping(t, testCtx(t), n.client(), kt, name, topic, batch), stop
}

func parseSeries(t *testing.T, r io.Reader) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// TestHTTPTarget429IsAThrottle: an HTTP target that answers 429 Too Many Requests is throttled,
// not failing: the batches are retried and delivered once each, the attempts count in
// ThrottledInvokeCount and the function's Throttles, never in FailedInvokeEventCount, and while
// a batch keeps being refused the mapping shows AWS's "PROBLEM: Function call failed" with a
// cause that says the function is throttled, then OK again.
func TestHTTPTarget429IsAThrottle(t *testing.T) {
	kt := kafkatest.Get(t)
	const parts, each = 2, 20
	topic, _ := produceKeyed(t, kt, parts, each)

	var (
		mu      sync.Mutex
		refuse  = true
		refused int
		seen    = map[string]int{}
	)
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			refused++
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		var ev events.KafkaEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for k, rs := range ev.Records {
			for _, rec := range rs {
				seen[fmt.Sprintf("%s/%d", k, rec.Offset)]++
			}
		}
		_, _ = io.WriteString(w, `"ok"`)
	}))
	defer fn.Close()

	n, esm, stop := scalingNode(t, kt, fn.URL, "busy", topic, 5)
	defer stop() // before fn closes
	uuid := aws.ToString(esm.UUID)
	type view struct {
		LastProcessingResult        string
		KafkaesmLastProcessingCause string
		KafkaesmCounts              *struct{ FailedInvokeEventCount, ThrottledInvokeCount, InvokedEventCount int64 }
	}
	get := func() view {
		code, _, body := rawRequest(t, "GET", n.url()+"/2015-03-31/event-source-mappings/"+uuid, "")
		var v view
		if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
			t.Fatalf("GetEventSourceMapping %d: %s", code, body)
		}
		return v
	}
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if v := get(); v.LastProcessingResult != "PROBLEM: Function call failed" ||
			!strings.Contains(v.KafkaesmLastProcessingCause, "the function is throttled: its HTTP target answered 429 Too Many Requests") {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	mu.Lock()
	refuse = false
	mu.Unlock()
	total := parts * each
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if v := get(); v.LastProcessingResult != "OK" || v.KafkaesmCounts == nil || v.KafkaesmCounts.InvokedEventCount != int64(total) {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%s delivered %d times", k, c)
		}
	}
	if len(seen) != total {
		t.Errorf("%d of %d records delivered", len(seen), total)
	}
	v := get()
	code, _, body := rawRequest(t, "GET", n.url()+"/metrics", "")
	m := parseSeries(t, strings.NewReader(body))
	label := `{event_source_mapping_uuid="` + uuid + `",function_name="busy"}`
	if code != 200 || v.KafkaesmCounts.FailedInvokeEventCount != 0 || v.KafkaesmCounts.ThrottledInvokeCount < int64(refused) ||
		m["kafkaesm_FailedInvokeEventCount"+label] != 0 || m["kafkaesm_ThrottledInvokeCount"+label] < float64(refused) ||
		m[`kafkaesm_Throttles{function_name="busy"}`] < float64(refused) || m[`kafkaesm_Errors{function_name="busy"}`] != 0 {
		t.Fatalf("%d refused; counts %+v; metrics %d: Failed %v Throttled %v Throttles %v Errors %v", refused, v.KafkaesmCounts, code,
			m["kafkaesm_FailedInvokeEventCount"+label], m["kafkaesm_ThrottledInvokeCount"+label],
			m[`kafkaesm_Throttles{function_name="busy"}`], m[`kafkaesm_Errors{function_name="busy"}`])
	}
}
