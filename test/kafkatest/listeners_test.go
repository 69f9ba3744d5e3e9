package kafkatest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// roundTrip produces one record with opts and consumes it back with the same opts.
func roundTrip(t *testing.T, c *kafkatest.Cluster, topic string, opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	value := kafkatest.UniqueName("v")
	p, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cons, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(kafkatest.UniqueName("g")), kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("consume: %v", e.Err)
		}
		for _, r := range fs.Records() {
			if string(r.Value) == value {
				return
			}
		}
	}
}

func TestListeners(t *testing.T) {
	c := kafkatest.Get(t)
	topic := c.CreateTopic(t, 1, nil)
	tlsCfg := func(cert string) kgo.Opt { return kgo.DialTLSConfig(c.TLSConfig(t, cert)) }
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"PLAINTEXT", []kgo.Opt{kgo.SeedBrokers(c.Plaintext)}},
		{"SASL_SSL PLAIN", []kgo.Opt{kgo.SeedBrokers(c.SASLSSL), tlsCfg(""),
			kgo.SASL(kafkatest.PlainMechanism(kafkatest.AliceUser, kafkatest.AlicePassword))}},
		{"SASL_SSL SCRAM-SHA-256", []kgo.Opt{kgo.SeedBrokers(c.SASLSSL), tlsCfg(""),
			kgo.SASL(kafkatest.Scram256Mechanism(kafkatest.AliceUser, kafkatest.AlicePassword))}},
		{"SASL_SSL SCRAM-SHA-512", []kgo.Opt{kgo.SeedBrokers(c.SASLSSL), tlsCfg(""),
			kgo.SASL(kafkatest.Scram512Mechanism(kafkatest.AliceUser, kafkatest.AlicePassword))}},
		{"SASL_PLAINTEXT SCRAM-SHA-512", []kgo.Opt{kgo.SeedBrokers(c.SASLPlaintext),
			kgo.SASL(kafkatest.Scram512Mechanism(kafkatest.AliceUser, kafkatest.AlicePassword))}},
		{"mTLS", []kgo.Opt{kgo.SeedBrokers(c.MTLS), tlsCfg("client")}},
	} {
		t.Run(tc.name, func(t *testing.T) { roundTrip(t, c, topic, tc.opts...) })
	}
}

func ping(opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func TestWrongPasswordIsAuthenticationError(t *testing.T) {
	c := kafkatest.Get(t)
	for _, mech := range []struct {
		name string
		opt  kgo.Opt
	}{
		{"PLAIN", kgo.SASL(kafkatest.PlainMechanism(kafkatest.AliceUser, "wrong"))},
		{"SCRAM-SHA-256", kgo.SASL(kafkatest.Scram256Mechanism(kafkatest.AliceUser, "wrong"))},
		{"SCRAM-SHA-512", kgo.SASL(kafkatest.Scram512Mechanism(kafkatest.AliceUser, "wrong"))},
	} {
		t.Run(mech.name, func(t *testing.T) {
			err := ping(kgo.SeedBrokers(c.SASLSSL), kgo.DialTLSConfig(c.TLSConfig(t, "")), mech.opt)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("want SASL_AUTHENTICATION_FAILED, got %v", err)
			}
		})
	}
}

func TestPrincipalWithoutACLsIsDenied(t *testing.T) {
	c := kafkatest.Get(t)
	user := kafkatest.UniqueName("u")
	c.UpsertSCRAM(t, user, "pw-"+user)
	topic := c.CreateTopic(t, 1, nil)
	// An ACL for someone else closes the topic to user (allow.everyone.if.no.acl.found applies only
	// to resources with no ACL at all).
	c.CreateACLs(t, kadm.NewACLs().Allow(kafkatest.MTLSPrincipal).Topics(topic).
		Operations(kadm.OpRead, kadm.OpWrite, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))

	opts := []kgo.Opt{kgo.SeedBrokers(c.SASLSSL), kgo.DialTLSConfig(c.TLSConfig(t, "")),
		kgo.SASL(kafkatest.Scram512Mechanism(user, "pw-"+user))}
	cl, err := kgo.NewClient(append(opts, kgo.RecordRetries(2), kgo.UnknownTopicRetries(2))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce without ACLs: want TOPIC_AUTHORIZATION_FAILED, got %v", err)
	}
	// The principal the ACL names gets through on the mTLS listener.
	roundTrip(t, c, topic, kgo.SeedBrokers(c.MTLS), kgo.DialTLSConfig(c.TLSConfig(t, "client")))
}

func TestTLSFailures(t *testing.T) {
	c := kafkatest.Get(t)
	t.Run("host name not in SANs", func(t *testing.T) {
		err := ping(kgo.SeedBrokers(c.BadSAN), kgo.DialTLSConfig(c.TLSConfig(t, "")))
		var he x509.HostnameError
		if !errors.As(err, &he) {
			t.Fatalf("want x509.HostnameError, got %v", err)
		}
		// The same listener verifies under the name its certificate does hold.
		cfg := c.TLSConfig(t, "")
		cfg.ServerName = "wrong.invalid"
		if err := ping(kgo.SeedBrokers(c.BadSAN), kgo.Dialer(tlsDialer(cfg))); err != nil {
			t.Fatalf("with ServerName wrong.invalid: %v", err)
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		err := ping(kgo.SeedBrokers(c.SASLSSL), kgo.DialTLSConfig(&tls.Config{}),
			kgo.SASL(kafkatest.PlainMechanism(kafkatest.AliceUser, kafkatest.AlicePassword)))
		var ua x509.UnknownAuthorityError
		if !errors.As(err, &ua) {
			t.Fatalf("want x509.UnknownAuthorityError, got %v", err)
		}
	})
	t.Run("mTLS without client certificate", func(t *testing.T) {
		err := ping(kgo.SeedBrokers(c.MTLS), kgo.DialTLSConfig(c.TLSConfig(t, "")))
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "remote error" {
			t.Fatalf("want a remote TLS alert, got %v", err)
		}
	})
	t.Run("mTLS with untrusted client certificate", func(t *testing.T) {
		err := ping(kgo.SeedBrokers(c.MTLS), kgo.DialTLSConfig(c.TLSConfig(t, "rogue-client")))
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "remote error" {
			t.Fatalf("want a remote TLS alert, got %v", err)
		}
	})
}

// tlsDialer dials TLS with cfg as given (kgo.DialTLSConfig would overwrite ServerName with the
// broker's host).
func tlsDialer(cfg *tls.Config) func(ctx context.Context, network, host string) (net.Conn, error) {
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
		conn, err := d.DialContext(ctx, network, host)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", host, err)
		}
		return conn, nil
	}
}
