package kafkaauth_test

// Against the real test broker (test/kafkatest): every access configuration consumes, every
// failure Lambda documents is produced for real and classified, and no secret value reaches an
// error, a classification or the Kafka client's debug log.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/kafkaauth"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/secrets"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// source is a mutable SecretSource.
type source struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *source) GetSecretValue(_ context.Context, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[id]
	if !ok {
		return "", fmt.Errorf("secret %s: %w", id, secrets.ErrNotFound)
	}
	return v, nil
}

func (s *source) put(t *testing.T, id string, v map[string]string) {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = string(b)
}

type env struct {
	c       *kafkatest.Cluster
	src     *source
	log     *kafkatest.Buffer // franz-go's debug log of every client in this test
	secrets []string          // values that must never appear anywhere
}

func sac(typ, uri string) mapping.SourceAccessConfiguration {
	return mapping.SourceAccessConfiguration{Type: typ, URI: uri}
}

func newEnv(t *testing.T) *env {
	c := kafkatest.Get(t)
	e := &env{c: c, src: &source{m: map[string]string{}}, log: &kafkatest.Buffer{}}
	ca := c.ReadFile(t, "ca.crt")
	e.src.put(t, "ca", map[string]string{"certificate": ca})
	e.src.put(t, "alice", map[string]string{"username": kafkatest.AliceUser, "password": kafkatest.AlicePassword})
	e.src.put(t, "alice-wrong", map[string]string{"username": kafkatest.AliceUser, "password": "wrong-password-5e1b"})
	chain := c.ReadFile(t, "client-chain.pem")
	for _, k := range []string{"client.pkcs8.pem", "client.pbes1-3des.pem", "client.pbes1-md5des.pem",
		"client.pbes2-aes256.pem", "client.pbes2-sha1.pem", "client.pkcs1.pem"} {
		key := c.ReadFile(t, k)
		e.src.put(t, k, map[string]string{"certificate": chain, "privateKey": key, "privateKeyPassword": kafkatest.KeyPassword})
		e.secrets = append(e.secrets, pemBody(key))
	}
	enc := c.ReadFile(t, "client.pbes1-3des.pem")
	e.src.put(t, "key-wrongpw", map[string]string{"certificate": chain, "privateKey": enc, "privateKeyPassword": "wrong-keypw-91c2"})
	e.src.put(t, "key-garbage", map[string]string{"certificate": chain, "privateKey": "-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZS1rZXktMzNkNA==\n-----END PRIVATE KEY-----\n"})
	rogueKey := c.ReadFile(t, "rogue-client.pkcs8.pem")
	e.src.put(t, "rogue", map[string]string{"certificate": c.ReadFile(t, "rogue-client-chain.pem"), "privateKey": rogueKey})
	e.secrets = append(e.secrets, kafkatest.AlicePassword, "wrong-password-5e1b", "wrong-keypw-91c2",
		"Z2FyYmFnZS1rZXktMzNkNA==", pemBody(rogueKey))
	return e
}

// pemBody returns a distinctive line from the middle of a PEM file.
func pemBody(p string) string {
	lines := strings.Split(strings.TrimSpace(p), "\n")
	return lines[len(lines)/2]
}

func (e *env) opts(t *testing.T, sacs ...mapping.SourceAccessConfiguration) ([]kgo.Opt, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := kafkaauth.Options(ctx, sacs, e.src)
	return append(o, kgo.WithLogger(kgo.BasicLogger(e.log, kgo.LogLevelDebug, nil))), err
}

func (e *env) probe(t *testing.T, opts []kgo.Opt, broker, topic, group string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return kafkaauth.Probe(ctx, opts, []string{broker}, topic, group)
}

// consume reads back the record produced over PLAINTEXT, through opts.
func (e *env) consume(t *testing.T, opts []kgo.Opt, broker, topic string) {
	t.Helper()
	value := kafkatest.UniqueName("v")
	e.c.Produce(t, &kgo.Record{Topic: topic, Value: []byte(value)})
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(kafkatest.UniqueName("g")), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no record consumed: %v", ctx.Err())
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("consume: %v", fe.Err)
		}
		for _, r := range fs.Records() {
			if string(r.Value) == value {
				return
			}
		}
	}
}

func (e *env) checkNoSecrets(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range e.secrets {
		for _, text := range append(texts, e.log.String()) {
			if strings.Contains(text, s) {
				t.Fatalf("secret value %.6s… found in %.200q", s, text)
			}
		}
	}
}

