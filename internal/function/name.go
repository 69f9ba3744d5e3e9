package function

import (
	"fmt"
	"regexp"
)

// Lambda's FunctionName pattern (name, partial ARN or full ARN, optional qualifier).
var functionNameRE = regexp.MustCompile(`^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$`)

// plainNameRE is a bare function name, as CreateFunction requires.
var plainNameRE = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)

// Ref is a parsed FunctionName.
type Ref struct {
	Name      string
	Qualifier string // "" when unqualified; "$LATEST", a version or an alias otherwise
	Region    string // "" unless given in the ARN
	Account   string // "" unless given
}

// Error is a request the API must reject: a ValidationException when Validation is set
// (model constraints), InvalidParameterValueException otherwise.
type Error struct {
	Validation bool
	Message    string
}

func (e *Error) Error() string { return e.Message }

func invalid(format string, args ...any) *Error { return &Error{Message: fmt.Sprintf(format, args...)} }

// ParseName parses a FunctionName as Lambda accepts it: "my-function", "my-function:alias",
// "123456789012:function:my-function", "arn:aws:lambda:us-east-1:123456789012:function:my-function:1".
// member is the wire member name for error messages ("functionName").
func ParseName(s, member string) (Ref, error) { return parseName(s, member, 140) }

// ParseInvokeName is ParseName for Invoke, whose FunctionName may be 170 characters long (a
// full ARN with a long alias).
func ParseInvokeName(s string) (Ref, error) { return parseName(s, "functionName", 170) }

func parseName(s, member string, maxLen int) (Ref, error) {
	if s == "" {
		return Ref{}, &Error{Validation: true, Message: fmt.Sprintf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null.", member)}
	}
	sub := functionNameRE.FindStringSubmatch(s)
	if len(s) > maxLen || sub == nil {
		return Ref{}, &Error{Validation: true, Message: fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", s, member, functionNameRE.String())}
	}
	r := Ref{Name: sub[7], Qualifier: sub[9]}
	if sub[3] != "" {
		r.Region = sub[3][:len(sub[3])-1]
	}
	if sub[5] != "" {
		r.Account = sub[5][:len(sub[5])-1]
	}
	// A bare "name:qualifier" parses the same way; a partial ARN needs "function:".
	if sub[5] != "" && sub[6] == "" {
		return Ref{}, &Error{Validation: true, Message: fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", s, member, functionNameRE.String())}
	}
	if len(r.Name) > 64 {
		return Ref{}, invalid("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 64", r.Name, member)
	}
	return r, nil
}
