package secrets

import (
	"fmt"
	"log/slog"
)

// redactedText is what a Redacted prints as, whatever the verb or encoder.
const redactedText = "[redacted]"

// Redacted holds a secret string that cannot be formatted by accident: fmt (every verb, %#v
// included), log/slog and encoding/json all print "[redacted]". The value sits behind a pointer
// so that even reflection-based printing of a struct that embeds a Redacted in an unexported
// field (where fmt cannot call methods) shows an address, not the text. Reveal is the one way
// out; grep for it when auditing.
type Redacted struct{ v *string }

// NewRedacted wraps s.
func NewRedacted(s string) Redacted { return Redacted{v: &s} }

// Reveal returns the secret. Call it only where the value is used (SASL, TLS), never to log.
func (r Redacted) Reveal() string {
	if r.v == nil {
		return ""
	}
	return *r.v
}

// IsZero reports whether the value is empty or unset.
func (r Redacted) IsZero() bool { return r.v == nil || *r.v == "" }

func (r Redacted) String() string               { return redactedText }
func (r Redacted) GoString() string             { return redactedText }
func (r Redacted) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(redactedText)) }
func (r Redacted) LogValue() slog.Value         { return slog.StringValue(redactedText) }
func (r Redacted) MarshalJSON() ([]byte, error) { return []byte(`"` + redactedText + `"`), nil }
func (r Redacted) MarshalText() ([]byte, error) { return []byte(redactedText), nil }
