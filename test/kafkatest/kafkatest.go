// Package kafkatest gives integration tests a real Apache Kafka broker: the address of each
// listener, TLS material, an admin client, unique topics, a producer, SCRAM users and ACLs.
//
// The broker is started once per test run by test/kafka/broker.sh (CI starts it before `go test`
// and exports KAFKA_TEST_* variables). A test process that finds no variables runs `broker.sh
// start` itself; the script serialises concurrent starts and reuses a running broker, so parallel
// test packages share one broker. The broker is shared: tests use unique topic, group and user
// names and never put ACLs on the cluster or on `*`.
package kafkatest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster describes the running test broker.
type Cluster struct {
	Plaintext     string // PLAINTEXT; principal User:ANONYMOUS is a super user (the admin channel)
	SASLPlaintext string // SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLSSL       string // SASL_SSL: the same mechanisms over TLS
	MTLS          string // SSL with a required client certificate
	BadSAN        string // TLS whose certificate names only DNS:wrong.invalid
	TLSDir        string // ca.crt, client-chain.pem, client.pkcs8.pem, client.pbes1-3des.pem, ...
	Version       string
}

// Static users configured in the broker (PLAIN via JAAS; SCRAM created at format time).
const (
	AdminUser, AdminPassword = "admin", "admin-secret"
	AliceUser, AlicePassword = "alice", "alice-secret"
	BobUser, BobPassword     = "bob", "bob-secret" // PLAIN only
	// KeyPassword protects the encrypted client keys in TLSDir.
	KeyPassword = "changeit"
	// MTLSPrincipal is the principal of client-chain.pem on the MTLS listener.
	MTLSPrincipal = "User:CN=mtls-client"
	// MTLSNoACLPrincipal is the principal of client-noacl-chain.pem.
	MTLSNoACLPrincipal = "User:CN=mtls-noacl"
)

var (
	once    sync.Once
	cluster *Cluster
	initErr error
)

// Get returns the test broker, starting it when this test run has none. When the broker cannot be
// had the test fails (it is never silently skipped: real Kafka is the proof).
func Get(t testing.TB) *Cluster {
	t.Helper()
	once.Do(func() { cluster, initErr = discover() })
	if initErr != nil {
		t.Fatalf("kafkatest: no test broker: %v", initErr)
	}
	return cluster
}

