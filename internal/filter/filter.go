// Package filter matches Kafka records against a mapping's FilterCriteria: EventBridge event
// patterns as Lambda documents them for event filtering (exact values, null and empty, prefix,
// suffix, equals-ignore-case, anything-but, numeric ranges, exists, wildcard and $or). It is
// pure: no I/O, no logging; the poller decides what a record that does not match means.
//
// A record is matched as the object Lambda shows the function, with key and value decoded:
//
//	{"topic":"t","partition":0,"offset":15,"timestamp":1545084650987,"timestampType":"CREATE_TIME",
//	 "key":<key>,"value":<value>}
//
// key and value are matched structurally when their bytes are JSON, and as a string when they
// are other UTF-8 text; bytes that are not UTF-8, and a null key or value, are absent, so only
// the other fields' patterns can match them (Lambda: "only metadata filters apply").
package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxFilters is how many patterns one mapping may have (Lambda's quota).
const MaxFilters = 5

// ErrInvalid is wrapped by every error of Compile: the pattern is not a valid filter.
var ErrInvalid = errors.New("invalid filter pattern definition")

// Record is what a pattern is matched against.
type Record struct {
	Topic         string
	Partition     int32
	Offset        int64
	Timestamp     int64 // milliseconds since the epoch
	TimestampType string
	Key           []byte // nil: no key
	Value         []byte // nil: tombstone
}

// Matcher holds compiled patterns; a record matches when any pattern does. The zero or nil
// Matcher matches everything (no FilterCriteria). It is safe for concurrent use.
type Matcher struct {
	patterns []*node
	// needKey/needValue: some pattern looks at key/value, so it is worth decoding.
	needKey, needValue bool
}

// Compile parses patterns (each a JSON object, as FilterCriteria.Filters[].Pattern). An empty
// list gives a Matcher that matches everything.
func Compile(patterns []string) (*Matcher, error) {
	m := &Matcher{}
	for i, p := range patterns {
		n, err := parse(p)
		if err != nil {
			return nil, fmt.Errorf("filter %d: %w", i+1, err)
		}
		m.patterns = append(m.patterns, n)
		m.needKey = m.needKey || n.uses("key")
		m.needValue = m.needValue || n.uses("value")
	}
	return m, nil
}

// Empty reports whether m has no patterns (everything matches).
func (m *Matcher) Empty() bool { return m == nil || len(m.patterns) == 0 }

// Match reports whether r matches any of m's patterns.
func (m *Matcher) Match(r *Record) bool {
	if m.Empty() {
		return true
	}
	ev := map[string]any{
		"topic":         r.Topic,
		"partition":     json.Number(strconv.FormatInt(int64(r.Partition), 10)),
		"offset":        json.Number(strconv.FormatInt(r.Offset, 10)),
		"timestamp":     json.Number(strconv.FormatInt(r.Timestamp, 10)),
		"timestampType": r.TimestampType,
	}
	if m.needKey {
		if v, ok := decode(r.Key); ok {
			ev["key"] = v
		}
	}
	if m.needValue {
		if v, ok := decode(r.Value); ok {
			ev["value"] = v
		}
	}
	for _, p := range m.patterns {
		if p.match(ev) {
			return true
		}
	}
	return false
}

// decode turns record bytes into what patterns see: JSON when they are JSON, else a string
// when they are UTF-8, else nothing.
func decode(b []byte) (any, bool) {
	if b == nil || !utf8.Valid(b) {
		return nil, false
	}
	t := bytes.TrimSpace(b)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[' || t[0] == '"' || t[0] == '-' || (t[0] >= '0' && t[0] <= '9') ||
		bytes.Equal(t, []byte("true")) || bytes.Equal(t, []byte("false")) || bytes.Equal(t, []byte("null"))) {
		d := json.NewDecoder(bytes.NewReader(t))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err == nil && !d.More() {
			if _, err := d.Token(); err != nil { // nothing after the value
				return v, true
			}
		}
	}
	return string(b), true
}

// node is one object level of a pattern: every field must match (AND), and each $or entry
// needs one of its alternatives to match.
type node struct {
	fields []field
	ors    [][]*node
}

type field struct {
	name string
	sub  *node     // nested object pattern, or
	leaf []matcher // alternatives (OR)
}

func (n *node) uses(name string) bool {
	for _, f := range n.fields {
		if f.name == name {
			return true
		}
	}
	for _, alts := range n.ors {
		for _, a := range alts {
			if a.uses(name) {
				return true
			}
		}
	}
	return false
}

// match matches an event object (nil when absent).
func (n *node) match(obj map[string]any) bool {
	for _, f := range n.fields {
		v, present := obj[f.name]
		if !f.matches(v, present) {
			return false
		}
	}
	for _, alts := range n.ors {
		ok := false
		for _, a := range alts {
			if a.match(obj) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (f *field) matches(v any, present bool) bool {
	if f.sub != nil {
		switch x := v.(type) {
		case map[string]any:
			return f.sub.match(x)
		case []any: // an array of objects: any element may match
			for _, e := range x {
				if o, ok := e.(map[string]any); ok && f.sub.match(o) {
					return true
				}
			}
			return false
		default:
			// Absent (or not an object): only "exists": false inside can match.
			return f.sub.match(nil)
		}
	}
	if !present {
		for _, m := range f.leaf {
			if e, ok := m.(existsMatcher); ok && !bool(e) {
				return true
			}
		}
		return false
	}
	vals := []any{v}
	if arr, ok := v.([]any); ok {
		vals = arr // a pattern matches an array when it matches any element
	}
	for _, m := range f.leaf {
		if e, ok := m.(existsMatcher); ok {
			if bool(e) {
				return true
			}
			continue
		}
		for _, x := range vals {
			if m.match(x) {
				return true
			}
		}
	}
	return false
}

// matcher is one alternative of a leaf.
type matcher interface{ match(v any) bool }

type (
	exactString   string
	exactNumber   float64
	exactNull     struct{}
	existsMatcher bool
	prefixMatcher struct {
		s        string
		foldCase bool
	}
	suffixMatcher struct {
		s        string
		foldCase bool
	}
	foldMatcher     string
	wildcardMatcher []string // literal pieces around the *s
	anythingBut     struct {
		inner []matcher // the record matches when none of these does
	}
	numericMatcher []numCmp
)

type numCmp struct {
	op string
	v  float64
}

func (m exactString) match(v any) bool { s, ok := v.(string); return ok && s == string(m) }
func (m exactNumber) match(v any) bool { f, ok := number(v); return ok && f == float64(m) }
func (exactNull) match(v any) bool     { return v == nil }
func (existsMatcher) match(any) bool   { return false } // handled by field.matches
func (m prefixMatcher) match(v any) bool {
	s, ok := v.(string)
	if !ok || len(s) < len(m.s) {
		return false
	}
	if m.foldCase {
		return strings.EqualFold(s[:len(m.s)], m.s)
	}
	return strings.HasPrefix(s, m.s)
}
func (m suffixMatcher) match(v any) bool {
	s, ok := v.(string)
	if !ok || len(s) < len(m.s) {
		return false
	}
	if m.foldCase {
		return strings.EqualFold(s[len(s)-len(m.s):], m.s)
	}
	return strings.HasSuffix(s, m.s)
}
func (m foldMatcher) match(v any) bool {
	s, ok := v.(string)
	return ok && strings.EqualFold(s, string(m))
}
func (m anythingBut) match(v any) bool {
	for _, in := range m.inner {
		if in.match(v) {
			return false
		}
	}
	return true
}
func (m numericMatcher) match(v any) bool {
	f, ok := number(v)
	if !ok {
		return false
	}
	for _, c := range m {
		var ok bool
		switch c.op {
		case "=":
			ok = f == c.v
		case "<":
			ok = f < c.v
		case "<=":
			ok = f <= c.v
		case ">":
			ok = f > c.v
		case ">=":
			ok = f >= c.v
		}
		if !ok {
			return false
		}
	}
	return true
}

// match for wildcards: the pieces must appear in order, the first at the start and the last
// at the end.
func (m wildcardMatcher) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	if len(m) == 1 {
		return s == m[0]
	}
	if !strings.HasPrefix(s, m[0]) {
		return false
	}
	s = s[len(m[0]):]
	last := m[len(m)-1]
	for _, p := range m[1 : len(m)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil && !math.IsInf(f, 0)
}
