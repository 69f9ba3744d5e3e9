package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kafkaesm/kafkaesm/internal/poller"
)

type fakeMappings []poller.Snapshot

func (f fakeMappings) Snapshots() []poller.Snapshot { return f }

type fakeConcurrency map[string]int

func (f fakeConcurrency) Concurrency() map[string]int { return f }

// TestExposition: names, labels and values of the mapping and function metrics, in the text
// format Prometheus scrapes (the README's Metrics section lists the same).
func TestExposition(t *testing.T) {
	m := New(Config{NoProcessMetrics: true, Concurrency: fakeConcurrency{"fn": 2}})
	m.SetMappings(fakeMappings{{
		UUID:     "u1",
		Function: "arn:aws:lambda:us-east-1:000000000000:function:fn",
		Pollers:  3,
		Stats:    poller.Stats{Polled: 120, Invoked: 100, Failed: 7, Dropped: 1, Throttled: 2, Lag: 15, Partitions: 2},
		Partitions: []poller.PartitionStats{
			{Topic: "t", Partition: 0, Lag: 5},
			{Topic: "t", Partition: 1, Lag: 10, Retrying: true},
			{Topic: "t", Partition: 1, Lag: 10}, // a member that lost its session: one series
		},
	}})
	m.OnBatch("u1", "fn", 10, 2048)
	m.Invoked("fn", 30*time.Millisecond, false)
	m.Invoked("fn", 2*time.Second, true)
	m.Throttled("fn")

	want := `
# HELP kafkaesm_OffsetLag Records written to the mapping's topics and not yet processed by its consumer group, summed over partitions (Lambda's OffsetLag).
# TYPE kafkaesm_OffsetLag gauge
kafkaesm_OffsetLag{event_source_mapping_uuid="u1",function_name="fn"} 15
# HELP kafkaesm_PartitionOffsetLag OffsetLag of one partition, as the poller that owns it sees it.
# TYPE kafkaesm_PartitionOffsetLag gauge
kafkaesm_PartitionOffsetLag{event_source_mapping_uuid="u1",function_name="fn",partition="0",topic="t"} 5
kafkaesm_PartitionOffsetLag{event_source_mapping_uuid="u1",function_name="fn",partition="1",topic="t"} 10
# HELP kafkaesm_Pollers Pollers (consumer group members) running the mapping.
# TYPE kafkaesm_Pollers gauge
kafkaesm_Pollers{event_source_mapping_uuid="u1",function_name="fn"} 3
# HELP kafkaesm_PolledEventCount Records read from Kafka by the mapping (records handed between pollers are read again).
# TYPE kafkaesm_PolledEventCount counter
kafkaesm_PolledEventCount{event_source_mapping_uuid="u1",function_name="fn"} 120
# HELP kafkaesm_InvokedEventCount Records delivered to the function in successful invocations.
# TYPE kafkaesm_InvokedEventCount counter
kafkaesm_InvokedEventCount{event_source_mapping_uuid="u1",function_name="fn"} 100
# HELP kafkaesm_FailedInvokeEventCount Records in failed invocation attempts, counted per attempt.
# TYPE kafkaesm_FailedInvokeEventCount counter
kafkaesm_FailedInvokeEventCount{event_source_mapping_uuid="u1",function_name="fn"} 7
# HELP kafkaesm_DroppedEventCount Records given up on without an on-failure destination (larger than the payload limit, too old, or out of retries).
# TYPE kafkaesm_DroppedEventCount counter
kafkaesm_DroppedEventCount{event_source_mapping_uuid="u1",function_name="fn"} 1
# HELP kafkaesm_ThrottledInvokeCount Invocation attempts of the mapping refused at the function's concurrency limit.
# TYPE kafkaesm_ThrottledInvokeCount counter
kafkaesm_ThrottledInvokeCount{event_source_mapping_uuid="u1",function_name="fn"} 2
# HELP kafkaesm_ConcurrentExecutions Executions of the function in progress, as Lambda's ConcurrentExecutions.
# TYPE kafkaesm_ConcurrentExecutions gauge
kafkaesm_ConcurrentExecutions{function_name="fn"} 2
# HELP kafkaesm_Invocations Invocations of a function that ran (successful or not), as Lambda's Invocations.
# TYPE kafkaesm_Invocations counter
kafkaesm_Invocations{function_name="fn"} 2
# HELP kafkaesm_Errors Invocations that ended in a function error or did not complete, as Lambda's Errors.
# TYPE kafkaesm_Errors counter
kafkaesm_Errors{function_name="fn"} 1
# HELP kafkaesm_Throttles Invocations refused at a concurrency limit, as Lambda's Throttles.
# TYPE kafkaesm_Throttles counter
kafkaesm_Throttles{function_name="fn"} 1
`
	names := []string{"kafkaesm_OffsetLag", "kafkaesm_PartitionOffsetLag", "kafkaesm_Pollers", "kafkaesm_PolledEventCount",
		"kafkaesm_InvokedEventCount", "kafkaesm_FailedInvokeEventCount", "kafkaesm_DroppedEventCount",
		"kafkaesm_ThrottledInvokeCount", "kafkaesm_ConcurrentExecutions", "kafkaesm_Invocations", "kafkaesm_Errors", "kafkaesm_Throttles"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.batchSize); n != 1 {
		t.Fatalf("BatchSize series: %d", n)
	}

	// The handler serves the same registry.
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, s := range []string{"kafkaesm_BatchSize_bucket", "kafkaesm_BatchPayloadBytes_sum", "kafkaesm_Duration_seconds_count",
		"kafkaesm_FilteredOutEventCount", "kafkaesm_OnFailureDestinationDeliveredEventCount", "kafkaesm_AssignedPartitions"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
}

// TestForgetMapping: a deleted mapping's histograms leave /metrics; other mappings' stay.
func TestForgetMapping(t *testing.T) {
	m := New(Config{NoProcessMetrics: true})
	m.OnBatch("gone", "fn", 10, 2048)
	m.OnBatch("gone", "fn2", 1, 10) // retargeted to another function meanwhile
	m.OnBatch("kept", "fn", 5, 100)
	m.PollersChanged("gone", "fn", "scale-out")
	m.PollersChanged("kept", "fn", "scale-out")
	m.ForgetMapping("gone")
	for _, h := range []prometheus.Collector{m.batchSize, m.batchBytes, m.pollerChanges} {
		if n := testutil.CollectAndCount(h); n != 1 {
			t.Errorf("%d series left, want the kept mapping's only", n)
		}
	}
}

func TestFunctionName(t *testing.T) {
	for in, want := range map[string]string{
		"fn": "fn", "fn:$LATEST": "fn", "arn:aws:lambda:us-east-1:000000000000:function:fn": "fn",
		"arn:aws:lambda:us-east-1:000000000000:function:fn:prod": "fn", "000000000000:function:fn": "fn",
	} {
		if got := FunctionName(in); got != want {
			t.Errorf("FunctionName(%q) = %q, want %q", in, got, want)
		}
	}
}
