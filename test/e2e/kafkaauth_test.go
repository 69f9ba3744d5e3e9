package e2e

// Issue 6 end to end, against the real broker's listeners: secrets created with the AWS SDK's
// Secrets Manager client, mappings with its Lambda client, on one in-process node whose pollers
// really consume. Every access configuration delivers; every failure Lambda documents is
// produced for real and read back with GetEventSourceMapping; fixing the cause (an ACL, a
// PutSecretValue) resumes the mapping without a restart; and no secret value appears in the
// node's logs, metrics, API responses or database files.

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/poller"
	"github.com/kafkaesm/kafkaesm/internal/server"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// kafkaTarget is an HTTP function that records the values it receives, by topic.
type kafkaTarget struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]string
}

func newKafkaTarget(t *testing.T) *kafkaTarget {
	k := &kafkaTarget{got: map[string][]string{}}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev events.KafkaEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		k.mu.Lock()
		for _, rs := range ev.Records {
			for _, rec := range rs {
				k.got[rec.Topic] = append(k.got[rec.Topic], rec.Value) // base64, as sent
			}
		}
		k.mu.Unlock()
		_, _ = io.WriteString(w, "null")
	}))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *kafkaTarget) count(topic string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.got[topic])
}

// authEnv is one node shared by every subtest, and what they need to reach it.
type authEnv struct {
	kt     *kafkatest.Cluster
	dir    string
	url    string
	logs   *kafkatest.Buffer // the node's log output
	lc     *lambda.Client
	sm     *sm.Client
	target *kafkaTarget

	mu      sync.Mutex
	secrets []string // values that must never appear in clear
	uuids   []string
}

func newAuthEnv(t *testing.T) *authEnv {
	t.Helper()
	e := &authEnv{kt: kafkatest.Get(t), dir: filepath.Join(t.TempDir(), "data"), logs: &kafkatest.Buffer{}}
	addr, _ := runServer(t, server.Config{
		Listen:             "127.0.0.1:0",
		DataDir:            e.dir,
		Logger:             slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Pollers:            true,
		Resync:             time.Second,
		KafkaAccessBackoff: poller.Backoff{Initial: 200 * time.Millisecond, Max: 2 * time.Second},
	}, 60*time.Second)
	e.url = "http://" + addr
	e.lc = lambda.New(lambda.Options{Region: region, BaseEndpoint: aws.String(e.url), Credentials: testCredentials, RetryMaxAttempts: 1})
	e.sm = sm.New(sm.Options{Region: region, BaseEndpoint: aws.String(e.url), Credentials: testCredentials, RetryMaxAttempts: 1})
	e.target = newKafkaTarget(t)
	code, _, body := rawRequest(t, "POST", e.url+"/2015-03-31/functions",
		`{"FunctionName":"authfn","Role":"arn:aws:iam::000000000000:role/r","KafkaesmHttpTarget":{"Url":"`+e.target.srv.URL+`"},"Timeout":10}`)
	if code != 201 {
		t.Fatalf("create function: %d %s", code, body)
	}
	return e
}

func (e *authEnv) mustHide(vals ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, vals...)
}

// secret creates a Secrets Manager secret holding v as JSON (or raw when v is a string) and
// returns its ARN.
func (e *authEnv) secret(t *testing.T, v any) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		s = string(b)
	}
	out, err := e.sm.CreateSecret(testCtx(t), &sm.CreateSecretInput{
		Name: aws.String(kafkatest.UniqueName("kafka")), SecretString: aws.String(s)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

func (e *authEnv) putSecret(t *testing.T, arn string, v map[string]string) {
	t.Helper()
	b, _ := json.Marshal(v)
	if _, err := e.sm.PutSecretValue(testCtx(t), &sm.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(string(b))}); err != nil {
		t.Fatal(err)
	}
}

func sacOf(typ types.SourceAccessType, arn string) types.SourceAccessConfiguration {
	return types.SourceAccessConfiguration{Type: typ, URI: aws.String(arn)}
}

// mapping creates an enabled mapping of topic on broker and returns its UUID.
func (e *authEnv) mapping(t *testing.T, broker, topic string, sacs ...types.SourceAccessConfiguration) string {
	t.Helper()
	out, err := e.lc.CreateEventSourceMapping(testCtx(t), &lambda.CreateEventSourceMappingInput{
		FunctionName:               aws.String("authfn"),
		Topics:                     []string{topic},
		SelfManagedEventSource:     &types.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {broker}}},
		SourceAccessConfigurations: sacs,
		StartingPosition:           types.EventSourcePositionTrimHorizon,
		BatchSize:                  aws.Int32(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	uuid := aws.ToString(out.UUID)
	e.mu.Lock()
	e.uuids = append(e.uuids, uuid)
	e.mu.Unlock()
	return uuid
}

func (e *authEnv) produce(t *testing.T, topic string, n int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("v%d", i))}
	}
	e.kt.Produce(t, recs...)
}

