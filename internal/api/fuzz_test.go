package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

func newTestAPI(t testing.TB) (*Server, store.Store) {
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	err = st.CreateFunction(context.Background(), &function.Function{FunctionName: "fn",
		FunctionArn: function.Arn("us-east-1", "000000000000", "fn"), Runtime: "provided.al2023", Timeout: 3, MemorySize: 128})
	if err != nil {
		t.Fatal(err)
	}
	// Mappings in these tests name "fn:live": the alias must exist.
	if err := st.CreateAlias(context.Background(), "fn", &function.Alias{Name: "live", FunctionVersion: function.Latest,
		AliasArn: function.Arn("us-east-1", "000000000000", "fn") + ":live"}); err != nil {
		t.Fatal(err)
	}
	return New(Config{Store: st, DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}), st
}

// FuzzCreateEventSourceMapping feeds arbitrary bodies to Create and Update: the answer must
// be a well-formed success or a client error, never a 5xx or a panic.
// Run with: go test ./internal/api -run '^$' -fuzz FuzzCreateEventSourceMapping -fuzztime 20s
func FuzzCreateEventSourceMapping(f *testing.F) {
	seeds := []string{
		``, `{}`, `null`, `[]`, `{"FunctionName":`, `{"FunctionName":"fn"}`,
		`{"FunctionName":"fn","Topics":["tt"],"SelfManagedEventSource":{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["a:1"]}},"SourceAccessConfigurations":[{"Type":"VPC_SUBNET","URI":"subnet:s"}]}`,
		`{"FunctionName":"fn:live","Topics":["tt"],"SelfManagedEventSource":{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["a:1","b:2"]}},"SourceAccessConfigurations":[{"Type":"SASL_SCRAM_512_AUTH","URI":"arn:aws:secretsmanager:us-east-1:000000000000:secret:s"}],"StartingPosition":"AT_TIMESTAMP","StartingPositionTimestamp":1700000000.5,"BatchSize":10000,"MaximumBatchingWindowInSeconds":300}`,
		`{"FunctionName":"fn","Topics":["tt"],"SelfManagedEventSource":{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["a:1"]}},"SourceAccessConfigurations":[{"Type":"BASIC_AUTH","URI":"x"}],"FilterCriteria":{"Filters":[{"Pattern":"{\"value\":[1]}"}]},"DestinationConfig":{"OnFailure":{"Destination":"kafka://dlq"}},"ProvisionedPollerConfig":{"MinimumPollers":1,"MaximumPollers":2},"MetricsConfig":{"Metrics":["EventCount"]},"LoggingConfig":{"SystemLogLevel":"INFO"},"SelfManagedKafkaEventSourceConfig":{"ConsumerGroupId":"g","SchemaRegistryConfig":{"SchemaRegistryURI":"https://r","EventRecordFormat":"JSON"}}}`,
		`{"FunctionName":"fn","StartingPosition":"invalid","BatchSize":-1,"Topics":null}`,
		`{"FunctionName":"fn","SelfManagedEventSource":{"Endpoints":null},"Topics":[""]}`,
		`{"FunctionName":"fn","StartingPositionTimestamp":1e308}`,
		`{"Enabled":false,"BatchSize":5,"FunctionName":"000000000000:function:fn"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	s, st := newTestAPI(f)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "/2015-03-31/event-source-mappings", strings.NewReader(seeds[6])))
	if rec.Code != http.StatusAccepted {
		f.Fatalf("seed mapping: %d %s", rec.Code, rec.Body)
	}
	var m struct{ UUID string }
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	// Keep the mapping updatable: settle its state as the reconciler would.
	settle := func() {
		_ = st.SetMappingStatus(context.Background(), m.UUID, store.Status{State: "Enabled"})
	}
	settle()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, req := range []*http.Request{
			httptest.NewRequest("POST", "/2015-03-31/event-source-mappings", strings.NewReader(string(body))),
			httptest.NewRequest("PUT", "/2015-03-31/event-source-mappings/"+m.UUID, strings.NewReader(string(body))),
		} {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s: %d %s", req.Method, rec.Code, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s: response is not JSON: %q", req.Method, rec.Body)
			}
			if rec.Code >= 400 && rec.Header().Get("X-Amzn-ErrorType") == "" {
				t.Fatalf("%s: error without X-Amzn-ErrorType", req.Method)
			}
		}
		settle()
	})
}
