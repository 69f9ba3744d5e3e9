package outcome

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestAfterFailure(t *testing.T) {
	tests := []struct {
		name        string
		p           Policy
		n, failures int
		want        Decision
	}{
		{"infinite retries", Policy{RetryLimit: -1}, 100, 1000, Retry},
		{"retries left", Policy{RetryLimit: 2}, 100, 2, Retry},
		{"3rd failure with 2 retries", Policy{RetryLimit: 2}, 100, 3, GiveUp},
		{"no retries", Policy{RetryLimit: 0}, 1, 1, GiveUp},
		{"bisect splits without using a retry", Policy{RetryLimit: 0, Bisect: true}, 2, 1, Split},
		{"bisect: a single record uses retries", Policy{RetryLimit: 1, Bisect: true}, 1, 1, Retry},
		{"bisect: a single record gives up", Policy{RetryLimit: 1, Bisect: true}, 1, 2, GiveUp},
		{"bisect, infinite retries, single record", Policy{RetryLimit: -1, Bisect: true}, 1, 50, Retry},
	}
	for _, tc := range tests {
		if got := tc.p.AfterFailure(tc.n, tc.failures); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestBisectBound simulates the poller's use of the policy: one bad record among 1,000, no
// retries: the failing halves take at most ⌈log2 1000⌉+1 invocations, every good record is
// delivered once, in order, and only the bad one is given up.
func TestBisectBound(t *testing.T) {
	const n = 1000
	p := Policy{RetryLimit: 0, Bisect: true}
	for bad := 0; bad < n; bad += 37 {
		type seg struct{ lo, hi, failures int }
		queue := []seg{{0, n, 0}}
		var delivered, given []int
		failingInvocations := 0
		for len(queue) > 0 {
			s := queue[0]
			queue = queue[1:]
			if bad < s.lo || bad >= s.hi {
				for i := s.lo; i < s.hi; i++ {
					delivered = append(delivered, i)
				}
				continue
			}
			failingInvocations++
			s.failures++
			switch p.AfterFailure(s.hi-s.lo, s.failures) {
			case Split:
				mid := s.lo + (s.hi-s.lo+1)/2
				queue = append([]seg{{s.lo, mid, s.failures - 1}, {mid, s.hi, s.failures - 1}}, queue...)
			case GiveUp:
				for i := s.lo; i < s.hi; i++ {
					given = append(given, i)
				}
			case Retry:
				queue = append([]seg{s}, queue...)
			}
		}
		if max := int(math.Ceil(math.Log2(n))) + 1; failingInvocations > max {
			t.Fatalf("bad record %d: %d invocations of failing halves, want ≤ %d", bad, failingInvocations, max)
		}
		if len(given) != 1 || given[0] != bad || len(delivered) != n-1 {
			t.Fatalf("bad record %d: given up %v, %d delivered", bad, given, len(delivered))
		}
		for i := 1; i < len(delivered); i++ {
			if delivered[i] <= delivered[i-1] {
				t.Fatalf("order broken at %d", delivered[i])
			}
		}
	}
}

func TestExpired(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	p := Policy{MaxAge: time.Minute}
	if !p.Expired(now.Add(-61*time.Second), now) || p.Expired(now.Add(-59*time.Second), now) {
		t.Fatal("MaxAge 60 s")
	}
	if (Policy{}).Expired(time.Unix(0, 0), now) {
		t.Fatal("no MaxAge: nothing expires")
	}
}

func TestParseItemFailures(t *testing.T) {
	offsets := []int64{10, 11, 12, 14}
	tests := []struct {
		name, resp string
		failedAt   int
		invalid    bool
	}{
		{"empty response", ``, 4, false},
		{"null", `null`, 4, false},
		{"other object", `{"statusCode":200}`, 4, false},
		{"a string", `"ok"`, 4, false},
		{"null list", `{"batchItemFailures":null}`, 4, false},
		{"empty list", `{"batchItemFailures":[]}`, 4, false},
		{"one failure", `{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-0","offset":12}}]}`, 2, false},
		{"lowest wins", `{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-0","offset":14}},{"itemIdentifier":{"topic-partition":"t-0","offset":11}}]}`, 1, false},
		{"offset as a string", `{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-0","offset":"14"}}]}`, 3, false},
		{"first record", `{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-0","offset":10}}]}`, 0, false},
		{"not JSON", `{batch`, 0, true},
		{"list is not a list", `{"batchItemFailures":{"a":1}}`, 0, true},
		{"null itemIdentifier", `{"batchItemFailures":[{"itemIdentifier":null}]}`, 0, true},
		{"empty itemIdentifier", `{"batchItemFailures":[{"itemIdentifier":""}]}`, 0, true},
		{"no itemIdentifier", `{"batchItemFailures":[{}]}`, 0, true},
		{"Kinesis-style identifier", `{"batchItemFailures":[{"itemIdentifier":"12"}]}`, 0, true},
		{"wrong key", `{"batchItemFailures":[{"itemIdentifier":{"partition":"t-0","offset":12}}]}`, 0, true},
		{"extra key", `{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-0","offset":12,"x":1}}]}`, 0, true},
		{"other partition", `{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-1","offset":12}}]}`, 0, true},
		{"offset not in the batch", `{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-0","offset":13}}]}`, 0, true},
		{"fractional offset", `{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-0","offset":12.5}}]}`, 0, true},
		{"negative offset", `{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-0","offset":-1}}]}`, 0, true},
	}
	for _, tc := range tests {
		got := ParseItemFailures([]byte(tc.resp), "t-0", offsets)
		if got.FailedAt != tc.failedAt || got.Invalid != tc.invalid {
			t.Errorf("%s: %+v, want failedAt %d invalid %v", tc.name, got, tc.failedAt, tc.invalid)
		}
	}
}

func TestMessage(t *testing.T) {
	ts := time.UnixMilli(1_545_084_650_987)
	r := &kgo.Record{Topic: "orders", Partition: 3, Offset: 42, Timestamp: ts, Key: []byte("k1"), Value: []byte(`{"a":1}`),
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{0xff, 'x'}}}}
	f := Failure{Condition: RetryAttemptsExhausted, FunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:fn",
		RequestID: "req-1", InvokeCount: 3, Response: &Response{StatusCode: 200, ExecutedVersion: "$LATEST", FunctionError: "Unhandled"},
		BatchSize: 5, PayloadSize: 1234, Time: time.Date(2026, 12, 1, 10, 0, 0, 5e6, time.UTC)}
	m := Message("dlq", "SelfManagedKafka", []string{"b1:9092", "b2:9092"}, r, f)
	if m.Topic != "dlq" || string(m.Key) != "k1" {
		t.Fatalf("topic %q key %q", m.Topic, m.Key)
	}
	hs := map[string]string{}
	for _, h := range m.Headers {
		hs[h.Key] = string(h.Value)
	}
	if hs[HeaderSourceTopic] != "orders" || hs[HeaderSourcePartition] != "3" || hs[HeaderSourceOffset] != "42" || hs[HeaderCondition] != RetryAttemptsExhausted {
		t.Fatalf("headers %v", hs)
	}
	// The wire names, spelled out (decoding into Body alone would not notice a wrong tag).
	var names map[string]any
	if err := json.Unmarshal(m.Value, &names); err != nil {
		t.Fatalf("%v in %s", err, m.Value)
	}
	delete(names, "payload")
	if b, _ := json.Marshal(names); string(b) != `{"KafkaBatchInfo":{"batchSize":5,"bootstrapServers":"b1:9092,b2:9092","payloadSize":1234,`+
		`"recordInfo":{"offset":"42","timestamp":"2018-12-17T22:10:50.987Z"}},`+
		`"requestContext":{"approximateInvokeCount":3,"condition":"RetryAttemptsExhausted","functionArn":"arn:aws:lambda:us-east-1:000000000000:function:fn","requestId":"req-1"},`+
		`"responseContext":{"executedVersion":"$LATEST","functionError":"Unhandled","statusCode":200},"timestamp":"2026-12-01T10:00:00.005Z","version":"1.0"}` {
		t.Fatalf("message without payload %s", b)
	}
	var got Body[events.KafkaEvent]
	if err := json.Unmarshal(m.Value, &got); err != nil {
		t.Fatalf("%v in %s", err, m.Value)
	}
	rc, bi := got.RequestContext, got.KafkaBatchInfo
	if rc.RequestID != "req-1" || rc.Condition != "RetryAttemptsExhausted" || rc.ApproximateInvokeCount != 3 || rc.FunctionArn != f.FunctionArn ||
		got.ResponseContext == nil || got.ResponseContext.FunctionError != "Unhandled" || got.Version != "1.0" ||
		got.Timestamp != "2026-12-01T10:00:00.005Z" || bi.BatchSize != 5 || bi.PayloadSize != 1234 || bi.BootstrapServers != "b1:9092,b2:9092" ||
		bi.RecordInfo.Offset != "42" || bi.RecordInfo.Timestamp != "2018-12-17T22:10:50.987Z" {
		t.Fatalf("message %s", m.Value)
	}
	ev := got.Payload
	recs := ev.Records["orders-3"]
	if ev.EventSource != "SelfManagedKafka" || ev.BootstrapServers != "b1:9092,b2:9092" || len(recs) != 1 {
		t.Fatalf("payload %+v", ev)
	}
	pr := recs[0]
	v, _ := base64.StdEncoding.DecodeString(pr.Value)
	k, _ := base64.StdEncoding.DecodeString(pr.Key)
	if pr.Offset != 42 || pr.Partition != 3 || string(v) != `{"a":1}` || string(k) != "k1" || pr.Timestamp.UnixMilli() != ts.UnixMilli() ||
		len(pr.Headers) != 1 || string(pr.Headers[0]["h"]) != "\xffx" {
		t.Fatalf("payload record %+v", pr)
	}
	// Never invoked: responseContext is null.
	f.Response = nil
	m = Message("dlq", "SelfManagedKafka", []string{"b1:9092"}, r, f)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(m.Value, &raw); err != nil || string(raw["responseContext"]) != "null" {
		t.Fatalf("responseContext %s (%v)", raw["responseContext"], err)
	}
}