func discover() (*Cluster, error) {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "KAFKA_TEST_") {
			env[k] = v
		}
	}
	if env["KAFKA_TEST_BOOTSTRAP_PLAINTEXT"] == "" {
		script, err := brokerScript()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command("bash", script, "start")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s start: %v\n%s", script, err, stderr.String())
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				env[k] = v
			}
		}
	}
	c := &Cluster{
		Plaintext:     env["KAFKA_TEST_BOOTSTRAP_PLAINTEXT"],
		SASLPlaintext: env["KAFKA_TEST_BOOTSTRAP_SASL_PLAINTEXT"],
		SASLSSL:       env["KAFKA_TEST_BOOTSTRAP_SASL_SSL"],
		MTLS:          env["KAFKA_TEST_BOOTSTRAP_MTLS"],
		BadSAN:        env["KAFKA_TEST_BOOTSTRAP_BADSAN"],
		TLSDir:        env["KAFKA_TEST_TLS_DIR"],
		Version:       env["KAFKA_TEST_VERSION"],
	}
	if c.Plaintext == "" || c.TLSDir == "" {
		return nil, fmt.Errorf("broker environment incomplete: %v", env)
	}
	// One real request proves the broker answers before any test relies on it.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Plaintext))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		adm := kadm.NewClient(cl)
		if _, err = adm.BrokerMetadata(ctx); err == nil {
			// A fresh broker creates __consumer_offsets on the first group request and answers
			// COORDINATOR_NOT_AVAILABLE until it is ready; warm it up here, once per test process,
			// so group tests start on a ready coordinator.
			_, err = adm.FetchOffsets(ctx, "kafkatest-warmup")
			if err == nil {
				return c, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("broker at %s does not answer: %w", c.Plaintext, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// brokerScript finds test/kafka/broker.sh relative to this source file.
func brokerScript() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate kafkatest source")
	}
	p := filepath.Join(filepath.Dir(file), "..", "kafka", "broker.sh")
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// File is the path of a file in the broker's TLS directory.
func (c *Cluster) File(name string) string { return filepath.Join(c.TLSDir, name) }

// ReadFile returns a TLS file's contents.
func (c *Cluster) ReadFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(c.File(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// CAPool trusts the broker's private CA.
func (c *Cluster) CAPool(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(c.ReadFile(t, "ca.crt"))) {
		t.Fatal("kafkatest: ca.crt holds no certificate")
	}
	return pool
}

// TLSConfig trusts the private CA and, when certName is not "", presents <certName>.crt with the
// unencrypted key <certName>.key (e.g. "client").
func (c *Cluster) TLSConfig(t testing.TB, certName string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: c.CAPool(t), MinVersion: tls.VersionTLS12}
	if certName != "" {
		cert, err := tls.LoadX509KeyPair(c.File(certName+".crt"), c.File(certName+".key"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return cfg
}

// Client returns a PLAINTEXT (super user) client, closed when the test ends.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Plaintext)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client over PLAINTEXT.
func (c *Cluster) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(c.Client(t))
}

// UniqueName returns prefix plus a random suffix, for topics, groups and users.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// CreateTopic creates a topic with a unique name and the given partitions, waits until every
// partition has a leader, and returns the name. configs are topic configs (may be nil).
func (c *Cluster) CreateTopic(t testing.TB, partitions int32, configs map[string]*string) string {
	t.Helper()
	name := UniqueName("t")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("kafkatest: create topic %s: %v", name, err)
	}
	WaitFor(t, 30*time.Second, func() error {
		md, err := adm.Metadata(ctx, name)
		if err != nil {
			return err
		}
		td, ok := md.Topics[name]
		if !ok || td.Err != nil || len(td.Partitions) != int(partitions) {
			return fmt.Errorf("topic %s not ready", name)
		}
		for _, p := range td.Partitions {
			if p.Leader < 0 || p.Err != nil {
				return fmt.Errorf("partition %d has no leader", p.Partition)
			}
		}
		return nil
	})
	return name
}

// Produce writes records synchronously over PLAINTEXT and fails the test on any error.
func (c *Cluster) Produce(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	c.ProduceWith(t, c.producer(t), recs...)
}

var (
	prodMu sync.Mutex
	prods  = map[testing.TB]*kgo.Client{}
)

func (c *Cluster) producer(t testing.TB) *kgo.Client {
	prodMu.Lock()
	defer prodMu.Unlock()
	if p, ok := prods[t]; ok {
		return p
	}
	p := c.Client(t, kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(16<<20), kgo.MaxBufferedRecords(1<<20))
	prods[t] = p
	t.Cleanup(func() { prodMu.Lock(); delete(prods, t); prodMu.Unlock() })
	return p
}

// ProduceWith writes records synchronously with the given client.
func (c *Cluster) ProduceWith(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("kafkatest: produce: %v", err)
	}
}

// UpsertSCRAM creates or updates a SCRAM-SHA-256 and SCRAM-SHA-512 user and waits until the
// broker accepts it on the SASL_PLAINTEXT listener.
func (c *Cluster) UpsertSCRAM(t testing.TB, user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Kafka refuses one request naming the same user twice (DUPLICATE_RESOURCE), so one request
	// per mechanism.
	var err error
	for _, mech := range []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512} {
		var res kadm.AlteredUserSCRAMs
		res, err = c.Admin(t).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
			{User: user, Mechanism: mech, Iterations: 4096, Password: password},
		})
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("kafkatest: upsert SCRAM user %s: %v", user, err)
	}
	// Credentials reach the broker's cache asynchronously.
	WaitFor(t, 20*time.Second, func() error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.SASLPlaintext), kgo.SASL(scramAuth(user, password)))
		if err != nil {
			return err
		}
		defer cl.Close()
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		defer pcancel()
		return cl.Ping(pctx)
	})
}

// CreateACLs creates ACLs (principals need the "User:" prefix; hosts are always any) and waits
// until the broker shows them.
func (c *Cluster) CreateACLs(t testing.TB, b *kadm.ACLBuilder) {
	t.Helper()
	b.AllowHosts().DenyHosts() // any host: the broker sees only 127.0.0.1 anyway
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Admin(t).CreateACLs(ctx, b)
	if err == nil {
		for _, r := range res {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("kafkatest: create ACLs: %v", err)
	}
	WaitFor(t, 20*time.Second, func() error {
		d, err := c.Admin(t).DescribeACLs(ctx, b)
		if err != nil {
			return err
		}
		for _, r := range d {
			if r.Err != nil {
				return r.Err
			}
			if len(r.Described) == 0 {
				return fmt.Errorf("ACLs not visible yet")
			}
		}
		return nil
	})
}

// WaitFor calls fn until it returns nil, failing the test with fn's last error after timeout.
func WaitFor(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kafkatest: gave up after %v: %v", timeout, err)
		}
		time.Sleep(wait)
		if wait < 250*time.Millisecond {
			wait *= 2
		}
	}
}
