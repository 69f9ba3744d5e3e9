package mapping

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// EpochTime is a timestamp encoded as restJson1 does by default: epoch seconds as a JSON number,
// fractional allowed ("LastModified": 1569284520.333).
type EpochTime struct{ time.Time }

func (t EpochTime) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

func (t *EpochTime) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("timestamp %s is not epoch seconds", b)
	}
	// Millisecond precision is what MarshalJSON writes; rounding undoes float error.
	t.Time = time.UnixMilli(int64(math.Round(f * 1000))).UTC()
	return nil
}
