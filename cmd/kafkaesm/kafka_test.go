package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/server"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

type mappingJSON struct {
	UUID                 string
	State                string
	BatchSize            int
	FunctionArn          string
	LastProcessingResult string
	// KafkaesmLastProcessingCause is kafkaesm's extension member: why the last result is a problem.
	KafkaesmLastProcessingCause string
}

func getMapping(t *testing.T, ep, uuid string) mappingJSON {
	t.Helper()
	var m mappingJSON
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "mappings", "get", uuid)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMappingLifecycle(t *testing.T) {
	ep, _ := startServer(t)
	k := kafkatest.Get(t)
	topic := k.CreateTopic(t, 1, nil)
	dir := t.TempDir()
	ok(t, ep, "functions", "create", "fn", "--code", writeExecutable(t, dir, "b", echoBootstrap))
	ok(t, ep, "functions", "create", "fn2", "--code", writeExecutable(t, dir, "b2", echoBootstrap))

	var created mappingJSON
	out := ok(t, ep, "-o", "json", "mappings", "create", "--function", "fn", "--topic", topic,
		"--bootstrap", k.Plaintext, "--batch-size", "50", "--wait")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.State != "Enabled" || created.BatchSize != 50 {
		t.Fatalf("create --wait -o json: %v %+v\n%s", err, created, out)
	}
	uuid := created.UUID

	table := ok(t, ep, "mappings", "list")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "UUID") || !strings.Contains(lines[1], uuid) ||
		!strings.Contains(lines[1], "Enabled") || !strings.Contains(lines[1], topic) {
		t.Errorf("mappings list:\n%s", table)
	}
	// Columns line up: every row's STATE starts where the header's does.
	if col := strings.Index(lines[0], "STATE"); col < 0 || !strings.HasPrefix(lines[1][col:], "Enabled") {
		t.Errorf("mappings list columns are not aligned:\n%s", table)
	}
	get := ok(t, ep, "mappings", "get", uuid)
	for _, want := range []string{"UUID:", uuid, "Consumer group:", "Batch size:", "50", "No records processed"} {
		if !strings.Contains(get, want) {
			t.Errorf("mappings get lacks %q:\n%s", want, get)
		}
	}
	var listed struct{ EventSourceMappings []mappingJSON }
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "mappings", "list", "--function", "fn")), &listed); err != nil ||
		len(listed.EventSourceMappings) != 1 || listed.EventSourceMappings[0].UUID != uuid {
		t.Errorf("mappings list --function -o json: %v %+v", err, listed)
	}

	if m := getMapping(t, ep, uuid); m.State != "Enabled" {
		t.Fatalf("state %s", m.State)
	}
	if out := ok(t, ep, "mappings", "disable", uuid, "--wait"); !strings.Contains(out, "Disabled") {
		t.Errorf("disable --wait:\n%s", out)
	}
	if m := getMapping(t, ep, uuid); m.State != "Disabled" {
		t.Errorf("after disable: %s", m.State)
	}
	ok(t, ep, "mappings", "enable", uuid, "--wait")
	if m := getMapping(t, ep, uuid); m.State != "Enabled" {
		t.Errorf("after enable: %s", m.State)
	}
	ok(t, ep, "mappings", "update", uuid, "--batch-size", "7", "--function", "fn2", "--wait")
	if m := getMapping(t, ep, uuid); m.BatchSize != 7 || !strings.HasSuffix(m.FunctionArn, ":function:fn2") || m.State != "Enabled" {
		t.Errorf("after update: %+v", m)
	}
	// An update while the mapping is still settling is refused with AWS's error.
	ok(t, ep, "mappings", "disable", uuid)
	if got := cli(t, ep, "", "mappings", "enable", uuid); got.err != nil && !strings.HasPrefix(got.err.Error(), "ResourceInUseException: ") {
		t.Errorf("enable while Disabling: %v", got.err)
	}
	kafkatest.WaitFor(t, time.Minute, func() error {
		if m := getMapping(t, ep, uuid); m.State == "Disabling" || m.State == "Enabling" {
			return errString("still settling")
		}
		return nil
	})

	if out := ok(t, ep, "mappings", "delete", uuid, "--wait"); strings.TrimSpace(out) != "mapping "+uuid+" deleted" {
		t.Errorf("delete --wait: %q", out)
	}
	if got := fails(t, ep, "mappings", "get", uuid); got != "kafkaesm: ResourceNotFoundException: The resource you requested does not exist." {
		t.Errorf("get after delete: %q", got)
	}
	if out := ok(t, ep, "mappings", "list"); strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("list after delete: want only the header:\n%s", out)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestProduce(t *testing.T) {
	k := kafkatest.Get(t)
	topic := k.CreateTopic(t, 1, nil)
	stdin := "plain line\n" +
		`{"key":"k1","value":"v1","headers":{"h1":"x"}}` + "\n" +
		`{"value":{"total":12.5}}` + "\n" +
		"\n" +
		`{"not":"a record"}` + "\n"
	r := cli(t, "", stdin, "produce", topic, "--bootstrap", k.Plaintext, "--key", "dk", "--header", "src=cli", "-H", "h1=default")
	if r.err != nil || strings.TrimSpace(r.stdout) != "produced 4 record(s) to "+topic+": partition 0 offsets 0-3" {
		t.Fatalf("produce: %v %q %s", r.err, r.stdout, r.stderr)
	}

	cl := k.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(got) < 4 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	if len(got) != 4 {
		t.Fatalf("consumed %d records, want 4", len(got))
	}
	headers := func(r *kgo.Record) string {
		var hs []string
		for _, h := range r.Headers {
			hs = append(hs, h.Key+"="+string(h.Value))
		}
		return strings.Join(hs, ",")
	}
	want := []struct{ key, value, headers string }{
		{"dk", "plain line", "src=cli,h1=default"},
		{"k1", "v1", "src=cli,h1=x"},
		{"dk", `{"total":12.5}`, "src=cli,h1=default"},
		{"dk", `{"not":"a record"}`, "src=cli,h1=default"},
	}
	for i, w := range want {
		if string(got[i].Key) != w.key || string(got[i].Value) != w.value || headers(got[i]) != w.headers {
			t.Errorf("record %d: key %q value %q headers %q, want %+v", i, got[i].Key, got[i].Value, headers(got[i]), w)
		}
	}

	if got := fails(t, "", "produce", topic, "--bootstrap", k.Plaintext, "--header", "novalue"); got != `kafkaesm: --header "novalue": want KEY=VALUE` {
		t.Errorf("bad header: %q", got)
	}
	var js struct {
		Records int
		Offsets []struct{ Partition, Offset int64 }
	}
	r = cli(t, "", "one more\n", "-o", "json", "produce", topic, "--bootstrap", k.Plaintext)
	if err := json.Unmarshal([]byte(r.stdout), &js); err != nil || js.Records != 1 || len(js.Offsets) != 1 || js.Offsets[0].Offset != 4 {
		t.Errorf("produce -o json: %v %q", err, r.stdout)
	}
}

