// Package bench measures kafkaesm against the ceiling of the machine it runs on: in one run it
// produces a topic, drains it with a raw franz-go group consumer, drains it again end to end
// through a kafkaesm node (real API, real poller, real function runtime) into no-op functions,
// measures produce→invoke latency at a steady rate, and measures payload encoding. Figures from
// one run share the same noisy machine, so the ratios hold even when the absolute numbers move.
//
// It owns the measurement only: topics it creates are deleted at the end, the node runs in a
// temporary data directory, and nothing it measures is asserted.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Config of one benchmark run. Zero values take the documented defaults.
type Config struct {
	// Bootstrap is the broker list (comma-separated). Required.
	Bootstrap string
	// Partitions of the benchmark topic. Default 12.
	Partitions int
	// Records produced and drained by each consumer. Default 1,000,000 (1 GB at 1 KB: with
	// 3 rounds, about two minutes for the whole run on 2 cores).
	Records int
	// Size of each record value in bytes. Default 1024.
	Size int
	// Rounds: each drain runs this many times, taking turns with the others, and reports its
	// median. Default 3.
	Rounds int
	// BatchSize of the throughput mappings. Default 10,000 (Lambda's maximum for Kafka).
	BatchSize int
	// Window is the throughput mappings' MaximumBatchingWindowInSeconds; negative leaves it
	// unset (Lambda's 500 ms default). Default 0.
	Window int
	// LatencyRate is the steady produce rate of the latency phase, records per second.
	// Default 1,000.
	LatencyRate int
	// LatencyDuration is how long each latency phase produces timed records. Default 8 s.
	LatencyDuration time.Duration
	// LatencyWarmup is how long the latency phase produces untimed records at LatencyRate
	// first. Default 3 s.
	LatencyWarmup time.Duration
	// EncodeDuration is how long each round of the encoding phase runs. Default 1 s.
	EncodeDuration time.Duration
	// FunctionCommand runs the no-op Runtime API function (argv; RunFunction is what it must
	// call). Default: this executable with the hidden "__bench-function" subcommand.
	FunctionCommand []string
	// Timeout bounds each drain. Default 5 minutes.
	Timeout time.Duration
	// Progress receives progress lines (nil: none). Terminal redraws one line in place.
	Progress io.Writer
	// Terminal says Progress is a terminal.
	Terminal bool
	// Logger for the in-process node. Default: discard.
	Logger *slog.Logger
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Bootstrap) == "" {
		return errors.New("bench: Bootstrap is required")
	}
	if c.Partitions == 0 {
		c.Partitions = 12
	}
	if c.Records == 0 {
		c.Records = 1_000_000
	}
	if c.Size == 0 {
		c.Size = 1024
	}
	if c.Rounds == 0 {
		c.Rounds = 3
	}
	if c.BatchSize == 0 {
		c.BatchSize = 10_000
	}
	if c.LatencyRate == 0 {
		c.LatencyRate = 1000
	}
	if c.LatencyDuration == 0 {
		c.LatencyDuration = 8 * time.Second
	}
	if c.LatencyWarmup == 0 {
		c.LatencyWarmup = 3 * time.Second
	}
	if c.EncodeDuration == 0 {
		c.EncodeDuration = time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(c.FunctionCommand) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: locating the function executable: %w", err)
		}
		c.FunctionCommand = []string{exe, FunctionSubcommand}
	}
	switch {
	case c.Partitions < 1:
		return errors.New("bench: Partitions must be at least 1")
	case c.Records < 1:
		return errors.New("bench: Records must be at least 1")
	case c.Size < 16:
		return errors.New("bench: Size must be at least 16 bytes")
	case c.Rounds < 1:
		return errors.New("bench: Rounds must be at least 1")
	case c.BatchSize < 1 || c.BatchSize > 10_000:
		return errors.New("bench: BatchSize must be 1..10,000")
	case c.LatencyRate < 1:
		return errors.New("bench: LatencyRate must be positive")
	}
	return nil
}

