package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kafkaesm/kafkaesm/internal/bench"
)

func newBenchCmd(g *globals) *cobra.Command {
	var (
		cfg        bench.Config
		jsonFile   string
		cpuProfile string
		verbose    bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure kafkaesm against a raw Kafka consumer on this machine",
		Long: `bench creates a topic, produces records into it, and in one run measures: a raw franz-go
group consumer draining it (the ceiling); kafkaesm draining it end to end through a mapping into a
no-op aws-lambda-go function and into an HTTP target; produce→invoke latency at a steady rate with
MaximumBatchingWindowInSeconds 0; and payload encoding. Its topics are deleted afterwards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			cfg.Progress = os.Stderr
			if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				cfg.Terminal = true
			}
			if verbose {
				cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			}
			if g.output != "table" && g.output != "json" { // --endpoint does not matter here
				return fmt.Errorf("--output must be table or json, got %q", g.output)
			}
			res, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if g.json() { // -o json: the JSON on stdout instead of the table
				_, err = cmd.OutOrStdout().Write(b)
			} else {
				err = bench.WriteTable(cmd.OutOrStdout(), res)
			}
			if err == nil && jsonFile != "" {
				err = os.WriteFile(jsonFile, b, 0o644)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Bootstrap, "bootstrap", defaultBenchBootstrap(), "Kafka bootstrap servers (comma-separated, PLAINTEXT)")
	f.IntVar(&cfg.Partitions, "partitions", 12, "partitions of the benchmark topic")
	f.IntVar(&cfg.Records, "records", 1_000_000, "records to produce and drain")
	f.IntVar(&cfg.Size, "size", 1024, "record value size in bytes")
	f.IntVar(&cfg.Rounds, "rounds", 3, "rounds of each drain, taking turns (the median is reported)")
	f.IntVar(&cfg.BatchSize, "batch-size", 10_000, "BatchSize of the throughput mappings")
	f.IntVar(&cfg.Window, "window", 0, "MaximumBatchingWindowInSeconds of the throughput mappings (-1: Lambda's default, 500 ms)")
	f.IntVar(&cfg.LatencyRate, "latency-rate", 1000, "records per second in the latency phase")
	f.DurationVar(&cfg.LatencyDuration, "latency-duration", 0, "timed production of each latency phase (default 8s)")
	f.DurationVar(&cfg.LatencyWarmup, "latency-warmup", 0, "untimed production at the latency rate before timing (default 3s)")
	f.DurationVar(&cfg.EncodeDuration, "encode-duration", 0, "length of each encoding round (default 1s)")
	f.DurationVar(&cfg.Timeout, "timeout", 0, "bound on each phase (default 5m)")
	f.StringVar(&jsonFile, "json", "", "also write the results as JSON to this file")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (kafkaesm's node runs in it) to this file")
	f.BoolVar(&verbose, "verbose", false, "log the in-process node to stderr")
	// Tests run the function from the test binary; users never need to.
	f.StringArrayVar(&cfg.FunctionCommand, "function-command", nil, "argv of the no-op function, one flag per argument (default: this binary's hidden "+bench.FunctionSubcommand+")")
	_ = f.MarkHidden("function-command")
	return cmd
}

// defaultBenchBootstrap is the test broker's PLAINTEXT listener (test/kafka/broker.sh writes
// /tmp/kafkaesm-kafka/env), else 127.0.0.1:19092.
func defaultBenchBootstrap() string {
	if f, err := os.Open("/tmp/kafkaesm-kafka/env"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), "KAFKA_TEST_BOOTSTRAP_PLAINTEXT="); ok && v != "" {
				return v
			}
		}
	}
	return "127.0.0.1:19092"
}

// newBenchFunctionCmd is the no-op aws-lambda-go function the benchmark runs (hidden).
func newBenchFunctionCmd() *cobra.Command {
	return &cobra.Command{
		Use:    bench.FunctionSubcommand,
		Hidden: true,
		Args:   cobra.NoArgs,
		Run:    func(*cobra.Command, []string) { bench.RunFunction() },
	}
}