// TestProduceNoBroker: nothing listens at the address; produce says so (after --connect-timeout
// at most, not after the 30 s delivery timeout).
func TestProduceNoBroker(t *testing.T) {
	r := cli(t, "", "x\n", "produce", "demo", "--bootstrap", "127.0.0.1:1")
	if r.err == nil || !strings.HasPrefix(r.err.Error(), "no Kafka broker answers at 127.0.0.1:1 within 5s") {
		t.Errorf("produce without a broker: %v", r.err)
	}
}

func TestStatusLag(t *testing.T) {
	ep, _ := startServer(t)
	k := kafkatest.Get(t)
	topic := k.CreateTopic(t, 2, nil)
	for range 5 {
		k.Produce(t, &kgo.Record{Topic: topic, Value: []byte("v")})
	}
	dir := t.TempDir()
	ok(t, ep, "functions", "create", "fn", "--code", writeExecutable(t, dir, "b", echoBootstrap))
	var m mappingJSON
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "mappings", "create", "--function", "fn", "--topic", topic,
		"--bootstrap", k.Plaintext, "--group-id", kafkatest.UniqueName("g"), "--wait")), &m); err != nil {
		t.Fatal(err)
	}
	// A second mapping whose cluster cannot be reached: its lag is "-", and status still answers.
	ok(t, ep, "mappings", "create", "--function", "fn", "--topic", topic, "--bootstrap", "127.0.0.1:1", "--wait")

	// The server here has no poller, so nothing consumes: the lag is exactly what the test made it.
	status := func() map[string]*int64 {
		var st struct {
			Mappings []struct {
				UUID            string
				ConsumerGroupId string
				OffsetLag       *int64
			}
		}
		if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "status", "--lag-timeout", "2s")), &st); err != nil {
			t.Fatal(err)
		}
		lags := map[string]*int64{}
		for _, s := range st.Mappings {
			lags[s.UUID] = s.OffsetLag
		}
		return lags
	}
	lags := status()
	if len(lags) != 2 || lags[m.UUID] == nil || *lags[m.UUID] != 5 {
		t.Errorf("status -o json before commits: %v", lags)
	}
	for id, l := range lags {
		if id != m.UUID && l != nil {
			t.Errorf("unreachable cluster: lag %d, want null", *l)
		}
	}

	// Commit offset 2 for the mapping's group: lag 5 - 2 = 3.
	group := getGroup(t, ep, m.UUID)
	adm := k.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// kafkatest's producer picks partitions itself: commit 2 on a partition that has at least 2.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var offs kadm.Offsets
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset >= 2 && len(offs) == 0 {
			offs.AddOffset(topic, o.Partition, 2, -1)
		}
	})
	resp, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("committing for group %s: %v", group, err)
	}
	if l := status()[m.UUID]; l == nil || *l != 3 {
		t.Errorf("lag after committing 2 records: %v, want 3", fmtLag(l))
	}

	table := ok(t, ep, "status", "--lag-timeout", "2s")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "UUID") {
		t.Fatalf("status table:\n%s", table)
	}
	col := strings.Index(lines[0], "LAG")
	for _, l := range lines[1:] {
		want := "-"
		if strings.HasPrefix(l, m.UUID) {
			want = "3"
		}
		if !strings.HasPrefix(l[col:], want+" ") {
			t.Errorf("status row %q: want lag %s in the LAG column", l, want)
		}
	}
}

