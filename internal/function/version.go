package function

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// ErrRevisionMismatch is a RevisionId precondition that failed (PreconditionFailedException).
var ErrRevisionMismatch = errors.New("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")

// Latest is the qualifier of the unpublished, editable version.
const Latest = "$LATEST"

var (
	versionRE = regexp.MustCompile(`^[0-9]+$`)
	// Lambda's alias Name pattern is (?!^[0-9]+$)([a-zA-Z0-9-_]+): not all digits, which Go's
	// regexp cannot say; IsVersion covers that half.
	aliasNameRE = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)
)

// IsVersion reports whether q names a published version ("1", "2", …), as opposed to $LATEST
// or an alias.
func IsVersion(q string) bool { return versionRE.MatchString(q) && len(q) <= 20 }

// QualifiedArn is arn with ":qualifier" appended ("" leaves it unqualified).
func QualifiedArn(arn, qualifier string) string {
	if qualifier == "" {
		return arn
	}
	return arn + ":" + qualifier
}

// Alias is one function alias. JSON names are Lambda's AliasConfiguration names.
type Alias struct {
	AliasArn        string         `json:"AliasArn"`
	Name            string         `json:"Name"`
	FunctionVersion string         `json:"FunctionVersion"`
	Description     string         `json:"Description"`
	RoutingConfig   *RoutingConfig `json:"RoutingConfig,omitempty"`
	RevisionId      string         `json:"RevisionId"`
}

// RoutingConfig is AliasRoutingConfiguration: at most one additional version and the share
// of invocations (0.0–1.0) it gets.
type RoutingConfig struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
}

// Versions returns the versions the alias can run: its FunctionVersion first, then the
// additional version of its routing configuration, if any.
func (a *Alias) Versions() []string {
	out := []string{a.FunctionVersion}
	if a.RoutingConfig != nil {
		for v := range a.RoutingConfig.AdditionalVersionWeights {
			out = append(out, v)
		}
	}
	return out
}

// Pick chooses the version one invocation runs, given r uniform in [0, 1): the additional
// version when r falls below its weight, the alias's FunctionVersion otherwise.
func (a *Alias) Pick(r float64) string {
	if a.RoutingConfig != nil {
		for v, w := range a.RoutingConfig.AdditionalVersionWeights {
			if r < w {
				return v
			}
		}
	}
	return a.FunctionVersion
}

// Clone returns a deep copy.
func (a *Alias) Clone() *Alias {
	c := *a
	if a.RoutingConfig != nil {
		c.RoutingConfig = &RoutingConfig{AdditionalVersionWeights: maps.Clone(a.RoutingConfig.AdditionalVersionWeights)}
	}
	return &c
}

// AliasInput is CreateAliasRequest and UpdateAliasRequest as decoded from the wire.
type AliasInput struct {
	Name            *string        `json:"Name"`
	FunctionVersion *string        `json:"FunctionVersion"`
	Description     *string        `json:"Description"`
	RoutingConfig   *RoutingConfig `json:"RoutingConfig"`
	RevisionId      *string        `json:"RevisionId"`
}

// ValidateAliasName checks an alias name as Lambda does (member is "name" on the wire).
func ValidateAliasName(name string) error {
	switch {
	case name == "":
		return &Error{Validation: true, Message: "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null."}
	case len(name) > 128:
		return &Error{Validation: true, Message: fmt.Sprintf("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must have length less than or equal to 128", name)}
	case !aliasNameRE.MatchString(name) || versionRE.MatchString(name):
		return &Error{Validation: true, Message: fmt.Sprintf("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)", name)}
	}
	return nil
}

// ValidateAliasVersion checks an alias's FunctionVersion member: $LATEST or a version number.
func ValidateAliasVersion(v string) error {
	if v == "" {
		return &Error{Validation: true, Message: "1 validation error detected: Value null at 'functionVersion' failed to satisfy constraint: Member must not be null."}
	}
	if v != Latest && !IsVersion(v) {
		return &Error{Validation: true, Message: fmt.Sprintf("1 validation error detected: Value '%s' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)", v)}
	}
	return nil
}

// ValidateRouting checks a routing configuration for an alias on primary. kafkaesm splits
// between two versions, as Lambda: one additional version, a published one, not the primary.
func ValidateRouting(rc *RoutingConfig, primary string) error {
	if rc == nil || len(rc.AdditionalVersionWeights) == 0 {
		return nil
	}
	if len(rc.AdditionalVersionWeights) > 1 {
		return invalid("Number of items in AdditionalVersionWeights cannot be greater than 1")
	}
	for v, w := range rc.AdditionalVersionWeights {
		if !IsVersion(v) {
			return &Error{Validation: true, Message: fmt.Sprintf("1 validation error detected: Value '%s' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]", v)}
		}
		if w < 0 || w > 1 {
			return &Error{Validation: true, Message: fmt.Sprintf("1 validation error detected: Value '%s' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]", strconv.FormatFloat(w, 'f', -1, 64))}
		}
		if primary == Latest {
			return invalid("$LATEST is not supported for an alias pointing to more than 1 version")
		}
		if v == primary {
			return invalid("Invalid function version %s. Function version %s is already included in routing configuration.", v, v)
		}
	}
	return nil
}

// SameSnapshot reports whether publishing b after a would publish the same code and
// configuration: Lambda then publishes nothing and returns the existing version. Identity
// (ARN, Version, RevisionId, LastModified) and the version's Description do not count.
func SameSnapshot(a, b *Function) bool {
	if a == nil || b == nil {
		return false
	}
	return a.CodeSha256 == b.CodeSha256 && a.CodeDir == b.CodeDir && sameConfig(a, b)
}

func sameConfig(a, b *Function) bool {
	return a.Runtime == b.Runtime && a.Role == b.Role && a.Handler == b.Handler && a.CodeSize == b.CodeSize &&
		a.Timeout == b.Timeout && a.MemorySize == b.MemorySize && a.PackageType == b.PackageType &&
		slices.Equal(a.Architectures, b.Architectures) && sameEnv(a.Environment, b.Environment) &&
		sameTarget(a.HTTPTarget, b.HTTPTarget)
}

// sameEnv: no Environment and one without variables are the same.
func sameEnv(a, b *Environment) bool {
	var x, y map[string]string
	if a != nil {
		x = a.Variables
	}
	if b != nil {
		y = b.Variables
	}
	return maps.Equal(x, y)
}

func sameTarget(a, b *HTTPTarget) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Snapshot is the version of f that PublishVersion creates: its code and configuration, with
// the version's description ("" keeps f's). Number is left to the store, which sets Version
// and qualifies FunctionArn with it (Numbered).
func (f *Function) Snapshot(description string, now time.Time, revisionID string) *Function {
	v := f.Clone()
	v.Version = ""
	v.FunctionArn = UnqualifiedArn(f.FunctionArn)
	if description != "" {
		v.Description = description
	}
	v.LastModified = now.UTC().Format(LastModifiedLayout)
	v.RevisionId = revisionID
	v.ReservedConcurrentExecutions = nil
	return v
}

// Numbered sets a snapshot's version number and its qualified ARN.
func (f *Function) Numbered(version string) {
	f.Version = version
	f.FunctionArn = QualifiedArn(UnqualifiedArn(f.FunctionArn), version)
}
