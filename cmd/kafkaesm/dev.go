package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkaesm/kafkaesm/internal/server"
)

// devDataDir is dev's default data directory.
const devDataDir = "./kafkaesm-dev"

// devConfig configures `kafkaesm dev`.
type devConfig struct {
	// Kafka is the embedded broker's address; default 127.0.0.1:9092 (port 0 picks one).
	Kafka string
	// Listen is the API address; default 127.0.0.1:9001, as serve.
	Listen string
	// DataDir holds the server's state; default ./kafkaesm-dev (kept, so `logs` can read it).
	DataDir string
	// Topic and Function name the sample topic and function; defaults demo and demo-fn.
	Topic, Function string
	// Partitions of the sample topic; default 3.
	Partitions int
	Verbose    bool
}

func (c *devConfig) Validate() error {
	if c.Topic == "" || c.Function == "" || c.DataDir == "" {
		return errors.New("dev: --topic, --function and --data-dir must not be empty")
	}
	if c.Partitions < 1 {
		return errors.New("dev: --partitions must be at least 1")
	}
	host, _, err := net.SplitHostPort(c.Kafka)
	if err != nil {
		return fmt.Errorf("dev: --kafka %q: %w", c.Kafka, err)
	}
	if host != "127.0.0.1" && host != "localhost" {
		return fmt.Errorf("dev: --kafka %q: the development broker only listens on 127.0.0.1", c.Kafka)
	}
	return nil
}

