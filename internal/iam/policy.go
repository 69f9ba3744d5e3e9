// Package iam holds kafkaesm's principals (access keys that may call the API) and their
// IAM-style policies, and decides whether a principal may perform an action on a resource.
// It reads the principals file and AWS shared-credentials files; it never talks to the
// network and never logs a secret access key.
package iam

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Policy is an IAM identity policy: statements that Allow or Deny actions on resources.
// As IAM: a request is allowed when some statement allows it and none denies it (an explicit
// Deny wins); when no statement matches it is denied.
type Policy struct {
	Version   string      `json:"Version,omitempty"`
	Statement []Statement `json:"Statement"`
}

// Statement is one policy statement. Action and Resource take one string or a list; `*`
// matches any run of characters and `?` any one, as IAM. Actions compare case-insensitively
// (lambda:getfunction is lambda:GetFunction), resources case-sensitively.
type Statement struct {
	Sid      string  `json:"Sid,omitempty"`
	Effect   string  `json:"Effect"`
	Action   strList `json:"Action"`
	Resource strList `json:"Resource"`
}

// strList is IAM's "a string or a list of strings".
type strList []string

func (l *strList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = strList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("must be a string or a list of strings")
	}
	*l = many
	return nil
}

// Validate checks that every statement is complete: an Effect of Allow or Deny, and at least
// one Action and one Resource, each action of the form service:pattern.
func (p *Policy) Validate() error {
	if len(p.Statement) == 0 {
		return errors.New("policy has no Statement")
	}
	for i, s := range p.Statement {
		if s.Effect != "Allow" && s.Effect != "Deny" {
			return fmt.Errorf("statement %d: Effect must be Allow or Deny, not %q", i, s.Effect)
		}
		if len(s.Action) == 0 || len(s.Resource) == 0 {
			return fmt.Errorf("statement %d: Action and Resource are required", i)
		}
		for _, a := range s.Action {
			if a != "*" && !strings.Contains(a, ":") {
				return fmt.Errorf("statement %d: action %q is not of the form service:Action (e.g. lambda:GetFunction)", i, a)
			}
		}
	}
	return nil
}

// Decision is the outcome of evaluating a policy.
type Decision int

const (
	// ImplicitDeny: no statement matched.
	ImplicitDeny Decision = iota
	Allow
	// ExplicitDeny: a Deny statement matched; it wins over any Allow.
	ExplicitDeny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case ExplicitDeny:
		return "explicit deny"
	default:
		return "implicit deny"
	}
}

// Decide evaluates the policy for action (e.g. "lambda:GetFunction") on resource (an ARN).
func (p *Policy) Decide(action, resource string) Decision {
	d := ImplicitDeny
	for _, s := range p.Statement {
		if !s.matches(action, resource) {
			continue
		}
		if s.Effect == "Deny" {
			return ExplicitDeny
		}
		d = Allow
	}
	return d
}

func (s *Statement) matches(action, resource string) bool {
	ok := false
	for _, a := range s.Action {
		if wildcardMatch(strings.ToLower(a), strings.ToLower(action)) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	for _, r := range s.Resource {
		if wildcardMatch(r, resource) {
			return true
		}
	}
	return false
}

// wildcardMatch reports whether s matches pattern, where `*` matches any run of characters
// (including none) and `?` exactly one. Iterative with one backtrack point, so linear-ish
// time whatever the pattern: no pattern in a principals file can stall a request.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*': // before the literal case: s may hold a '*' too
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
