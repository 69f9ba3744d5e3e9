// Command kafkafn is a Kafka-triggered Lambda function built with aws-lambda-go for the poller
// end-to-end test: aws-lambda-go decodes each payload into events.KafkaEvent, and the handler
// appends one line per record ("topic-partition offset key value", key and value as sent in
// base64) to $OUT_FILE with a single write. While $FAIL_FILE exists it fails every batch of
// partition 1. $DELAY_MS makes every batch take that long (so a test can kill mid-stream).
package main

import (
	"context"
	"errors"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handle(_ context.Context, ev events.KafkaEvent) error {
	if ev.EventSource != "SelfManagedKafka" || ev.BootstrapServers == "" {
		return errors.New("unexpected event source " + ev.EventSource + " / " + ev.BootstrapServers)
	}
	if path := os.Getenv("STARTED_FILE"); path != "" { // "<topic-partition> <first offset>" per invocation, at its start
		for k, rs := range ev.Records {
			if len(rs) > 0 {
				if f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
					_, _ = f.WriteString(k + " " + strconv.FormatInt(rs[0].Offset, 10) + "\n")
					f.Close()
				}
			}
		}
	}
	if ms, _ := strconv.Atoi(os.Getenv("DELAY_MS")); ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	var buf []byte
	for k, rs := range ev.Records {
		for _, r := range rs {
			if r.Partition == 1 {
				if _, err := os.Stat(os.Getenv("FAIL_FILE")); err == nil {
					return errors.New("partition 1 is failing on purpose")
				}
			}
			buf = append(buf, k...)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, r.Offset, 10)
			buf = append(buf, ' ')
			buf = append(buf, r.Key...)
			buf = append(buf, ' ')
			buf = append(buf, r.Value...)
			buf = append(buf, '\n')
		}
	}
	f, err := os.OpenFile(os.Getenv("OUT_FILE"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(buf)
	return err
}

func main() { lambda.Start(handle) }