// waitStatus waits until GetEventSourceMapping reports exactly reason and result, with State
// Enabled throughout: kafkaesm, like Lambda, keeps a mapping whose access fails Enabled.
func (e *authEnv) waitStatus(t *testing.T, uuid, reason, result string) {
	t.Helper()
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		got, err := e.lc.GetEventSourceMapping(testCtx(t), &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		if err != nil {
			return err
		}
		st, rs, lr := aws.ToString(got.State), aws.ToString(got.StateTransitionReason), aws.ToString(got.LastProcessingResult)
		if st != "Enabled" || rs != reason || lr != result {
			return fmt.Errorf("State %q, StateTransitionReason %q, LastProcessingResult %q; want Enabled, %q, %q", st, rs, lr, reason, result)
		}
		return nil
	})
}

// waitCause waits until GetEventSourceMapping's kafkaesm extension member
// KafkaesmLastProcessingCause (which the SDK does not decode) contains want.
func (e *authEnv) waitCause(t *testing.T, uuid, want string) {
	t.Helper()
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		code, _, body := rawRequest(t, "GET", e.url+"/2015-03-31/event-source-mappings/"+uuid, "")
		var got struct{ KafkaesmLastProcessingCause string }
		if err := json.Unmarshal([]byte(body), &got); err != nil || code != http.StatusOK {
			return fmt.Errorf("GetEventSourceMapping: %d %s", code, body)
		}
		if !strings.Contains(got.KafkaesmLastProcessingCause, want) {
			return fmt.Errorf("KafkaesmLastProcessingCause %q, want it to contain %q", got.KafkaesmLastProcessingCause, want)
		}
		return nil
	})
}

// waitDelivered waits until the function got n records of topic and the mapping reports OK.
func (e *authEnv) waitDelivered(t *testing.T, uuid, topic string, n int) {
	t.Helper()
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		if got := e.target.count(topic); got < n {
			return fmt.Errorf("%d of %d records delivered", got, n)
		}
		return nil
	})
	e.waitStatus(t, uuid, "USER_INITIATED", "OK")
}

