package kafkaauth

import (
	"testing"

	"go.uber.org/goleak"
)

// Every Kafka client Probe and the tests create must be closed with its goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