func getGroup(t *testing.T, ep, uuid string) string {
	t.Helper()
	var m struct {
		SelfManagedKafkaEventSourceConfig struct{ ConsumerGroupId string }
	}
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "mappings", "get", uuid)), &m); err != nil {
		t.Fatal(err)
	}
	return m.SelfManagedKafkaEventSourceConfig.ConsumerGroupId
}

func fmtLag(l *int64) string {
	if l == nil {
		return "null"
	}
	return fmt.Sprint(*l)
}

// TestStatusShowsCause: a mapping whose cluster refuses connections keeps Lambda's text in
// LastProcessingResult; `mappings get` and `status` also show the cause the server saw.
func TestStatusShowsCause(t *testing.T) {
	ep, _ := startServer(t, func(c *server.Config) { c.Pollers = true })
	dir := t.TempDir()
	ok(t, ep, "functions", "create", "fn", "--code", writeExecutable(t, dir, "b", echoBootstrap))
	var m mappingJSON
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "mappings", "create", "--function", "fn", "--topic", "orders",
		"--bootstrap", "127.0.0.1:1", "--wait")), &m); err != nil {
		t.Fatal(err)
	}
	const result = "PROBLEM: Connection error. Please check your event source connection configuration."
	kafkatest.WaitFor(t, time.Minute, func() error {
		if got := getMapping(t, ep, m.UUID); got.LastProcessingResult != result || !strings.Contains(got.KafkaesmLastProcessingCause, "connection refused") {
			return fmt.Errorf("LastProcessingResult %q, KafkaesmLastProcessingCause %q", got.LastProcessingResult, got.KafkaesmLastProcessingCause)
		}
		return nil
	})
	if get := ok(t, ep, "mappings", "get", m.UUID); !regexp.MustCompile(`Last processing cause:\s+.*connection refused`).MatchString(get) {
		t.Errorf("mappings get shows no cause:\n%s", get)
	}
	table := ok(t, ep, "status", "--lag-timeout", "1s")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "CAUSE") || !strings.Contains(lines[1], "connection refused") {
		t.Errorf("status:\n%s", table)
	}
}

// TestStatusShowsPollers: `mappings update --min-pollers` applies at once on a running node,
// and status and mappings get show the effective poller count and why.
func TestStatusShowsPollers(t *testing.T) {
	ep, _ := startServer(t, func(c *server.Config) { c.Pollers = true; c.ScaleInterval = time.Second })
	k := kafkatest.Get(t)
	topic := k.CreateTopic(t, 4, nil)
	dir := t.TempDir()
	ok(t, ep, "functions", "create", "fn", "--code", writeExecutable(t, dir, "b", echoBootstrap))
	var m mappingJSON
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "mappings", "create", "--function", "fn", "--topic", topic,
		"--bootstrap", k.Plaintext, "--wait")), &m); err != nil {
		t.Fatal(err)
	}
	ok(t, ep, "mappings", "update", m.UUID, "--min-pollers", "2", "--max-pollers", "3", "--wait")
	kafkatest.WaitFor(t, time.Minute, func() error {
		table := ok(t, ep, "status", "--lag-timeout", "2s")
		lines := strings.Split(strings.TrimSpace(table), "\n")
		if len(lines) != 2 {
			return fmt.Errorf("status:\n%s", table)
		}
		col := strings.Index(lines[0], "POLLERS")
		if col < 0 || !strings.HasPrefix(lines[1][col:], "2 (MinimumPollers 2) ") {
			return fmt.Errorf("status:\n%s", table)
		}
		return nil
	})
	if get := ok(t, ep, "mappings", "get", m.UUID); !regexp.MustCompile(`Pollers:\s+2 \(MinimumPollers 2\), since `).MatchString(get) {
		t.Errorf("mappings get:\n%s", get)
	}
}