func TestKafkaAccessEndToEnd(t *testing.T) {
	e := newAuthEnv(t)
	kt := e.kt
	ca := e.secret(t, map[string]string{"certificate": kt.ReadFile(t, "ca.crt")})
	alice := e.secret(t, map[string]string{"username": kafkatest.AliceUser, "password": kafkatest.AlicePassword})
	chain := kt.ReadFile(t, "client-chain.pem")
	e.mustHide(kafkatest.AlicePassword, kafkatest.KeyPassword)
	caSAC := sacOf(types.SourceAccessTypeServerRootCaCertificate, ca)

	t.Run("delivers", func(t *testing.T) {
		type tc struct {
			name   string
			broker string
			sacs   []types.SourceAccessConfiguration
		}
		cases := []tc{
			{"BASIC_AUTH over SASL_SSL", kt.SASLSSL, []types.SourceAccessConfiguration{sacOf(types.SourceAccessTypeBasicAuth, alice), caSAC}},
			{"SASL_SCRAM_256_AUTH", kt.SASLSSL, []types.SourceAccessConfiguration{sacOf(types.SourceAccessTypeSaslScram256Auth, alice), caSAC}},
			{"SASL_SCRAM_512_AUTH", kt.SASLSSL, []types.SourceAccessConfiguration{sacOf(types.SourceAccessTypeSaslScram512Auth, alice), caSAC}},
		}
		for _, key := range []string{"client.pkcs8.pem", "client.pbes1-3des.pem", "client.pbes1-md5des.pem", "client.pbes2-aes256.pem"} {
			pemKey := kt.ReadFile(t, key)
			e.mustHide(pemBody(pemKey))
			v := map[string]string{"certificate": chain, "privateKey": pemKey}
			if strings.Contains(pemKey, "ENCRYPTED") {
				v["privateKeyPassword"] = kafkatest.KeyPassword
			}
			cases = append(cases, tc{"mTLS " + key, kt.MTLS,
				[]types.SourceAccessConfiguration{sacOf(types.SourceAccessTypeClientCertificateTlsAuth, e.secret(t, v)), caSAC}})
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				topic := kt.CreateTopic(t, 1, nil)
				e.produce(t, topic, 5)
				uuid := e.mapping(t, c.broker, topic, c.sacs...)
				e.waitDelivered(t, uuid, topic, 5)
			})
		}
	})

	t.Run("failures", func(t *testing.T) {
		const authn, authz = "EVENT_SOURCE_AUTHN_ERROR", "EVENT_SOURCE_AUTHZ_ERROR"

		// Missing ACLs: a principal with none, on a topic whose ACLs name only alice (so the
		// broker's allow-if-no-ACL default does not apply). Granting them resumes the mapping.
		t.Run("missing ACLs, then granted", func(t *testing.T) {
			t.Parallel()
			user, pass := kafkatest.UniqueName("noacl"), kafkatest.UniqueName("pw")
			kt.UpsertSCRAM(t, user, pass)
			e.mustHide(pass)
			topic := kt.CreateTopic(t, 1, nil)
			kt.CreateACLs(t, kadm.NewACLs().Allow("User:"+kafkatest.AliceUser).Topics(topic).
				Operations(kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
			e.produce(t, topic, 3)
			creds := e.secret(t, map[string]string{"username": user, "password": pass})
			uuid := e.mapping(t, kt.SASLSSL, topic, sacOf(types.SourceAccessTypeSaslScram512Auth, creds), caSAC)
			e.waitStatus(t, uuid, authz, "PROBLEM: Cluster failed to authorize Lambda.")
			if n := e.target.count(topic); n != 0 {
				t.Fatalf("%d records delivered without ACLs", n)
			}
			kt.CreateACLs(t, kadm.NewACLs().Allow("User:"+user).Topics(topic).
				Operations(kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
			e.waitDelivered(t, uuid, topic, 3)
		})

		// The same for the consumer group: the topic is readable, the custom group's ACLs name
		// only alice.
		t.Run("missing group ACLs, then granted", func(t *testing.T) {
			t.Parallel()
			user, pass := kafkatest.UniqueName("noacl"), kafkatest.UniqueName("pw")
			kt.UpsertSCRAM(t, user, pass)
			e.mustHide(pass)
			topic := kt.CreateTopic(t, 1, nil)
			group := kafkatest.UniqueName("g")
			kt.CreateACLs(t, kadm.NewACLs().Allow("User:"+user).Topics(topic).
				Operations(kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
			kt.CreateACLs(t, kadm.NewACLs().Allow("User:"+kafkatest.AliceUser).Groups(group).
				Operations(kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
			e.produce(t, topic, 3)
			creds := e.secret(t, map[string]string{"username": user, "password": pass})
			out, err := e.lc.CreateEventSourceMapping(testCtx(t), &lambda.CreateEventSourceMappingInput{
				FunctionName:                      aws.String("authfn"),
				Topics:                            []string{topic},
				SelfManagedEventSource:            &types.SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {kt.SASLSSL}}},
				SelfManagedKafkaEventSourceConfig: &types.SelfManagedKafkaEventSourceConfig{ConsumerGroupId: aws.String(group)},
				SourceAccessConfigurations:        []types.SourceAccessConfiguration{sacOf(types.SourceAccessTypeSaslScram512Auth, creds), caSAC},
				StartingPosition:                  types.EventSourcePositionTrimHorizon,
			})
			if err != nil {
				t.Fatal(err)
			}
			uuid := aws.ToString(out.UUID)
			e.waitStatus(t, uuid, authz, "PROBLEM: Cluster failed to authorize Lambda.")
			if n := e.target.count(topic); n != 0 {
				t.Fatalf("%d records delivered without group ACLs", n)
			}
			kt.CreateACLs(t, kadm.NewACLs().Allow("User:"+user).Groups(group).
				Operations(kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
			e.waitDelivered(t, uuid, topic, 3)
		})

		t.Run("wrong password, then corrected with PutSecretValue", func(t *testing.T) {
			t.Parallel()
			topic := kt.CreateTopic(t, 1, nil)
			e.produce(t, topic, 3)
			wrong := kafkatest.UniqueName("wrong-password")
			e.mustHide(wrong)
			creds := e.secret(t, map[string]string{"username": kafkatest.AliceUser, "password": wrong})
			uuid := e.mapping(t, kt.SASLSSL, topic, sacOf(types.SourceAccessTypeSaslScram256Auth, creds), caSAC)
			e.waitStatus(t, uuid, authn, "PROBLEM: SASL authentication failed.")
			e.waitCause(t, uuid, "invalid credentials with SASL mechanism SCRAM-SHA-256")
			if n := e.target.count(topic); n != 0 {
				t.Fatalf("%d records delivered with a wrong password", n)
			}
			e.putSecret(t, creds, map[string]string{"username": kafkatest.AliceUser, "password": kafkatest.AlicePassword})
			e.waitDelivered(t, uuid, topic, 3)
			e.waitCause(t, uuid, "") // cleared: the member is absent

			// Broken while consuming: the changed secret is probed at once, the consumer stops;
			// records produced meanwhile wait and arrive after the fix, none lost.
			e.putSecret(t, creds, map[string]string{"username": kafkatest.AliceUser, "password": wrong})
			e.waitStatus(t, uuid, authn, "PROBLEM: SASL authentication failed.")
			e.produce(t, topic, 4)
			e.putSecret(t, creds, map[string]string{"username": kafkatest.AliceUser, "password": kafkatest.AlicePassword})
			e.waitDelivered(t, uuid, topic, 7)
			if n := e.target.count(topic); n != 7 {
				t.Fatalf("%d deliveries of 7 records", n)
			}
		})

		wrongKeyPW := kafkatest.UniqueName("wrong-keypw")
		garbage := "Z2FyYmFnZS0" + strings.ReplaceAll(kafkatest.UniqueName("k"), "-", "") + "=="
		rogueKey := kt.ReadFile(t, "rogue-client.pkcs8.pem")
		e.mustHide(wrongKeyPW, garbage, pemBody(rogueKey))
		malformedPW := kafkatest.UniqueName("malformed-pw")
		e.mustHide(malformedPW)
		missing := "arn:aws:secretsmanager:us-east-1:000000000000:secret:" + kafkatest.UniqueName("gone") + "-AbCdEf"
		malformed := e.secret(t, map[string]string{"user": kafkatest.AliceUser, "pass": malformedPW})
		cases := []struct {
			name           string
			broker         string
			sacs           []types.SourceAccessConfiguration
			reason, result string
			cause          string // in KafkaesmLastProcessingCause
		}{
			{"untrusted client certificate", kt.MTLS, []types.SourceAccessConfiguration{
				sacOf(types.SourceAccessTypeClientCertificateTlsAuth, e.secret(t, map[string]string{
					"certificate": kt.ReadFile(t, "rogue-client-chain.pem"), "privateKey": rogueKey})), caSAC},
				authn, "PROBLEM: Server failed to authenticate Lambda.", ""},
			{"unknown CA", kt.SASLSSL, []types.SourceAccessConfiguration{sacOf(types.SourceAccessTypeSaslScram512Auth, alice)},
				authn, "PROBLEM: Lambda failed to authenticate server.", "x509: certificate signed by unknown authority"},
			{"host name not in the SANs", kt.BadSAN, []types.SourceAccessConfiguration{caSAC},
				authn, "PROBLEM: Lambda failed to authenticate server.", "x509: cannot validate certificate for 127.0.0.1"},
			{"garbage key", kt.MTLS, []types.SourceAccessConfiguration{
				sacOf(types.SourceAccessTypeClientCertificateTlsAuth, e.secret(t, map[string]string{
					"certificate": chain, "privateKey": "-----BEGIN PRIVATE KEY-----\n" + garbage + "\n-----END PRIVATE KEY-----\n"})), caSAC},
				authn, "PROBLEM: Provided certificate or private key is invalid.", ""},
			{"wrong key password", kt.MTLS, []types.SourceAccessConfiguration{
				sacOf(types.SourceAccessTypeClientCertificateTlsAuth, e.secret(t, map[string]string{
					"certificate": chain, "privateKey": kt.ReadFile(t, "client.pbes1-3des.pem"), "privateKeyPassword": wrongKeyPW})), caSAC},
				authn, "PROBLEM: Provided certificate or private key is invalid.", ""},
			{"missing secret", kt.SASLSSL, []types.SourceAccessConfiguration{sacOf(types.SourceAccessTypeSaslScram512Auth, missing), caSAC},
				"ESM_CONFIG_NOT_VALID", "PROBLEM: The secret " + missing + " (SASL_SCRAM_512_AUTH) does not exist.", "does not exist"},
			{"malformed secret", kt.SASLSSL, []types.SourceAccessConfiguration{sacOf(types.SourceAccessTypeBasicAuth, malformed), caSAC},
				"ESM_CONFIG_NOT_VALID", "", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				topic := kt.CreateTopic(t, 1, nil)
				e.produce(t, topic, 1)
				uuid := e.mapping(t, c.broker, topic, c.sacs...)
				if c.result == "" { // the message names the secret and the problem
					checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
						got, err := e.lc.GetEventSourceMapping(testCtx(t), &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
						if err != nil {
							return err
						}
						rs, lr := aws.ToString(got.StateTransitionReason), aws.ToString(got.LastProcessingResult)
						if aws.ToString(got.State) != "Enabled" || rs != c.reason ||
							!strings.HasPrefix(lr, "PROBLEM: The secret "+malformed+" (BASIC_AUTH) is not valid: ") {
							return fmt.Errorf("State %q, %q, %q", aws.ToString(got.State), rs, lr)
						}
						t.Logf("%s", lr)
						return nil
					})
				} else {
					e.waitStatus(t, uuid, c.reason, c.result)
				}
				if c.cause != "" {
					e.waitCause(t, uuid, c.cause)
				}
				if n := e.target.count(topic); n != 0 {
					t.Fatalf("%d records delivered", n)
				}
			})
		}
	})

	t.Run("no secret in clear", func(t *testing.T) {
		var texts []string
		texts = append(texts, e.logs.String())
		// Every API response that describes mappings or secrets.
		for _, u := range e.uuids {
			_, _, body := rawRequest(t, "GET", e.url+"/2015-03-31/event-source-mappings/"+u, "")
			texts = append(texts, body)
		}
		_, _, body := rawRequest(t, "GET", e.url+"/2015-03-31/event-source-mappings", "")
		texts = append(texts, body)
		list, err := e.sm.ListSecrets(testCtx(t), &sm.ListSecretsInput{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(list.SecretList)
		texts = append(texts, string(b))
		if code, _, body := rawRequest(t, "GET", e.url+"/metrics", ""); code == http.StatusOK {
			texts = append(texts, body)
		}
		// Every file of the data directory: the SQLite database, its -wal and -shm.
		var files int
		err = filepath.WalkDir(e.dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if strings.Contains(filepath.Base(p), ".db") || strings.Contains(filepath.Base(p), "sqlite") {
				files++
			}
			texts = append(texts, string(b))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files == 0 {
			t.Fatalf("no database file found under %s", e.dir)
		}
		for _, s := range e.secrets {
			for i, text := range texts {
				if strings.Contains(text, s) {
					t.Errorf("secret value %.6s… found in clear (text %d)", s, i)
				}
			}
		}
		if !strings.Contains(e.logs.String(), "kafka access check failed") {
			t.Error("the node logged no failed access check: the log capture is not working")
		}
	})
}

// pemBody returns a distinctive line from the middle of a PEM file.
func pemBody(p string) string {
	lines := strings.Split(strings.TrimSpace(p), "\n")
	return lines[len(lines)/2]
}