func TestBrokerAccessConfigurations(t *testing.T) {
	e := newEnv(t)
	topic := e.c.CreateTopic(t, 1, nil)
	cases := []struct {
		name   string
		broker string
		sacs   []mapping.SourceAccessConfiguration
	}{
		{"BASIC_AUTH", e.c.SASLSSL, []mapping.SourceAccessConfiguration{sac(kafkaauth.BasicAuth, "alice"), sac(kafkaauth.ServerRootCACert, "ca")}},
		{"SASL_SCRAM_256_AUTH", e.c.SASLSSL, []mapping.SourceAccessConfiguration{sac(kafkaauth.SASLScram256Auth, "alice"), sac(kafkaauth.ServerRootCACert, "ca")}},
		{"SASL_SCRAM_512_AUTH", e.c.SASLSSL, []mapping.SourceAccessConfiguration{sac(kafkaauth.SASLScram512Auth, "alice"), sac(kafkaauth.ServerRootCACert, "ca")}},
		{"PLAINTEXT (VPC only)", e.c.Plaintext, []mapping.SourceAccessConfiguration{sac(kafkaauth.VPCSubnet, "subnet:subnet-1")}},
	}
	for _, k := range []string{"client.pkcs8.pem", "client.pbes1-3des.pem", "client.pbes1-md5des.pem",
		"client.pbes2-aes256.pem", "client.pbes2-sha1.pem", "client.pkcs1.pem"} {
		cases = append(cases, struct {
			name   string
			broker string
			sacs   []mapping.SourceAccessConfiguration
		}{"mTLS " + k, e.c.MTLS, []mapping.SourceAccessConfiguration{sac(kafkaauth.ClientCertTLSAuth, k), sac(kafkaauth.ServerRootCACert, "ca")}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := e.opts(t, tc.sacs...)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.probe(t, opts, tc.broker, topic, kafkatest.UniqueName("g")); err != nil {
				t.Fatalf("probe: %v (%+v)", err, kafkaauth.Classify(err))
			}
			e.consume(t, opts, tc.broker, topic)
		})
	}
	e.checkNoSecrets(t)
}

