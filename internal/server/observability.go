package server

import (
	"context"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/kafkaesm/kafkaesm/internal/metrics"
	"github.com/kafkaesm/kafkaesm/internal/poller"
	"github.com/kafkaesm/kafkaesm/internal/reconcile"
	"github.com/kafkaesm/kafkaesm/internal/scaler"
)

// kafkaClientMetrics returns a function giving each Kafka client the pollers build its own
// franz-go metrics (kprom, go-engineering-notes §1.10). kprom registers a client's collectors
// when the client starts and unregisters them when it closes; two clients on one registry need
// a label that differs, so each client gets a sequence number besides its mapping's UUID (a
// mapping has one client per poller).
func kafkaClientMetrics(reg *prometheus.Registry) func(uuid string) kgo.Opt {
	var seq atomic.Int64
	return func(uuid string) kgo.Opt {
		m := kprom.NewMetrics("kafkaesm_kafka", kprom.Registry(reg), kprom.WithStaticLabel(prometheus.Labels{
			metrics.LabelUUID: uuid,
			"client":          strconv.FormatInt(seq.Add(1), 10),
		}))
		return kgo.WithHooks(m)
	}
}

// newScaler sizes the pollers' mappings every cfg.ScaleInterval; each change is counted in
// kafkaesm_PollerChanges.
func newScaler(cfg Config, pollers *poller.Manager, gate *poller.AccessGate, met *metrics.Metrics) (*scaler.Scaler, error) {
	return scaler.New(scaler.Config{Target: scalerTarget{pollers, gate}, Interval: cfg.ScaleInterval, Logger: cfg.Logger,
		OnChange: func(c scaler.Change) { met.PollersChanged(c.UUID, c.Function, c.Kind) }})
}

// scalerTarget is what the scaler sizes: it reads the Manager's snapshots and lag, and sets
// poller counts through the gate, so that each mapping's owner applies them (serialised with
// its starts, restarts and stops).
type scalerTarget struct {
	*poller.Manager
	gate *poller.AccessGate
}

func (t scalerTarget) SetPollers(ctx context.Context, uuid string, n int) error {
	return t.gate.SetPollers(ctx, uuid, n)
}

// forgetMetrics drops a deleted mapping's metrics once the Runner has removed it (its pollers
// are gone, so no batch is recorded after), so /metrics does not keep them until a restart.
type forgetMetrics struct {
	reconcile.Runner
	met *metrics.Metrics
}

func (f forgetMetrics) Remove(uuid string, done func()) {
	f.Runner.Remove(uuid, func() {
		f.met.ForgetMapping(uuid)
		if done != nil {
			done()
		}
	})
}
