package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

func newMappingsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "mappings",
		Aliases: []string{"mapping", "esm"},
		Short:   "Manage event source mappings (Kafka triggers) on a running server",
	}
	cmd.AddCommand(newMappingsListCmd(g), newMappingsGetCmd(g), newMappingsCreateCmd(g),
		newMappingsUpdateCmd(g), newMappingsEnableCmd(g, true), newMappingsEnableCmd(g, false),
		newMappingsDeleteCmd(g))
	return cmd
}

// waitFlags: --wait and its timeout, shared by the commands that change a mapping.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (w *waitFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().BoolVar(&w.wait, "wait", false, "wait until the mapping is "+what)
	cmd.Flags().DurationVar(&w.timeout, "wait-timeout", 2*time.Minute, "give up waiting after this long")
}

func newMappingsListCmd(g *globals) *cobra.Command {
	var function string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List mappings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, raws, err := callAPI(cmd, g, func(ctx context.Context, c *apiClient) ([]json.RawMessage, error) {
				return listMappings(ctx, c, function)
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json() {
				return printJSON(out, map[string]any{"EventSourceMappings": raws})
			}
			t := newTable(out, "UUID", "FUNCTION", "TOPIC", "BOOTSTRAP SERVERS", "STATE", "LAST PROCESSING RESULT")
			for _, raw := range raws {
				var m mapping.EventSourceMapping
				if err := json.Unmarshal(raw, &m); err != nil {
					return err
				}
				t.row(m.UUID, functionFromArn(m.FunctionArn), strings.Join(m.Topics, ","),
					strings.Join(m.BootstrapServers(), ","), m.State, m.LastProcessingResult)
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&function, "function", "", "only the mappings of this function")
	return cmd
}

// listMappings pages through ListEventSourceMappings and returns each mapping as the server
// sent it.
func listMappings(ctx context.Context, c *apiClient, function string) ([]json.RawMessage, error) {
	in := &lambda.ListEventSourceMappingsInput{}
	if function != "" {
		in.FunctionName = aws.String(function)
	}
	return listAll(func(marker *string) ([]json.RawMessage, *string, error) {
		in.Marker = marker
		out, err := c.ListEventSourceMappings(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		var page struct{ EventSourceMappings []json.RawMessage }
		err = c.decodeLast(&page)
		return page.EventSourceMappings, out.NextMarker, err
	})
}

func newMappingsGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get UUID",
		Short: "Show one mapping",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := callAPI(cmd, g, func(ctx context.Context, c *apiClient) (*lambda.GetEventSourceMappingOutput, error) {
				return c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(args[0])})
			})
			if err != nil {
				return err
			}
			return printMapping(cmd.OutOrStdout(), g, c)
		},
	}
}

// printMapping prints the mapping in the last response body.
func printMapping(w io.Writer, g *globals, c *apiClient) error {
	return printLast(w, g, c, mappingTable)
}

func mappingTable(w io.Writer, m *mapping.EventSourceMapping) error {
	window := "0.5"
	if m.MaximumBatchingWindowInSeconds != nil {
		window = strconv.Itoa(*m.MaximumBatchingWindowInSeconds)
	}
	var access []string
	for _, a := range m.SourceAccessConfigurations {
		access = append(access, a.Type+"="+a.URI)
	}
	counts := []string{}
	if c := m.KafkaesmCounts; c != nil {
		counts = []string{"Records (since the poller started)", fmt.Sprintf("%d polled, %d invoked, %d retried, %d filtered out, %d to the on-failure destination, %d dropped; %d invocations throttled",
			c.PolledEventCount, c.InvokedEventCount, c.RetriedEventCount, c.FilteredOutEventCount, c.OnFailureDestinationDeliveredEventCount, c.DroppedEventCount, c.ThrottledInvokeCount)}
	}
	if p := m.KafkaesmPollers; p != nil {
		v := pollersCell(p)
		if p.Changed != nil {
			v += ", since " + p.Changed.UTC().Format(time.RFC3339)
		}
		if p.ConcurrencyLimit > 0 {
			v += fmt.Sprintf("; at most %d invocations at a time (the function throttled)", p.ConcurrencyLimit)
		}
		counts = append(counts, "Pollers", v)
	}
	return keyValues(w, append([]string{
		"UUID", m.UUID,
		"Function", m.FunctionArn,
		"Topics", strings.Join(m.Topics, ","),
		"Bootstrap servers", strings.Join(m.BootstrapServers(), ","),
		"Consumer group", m.GroupID(),
		"Starting position", m.StartingPosition,
		"Batch size", strconv.Itoa(m.BatchSize),
		"Batching window (s)", window,
		"Access", strings.Join(access, " "),
		"State", m.State,
		"State transition reason", m.StateTransitionReason,
		"Last processing result", m.LastProcessingResult,
		"Last processing cause", m.KafkaesmLastProcessingCause,
		"Last modified", m.LastModified.UTC().Format(time.RFC3339),
	}, counts...)...)
}

