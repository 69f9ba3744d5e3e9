package event

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

var ts = time.UnixMilli(1545084650987)

func rec(topic string, p int32, off int64, key, value []byte, hs ...kgo.RecordHeader) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: p, Offset: off, Timestamp: ts, Key: key, Value: value, Headers: hs}
}

func logAppend(r *kgo.Record) *kgo.Record {
	r.Attrs = kgo.NewRecordAttrs(kgo.RecordAttrsOpts{TimestampType: 1})
	return r
}

// want is the KafkaRecord a golden must decode into.
func want(r *kgo.Record, tsType string) events.KafkaRecord {
	kr := events.KafkaRecord{
		Topic: r.Topic, Partition: int64(r.Partition), Offset: r.Offset,
		Timestamp:     events.MilliSecondsEpochTime{Time: ts},
		TimestampType: tsType,
		Headers:       []map[string]events.JSONNumberBytes{},
	}
	if r.Key != nil {
		kr.Key = b64(r.Key)
	}
	if r.Value != nil {
		kr.Value = b64(r.Value)
	}
	for _, h := range r.Headers {
		v := events.JSONNumberBytes(h.Value)
		if v == nil {
			v = events.JSONNumberBytes{} // an empty array, as Java sends for a null header value
		}
		kr.Headers = append(kr.Headers, map[string]events.JSONNumberBytes{h.Key: v})
	}
	return kr
}

func b64(b []byte) string {
	out, _ := json.Marshal(b) // encoding/json uses std base64: an independent reference
	return strings.Trim(string(out), `"`)
}

func TestGolden(t *testing.T) {
	binHeaders := []kgo.RecordHeader{
		{Key: "headerKey", Value: []byte("headerValue")},
		{Key: "bin", Value: []byte{0x76, 0xDC, 0x00, 0x7F, 0x80, 0xFF}},
		{Key: "bin", Value: []byte{1}}, // duplicate name: a separate object, order kept
		{Key: "empty", Value: nil},
		{Key: `q"\<é>`, Value: []byte("ë")},
	}
	tests := []struct {
		name    string
		source  string
		servers []string
		recs    []*kgo.Record
		tsType  []string
	}{
		{"basic", "", []string{"b-2.x:9092", "b-1.x:9092"},
			[]*kgo.Record{rec("mytopic", 0, 15, []byte("abc"), []byte("Hello, this is a test."), kgo.RecordHeader{Key: "headerKey", Value: []byte("headerValue")})},
			[]string{CreateTime}},
		{"null-key", "", []string{"h1:9092"},
			[]*kgo.Record{rec("t", 3, 0, nil, []byte("v")), rec("t", 3, 1, []byte{}, []byte{})},
			[]string{CreateTime, CreateTime}},
		{"tombstone", "", []string{"h1:9092"},
			[]*kgo.Record{rec("t", 0, 7, []byte("k"), nil)},
			[]string{CreateTime}},
		{"binary-headers", "", []string{"h1:9092"},
			[]*kgo.Record{rec("t", 0, 1, []byte{0xff, 0xfe}, []byte{0, 1, 2, 250}, binHeaders...)},
			[]string{CreateTime}},
		{"several-partitions", "", []string{"h1:9092", "h2:9092"},
			[]*kgo.Record{
				rec("orders", 0, 10, []byte("a"), []byte("1")), rec("orders", 0, 11, []byte("b"), []byte("2")),
				rec("orders", 11, 5, []byte("c"), []byte("3")), rec("audit", 0, 99, nil, []byte("4")),
			},
			[]string{CreateTime, CreateTime, CreateTime, CreateTime}},
		{"log-append-time", SourceAWSSelfManagedKafka, []string{"h1:9092"},
			[]*kgo.Record{logAppend(rec("t", 0, 1, []byte("k"), []byte("v")))},
			[]string{LogAppendTime}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := NewEncoder(tt.source, tt.servers)
			b := enc.NewBatch()
			defer b.Release()
			for _, r := range tt.recs {
				if res, err := b.Add(r); res != Added || err != nil {
					t.Fatalf("Add = %v, %v", res, err)
				}
			}
			got := b.Bytes()
			if len(got) != b.Size() {
				t.Errorf("Size() = %d, len(Bytes()) = %d", b.Size(), len(got))
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON: %s", got)
			}
			var indented bytes.Buffer
			if err := json.Indent(&indented, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tt.name+".json")
			if *update {
				if err := os.WriteFile(path, indented.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(golden), indented.String()); d != "" {
				t.Errorf("payload differs from %s (-golden +got):\n%s", path, d)
			}

			var ev events.KafkaEvent
			if err := json.Unmarshal(golden, &ev); err != nil {
				t.Fatalf("golden does not decode into events.KafkaEvent: %v", err)
			}
			wantEv := events.KafkaEvent{
				EventSource:      tt.source,
				BootstrapServers: strings.Join(tt.servers, ","),
				Records:          map[string][]events.KafkaRecord{},
			}
			if wantEv.EventSource == "" {
				wantEv.EventSource = SourceSelfManagedKafka
			}
			for i, r := range tt.recs {
				k := r.Topic + "-" + itoa(r.Partition)
				wantEv.Records[k] = append(wantEv.Records[k], want(r, tt.tsType[i]))
			}
			if d := cmp.Diff(wantEv, ev); d != "" {
				t.Errorf("decoded event (-want +got):\n%s", d)
			}
			// A null key and a tombstone are omitted, never null.
			var raw struct {
				Records map[string][]map[string]json.RawMessage `json:"records"`
			}
			if err := json.Unmarshal(got, &raw); err != nil {
				t.Fatal(err)
			}
			for i, r := range tt.recs {
				k := r.Topic + "-" + itoa(r.Partition)
				var obj map[string]json.RawMessage
				for _, o := range raw.Records[k] {
					if string(o["offset"]) == itoa64(r.Offset) {
						obj = o
					}
				}
				_, hasKey := obj["key"]
				_, hasValue := obj["value"]
				if hasKey != (r.Key != nil) || hasValue != (r.Value != nil) {
					t.Errorf("record %d: key present %v value present %v", i, hasKey, hasValue)
				}
				if _, ok := obj["eventSourceArn"]; ok {
					t.Error("eventSourceArn must be absent for self-managed Kafka")
				}
			}
		})
	}
}

