package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaesm/kafkaesm/internal/server"
	"github.com/kafkaesm/kafkaesm/test/kafkatest"
)

// TestSASLMappingStatusAndMetrics: status shows the lag of a SASL/SCRAM mapping (read from the
// server's /metrics: the CLI has no credentials for the cluster), and a deleted mapping's
// batch histograms leave /metrics.
func TestSASLMappingStatusAndMetrics(t *testing.T) {
	ep, _ := startServer(t, func(c *server.Config) { c.Pollers = true })
	k := kafkatest.Get(t)
	topic := k.CreateTopic(t, 1, nil)
	for range 3 {
		k.Produce(t, &kgo.Record{Topic: topic, Value: []byte("v")})
	}
	g := &globals{endpoint: ep, credentials: os.Getenv("KAFKAESM_CREDENTIALS_FILE")} // what serve generated
	key, secretKey, err := g.signingKey()
	if err != nil {
		t.Fatal(err)
	}
	smc := sm.New(sm.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep),
		Credentials: credentials.NewStaticCredentialsProvider(key, secretKey, ""), RetryMaxAttempts: 1})
	secret := func(v map[string]string) string {
		b, _ := json.Marshal(v)
		out, err := smc.CreateSecret(t.Context(), &sm.CreateSecretInput{Name: aws.String(kafkatest.UniqueName("s")), SecretString: aws.String(string(b))})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ARN)
	}
	creds := secret(map[string]string{"username": kafkatest.AliceUser, "password": kafkatest.AlicePassword})
	ca := secret(map[string]string{"certificate": k.ReadFile(t, "ca.crt")})
	ok(t, ep, "functions", "create", "fn", "--code", writeExecutable(t, t.TempDir(), "b", echoBootstrap))
	var m mappingJSON
	if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "mappings", "create", "--function", "fn", "--topic", topic,
		"--bootstrap", k.SASLSSL, "--access", "SASL_SCRAM_512_AUTH="+creds, "--access", "SERVER_ROOT_CA_CERTIFICATE="+ca, "--wait")), &m); err != nil {
		t.Fatal(err)
	}

	kafkatest.WaitFor(t, time.Minute, func() error {
		var st struct {
			Mappings []struct {
				UUID                 string
				OffsetLag            *int64
				LastProcessingResult string
			}
		}
		if err := json.Unmarshal([]byte(ok(t, ep, "-o", "json", "status", "--lag-timeout", "2s")), &st); err != nil {
			return err
		}
		if len(st.Mappings) != 1 || st.Mappings[0].OffsetLag == nil || *st.Mappings[0].OffsetLag != 0 || st.Mappings[0].LastProcessingResult != "OK" {
			return fmt.Errorf("status: %+v", st.Mappings)
		}
		return nil
	})
	table := ok(t, ep, "status", "--lag-timeout", "2s")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if col := strings.Index(lines[0], "LAG"); len(lines) != 2 || col < 0 || !strings.HasPrefix(lines[1][col:], "0 ") {
		t.Errorf("status table: want lag 0 for the SASL mapping:\n%s", table)
	}

	series := `kafkaesm_BatchSize_count{event_source_mapping_uuid="` + m.UUID + `"`
	metrics := func() string {
		resp, err := signedGet(t.Context(), g, "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %s", resp.Status)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if !strings.Contains(metrics(), series) {
		t.Fatalf("/metrics lacks %s", series)
	}
	ok(t, ep, "mappings", "delete", m.UUID, "--wait")
	kafkatest.WaitFor(t, time.Minute, func() error {
		if body := metrics(); strings.Contains(body, m.UUID) {
			return fmt.Errorf("/metrics still names the deleted mapping")
		}
		return nil
	})
}
