// Command crashconsumer runs one event source mapping through poller.Manager and appends every
// delivered record to a file, one line per record: "partition offset value". Tests kill it with
// SIGKILL mid-stream, restart it, and check from the file that every record was delivered at
// least once, in order per partition. It exists only for that test.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/poller"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:19092", "bootstrap server")
	topic := flag.String("topic", "", "topic")
	id := flag.String("uuid", "", "mapping UUID (also the consumer group)")
	out := flag.String("out", "", "file to append deliveries to")
	batch := flag.Int("batch-size", 100, "BatchSize")
	delay := flag.Duration("delay", 0, "time each invocation takes (slows delivery so a test can kill mid-stream)")
	session := flag.Duration("session-timeout", 0, "group session timeout (default franz-go's 45 s); a killed member holds its partitions until it expires")
	node := flag.String("node", "", "poller.Config.NodeID: the same value across restarts makes the restarted process the same static group member")
	flag.StringVar(&failure.dlq, "dlq", "", "on-failure destination topic (kafka://dlq)")
	flag.StringVar(&failure.poison, "poison", "", "the function fails every batch holding a record with this value")
	flag.IntVar(&failure.retries, "retries", -1, "MaximumRetryAttempts")
	flag.StringVar(&startingPosition, "starting-position", "TRIM_HORIZON", "StartingPosition: TRIM_HORIZON or LATEST")
	flag.BoolVar(&writeFirst, "write-first", false, "record each batch at the start of the invocation, before -delay (a kill mid-invocation then redelivers a batch already recorded)")
	flag.BoolVar(&failure.crash, "crash-after-destination", false, "SIGKILL this process once the destination acknowledged records, before their offsets are marked")
	flag.Parse()
	if err := run(*brokers, *topic, *id, *out, *batch, *delay, *session, *node); err != nil {
		fmt.Fprintln(os.Stderr, "crashconsumer:", err)
		os.Exit(1)
	}
}

// failure is the failure handling under test.
var failure struct {
	dlq, poison string
	retries     int
	crash       bool
}

func run(brokers, topic, id, out string, batch int, delay, session time.Duration, node string) error {
	if topic == "" || id == "" || out == "" {
		return fmt.Errorf("-topic, -uuid and -out are required")
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var afterDestination func(string, []*kgo.Record)
	if failure.crash {
		afterDestination = func(string, []*kgo.Record) {
			// A real kill -9, at the worst moment: the destination has the records, the
			// source offsets are not committed.
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	mg, err := poller.NewManager(poller.Config{
		AfterDestination: afterDestination,
		Invoker:          fileInvoker{f, delay, failure.poison},
		Logger:           slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Backoff:          poller.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond},
		NodeID:           node,
		ClientOpts: func(context.Context, *mapping.EventSourceMapping) ([]kgo.Opt, error) {
			if session <= 0 {
				return nil, nil
			}
			return []kgo.Opt{kgo.SessionTimeout(session), kgo.HeartbeatInterval(session / 6)}, nil
		},
	})
	if err != nil {
		return err
	}
	zero := 0
	m := &mapping.EventSourceMapping{
		UUID:                           id,
		FunctionArn:                    "file",
		Topics:                         []string{topic},
		SelfManagedEventSource:         &mapping.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {brokers}}},
		StartingPosition:               startingPosition,
		BatchSize:                      batch,
		MaximumBatchingWindowInSeconds: &zero,
		Enabled:                        true,
		MaximumRetryAttempts:           &failure.retries,
	}
	if failure.dlq != "" {
		m.DestinationConfig = &mapping.DestinationConfig{OnFailure: &mapping.Destination{Destination: "kafka://" + failure.dlq}}
	}
	if err := mg.Apply(ctx, m); err != nil {
		return err
	}
	<-ctx.Done()
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return mg.Close(closeCtx)
}

// fileInvoker is the "function": it writes the batch with one write(2), so a SIGKILL leaves
// whole batches (the page cache keeps what was written; no fsync needed for a process crash).
type fileInvoker struct {
	f      *os.File
	delay  time.Duration
	poison string // a value that fails its batch ("" none)
}

func (fi fileInvoker) Invoke(ctx context.Context, req invoke.Request) (invoke.Result, error) {
	if !writeFirst {
		if err := fi.wait(ctx); err != nil {
			return invoke.Result{}, err
		}
	}
	var ev events.KafkaEvent
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		return invoke.Result{}, err
	}
	var buf []byte
	poison := base64.StdEncoding.EncodeToString([]byte(fi.poison)) // record values are base64
	for _, rs := range ev.Records {
		for _, r := range rs {
			if fi.poison != "" && r.Value == poison {
				return invoke.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"poison"}`)}, nil
			}
		}
	}
	for _, rs := range ev.Records {
		for _, r := range rs {
			buf = strconv.AppendInt(buf, r.Partition, 10)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, r.Offset, 10)
			buf = append(buf, ' ')
			buf = append(buf, r.Value...) // base64: no spaces or newlines
			buf = append(buf, '\n')
		}
	}
	if _, err := fi.f.Write(buf); err != nil {
		return invoke.Result{}, err
	}
	if writeFirst {
		if err := fi.wait(ctx); err != nil {
			return invoke.Result{}, err
		}
	}
	return invoke.Result{Payload: []byte("null")}, nil
}

// wait takes the invocation's delay, or returns ctx's error when ctx ends first.
func (fi fileInvoker) wait(ctx context.Context) error {
	if fi.delay <= 0 {
		return nil
	}
	select {
	case <-time.After(fi.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startingPosition is the mapping's StartingPosition.
var startingPosition string

// writeFirst makes the function record a batch before its delay rather than after: a kill
// during an invocation then shows as a duplicate, as a function's side effects would.
var writeFirst bool
