package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
	"github.com/kafkaesm/kafkaesm/internal/kafkaauth"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/poller"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// newPollers builds the poller Manager that runs this node's mappings: it invokes through the
// node's function engine, authenticates to Kafka with the mapping's SourceAccessConfigurations
// (secrets from the node's repository), classifies Kafka failures into Lambda's texts, and
// reports status into the store.
func newPollers(cfg Config, st store.Store, sec kafkaauth.SecretSource, inv invoke.Invoker) (*poller.Manager, error) {
	return poller.NewManager(poller.Config{
		Invoker:        inv,
		Reporter:       storeReporter{st: st, log: cfg.Logger},
		Logger:         cfg.Logger,
		EventSource:    cfg.EventSource,
		SessionTimeout: cfg.KafkaSessionTimeout,
		ClientOpts: func(ctx context.Context, m *mapping.EventSourceMapping) ([]kgo.Opt, error) {
			return kafkaauth.Options(ctx, m.SourceAccessConfigurations, sec)
		},
		ClassifyError: func(err error) (string, string) {
			p := kafkaauth.Classify(err)
			return p.Reason, p.Result
		},
	})
}

// storeReporter writes a poller's status changes (rare: only changes are reported) to the store.
type storeReporter struct {
	st  store.Store
	log *slog.Logger
}

func (r storeReporter) Report(uuid, state, reason, lastResult string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.st.SetMappingStatus(ctx, uuid, store.Status{State: state, StateTransitionReason: reason, LastProcessingResult: lastResult})
	if err != nil && !errors.Is(err, store.ErrNotFound) { // a deleted mapping may still report once
		r.log.Warn("recording mapping status", "uuid", uuid, "err", err)
	}
}
