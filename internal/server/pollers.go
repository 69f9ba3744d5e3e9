package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/kafkaauth"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/metrics"
	"github.com/kafkaesm/kafkaesm/internal/poller"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// newPollers builds what runs this node's mappings: the poller Manager, which invokes through
// the node's function engine, authenticates to Kafka with the mapping's
// SourceAccessConfigurations (secrets from the node's repository) and classifies Kafka failures
// into Lambda's texts, behind an AccessGate that probes each mapping's access before it
// consumes and stops it while access fails. Status goes into the store. The Manager is returned
// too: the scaler sizes its mappings' pollers and the metrics read its counters.
func newPollers(cfg Config, st store.Store, sec kafkaauth.SecretSource, inv invoke.Invoker, fns *invoke.CachedFunctions, met *metrics.Metrics) (*poller.AccessGate, *poller.Manager, error) {
	clientOpts := func(ctx context.Context, m *mapping.EventSourceMapping) ([]kgo.Opt, error) {
		return kafkaauth.Options(ctx, m.SourceAccessConfigurations, sec)
	}
	if !cfg.NoKafkaClientMetrics {
		auth, clientMetrics := clientOpts, kafkaClientMetrics(met.Registry())
		clientOpts = func(ctx context.Context, m *mapping.EventSourceMapping) ([]kgo.Opt, error) {
			opts, err := auth(ctx, m)
			if err != nil {
				return nil, err
			}
			return append(opts, clientMetrics(m.UUID)), nil
		}
	}
	node, err := nodeID(cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	classify := func(err error) (string, string) {
		p := kafkaauth.Classify(err)
		return p.Reason, p.Result
	}
	// The pollers report to the board; each mapping's supervisor in the gate takes its reports
	// from there and alone writes them to the store.
	board := poller.NewBoard()
	mgr, err := poller.NewManager(poller.Config{
		OnBatch:        met.OnBatch,
		Invoker:        inv,
		Reporter:       board,
		Logger:         cfg.Logger,
		EventSource:    cfg.EventSource,
		SessionTimeout: cfg.KafkaSessionTimeout,
		NodeID:         node,
		// A drain waits for an in-flight invocation up to its function's timeout: the
		// longest of an alias's two versions when it routes between them.
		FunctionTimeout: func(ctx context.Context, fn string) time.Duration {
			d, err := fns.LongestTimeout(ctx, fn)
			if err != nil {
				return 0
			}
			return d
		},
		ClientOpts: clientOpts,
		ClassifyError: func(err error) (string, string) {
			// Only what stops a mapping, or a known problem, is reported from fetches;
			// unclassified fetch errors are transient and only logged (connection
			// failures still report the connection error text).
			reason, result := classify(err)
			if reason == "" {
				return "", ""
			}
			return reason, result
		},
	})
	if err != nil {
		return nil, nil, err
	}
	gate, err := poller.NewAccessGate(poller.AccessConfig{
		Probe: func(ctx context.Context, m *mapping.EventSourceMapping) error {
			opts, err := kafkaauth.Options(ctx, m.SourceAccessConfigurations, sec)
			if err != nil {
				return err
			}
			return kafkaauth.Probe(ctx, opts, m.BootstrapServers(), m.Topics[0], m.GroupID())
		},
		Classify: classify,
		Reporter: storeReporter{st: st, log: cfg.Logger},
		Logger:   cfg.Logger,
		Backoff:  cfg.KafkaAccessBackoff,
	}, mgr, board)
	if err != nil {
		return nil, nil, err
	}
	return gate, mgr, nil
}

// nodeID is this node's name in static group membership (poller.Config.NodeID): random,
// created on first start in <DataDir>/node-id and kept, so that a restarted node is the same
// static member and takes its partitions back without waiting out the session timeout.
func nodeID(dataDir string) (string, error) {
	p := filepath.Join(dataDir, "node-id")
	b, err := os.ReadFile(p)
	if err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("node id: %w", err)
	}
	id := rand.Text()[:12]
	if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	return id, nil
}

// storeReporter writes a poller's status changes (rare: only changes are reported) to the store.
type storeReporter struct {
	st  store.Store
	log *slog.Logger
}

func (r storeReporter) Report(uuid, state, reason, lastResult, cause string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.st.SetMappingStatus(ctx, uuid, store.Status{State: state, StateTransitionReason: reason,
		LastProcessingResult: lastResult, LastProcessingCause: cause})
	if err != nil && !errors.Is(err, store.ErrNotFound) { // a deleted mapping may still report once
		r.log.Warn("recording mapping status", "uuid", uuid, "err", err)
	}
}