// Drain is one consumer draining the whole topic.
type Drain struct {
	Records int64 `json:"records"`
	// Seconds from the first record received to the last one delivered (the steady rate; group
	// join and start-up excluded).
	Seconds float64 `json:"seconds"`
	// TotalSeconds from starting the consumer (or creating the mapping) to the last record.
	TotalSeconds  float64 `json:"total_seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	// MBPerSec counts record values, 10^6 bytes.
	MBPerSec float64 `json:"mb_per_sec"`
	// Invocations and RecordsPerInvoke: kafkaesm drains only.
	Invocations      int64   `json:"invocations,omitempty"`
	RecordsPerInvoke float64 `json:"records_per_invoke,omitempty"`
	// CPUCores is the machine's average number of busy cores over Seconds (everything: broker,
	// kafkaesm, functions); CPUSecondsPerGB the busy core-seconds per 10^9 value bytes.
	CPUCores        float64 `json:"cpu_cores_busy"`
	CPUSecondsPerGB float64 `json:"cpu_seconds_per_gb"`
	// ProcessCPUSecondsPerGB is this process's share of CPUSecondsPerGB (the consumer, or
	// kafkaesm's node; for the HTTP target also the sink that receives its payloads), and
	// FunctionCPUSecondsPerGB that of the Runtime API function processes. The rest is the broker
	// and, on a shared machine, other jobs.
	ProcessCPUSecondsPerGB  float64 `json:"process_cpu_seconds_per_gb"`
	FunctionCPUSecondsPerGB float64 `json:"function_cpu_seconds_per_gb"`
	// Rounds is every round's MB/s, in run order (the figures above are the median round's).
	Rounds []float64 `json:"rounds_mb_per_sec,omitempty"`
	// Ratio is this drain's rate ÷ the raw consumer's (the drains after it only), and
	// FloorRatio ÷ RawDeliver's (kafkaesm drains only): how close kafkaesm comes to the cost of
	// the bytes it must deliver.
	Ratio      float64 `json:"ratio_to_raw,omitempty"`
	FloorRatio float64 `json:"ratio_to_delivery_floor,omitempty"`
}

// Latency is produce→invoke latency as the function saw it.
type Latency struct {
	Records int     `json:"records"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
	// ColdStarts while timing: function processes started because every warm one was busy
	// (Runtime API only; each costs a process start, tens of ms on a busy machine).
	ColdStarts int `json:"cold_starts"`
}

// Encoding is payload encoding throughput.
type Encoding struct {
	Records int64 `json:"records"`
	// MBPerSec counts record keys and values in (what a raw consumer hands over).
	MBPerSec float64 `json:"mb_per_sec"`
	// PayloadMBPerSec counts JSON written out.
	PayloadMBPerSec  float64 `json:"payload_mb_per_sec"`
	AllocsPerRecord  float64 `json:"allocs_per_record"`
	BytesPerRecord   float64 `json:"alloc_bytes_per_record"`
	NanosPerRecord   float64 `json:"ns_per_record"`
	PayloadBytesEach float64 `json:"payload_bytes_per_record"`
}

// Result of a run.
type Result struct {
	Date       string `json:"date"`
	Machine    string `json:"machine"`
	CPUs       int    `json:"cpus"`
	Bootstrap  string `json:"bootstrap"`
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	Records    int    `json:"records"`
	Size       int    `json:"record_bytes"`
	BatchSize  int    `json:"batch_size"`
	Window     int    `json:"batching_window_seconds"`
	Rounds     int    `json:"rounds"`

	Produce Drain `json:"produce"`
	// Raw is the ceiling: a plain franz-go group consumer.
	Raw Drain `json:"raw_consumer"`
	// RawEncode is the raw consumer also encoding every record into Lambda payloads (on its
	// poll goroutine, no invoke): the ceiling of any consumer that must build the payloads.
	RawEncode Drain `json:"raw_consumer_encoding"`
	// RawDeliver also delivers the payloads: as many senders as partitions each take one
	// partition's records of a fetch, encode them and POST the payloads to the same sink as the
	// HTTP target, with no ordering, retries or offset bookkeeping. It is the floor of anything
	// that hands Lambda payloads to another process over HTTP: what the bytes cost to build,
	// send and receive.
	RawDeliver Drain `json:"raw_consumer_encoding_delivery"`
	// RuntimeAPI is kafkaesm into an aws-lambda-go function over the Runtime API.
	RuntimeAPI Drain `json:"kafkaesm_runtime_api"`
	// HTTP is kafkaesm into an HTTP target.
	HTTP Drain `json:"kafkaesm_http_target"`

	LatencyRate int `json:"latency_rate_per_sec"`
	// LatencyRaw is the floor: a plain consumer's produce→receive latency.
	LatencyRaw        Latency  `json:"latency_raw_consumer"`
	LatencyRuntimeAPI Latency  `json:"latency_runtime_api"`
	LatencyHTTP       Latency  `json:"latency_http_target"`
	Encoding          Encoding `json:"encoding"`
}

// Run performs the whole benchmark.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res := &Result{
		Date: time.Now().UTC().Format(time.RFC3339), Machine: cpuModel(), CPUs: numCPU(),
		Bootstrap: cfg.Bootstrap, Partitions: cfg.Partitions, Records: cfg.Records, Size: cfg.Size,
		BatchSize: cfg.BatchSize, Rounds: cfg.Rounds, Window: cfg.Window, LatencyRate: cfg.LatencyRate,
	}
	r := &runner{cfg: cfg, res: res}
	defer r.cleanup()
	if err := r.run(ctx); err != nil {
		return nil, err
	}
	return res, nil
}