func newMappingsCreateCmd(g *globals) *cobra.Command {
	var (
		in        lambda.CreateEventSourceMappingInput
		function  string
		topic     string
		bootstrap []string
		access    []string
		position  string
		batch     int32
		window    int32
		group     string
		disabled  bool
		fail      failureFlags
		pollers   pollerFlags
		w         waitFlags
	)
	cmd := &cobra.Command{
		Use:   "create --function F --topic T --bootstrap host:port[,host:port]",
		Short: "Create a mapping from a Kafka topic to a function",
		Example: `  kafkaesm mappings create --function my-fn --topic orders --bootstrap 127.0.0.1:9092 --wait
  kafkaesm mappings create --function my-fn --topic orders --bootstrap kafka:9096 \
    --access SASL_SCRAM_512_AUTH=arn:aws:secretsmanager:us-east-1:000000000000:secret:kafka`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			in.FunctionName = aws.String(function)
			in.Topics = []string{topic}
			in.SelfManagedEventSource = &types.SelfManagedEventSource{
				Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": bootstrap}}
			// No --access: a PLAINTEXT cluster without credentials (docs/api.md).
			for _, a := range access {
				typ, uri, ok := strings.Cut(a, "=")
				if !ok {
					return fmt.Errorf("--access %q: want TYPE=URI", a)
				}
				in.SourceAccessConfigurations = append(in.SourceAccessConfigurations,
					types.SourceAccessConfiguration{Type: types.SourceAccessType(typ), URI: aws.String(uri)})
			}
			in.StartingPosition = types.EventSourcePosition(position)
			if cmd.Flags().Changed("batch-size") {
				in.BatchSize = aws.Int32(batch)
			}
			if cmd.Flags().Changed("batching-window") {
				in.MaximumBatchingWindowInSeconds = aws.Int32(window)
			}
			if group != "" {
				in.SelfManagedKafkaEventSourceConfig = &types.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: aws.String(group)}
			}
			in.Enabled = aws.Bool(!disabled)
			fail.create(cmd, &in)
			in.ProvisionedPollerConfig = pollers.config(cmd)
			out, err := c.CreateEventSourceMapping(cmd.Context(), &in)
			if err != nil {
				return cliError(g.endpoint, err)
			}
			return settleAndPrint(cmd, g, c, aws.ToString(out.UUID), w)
		},
	}
	f := cmd.Flags()
	f.StringVar(&function, "function", "", "function name or ARN (required)")
	f.StringVar(&topic, "topic", "", "Kafka topic (required)")
	f.StringSliceVar(&bootstrap, "bootstrap", nil, "bootstrap servers host:port, comma-separated (required)")
	f.StringArrayVar(&access, "access", nil, "source access configuration TYPE=URI, repeatable (none: a PLAINTEXT cluster without authentication)")
	f.StringVar(&position, "starting-position", "TRIM_HORIZON", "TRIM_HORIZON or LATEST")
	f.Int32Var(&batch, "batch-size", 100, "records per batch, 1-10000")
	f.Int32Var(&window, "batching-window", 0, "MaximumBatchingWindowInSeconds, 0-300 (default: Kafka's 0.5 s)")
	f.StringVar(&group, "group-id", "", "Kafka consumer group (default: the mapping's UUID)")
	f.BoolVar(&disabled, "disabled", false, "create the mapping disabled")
	fail.add(cmd, false)
	pollers.add(cmd)
	w.add(cmd, "Enabled (or Disabled with --disabled)")
	for _, n := range []string{"function", "topic", "bootstrap"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

func newMappingsUpdateCmd(g *globals) *cobra.Command {
	var (
		function string
		batch    int32
		window   int32
		fail     failureFlags
		pollers  pollerFlags
		w        waitFlags
	)
	cmd := &cobra.Command{
		Use:   "update UUID [--function F] [--batch-size N] [--batching-window S] [--retries N] [--on-failure kafka://T] [--filter P]… [--min-pollers N] [--max-pollers N]",
		Short: "Change a mapping's function, batching, failure handling and filters, or poller bounds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			in := &lambda.UpdateEventSourceMappingInput{UUID: aws.String(args[0])}
			if function != "" {
				in.FunctionName = aws.String(function)
			}
			if cmd.Flags().Changed("batch-size") {
				in.BatchSize = aws.Int32(batch)
			}
			if cmd.Flags().Changed("batching-window") {
				in.MaximumBatchingWindowInSeconds = aws.Int32(window)
			}
			fail.update(cmd, in)
			in.ProvisionedPollerConfig = pollers.config(cmd)
			return updateMapping(cmd, g, c, in, w)
		},
	}
	f := cmd.Flags()
	f.StringVar(&function, "function", "", "new target function")
	// No defaults shown: only the flags given change the mapping.
	f.Int32Var(&batch, "batch-size", 0, "records per batch, 1-10000 (unchanged when not given)")
	f.Int32Var(&window, "batching-window", 0, "MaximumBatchingWindowInSeconds, 0-300 (unchanged when not given)")
	fail.add(cmd, true)
	pollers.add(cmd)
	w.add(cmd, "settled (Enabled or Disabled)")
	return cmd
}

