package poller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/kafkaauth"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/secrets"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// mapSecrets is a kafkaauth.SecretSource over a map.
type mapSecrets map[string]string

func (m mapSecrets) GetSecretValue(_ context.Context, id string) (string, error) {
	if v, ok := m[id]; ok {
		return v, nil
	}
	return "", fmt.Errorf("secret %s: %w", id, secrets.ErrNotFound)
}

// TestAuthProblemsReported wires the poller to kafkaauth as the server does and checks what a
// user sees: a wrong SCRAM password is "SASL authentication failed", a topic the principal may
// not read is "Cluster failed to authorize Lambda", and once the ACL is gone records flow and
// the result is OK.
func TestAuthProblemsReported(t *testing.T) {
	kt := kafkatest.Get(t)
	topic := kt.CreateTopic(t, 1, nil)
	producePerPartition(t, kt, topic, 1, 5)
	caJSON := fmt.Sprintf(`{"certificate":%q}`, kt.ReadFile(t, "ca.crt"))
	src := mapSecrets{
		"ca":   caJSON,
		"good": fmt.Sprintf(`{"username":%q,"password":%q}`, kafkatest.AliceUser, kafkatest.AlicePassword),
		"bad":  fmt.Sprintf(`{"username":%q,"password":"wrong"}`, kafkatest.AliceUser),
	}
	rec := newRecorder()
	rep := &reporter{}
	cfg := testConfig(rec, rep)
	cfg.ClientOpts = func(ctx context.Context, m *mapping.EventSourceMapping) ([]kgo.Opt, error) {
		return kafkaauth.Options(ctx, m.SourceAccessConfigurations, src)
	}
	cfg.ClassifyError = func(err error) (string, string) { p := kafkaauth.Classify(err); return p.Reason, p.Result }
	mg := newTestManager(t, cfg)

	// SASL goes over TLS, as on Lambda: the SASL_SSL listener with the private CA.
	bad := newMapping(kt.SASLSSL, topic)
	bad.SourceAccessConfigurations = []mapping.SourceAccessConfiguration{{Type: "SASL_SCRAM_512_AUTH", URI: "bad"}, {Type: "SERVER_ROOT_CA_CERTIFICATE", URI: "ca"}}
	apply(t, mg, bad)
	rep.waitReported(t, 30*time.Second, kafkaauth.ResultSASLFailed)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mg.Stop(ctx, bad.UUID); err != nil {
		t.Fatal(err)
	}

	deny := kadm.NewACLs().Topics(topic).Deny("User:" + kafkatest.AliceUser).Operations(kadm.OpRead).
		ResourcePatternType(kadm.ACLPatternLiteral)
	kt.CreateACLs(t, deny)
	good := newMapping(kt.SASLSSL, topic)
	good.SourceAccessConfigurations = []mapping.SourceAccessConfiguration{{Type: "SASL_SCRAM_512_AUTH", URI: "good"}, {Type: "SERVER_ROOT_CA_CERTIFICATE", URI: "ca"}}
	apply(t, mg, good)
	rep.waitReported(t, 30*time.Second, kafkaauth.ResultAuthzFailed)
	if rec.total() != 0 {
		t.Fatal("records delivered despite the deny ACL")
	}
	if _, err := kt.Admin(t).DeleteACLs(ctx, deny); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 60*time.Second, func() error {
		if got := rec.total(); got < 5 || rep.last() != mapping.ResultOK {
			return fmt.Errorf("%d of 5 delivered, last result %q", got, rep.last())
		}
		return nil
	})
	checkPartition(t, "partition 0", rec.partition(topic, 0), 0, 5, true)
}
