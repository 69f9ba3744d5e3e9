package mapping

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func validInput() *CreateInput {
	fn := "fn"
	return &CreateInput{
		FunctionName:               &fn,
		SelfManagedEventSource:     &SelfManagedEventSource{Endpoints: map[string][]string{"KAFKA_BOOTSTRAP_SERVERS": {"k1:9092"}}},
		Topics:                     []string{"orders"},
		SourceAccessConfigurations: []SourceAccessConfiguration{{Type: "VPC_SUBNET", URI: "subnet:a"}},
	}
}

var id = Identity{UUID: "u-1", Arn: "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:u-1", FunctionArn: "arn:f", Now: time.Unix(1700000000, 123456789)}

func TestNewDefaults(t *testing.T) {
	m, err := New(validInput(), id)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case m.State != StateCreating, m.StateTransitionReason != ReasonUserInitiated, m.LastProcessingResult != ResultNoRecordsProcessed,
		m.BatchSize != 100, m.StartingPosition != "TRIM_HORIZON", m.GroupID() != "u-1",
		m.SelfManagedKafkaEventSourceConfig.ConsumerGroupId != "u-1", !m.Enabled, m.Revision != 1,
		m.BatchingWindow() != 500*time.Millisecond, m.LastModified.UnixMilli() != 1700000000123:
		t.Fatalf("defaults: %+v", m)
	}
}

// TestNoAccessConfigurations: SourceAccessConfigurations is optional (PLAINTEXT, no credentials),
// on create and when an update removes them.
func TestNoAccessConfigurations(t *testing.T) {
	in := validInput()
	in.SourceAccessConfigurations = nil
	m, err := New(in, id)
	if err != nil || len(m.SourceAccessConfigurations) != 0 {
		t.Fatalf("create without access configurations: %v %+v", err, m)
	}
	m, err = New(validInput(), id)
	if err != nil {
		t.Fatal(err)
	}
	m.State = StateEnabled
	if err := m.ApplyUpdate(&UpdateInput{SourceAccessConfigurations: []SourceAccessConfiguration{}}, "", id.Now); err != nil || len(m.SourceAccessConfigurations) != 0 {
		t.Fatalf("update removing them: %v %+v", err, m.SourceAccessConfigurations)
	}
}

func TestFrameworkErrorsAggregate(t *testing.T) {
	in := validInput()
	sp := "NOW"
	in.StartingPosition = &sp
	in.LoggingConfig = &LoggingConfig{SystemLogLevel: "LOUD"}
	_, err := New(in, id)
	var e *Error
	if !errors.As(err, &e) || !e.Validation || !strings.HasPrefix(e.Message, "2 validation errors detected: Value 'NOW' at 'startingPosition'") ||
		!strings.Contains(e.Message, "; Value 'LOUD' at 'loggingConfig.systemLogLevel'") {
		t.Fatalf("got %v", err)
	}
}

func TestStateTransitions(t *testing.T) {
	bTrue, bFalse := true, false
	tests := []struct {
		name      string
		enabled   bool
		setEnable *bool
		want      string
		settled   string
	}{
		{"enable a disabled mapping", false, &bTrue, StateEnabling, StateEnabled},
		{"disable an enabled mapping", true, &bFalse, StateDisabling, StateDisabled},
		{"other change while enabled", true, nil, StateUpdating, StateEnabled},
		{"other change while disabled", false, nil, StateUpdating, StateDisabled},
		{"enable an enabled mapping", true, &bTrue, StateUpdating, StateEnabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(validInput(), id)
			if err != nil {
				t.Fatal(err)
			}
			m.Enabled = tt.enabled
			m.State = m.Settled()
			if err := m.ApplyUpdate(&UpdateInput{Enabled: tt.setEnable}, "", time.Now()); err != nil {
				t.Fatal(err)
			}
			if m.State != tt.want || m.Settled() != tt.settled || m.Revision != 2 || !m.Transitional() {
				t.Fatalf("state %s settled %s revision %d", m.State, m.Settled(), m.Revision)
			}
		})
	}
}

func TestInUse(t *testing.T) {
	for _, s := range []string{StateCreating, StateEnabling, StateDisabling, StateUpdating, StateDeleting, StateEnabled, StateDisabled} {
		m := &EventSourceMapping{UUID: "u", State: s}
		var ie *InUseError
		wantUpdate := s != StateEnabled && s != StateDisabled
		if got := errors.As(m.CanUpdate(), &ie); got != wantUpdate {
			t.Errorf("CanUpdate in %s: in use %v, want %v", s, got, wantUpdate)
		}
		wantDelete := s == StateUpdating || s == StateDeleting
		if got := errors.As(m.CanDelete(), &ie); got != wantDelete {
			t.Errorf("CanDelete in %s: in use %v, want %v", s, got, wantDelete)
		}
	}
}

func TestEpochTimeRoundTrip(t *testing.T) {
	in := EpochTime{time.UnixMilli(1569284520333).UTC()}
	b, _ := in.MarshalJSON()
	if string(b) != "1569284520.333" {
		t.Fatalf("marshal %s", b)
	}
	var out EpochTime
	if err := out.UnmarshalJSON(b); err != nil || !out.Equal(in.Time) {
		t.Fatalf("unmarshal %v %v", out, err)
	}
	for _, bad := range []string{`"x"`, `NaN`, `null`} {
		if err := out.UnmarshalJSON([]byte(bad)); err == nil && bad != `null` {
			t.Errorf("%s accepted", bad)
		}
	}
}
