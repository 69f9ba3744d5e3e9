package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

func newStatusCmd(g *globals) *cobra.Command {
	var lagTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Every mapping at a glance: state, consumer lag, retried/sent-to-destination/filtered records, last processing result",
		Long: `Lists every mapping with its state, consumer lag, the records its pollers retried, sent
to the on-failure destination and filtered out (since they started on the server; "-" when no
poller runs it there), and its last processing result. When a
mapping's last result is a problem, the CAUSE column shows what the server saw (the Kafka error,
the TLS or SASL message, the function's error: KafkaesmLastProcessingCause).

The lag (records in the topic not yet committed by the mapping's consumer group) is read from
the mapping's own bootstrap servers with a PLAINTEXT connection from this machine. When that is
not possible (the mapping needs credentials, SASL or TLS, which stay on the server; or the
cluster cannot be reached from here within --lag-timeout), it is the lag the server's pollers
report (kafkaesm_OffsetLag on its /metrics). It shows "-" when neither is available (a mapping
that does not run on the server).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			raws, err := listMappings(cmd.Context(), c, "")
			if err != nil {
				return cliError(g.endpoint, err)
			}
			type row struct {
				m      mapping.EventSourceMapping
				lag    *int64
				lagErr string
			}
			rows := make([]row, len(raws))
			for i, raw := range raws {
				if err := json.Unmarshal(raw, &rows[i].m); err != nil {
					return err
				}
			}
			lags := newLagReader(lagTimeout)
			defer lags.close()
			var fromServer map[string]int64 // read once, when needed
			for i := range rows {
				rows[i].lag, rows[i].lagErr = lags.lag(cmd.Context(), &rows[i].m)
				if rows[i].lag == nil {
					if fromServer == nil {
						fromServer = serverLags(cmd.Context(), g, lagTimeout)
						if fromServer == nil {
							fromServer = map[string]int64{}
						}
					}
					if n, ok := fromServer[rows[i].m.UUID]; ok {
						rows[i].lag, rows[i].lagErr = &n, ""
					}
				}
			}
			w := cmd.OutOrStdout()
			if g.json() {
				out := make([]map[string]any, len(rows))
				for i, r := range rows {
					out[i] = map[string]any{"UUID": r.m.UUID, "FunctionArn": r.m.FunctionArn, "Topics": r.m.Topics,
						"State": r.m.State, "StateTransitionReason": r.m.StateTransitionReason,
						"LastProcessingResult": r.m.LastProcessingResult, "ConsumerGroupId": r.m.GroupID(),
						"OffsetLag": r.lag}
					if r.m.KafkaesmLastProcessingCause != "" {
						out[i]["KafkaesmLastProcessingCause"] = r.m.KafkaesmLastProcessingCause
					}
					if r.m.KafkaesmCounts != nil {
						out[i]["KafkaesmCounts"] = r.m.KafkaesmCounts
					}
					if r.m.KafkaesmPollers != nil {
						out[i]["KafkaesmPollers"] = r.m.KafkaesmPollers
					}
					if r.lagErr != "" {
						out[i]["OffsetLagUnavailable"] = r.lagErr
					}
				}
				return printJSON(w, map[string]any{"Mappings": out})
			}
			// The cause of a problem gets its own column only when some mapping has one.
			withCause := false
			for _, r := range rows {
				withCause = withCause || r.m.KafkaesmLastProcessingCause != ""
			}
			header := []string{"UUID", "FUNCTION", "TOPIC", "STATE", "LAG", "POLLERS", "THROTTLED", "RETRIED", "TO DESTINATION", "FILTERED", "LAST PROCESSING RESULT"}
			if withCause {
				header = append(header, "CAUSE")
			}
			t := newTable(w, header...)
			for _, r := range rows {
				lag := "-"
				if r.lag != nil {
					lag = strconv.FormatInt(*r.lag, 10)
				}
				retried, dest, filtered, throttled := "-", "-", "-", "-" // "-": no poller runs the mapping on the server
				pollers := "-"
				if p := r.m.KafkaesmPollers; p != nil {
					pollers = pollersCell(p)
				}
				if c := r.m.KafkaesmCounts; c != nil {
					throttled = strconv.FormatInt(c.ThrottledInvokeCount, 10)
					retried = strconv.FormatInt(c.RetriedEventCount, 10)
					dest = strconv.FormatInt(c.OnFailureDestinationDeliveredEventCount, 10)
					filtered = strconv.FormatInt(c.FilteredOutEventCount, 10)
				}
				cells := []string{r.m.UUID, functionFromArn(r.m.FunctionArn), strings.Join(r.m.Topics, ","), r.m.State, lag,
					pollers, throttled, retried, dest, filtered, r.m.LastProcessingResult}
				if withCause {
					cells = append(cells, r.m.KafkaesmLastProcessingCause)
				}
				t.row(cells...)
			}
			return t.flush()
		},
	}
	cmd.Flags().DurationVar(&lagTimeout, "lag-timeout", 3*time.Second, "how long to try each Kafka cluster for the lag")
	return cmd
}

// pollersCell is a mapping's poller count and why it last changed: "2 (lag 36000 would take …)".
func pollersCell(p *mapping.Pollers) string {
	if p.Reason == "" || p.Reason == "started" {
		return strconv.Itoa(p.Pollers)
	}
	return strconv.Itoa(p.Pollers) + " (" + p.Reason + ")"
}

// lagReader reads consumer lag, one admin client per bootstrap list, and remembers clusters
// that did not answer so that a dead cluster costs one timeout, not one per mapping.
type lagReader struct {
	timeout time.Duration
	clients map[string]*kadm.Client
	dead    map[string]bool
}

func newLagReader(timeout time.Duration) *lagReader {
	return &lagReader{timeout: timeout, clients: map[string]*kadm.Client{}, dead: map[string]bool{}}
}

func (l *lagReader) close() {
	for _, c := range l.clients {
		c.Close()
	}
}

// lag is the mapping's lag, or nil and why when it cannot be read from here.
func (l *lagReader) lag(ctx context.Context, m *mapping.EventSourceMapping) (*int64, string) {
	servers := m.BootstrapServers()
	if len(servers) == 0 || len(m.Topics) == 0 {
		return nil, "no bootstrap servers or topic"
	}
	if !plaintext(m) {
		return nil, "the cluster needs credentials, which stay on the server"
	}
	key := strings.Join(servers, ",")
	if l.dead[key] {
		return nil, "cluster unreachable from here"
	}
	adm := l.clients[key]
	if adm == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(servers...), kgo.DialTimeout(l.timeout), kgo.RequestRetries(1))
		if err != nil {
			l.dead[key] = true
			return nil, err.Error()
		}
		adm = kadm.NewClient(cl)
		l.clients[key] = adm
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	n, err := groupLag(ctx, adm, m.GroupID(), m.Topics[0], m.StartingPosition)
	// A coordinator that is still loading (a fresh cluster creating __consumer_offsets) answers
	// with a retriable error: ask again within the lag timeout.
	for err != nil && kerr.IsRetriable(err) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
			n, err = groupLag(ctx, adm, m.GroupID(), m.Topics[0], m.StartingPosition)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			l.dead[key] = true
			return nil, "cluster unreachable from here"
		}
		return nil, err.Error()
	}
	return &n, ""
}

// plaintext: the mapping reaches its cluster without credentials (only VPC entries).
func plaintext(m *mapping.EventSourceMapping) bool {
	for _, a := range m.SourceAccessConfigurations {
		if a.Type != "VPC_SUBNET" && a.Type != "VPC_SECURITY_GROUP" {
			return false
		}
	}
	return true
}

// groupLag sums, over the topic's partitions, the records after the group's committed offset.
// A partition without a commit counts from where the mapping starts: the log start for
// TRIM_HORIZON, nothing for LATEST (the consumer will begin at the end).
func groupLag(ctx context.Context, adm *kadm.Client, group, topic, position string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	if err := ends.Error(); err != nil {
		return 0, err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	commits, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) { // no commit yet (kfake's answer; Kafka's is empty)
		commits, err = kadm.OffsetResponses{}, nil
	}
	if err != nil {
		return 0, err
	}
	if len(ends[topic]) == 0 {
		return 0, errors.New("topic not found")
	}
	var total int64
	for p, end := range ends[topic] {
		from := end.Offset
		if c, ok := commits.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
			from = c.At
		} else if position != "LATEST" {
			if s, ok := starts.Lookup(topic, p); ok && s.Err == nil {
				from = s.Offset
			}
		}
		if end.Offset > from {
			total += end.Offset - from
		}
	}
	return total, nil
}
