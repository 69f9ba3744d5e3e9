package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/spf13/cobra"
)

// sampleHandlerCmd is the sample function of `kafkaesm dev`: an ordinary aws-lambda-go
// handler (lambda.Start, the Runtime API) built into this binary, so that the demo needs no
// compiler. The function's zip holds a `bootstrap` script that execs this binary with this
// hidden subcommand.
func newSampleHandlerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "sample-handler",
		Short:  "The sample Lambda function of `kafkaesm dev` (run by its bootstrap)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
				return fmt.Errorf("sample-handler runs inside a function (AWS_LAMBDA_RUNTIME_API is not set)")
			}
			lambda.StartWithOptions(handleKafkaEvent, lambda.WithContext(cmd.Context()))
			return nil
		},
	}
}

// handleKafkaEvent prints each record, one line per record; the lines become the function's log.
func handleKafkaEvent(_ context.Context, ev events.KafkaEvent) (map[string]int, error) {
	keys := make([]string, 0, len(ev.Records))
	for k := range ev.Records {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	n := 0
	for _, k := range keys {
		for _, r := range ev.Records[k] {
			fmt.Println(describeRecord(r))
			n++
		}
	}
	return map[string]int{"processed": n}, nil
}

func describeRecord(r events.KafkaRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "record %s-%d@%d", r.Topic, r.Partition, r.Offset)
	if r.Key != "" {
		fmt.Fprintf(&b, " key=%q", decoded(r.Key))
	}
	fmt.Fprintf(&b, " value=%q", decoded(r.Value))
	for _, h := range r.Headers {
		names := make([]string, 0, len(h))
		for k := range h {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(&b, " %s=%q", k, string(h[k]))
		}
	}
	return b.String()
}

func decoded(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return s
	}
	return string(b)
}