func TestBrokerFailures(t *testing.T) {
	e := newEnv(t)
	c := e.c
	topic := c.CreateTopic(t, 1, nil)

	// A principal with no ACLs: a fresh SCRAM user, and a topic that has ACLs (for alice only)
	// so the broker's allow-if-no-ACL default does not apply.
	noACLUser, noACLPass := kafkatest.UniqueName("noacl"), kafkatest.UniqueName("pw")
	c.UpsertSCRAM(t, noACLUser, noACLPass)
	e.src.put(t, "noacl", map[string]string{"username": noACLUser, "password": noACLPass})
	e.secrets = append(e.secrets, noACLPass)
	aclTopic := c.CreateTopic(t, 1, nil)
	c.CreateACLs(t, kadm.NewACLs().Allow("User:"+kafkatest.AliceUser).Topics(aclTopic).
		AllowHosts().Operations(kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	// The same user allowed on a topic, but a group whose ACLs name only alice.
	groupTopic := c.CreateTopic(t, 1, nil)
	aclGroup := kafkatest.UniqueName("g")
	c.CreateACLs(t, kadm.NewACLs().Allow("User:"+noACLUser, "User:"+kafkatest.AliceUser).Topics(groupTopic).
		AllowHosts().Operations(kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	c.CreateACLs(t, kadm.NewACLs().Allow("User:"+kafkatest.AliceUser).Groups(aclGroup).
		AllowHosts().Operations(kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))

	// Describe without Read, on a topic and on a group.
	describeOnlyTopic := c.CreateTopic(t, 1, nil)
	c.CreateACLs(t, kadm.NewACLs().Allow("User:"+noACLUser).Topics(describeOnlyTopic).
		AllowHosts().Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	describeOnlyGroup := kafkatest.UniqueName("g")
	c.CreateACLs(t, kadm.NewACLs().Allow("User:"+noACLUser).Groups(describeOnlyGroup).
		AllowHosts().Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))

	// Kafka reports a group's authorized operations only once the group exists (a new group is
	// GROUP_ID_NOT_FOUND without them), so give it a committed offset.
	{
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var offs kadm.Offsets
		offs.Add(kadm.Offset{Topic: groupTopic, Partition: 0, At: 0})
		resp, err := c.Admin(t).CommitOffsets(ctx, describeOnlyGroup, offs)
		cancel()
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit offsets for %s: %v", describeOnlyGroup, err)
		}
	}

	ca := sac(kafkaauth.ServerRootCACert, "ca")
	authn, authz := mapping.ReasonAuthnError, mapping.ReasonAuthzError
	cases := []struct {
		name   string
		broker string
		topic  string
		group  string
		sacs   []mapping.SourceAccessConfiguration
		reason string
		result string
	}{
		{"SCRAM-512 wrong password", c.SASLSSL, topic, "", []mapping.SourceAccessConfiguration{sac(kafkaauth.SASLScram512Auth, "alice-wrong"), ca}, authn, kafkaauth.ResultSASLFailed},
		{"PLAIN wrong password", c.SASLSSL, topic, "", []mapping.SourceAccessConfiguration{sac(kafkaauth.BasicAuth, "alice-wrong"), ca}, authn, kafkaauth.ResultSASLFailed},
		{"topic without ACL", c.SASLSSL, aclTopic, "", []mapping.SourceAccessConfiguration{sac(kafkaauth.SASLScram512Auth, "noacl"), ca}, authz, kafkaauth.ResultAuthzFailed},
		{"group without ACL", c.SASLSSL, groupTopic, aclGroup, []mapping.SourceAccessConfiguration{sac(kafkaauth.SASLScram256Auth, "noacl"), ca}, authz, kafkaauth.ResultAuthzFailed},
		{"topic without Read", c.SASLSSL, describeOnlyTopic, "", []mapping.SourceAccessConfiguration{sac(kafkaauth.SASLScram512Auth, "noacl"), ca}, authz, kafkaauth.ResultAuthzFailed},
		{"group without Read", c.SASLSSL, groupTopic, describeOnlyGroup, []mapping.SourceAccessConfiguration{sac(kafkaauth.SASLScram512Auth, "noacl"), ca}, authz, kafkaauth.ResultAuthzFailed},
		{"topic not created yet", c.SASLSSL, kafkatest.UniqueName("absent"), "", []mapping.SourceAccessConfiguration{sac(kafkaauth.SASLScram512Auth, "alice"), ca}, "", ""},
		{"no client certificate on MTLS", c.MTLS, topic, "", []mapping.SourceAccessConfiguration{ca}, authn, kafkaauth.ResultServerRejected},
		{"untrusted client certificate", c.MTLS, topic, "", []mapping.SourceAccessConfiguration{sac(kafkaauth.ClientCertTLSAuth, "rogue"), ca}, authn, kafkaauth.ResultServerRejected},
		{"unknown CA (no root CA secret)", c.SASLSSL, topic, "", []mapping.SourceAccessConfiguration{sac(kafkaauth.SASLScram512Auth, "alice")}, authn, kafkaauth.ResultServerNotTrusted},
		{"BADSAN host mismatch", c.BadSAN, topic, "", []mapping.SourceAccessConfiguration{ca}, authn, kafkaauth.ResultServerNotTrusted},
		{"garbage key", c.MTLS, topic, "", []mapping.SourceAccessConfiguration{sac(kafkaauth.ClientCertTLSAuth, "key-garbage"), ca}, authn, kafkaauth.ResultInvalidCertOrKey},
		{"wrong key password", c.MTLS, topic, "", []mapping.SourceAccessConfiguration{sac(kafkaauth.ClientCertTLSAuth, "key-wrongpw"), ca}, authn, kafkaauth.ResultInvalidCertOrKey},
		{"missing secret", c.SASLSSL, topic, "", []mapping.SourceAccessConfiguration{sac(kafkaauth.SASLScram512Auth, "arn:aws:secretsmanager:us-east-1:000000000000:secret:gone-AbCdEf"), ca},
			mapping.ReasonConfigNotValid, "PROBLEM: The secret arn:aws:secretsmanager:us-east-1:000000000000:secret:gone-AbCdEf (SASL_SCRAM_512_AUTH) does not exist."},
		{"plaintext to TLS listener", c.SASLSSL, topic, "", nil, "", kafkaauth.ResultConnectionError},
	}
	// At run time: the group Read failure of a group that did not exist at probe time shows up
	// as a poll error and classifies the same way.
	t.Run("poll error for group without ACL", func(t *testing.T) {
		opts, err := e.opts(t, sac(kafkaauth.SASLScram512Auth, "noacl"), ca)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(c.SASLSSL), kgo.ConsumeTopics(groupTopic), kgo.ConsumerGroup(aclGroup))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatal("no poll error")
			}
			if errs := fs.Errors(); len(errs) > 0 {
				if p := kafkaauth.Classify(errs[0].Err); p.Reason != authz || p.Result != kafkaauth.ResultAuthzFailed {
					t.Fatalf("%v classified %+v", errs[0].Err, p)
				}
				return
			}
		}
	})

	var texts []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			group := tc.group
			if group == "" {
				group = kafkatest.UniqueName("g")
			}
			opts, err := e.opts(t, tc.sacs...)
			if err == nil {
				err = e.probe(t, opts, tc.broker, tc.topic, group)
			}
			if err == nil && tc.result != "" {
				t.Fatal("no error")
			}
			p := kafkaauth.Classify(err)
			texts = append(texts, append(err2s(err), p.Result)...)
			if p.Reason != tc.reason || p.Result != tc.result {
				t.Fatalf("%v\nclassified %+v, want {%s %s}", err, p, tc.reason, tc.result)
			}
			t.Logf("%s: %v", p.Result, err)
		})
	}
	e.checkNoSecrets(t, texts...)
}