func newMappingsEnableCmd(g *globals, enable bool) *cobra.Command {
	var w waitFlags
	use, short, what := "enable UUID", "Resume a mapping: its consumer rejoins the group", "Enabled"
	if !enable {
		use, short, what = "disable UUID", "Pause a mapping: its consumer leaves the group, offsets are kept", "Disabled"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return updateMapping(cmd, g, c, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(args[0]), Enabled: aws.Bool(enable)}, w)
		},
	}
	w.add(cmd, what)
	return cmd
}

func updateMapping(cmd *cobra.Command, g *globals, c *apiClient, in *lambda.UpdateEventSourceMappingInput, w waitFlags) error {
	if _, err := c.UpdateEventSourceMapping(cmd.Context(), in); err != nil {
		return cliError(g.endpoint, err)
	}
	return settleAndPrint(cmd, g, c, aws.ToString(in.UUID), w)
}

// settleAndPrint waits for the mapping to settle when --wait asks for it, then prints it.
func settleAndPrint(cmd *cobra.Command, g *globals, c *apiClient, uuid string, w waitFlags) error {
	if w.wait {
		if err := waitForState(cmd, c, uuid, w.timeout); err != nil {
			return cliError(g.endpoint, err)
		}
	}
	return printMapping(cmd.OutOrStdout(), g, c)
}

// waitForState polls the mapping until it leaves its transitional state; the last response
// body then holds the settled mapping.
func waitForState(cmd *cobra.Command, c *apiClient, uuid string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	p := newProgress(cmd.ErrOrStderr())
	defer p.done()
	start := time.Now()
	for {
		out, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		if err != nil {
			if ctx.Err() != nil && cmd.Context().Err() == nil {
				return fmt.Errorf("mapping %s did not settle within %s", uuid, timeout)
			}
			return err
		}
		st := aws.ToString(out.State)
		if st == mapping.StateEnabled || st == mapping.StateDisabled {
			return nil
		}
		p.update("mapping %s: %s (%ds)", uuid, st, int(time.Since(start).Seconds()))
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			if cmd.Context().Err() == nil {
				return fmt.Errorf("mapping %s still %s after %s", uuid, st, timeout)
			}
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func newMappingsDeleteCmd(g *globals) *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "delete UUID",
		Short: "Delete a mapping (its consumer leaves the group)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			uuid := args[0]
			c, _, err := callAPI(cmd, g, func(ctx context.Context, c *apiClient) (*lambda.DeleteEventSourceMappingOutput, error) {
				return c.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: aws.String(uuid)})
			})
			if err != nil {
				return err
			}
			deleteBody := c.lastBody()
			if w.wait {
				if err := waitForGone(cmd, c, uuid, w.timeout); err != nil {
					return cliError(g.endpoint, err)
				}
			}
			out := cmd.OutOrStdout()
			if g.json() {
				return printJSON(out, json.RawMessage(deleteBody))
			}
			if w.wait {
				_, err = fmt.Fprintf(out, "mapping %s deleted\n", uuid)
			} else {
				_, err = fmt.Fprintf(out, "mapping %s is being deleted\n", uuid)
			}
			return err
		},
	}
	w.add(cmd, "gone")
	return cmd
}

func waitForGone(cmd *cobra.Command, c *apiClient, uuid string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	p := newProgress(cmd.ErrOrStderr())
	defer p.done()
	for {
		_, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		if ae, ok := errors.AsType[smithy.APIError](err); ok && ae.ErrorCode() == "ResourceNotFoundException" {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
		p.update("mapping %s: Deleting", uuid)
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			if cmd.Context().Err() == nil {
				return fmt.Errorf("mapping %s still exists after %s", uuid, timeout)
			}
			return err
		}
	}
}

// pollerFlags are --min-pollers and --max-pollers: ProvisionedPollerConfig.
type pollerFlags struct{ min, max int32 }

func (p *pollerFlags) add(cmd *cobra.Command) {
	cmd.Flags().Int32Var(&p.min, "min-pollers", 0, "ProvisionedPollerConfig MinimumPollers, 1-200: pollers the mapping keeps, at most one per partition (default: 1)")
	cmd.Flags().Int32Var(&p.max, "max-pollers", 0, "ProvisionedPollerConfig MaximumPollers, 1-2000: pollers the scaler may add (default: one per partition)")
}

// config is the ProvisionedPollerConfig the flags ask for, nil when neither is set.
func (p *pollerFlags) config(cmd *cobra.Command) *types.ProvisionedPollerConfig {
	minSet, maxSet := cmd.Flags().Changed("min-pollers"), cmd.Flags().Changed("max-pollers")
	if !minSet && !maxSet {
		return nil
	}
	c := &types.ProvisionedPollerConfig{}
	if minSet {
		c.MinimumPollers = aws.Int32(p.min)
	}
	if maxSet {
		c.MaximumPollers = aws.Int32(p.max)
	}
	return c
}
