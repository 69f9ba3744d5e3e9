package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

const defaultBootstrap = "127.0.0.1:9092"

func bootstrapDefault() string {
	if b := os.Getenv("KAFKAESM_BOOTSTRAP"); b != "" {
		return b
	}
	return defaultBootstrap
}

func newProduceCmd(g *globals) *cobra.Command {
	var (
		bootstrap      string
		key            string
		headers        []string
		timeout        time.Duration
		connectTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write records to a Kafka topic, one per stdin line",
		Long: `Reads stdin and produces one record per line to TOPIC on a PLAINTEXT Kafka listener.

A line that is a JSON object with any of the members "key", "value" and "headers" is a record:
  {"key":"k1","value":"text or any JSON","headers":{"h":"v"}}
(a value that is not a string is sent as its JSON text). Any other line is the record's value.
--key and --header apply to every record; a line's own key and headers win.

It prints the partition and offset of what it wrote. When no broker answers within
--connect-timeout it fails at once, without waiting for --timeout.`,
		Example: `  echo hello | kafkaesm produce demo
  printf '{"key":"order-1","value":{"total":12.5}}\n' | kafkaesm produce orders --header source=cli`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.validateOutput(); err != nil {
				return err
			}
			base := &kgo.Record{Topic: args[0]}
			if cmd.Flags().Changed("key") {
				base.Key = []byte(key)
			}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, "=")
				if !ok {
					return fmt.Errorf("--header %q: want KEY=VALUE", h)
				}
				base.Headers = append(base.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
			recs, err := readRecords(cmd.InOrStdin(), base)
			if err != nil {
				return err
			}
			servers := strings.Split(bootstrap, ",")
			written, err := produce(cmd.Context(), servers, connectTimeout, timeout, recs)
			if err != nil {
				return err
			}
			if g.json() {
				offsets := make([]map[string]int64, len(written))
				for i, r := range written {
					offsets[i] = map[string]int64{"Partition": int64(r.Partition), "Offset": r.Offset}
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"Topic": args[0], "Records": len(written), "Offsets": offsets})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "produced %d record(s) to %s%s\n", len(written), args[0], describeOffsets(written))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&bootstrap, "bootstrap", bootstrapDefault(), "Kafka bootstrap servers, `host:port[,host:port]` (env KAFKAESM_BOOTSTRAP; the default is the broker of kafkaesm dev)")
	f.StringVarP(&key, "key", "k", "", "key of every record")
	f.StringArrayVarP(&headers, "header", "H", nil, "header `KEY=VALUE` on every record, repeatable")
	f.DurationVar(&connectTimeout, "connect-timeout", 5*time.Second, "fail when no broker answers within this time")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "give up when the records are not acknowledged within this time")
	return cmd
}

// describeOffsets is ": partition 0 offset 7" or ": partition 0 offsets 3-6, partition 1 offset 2"
// (records in the order they were written, consecutive offsets of a partition joined).
func describeOffsets(recs []*kgo.Record) string {
	var parts []string
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && recs[j].Partition == recs[i].Partition && recs[j].Offset == recs[j-1].Offset+1 {
			j++
		}
		if j-i == 1 {
			parts = append(parts, fmt.Sprintf("partition %d offset %d", recs[i].Partition, recs[i].Offset))
		} else {
			parts = append(parts, fmt.Sprintf("partition %d offsets %d-%d", recs[i].Partition, recs[i].Offset, recs[j-1].Offset))
		}
		i = j
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}

// readRecords parses stdin: one record per non-empty line.
func readRecords(r io.Reader, base *kgo.Record) ([]*kgo.Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	var recs []*kgo.Record
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimRight(sc.Bytes(), "\r")
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		rec := &kgo.Record{Topic: base.Topic, Key: base.Key, Headers: append([]kgo.RecordHeader(nil), base.Headers...)}
		if ok, err := jsonRecord(text, rec); err != nil {
			return nil, fmt.Errorf("stdin line %d: %w", line, err)
		} else if !ok {
			rec.Value = append([]byte(nil), text...)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	return recs, nil
}

// jsonRecord fills rec from a line of the form {"key":…,"value":…,"headers":{…}}. It reports
// false for lines that are not such an object (they are plain values).
func jsonRecord(line []byte, rec *kgo.Record) (bool, error) {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return false, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		return false, nil
	}
	known := 0
	for k := range obj {
		switch k {
		case "key", "value", "headers":
			known++
		}
	}
	if known == 0 || known != len(obj) {
		return false, nil // an ordinary JSON value, sent as it is
	}
	if k, ok := obj["key"]; ok {
		b, err := jsonText(k)
		if err != nil {
			return false, fmt.Errorf("key: %w", err)
		}
		rec.Key = b
	}
	if v, ok := obj["value"]; ok {
		b, err := jsonText(v)
		if err != nil {
			return false, fmt.Errorf("value: %w", err)
		}
		rec.Value = b
	}
	if h, ok := obj["headers"]; ok {
		var hs map[string]json.RawMessage
		if err := json.Unmarshal(h, &hs); err != nil {
			return false, fmt.Errorf("headers must be an object of strings: %w", err)
		}
		for k, v := range hs {
			b, err := jsonText(v)
			if err != nil {
				return false, fmt.Errorf("header %s: %w", k, err)
			}
			replaced := false
			for i := range rec.Headers {
				if rec.Headers[i].Key == k {
					rec.Headers[i].Value, replaced = b, true
				}
			}
			if !replaced {
				rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: b})
			}
		}
	}
	return true, nil
}

// jsonText is a JSON string's content, null as nil, or any other JSON value's compact text.
func jsonText(raw json.RawMessage) ([]byte, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []byte(s), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// produce writes recs and returns them with their partitions and offsets filled. It first
// checks, within connectTimeout, that a broker answers, so a wrong address fails in seconds
// instead of after the delivery timeout.
func produce(ctx context.Context, bootstrap []string, connectTimeout, timeout time.Duration, recs []*kgo.Record) ([]*kgo.Record, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	where := strings.Join(bootstrap, ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.AllowAutoTopicCreation(),
		kgo.RecordDeliveryTimeout(timeout), kgo.ProducerLinger(0), kgo.DialTimeout(connectTimeout))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	err = cl.Ping(pctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("no Kafka broker answers at %s within %s (is `kafkaesm dev` running? --bootstrap or KAFKAESM_BOOTSTRAP names another cluster): %w",
			where, connectTimeout, err)
	}
	ctx, cancel = context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	results := cl.ProduceSync(ctx, recs...)
	if err := results.FirstErr(); err != nil {
		return nil, fmt.Errorf("producing to %s at %s: %w", recs[0].Topic, where, err)
	}
	out := make([]*kgo.Record, len(results))
	for i, r := range results {
		out[i] = r.Record
	}
	return out, nil
}