// TestBrokerSecretRotation: one client whose SASL secret is wrong recovers once the secret is
// corrected, without being rebuilt (the mechanism reads the secret per connection).
func TestBrokerSecretRotation(t *testing.T) {
	e := newEnv(t)
	e.src.put(t, "rotating", map[string]string{"username": kafkatest.AliceUser, "password": "wrong-password-5e1b"})
	opts, err := e.opts(t, sac(kafkaauth.SASLScram512Auth, "rotating"), sac(kafkaauth.ServerRootCACert, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	hook := &kafkaauth.ConnectErrors{}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(e.c.SASLSSL), kgo.WithHooks(hook))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = cl.Ping(ctx)
	cancel()
	if p := kafkaauth.Classify(err); p.Result != kafkaauth.ResultSASLFailed {
		t.Fatalf("before rotation: %v classified %+v", err, p)
	}
	if _, herr := hook.Last(); kafkaauth.Classify(herr).Result != kafkaauth.ResultSASLFailed {
		t.Fatalf("connect hook saw %v", herr)
	}
	e.src.put(t, "rotating", map[string]string{"username": kafkatest.AliceUser, "password": kafkatest.AlicePassword})
	kafkatest.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return cl.Ping(ctx)
	})
	if _, herr := hook.Last(); herr != nil {
		t.Fatalf("connect hook still reports %v", herr)
	}
	e.checkNoSecrets(t)
}

// TestBrokerClientCertRotation: the mTLS certificate is re-read on each handshake, so a secret
// broken after Options was built is reported as an invalid key, and repairing it recovers.
func TestBrokerClientCertRotation(t *testing.T) {
	e := newEnv(t)
	topic := e.c.CreateTopic(t, 1, nil)
	good := e.src.m["client.pbes1-3des.pem"]
	e.src.mu.Lock()
	e.src.m["cc"] = good
	e.src.mu.Unlock()
	opts, err := e.opts(t, sac(kafkaauth.ClientCertTLSAuth, "cc"), sac(kafkaauth.ServerRootCACert, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.probe(t, opts, e.c.MTLS, topic, kafkatest.UniqueName("g")); err != nil {
		t.Fatalf("good certificate: %v", err)
	}
	e.src.mu.Lock()
	e.src.m["cc"] = e.src.m["key-wrongpw"]
	e.src.mu.Unlock()
	err = e.probe(t, opts, e.c.MTLS, topic, kafkatest.UniqueName("g"))
	if p := kafkaauth.Classify(err); p.Result != kafkaauth.ResultInvalidCertOrKey || p.Reason != mapping.ReasonAuthnError {
		t.Fatalf("broken key: %v classified %+v", err, p)
	}
	e.src.mu.Lock()
	e.src.m["cc"] = good
	e.src.mu.Unlock()
	if err := e.probe(t, opts, e.c.MTLS, topic, kafkatest.UniqueName("g")); err != nil {
		t.Fatalf("repaired certificate: %v", err)
	}
	e.checkNoSecrets(t, err2s(err)...)
}

func err2s(err error) []string {
	if err == nil {
		return nil
	}
	return []string{err.Error()}
}
