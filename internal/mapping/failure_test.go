package mapping

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFailureHandlingValidation(t *testing.T) {
	n := func(v int) *int { return &v }
	tests := []struct {
		name string
		set  func(in *CreateInput)
		err  string // "" = accepted; else a substring of the InvalidParameterValueException message
	}{
		{"retries -1", func(in *CreateInput) { in.MaximumRetryAttempts = n(-1) }, ""},
		{"retries 0", func(in *CreateInput) { in.MaximumRetryAttempts = n(0) }, ""},
		{"retries 10000", func(in *CreateInput) { in.MaximumRetryAttempts = n(10000) }, ""},
		{"retries -2", func(in *CreateInput) { in.MaximumRetryAttempts = n(-2) }, "Value '-2' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value greater than or equal to -1"},
		{"retries 10001", func(in *CreateInput) { in.MaximumRetryAttempts = n(10001) }, "Member must have value less than or equal to 10000"},
		{"age -1", func(in *CreateInput) { in.MaximumRecordAgeInSeconds = n(-1) }, ""},
		{"age 60", func(in *CreateInput) { in.MaximumRecordAgeInSeconds = n(60) }, ""},
		{"age 604800", func(in *CreateInput) { in.MaximumRecordAgeInSeconds = n(604800) }, ""},
		{"age 0", func(in *CreateInput) { in.MaximumRecordAgeInSeconds = n(0) }, "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)"},
		{"age 59", func(in *CreateInput) { in.MaximumRecordAgeInSeconds = n(59) }, "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)"},
		{"age 604801", func(in *CreateInput) { in.MaximumRecordAgeInSeconds = n(604801) }, "Member must have value less than or equal to 604800"},
		{"kafka destination", func(in *CreateInput) { in.DestinationConfig = dest("kafka://orders-dlq") }, ""},
		{"destination is the source topic", func(in *CreateInput) { in.DestinationConfig = dest("kafka://orders") }, "must be different from the source topic"},
		{"SQS destination", func(in *CreateInput) { in.DestinationConfig = dest("arn:aws:sqs:us-east-1:000000000000:q") }, "kafkaesm supports kafka://<topic> destinations only"},
		{"S3 destination", func(in *CreateInput) { in.DestinationConfig = dest("arn:aws:s3:::bucket") }, "kafkaesm supports kafka://<topic> destinations only"},
		{"OnSuccess", func(in *CreateInput) {
			in.DestinationConfig = &DestinationConfig{OnSuccess: &Destination{Destination: "kafka://x"}}
		}, "Unsupported DestinationConfig parameter for given event source mapping type."},
		{"valid filter", func(in *CreateInput) { in.FilterCriteria = filters(`{"value":{"device_ID":[{"prefix":"AB"}]}}`) }, ""},
		{"five filters", func(in *CreateInput) {
			in.FilterCriteria = filters("{\"key\":[\"a\"]}", "{\"key\":[\"b\"]}", "{\"key\":[\"c\"]}", "{\"key\":[\"d\"]}", "{\"key\":[\"e\"]}")
		}, ""},
		{"six filters", func(in *CreateInput) {
			in.FilterCriteria = filters("{\"key\":[\"a\"]}", "{\"key\":[\"b\"]}", "{\"key\":[\"c\"]}", "{\"key\":[\"d\"]}", "{\"key\":[\"e\"]}", "{\"key\":[\"f\"]}")
		}, "exceeds the limit of 5"},
		{"filter: value not in an array", func(in *CreateInput) { in.FilterCriteria = filters(`{"value":{"a":"b"}}`) }, "Invalid filter pattern definition."},
		{"filter: unknown operator", func(in *CreateInput) { in.FilterCriteria = filters(`{"value":[{"regex":".*"}]}`) }, "Invalid filter pattern definition."},
		{"filter: bad numeric", func(in *CreateInput) { in.FilterCriteria = filters(`{"value":{"n":[{"numeric":[">",5,"<",1]}]}}`) }, "Invalid filter pattern definition."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := validInput()
			tc.set(in)
			_, err := New(in, id)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Validation || !strings.Contains(e.Message, tc.err) {
				t.Fatalf("got %v, want InvalidParameterValueException containing %q", err, tc.err)
			}
		})
	}
}

func dest(d string) *DestinationConfig {
	return &DestinationConfig{OnFailure: &Destination{Destination: d}}
}

func filters(ps ...string) *FilterCriteria {
	fc := &FilterCriteria{}
	for _, p := range ps {
		fc.Filters = append(fc.Filters, Filter{Pattern: p})
	}
	return fc
}

func TestEffectiveFailureSettings(t *testing.T) {
	n := func(v int) *int { return &v }
	m := &EventSourceMapping{Topics: []string{"orders"}}
	if m.RetryLimit() != -1 || m.OnFailureTopic() != "" || m.MaxRecordAge() != 0 || m.Bisect() || m.ReportsBatchItemFailures() {
		t.Fatal("defaults")
	}
	m.DestinationConfig = dest("kafka://dlq")
	if m.RetryLimit() != 10 || m.OnFailureTopic() != "dlq" {
		t.Fatalf("-1 with a destination: %d", m.RetryLimit())
	}
	m.MaximumRetryAttempts = n(-1)
	if m.RetryLimit() != 10 {
		t.Fatal("explicit -1 with a destination")
	}
	m.MaximumRetryAttempts = n(2)
	if m.RetryLimit() != 2 {
		t.Fatal("2")
	}
	m.MaximumRecordAgeInSeconds = n(60)
	if m.MaxRecordAge() != time.Minute {
		t.Fatal("age")
	}
	m.FunctionResponseTypes = []string{"ReportBatchItemFailures"}
	if !m.ReportsBatchItemFailures() {
		t.Fatal("response types")
	}
}
