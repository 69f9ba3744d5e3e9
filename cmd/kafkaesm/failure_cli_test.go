package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/server"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// failBootstrap is a custom runtime whose every invocation fails.
const failBootstrap = `#!/bin/sh
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
  h=$(mktemp)
  curl -sS -D "$h" "$api/next" >/dev/null
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$h" | tr -d '\r' | awk '{print $2}')
  rm -f "$h"
  curl -sS -X POST -d '{"errorMessage":"always failing","errorType":"Poison"}' "$api/$id/error" >/dev/null
done
`

// TestStatusShowsFailureCounts: a mapping created with the CLI's failure-handling flags, whose
// function always fails: the records that match its filter go to the kafka:// destination after
// one attempt (--retries 0), the others are filtered out, and status, status -o json and
// mappings get show the counts.
func TestStatusShowsFailureCounts(t *testing.T) {
	ep, _ := startServer(t, func(c *server.Config) { c.Pollers = true })
	k := kafkatest.Get(t)
	topic := k.CreateTopic(t, 1, nil)
	dlq := k.CreateTopic(t, 1, nil)
	for _, v := range []string{"keep", "drop", "keep", "drop", "drop"} {
		k.Produce(t, &kgo.Record{Topic: topic, Value: []byte(v)})
	}
	dir := t.TempDir()
	ok(t, ep, "functions", "create", "fn", "--code", writeExecutable(t, dir, "b", failBootstrap))
	var m mappingJSON
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "mappings", "create", "--function", "fn", "--topic", topic,
		"--bootstrap", k.Plaintext, "--retries", "0", "--on-failure", "kafka://"+dlq, "--filter", `{"value":["keep"]}`, "--wait")), &m); err != nil {
		t.Fatal(err)
	}
	var counts mapping.Counts
	kafkatest.WaitFor(t, time.Minute, func() error {
		var st struct {
			Mappings []struct {
				UUID           string
				KafkaesmCounts *mapping.Counts
			}
		}
		if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "status", "--lag-timeout", "2s")), &st); err != nil {
			return err
		}
		if len(st.Mappings) != 1 || st.Mappings[0].KafkaesmCounts == nil {
			return fmt.Errorf("status %+v", st)
		}
		counts = *st.Mappings[0].KafkaesmCounts
		if counts.OnFailureDestinationDeliveredEventCount != 2 || counts.FilteredOutEventCount != 3 {
			return fmt.Errorf("counts %+v", counts)
		}
		return nil
	})
	if counts.InvokedEventCount != 0 || counts.RetriedEventCount != 0 || counts.DroppedEventCount != 0 {
		t.Fatalf("counts %+v", counts)
	}
	table := ok(t, ep, "status", "--lag-timeout", "2s")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "RETRIED") || !strings.Contains(lines[0], "TO DESTINATION") || !strings.Contains(lines[0], "FILTERED") {
		t.Fatalf("status:\n%s", table)
	}
	for _, col := range []struct {
		name, want string
	}{{"RETRIED", "0"}, {"TO DESTINATION", "2"}, {"FILTERED", "3"}} {
		i := strings.Index(lines[0], col.name)
		if !strings.HasPrefix(lines[1][i:], col.want+" ") {
			t.Errorf("status column %s: want %s in\n%s", col.name, col.want, table)
		}
	}
	if get := ok(t, ep, "mappings", "get", m.UUID); !strings.Contains(get, "0 retried, 3 filtered out, 2 to the on-failure destination, 0 dropped") {
		t.Errorf("mappings get:\n%s", get)
	}
	// update: the filter goes, the destination stays.
	ok(t, ep, "mappings", "update", m.UUID, "--clear-filters", "--retries", "1", "--wait")
	if got := getMappingRaw(t, ep, m.UUID); got.FilterCriteria != nil || got.RetryLimit() != 1 || got.OnFailureTopic() != dlq {
		t.Fatalf("after update: filters %+v, retries %d, destination %q", got.FilterCriteria, got.RetryLimit(), got.OnFailureTopic())
	}
}

func getMappingRaw(t *testing.T, ep, uuid string) *mapping.EventSourceMapping {
	t.Helper()
	var m mapping.EventSourceMapping
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "mappings", "get", uuid)), &m); err != nil {
		t.Fatal(err)
	}
	return &m
}