func itoa(p int32) string   { return itoa64(int64(p)) }
func itoa64(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"\`, "\n\r\t\x00\x1f", "<&>", "é ë 日本", "\u2028\u2029", "bad\xffutf8", "\xe2\x80"} {
		want, _ := json.Marshal(s)
		got := appendString(nil, s)
		if string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
		if n := stringSize(s); n != len(want) {
			t.Errorf("stringSize(%q) = %d, want %d", s, n, len(want))
		}
	}
}

func TestRecordSizeExact(t *testing.T) {
	hs := []kgo.RecordHeader{{Key: "a", Value: []byte{0, 9, 10, 99, 100, 127, 128, 200, 255}}, {Key: "<é>", Value: nil}}
	for _, r := range []*kgo.Record{
		rec("t", 0, 0, nil, nil),
		rec("topic.with-dash_x", 2147483647, 9223372036854775807, []byte{1}, []byte{1, 2}, hs...),
		rec("t", 1, 1, []byte("ab"), []byte("abcd"), hs...),
		{Topic: "t", Timestamp: time.UnixMilli(-5)},
	} {
		if got, want := RecordSize(r), len(AppendRecord(nil, r)); got != want {
			t.Errorf("RecordSize = %d, len(AppendRecord) = %d for %+v", got, want, r)
		}
	}
}

// TestBatchLimit fills batches against small limits and checks that every payload stays within
// the limit, that Full comes only when the next record really does not fit, and that a record
// too large alone is reported.
func TestBatchLimit(t *testing.T) {
	enc := NewEncoder("", []string{"h:9092"})
	one := rec("t", 0, 0, []byte("k"), []byte("value"))
	b := enc.NewBatch()
	b.Add(one)
	exact := b.Size() // the payload with exactly one record
	b.Release()

	tests := []struct {
		name  string
		limit int
		want  []AddResult
	}{
		{"fits exactly", exact, []AddResult{Added, Full}},
		{"one byte short", exact - 1, []AddResult{TooLarge, TooLarge}},
		{"room for two", exact + 1 + RecordSize(one), []AddResult{Added, Added, Full}},
		{"room for two minus one", exact + RecordSize(one), []AddResult{Added, Full}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := enc.WithLimit(tt.limit).NewBatch()
			defer b.Release()
			for i, w := range tt.want {
				r := rec("t", 0, 0, []byte("k"), []byte("value")) // same size every time
				got, err := b.Add(r)
				if err != nil || got != w {
					t.Fatalf("Add #%d = %v, %v; want %v", i, got, err, w)
				}
				if b.Size() > tt.limit || len(b.Bytes()) != b.Size() {
					t.Fatalf("size %d (bytes %d) over limit %d", b.Size(), len(b.Bytes()), tt.limit)
				}
			}
		})
	}
}