func newDevCmd() *cobra.Command {
	var cfg devConfig
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Try kafkaesm offline: a development Kafka broker, the server, a sample function and mapping, in one process",
		Long: `Starts, in one process and without network access:
  - a DEVELOPMENT Kafka broker (franz-go's kfake, in memory, not for real data),
  - the kafkaesm server (the same code as serve),
  - a sample function that prints each record it gets (built into this binary),
  - a topic and a mapping from it to the function, created through the API.
It then prints the commands to try and runs until Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Kafka, "kafka", defaultBootstrap, "address of the development Kafka broker (127.0.0.1 only)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:9001", "API listen address")
	f.StringVar(&cfg.DataDir, "data-dir", devDataDir, "directory for state, function code and logs (kept after exit)")
	f.StringVar(&cfg.Topic, "topic", "demo", "the sample topic")
	f.StringVar(&cfg.Function, "function", "demo-fn", "the sample function")
	f.IntVar(&cfg.Partitions, "partitions", 3, "partitions of the sample topic")
	f.BoolVarP(&cfg.Verbose, "verbose", "v", false, "log the server's info messages too")
	return cmd
}

func runDev(ctx context.Context, cfg devConfig, out, errOut io.Writer) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	_, portText, _ := net.SplitHostPort(cfg.Kafka)
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("dev: --kafka port %q: %w", portText, err)
	}
	broker, err := kfake.NewCluster(kfake.Ports(port), kfake.ClusterID("kafkaesm-dev"),
		kfake.SeedTopics(int32(cfg.Partitions), cfg.Topic),
		kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(cfg.Partitions))
	if err != nil {
		return fmt.Errorf("dev: starting the development broker on %s: %w", cfg.Kafka, err)
	}
	defer broker.Close() // last: the pollers leave their groups first
	kafkaAddr := broker.ListenAddrs()[0]

	level := slog.LevelWarn
	if cfg.Verbose {
		level = slog.LevelInfo
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	srv, err := newServer(devServerConfig(cfg.Listen, dataDir, slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))))
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("dev: API listener %s: %w", cfg.Listen, err)
	}
	endpoint := "http://" + srv.Addr()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	defer func() {
		stop()
		if e := <-done; e != nil && err == nil {
			err = e
		}
	}()

	g := &globals{endpoint: endpoint, output: "table"}
	c, err := g.client()
	if err != nil {
		return err
	}
	uuid, err := setUpSample(ctx, c, cfg, kafkaAddr)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("dev: setting up the sample: %w", cliError(endpoint, err))
	}
	printDevBanner(out, cfg, kafkaAddr, endpoint, dataDir, uuid)

	select {
	case <-ctx.Done():
		fmt.Fprintln(errOut, "kafkaesm dev: stopping")
		return nil
	case err := <-done:
		done <- err // for the deferred receive
		return err
	}
}

// devServerConfig is serve's configuration with dev's addresses and serve's defaults for the
// rest; newServer wires it exactly as it wires serve (pollers included). dev is for trying
// kafkaesm on one's own machine: its API runs without authentication, on loopback only, with
// the browser protections every listener has.
func devServerConfig(listen, dataDir string, log *slog.Logger) server.Config {
	// dev's API is unauthenticated (NoAuth), so a function can reach everything through it whatever uid
	// it runs as; and the sample function's bootstrap runs this binary from wherever it was
	// built, which another uid may not reach. Functions run as the server's user (docs/functions.md).
	return server.Config{Listen: listen, DataDir: dataDir, Logger: log, FunctionUIDs: "off", NoAuth: true}
}

// setUpSample creates (or refreshes) the sample function and a fresh mapping from the topic to
// it, through the API like any client, and waits until the mapping is Enabled.
func setUpSample(ctx context.Context, c *apiClient, cfg devConfig, kafkaAddr string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locating this executable for the sample function: %w", err)
	}
	script := "#!/bin/sh\n# kafkaesm dev's sample function: the handler is built into kafkaesm.\nexec " + shellQuote(exe) + " sample-handler\n"
	zip, err := zipFiles(zipEntry{name: "bootstrap", mode: 0o755, data: []byte(script)})
	if err != nil {
		return "", err
	}
	_, err = c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(cfg.Function),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		Role:         aws.String(defaultRole),
		Description:  aws.String("kafkaesm dev sample: prints each Kafka record"),
		Timeout:      aws.Int32(10),
		Code:         &types.FunctionCode{ZipFile: zip},
	})
	if ae, ok := errors.AsType[smithy.APIError](err); ok && ae.ErrorCode() == "ResourceConflictException" {
		// A kept data dir from an earlier run: the executable's path may have changed.
		_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(cfg.Function), ZipFile: zip})
	}
	if err != nil {
		return "", err
	}
	// Mappings of an earlier run point at an earlier, gone, broker: replace them.
	old, err := listMappings(ctx, c, cfg.Function)
	if err != nil {
		return "", err
	}
	for _, raw := range old {
		var m struct{ UUID string }
		if err := json.Unmarshal(raw, &m); err != nil {
			return "", err
		}
		if err := deleteAndWait(ctx, c, m.UUID); err != nil {
			return "", err
		}
	}
	out, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String(cfg.Function),
		Topics:       []string{cfg.Topic},
		SelfManagedEventSource: &types.SelfManagedEventSource{
			Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {kafkaAddr}}},
		// No SourceAccessConfigurations: the dev broker is PLAINTEXT without authentication.
		StartingPosition:               types.EventSourcePositionTrimHorizon,
		MaximumBatchingWindowInSeconds: aws.Int32(0),
	})
	if err != nil {
		return "", err
	}
	uuid := aws.ToString(out.UUID)
	return uuid, pollUntil(ctx, time.Minute, func() (bool, error) {
		m, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		if err != nil {
			return false, err
		}
		return aws.ToString(m.State) == "Enabled", nil
	})
}

func deleteAndWait(ctx context.Context, c *apiClient, uuid string) error {
	_, err := c.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: aws.String(uuid)})
	if err != nil {
		return err
	}
	return pollUntil(ctx, time.Minute, func() (bool, error) {
		_, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		if ae, ok := errors.AsType[smithy.APIError](err); ok && ae.ErrorCode() == "ResourceNotFoundException" {
			return true, nil
		}
		return false, err
	})
}

func pollUntil(ctx context.Context, timeout time.Duration, fn func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := fn()
		if ok || err != nil {
			return err
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// selfCommand is how the user ran this binary, for the hints: the `go run` form when it is a
// go run build.
func selfCommand() string {
	exe, _ := os.Executable()
	arg0 := ""
	if len(os.Args) > 0 {
		arg0 = os.Args[0]
	}
	return selfCommandFor(exe, arg0)
}

// goRunCache matches an executable `go run` keeps in the build cache (Go 1.24 and later), under
// whatever GOCACHE is: <cache>/<2 hex>/<64 hex>-d/<name>.
var goRunCache = regexp.MustCompile(`/[0-9a-f]{2}/[0-9a-f]{64}-d/[^/]+$`)

func selfCommandFor(exe, arg0 string) string {
	exe = filepath.ToSlash(exe)
	if strings.Contains(exe, "/go-build") || goRunCache.MatchString(exe) {
		return "go run ./cmd/kafkaesm"
	}
	if strings.ContainsRune(arg0, filepath.Separator) {
		return arg0
	}
	return "kafkaesm"
}

func printDevBanner(w io.Writer, cfg devConfig, kafkaAddr, endpoint, dataDir, uuid string) {
	self := selfCommand()
	var flags, produceFlags, logFlags string
	if endpoint != defaultEndpoint {
		flags = " --endpoint " + endpoint
	}
	if kafkaAddr != defaultBootstrap {
		produceFlags = " --bootstrap " + kafkaAddr
	}
	if rel, err := filepath.Rel(mustGetwd(), dataDir); err == nil && !strings.HasPrefix(rel, "..") {
		logFlags = " --data-dir ./" + filepath.ToSlash(rel)
	} else {
		logFlags = " --data-dir " + dataDir
	}
	fmt.Fprintf(w, `kafkaesm dev: everything in one process, for trying kafkaesm out. Not for production.

  Kafka broker   %s   DEVELOPMENT broker (kfake, in memory: its data is gone on exit)
  kafkaesm API   %s   (the same server as kafkaesm serve)
  data dir       %s
  function       %s   prints each record it gets
  topic          %s   (%d partitions)
  mapping        %s   %s -> %s, Enabled

Try, in another terminal:
  echo hello | %s produce %s%s
  %s logs %s -f%s
  %s status%s

Ctrl-C stops everything.
`, kafkaAddr, endpoint, dataDir, cfg.Function, cfg.Topic, cfg.Partitions, uuid, cfg.Topic, cfg.Function,
		self, cfg.Topic, produceFlags, self, cfg.Function, logFlags, self, flags)
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}