func TestBatchSixMegabytes(t *testing.T) {
	enc := NewEncoder("", []string{"h:9092"})
	b := enc.NewBatch()
	defer b.Release()
	val := make([]byte, 100<<10)
	var full bool
	for i := range 100 {
		res, err := b.Add(rec("t", 0, int64(i), nil, val))
		if err != nil {
			t.Fatal(err)
		}
		if res == Full {
			full = true
			break
		}
	}
	if !full || b.Size() > MaxPayloadBytes || b.Size() < MaxPayloadBytes-200<<10 {
		t.Fatalf("full=%v size=%d", full, b.Size())
	}
	if !json.Valid(b.Bytes()) {
		t.Fatal("invalid JSON")
	}
	big := rec("t", 0, 1000, nil, make([]byte, MaxPayloadBytes*3/4+1)) // base64 pushes it over 6 MB
	if enc.FitsAlone(big) {
		t.Fatal("FitsAlone(big) = true")
	}
	if res, _ := b.Add(big); res != TooLarge {
		t.Fatalf("Add(big) = %v, want TooLarge", res)
	}
	b.Reset()
	if res, _ := b.Add(big); res != TooLarge {
		t.Fatalf("Add(big) to empty = %v, want TooLarge", res)
	}
}

func TestBatchPartitionReopened(t *testing.T) {
	b := NewEncoder("", nil).NewBatch()
	defer b.Release()
	b.Add(rec("t", 0, 0, nil, nil))
	b.Add(rec("t", 1, 0, nil, nil))
	if _, err := b.Add(rec("t", 0, 1, nil, nil)); err != ErrPartitionReopened {
		t.Fatalf("err = %v", err)
	}
}

func TestEmptyBatch(t *testing.T) {
	b := NewEncoder("", []string{"a:1"}).NewBatch()
	defer b.Release()
	var ev events.KafkaEvent
	if err := json.Unmarshal(b.Bytes(), &ev); err != nil || len(ev.Records) != 0 || b.Size() != len(b.Bytes()) {
		t.Fatalf("%s: %v", b.Bytes(), err)
	}
}

func TestIntSize(t *testing.T) {
	vs := []int64{0, 1, -1, 9, 10, 99, 100, math.MaxInt64, math.MinInt64, math.MaxInt64 / 10, 1_700_000_000_000}
	for p := int64(1); p <= math.MaxInt64/10; p *= 10 {
		vs = append(vs, p-1, p, p+1, -p+1, -p, -p-1)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10_000 {
		vs = append(vs, int64(r.Uint64()), int64(r.Uint64()>>r.UintN(64)))
	}
	for _, v := range vs {
		if got, want := intSize(v), len(strconv.FormatInt(v, 10)); got != want {
			t.Fatalf("intSize(%d) = %d, want %d", v, got, want)
		}
	}
}

// TestBatchRefusedPartitionKeepsHead: a record of another partition that does not fit must
// not change how the open partition's next records are written.
func TestBatchRefusedPartitionKeepsHead(t *testing.T) {
	enc := NewEncoder("", []string{"b:9092"}).WithLimit(700)
	b := enc.NewBatch()
	defer b.Release()
	a := func(off int64) *kgo.Record {
		return &kgo.Record{Topic: "a", Partition: 1, Offset: off, Timestamp: time.UnixMilli(1), Value: []byte("v")}
	}
	big := &kgo.Record{Topic: "other-topic", Partition: 22, Offset: 5, Timestamp: time.UnixMilli(1), Value: make([]byte, 1000)}
	if res, err := b.Add(a(1)); res != Added || err != nil {
		t.Fatal(res, err)
	}
	if res, err := b.Add(big); res != TooLarge || err != nil {
		t.Fatal(res, err)
	}
	if res, err := b.Add(a(2)); res != Added || err != nil {
		t.Fatal(res, err)
	}
	var ev events.KafkaEvent
	if err := json.Unmarshal(b.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	rs := ev.Records["a-1"]
	if len(ev.Records) != 1 || len(rs) != 2 || rs[1].Topic != "a" || rs[1].Partition != 1 || rs[1].Offset != 2 {
		t.Fatalf("%s", b.Bytes())
	}
}
