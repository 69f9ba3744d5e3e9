package filter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Validate reports whether pattern is a valid filter pattern; its errors wrap ErrInvalid and
// say what is wrong.
func Validate(pattern string) error {
	_, err := parse(pattern)
	return err
}

func parse(pattern string) (*node, error) {
	d := json.NewDecoder(strings.NewReader(pattern))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, invalidf("not JSON: %v", err)
	}
	if _, err := d.Token(); err == nil {
		return nil, invalidf("text after the pattern object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalidf("a pattern is a JSON object")
	}
	return parseObject(obj, "")
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func parseObject(obj map[string]any, path string) (*node, error) {
	if len(obj) == 0 {
		return nil, invalidf("empty object at %q", pathOr(path))
	}
	n := &node{}
	for _, k := range slices.Sorted(maps.Keys(obj)) { // deterministic errors for the same pattern
		v := obj[k]
		p := join(path, k)
		if k == "$or" {
			arr, ok := v.([]any)
			if !ok || len(arr) < 2 {
				return nil, invalidf("%q: $or takes an array of at least two patterns", p)
			}
			var alts []*node
			for _, a := range arr {
				o, ok := a.(map[string]any)
				if !ok {
					return nil, invalidf("%q: each $or alternative is an object", p)
				}
				sub, err := parseObject(o, path)
				if err != nil {
					return nil, err
				}
				alts = append(alts, sub)
			}
			n.ors = append(n.ors, alts)
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			sub, err := parseObject(x, p)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, field{name: k, sub: sub})
		case []any:
			if len(x) == 0 {
				return nil, invalidf("%q: empty array of values", p)
			}
			f := field{name: k}
			for _, e := range x {
				m, err := parseValue(e, p)
				if err != nil {
					return nil, err
				}
				f.leaf = append(f.leaf, m)
			}
			n.fields = append(n.fields, f)
		default:
			return nil, invalidf("%q: a field's values are an array (e.g. [%s])", p, literal(v))
		}
	}
	return n, nil
}

func parseValue(e any, p string) (matcher, error) {
	switch x := e.(type) {
	case string:
		return exactString(x), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, invalidf("%q: bad number %s", p, x)
		}
		return exactNumber(f), nil
	case nil:
		return exactNull{}, nil
	case bool:
		return exactBool(x), nil
	case map[string]any:
		return parseOperator(x, p)
	default:
		return nil, invalidf("%q: nested arrays are not allowed", p)
	}
}

type exactBool bool

func (m exactBool) match(v any) bool { b, ok := v.(bool); return ok && b == bool(m) }

func parseOperator(op map[string]any, p string) (matcher, error) {
	if len(op) != 1 {
		return nil, invalidf("%q: a matching object has exactly one operator", p)
	}
	for k, v := range op {
		switch k {
		case "prefix", "suffix":
			s, fold, err := stringOrFold(v, p, k)
			if err != nil {
				return nil, err
			}
			if k == "prefix" {
				return prefixMatcher{s, fold}, nil
			}
			return suffixMatcher{s, fold}, nil
		case "equals-ignore-case":
			s, ok := v.(string)
			if !ok {
				return nil, invalidf("%q: equals-ignore-case takes a string", p)
			}
			return foldMatcher(s), nil
		case "wildcard":
			s, ok := v.(string)
			if !ok {
				return nil, invalidf("%q: wildcard takes a string", p)
			}
			return parseWildcard(s, p)
		case "exists":
			b, ok := v.(bool)
			if !ok {
				return nil, invalidf("%q: exists takes true or false", p)
			}
			return existsMatcher(b), nil
		case "numeric":
			return parseNumeric(v, p)
		case "anything-but":
			return parseAnythingBut(v, p)
		default:
			return nil, invalidf("%q: unknown operator %q", p, k)
		}
	}
	panic("unreachable")
}

// stringOrFold reads "x" or {"equals-ignore-case":"x"} (prefix and suffix take either).
func stringOrFold(v any, p, op string) (string, bool, error) {
	switch x := v.(type) {
	case string:
		return x, false, nil
	case map[string]any:
		if s, ok := x["equals-ignore-case"].(string); ok && len(x) == 1 {
			return s, true, nil
		}
	}
	return "", false, invalidf("%q: %s takes a string or {\"equals-ignore-case\": string}", p, op)
}

func parseWildcard(s, p string) (matcher, error) {
	var pieces []string
	var cur strings.Builder
	prevStar := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return nil, invalidf("%q: wildcard escapes only * and \\", p)
			}
			i++
			cur.WriteByte(s[i])
			prevStar = false
		case c == '*':
			if prevStar {
				return nil, invalidf("%q: consecutive wildcard characters", p)
			}
			pieces = append(pieces, cur.String())
			cur.Reset()
			prevStar = true
		default:
			cur.WriteByte(c)
			prevStar = false
		}
	}
	return wildcardMatcher(append(pieces, cur.String())), nil
}

var numericOps = map[string]bool{"=": true, "<": true, "<=": true, ">": true, ">=": true}

func parseNumeric(v any, p string) (matcher, error) {
	arr, ok := v.([]any)
	if !ok || (len(arr) != 2 && len(arr) != 4) {
		return nil, invalidf("%q: numeric takes [op, number] or [op, number, op, number]", p)
	}
	var m numericMatcher
	for i := 0; i < len(arr); i += 2 {
		op, ok := arr[i].(string)
		if !ok || !numericOps[op] {
			return nil, invalidf("%q: numeric operator must be one of =, <, <=, >, >=", p)
		}
		num, ok := arr[i+1].(json.Number)
		if !ok {
			return nil, invalidf("%q: numeric compares with a number", p)
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil {
			return nil, invalidf("%q: bad number %s", p, num)
		}
		m = append(m, numCmp{op, f})
	}
	if len(m) == 2 {
		lo, hi := m[0], m[1]
		if (lo.op != ">" && lo.op != ">=") || (hi.op != "<" && hi.op != "<=") || lo.v >= hi.v {
			return nil, invalidf("%q: a numeric range is [\">\" or \">=\", low, \"<\" or \"<=\", high] with low < high", p)
		}
	}
	return m, nil
}

func parseAnythingBut(v any, p string) (matcher, error) {
	switch x := v.(type) {
	case string, json.Number:
		m, err := parseValue(x, p)
		if err != nil {
			return nil, err
		}
		return anythingBut{[]matcher{m}}, nil
	case []any:
		if len(x) == 0 {
			return nil, invalidf("%q: anything-but takes a non-empty list", p)
		}
		var ms []matcher
		for _, e := range x {
			switch e.(type) {
			case string, json.Number:
			default:
				return nil, invalidf("%q: anything-but lists strings or numbers", p)
			}
			m, err := parseValue(e, p)
			if err != nil {
				return nil, err
			}
			ms = append(ms, m)
		}
		return anythingBut{ms}, nil
	case map[string]any:
		if len(x) != 1 {
			return nil, invalidf("%q: anything-but takes one operator", p)
		}
		for k, inner := range x {
			var strs []string
			switch y := inner.(type) {
			case string:
				strs = []string{y}
			case []any:
				for _, e := range y {
					s, ok := e.(string)
					if !ok {
						return nil, invalidf("%q: anything-but %s takes strings", p, k)
					}
					strs = append(strs, s)
				}
			}
			if len(strs) == 0 {
				return nil, invalidf("%q: anything-but %s takes a string", p, k)
			}
			var ms []matcher
			for _, s := range strs {
				switch k {
				case "prefix":
					ms = append(ms, prefixMatcher{s: s})
				case "suffix":
					ms = append(ms, suffixMatcher{s: s})
				case "equals-ignore-case":
					ms = append(ms, foldMatcher(s))
				case "wildcard":
					w, err := parseWildcard(s, p)
					if err != nil {
						return nil, err
					}
					ms = append(ms, w)
				default:
					return nil, invalidf("%q: anything-but does not take %q", p, k)
				}
			}
			return anythingBut{ms}, nil
		}
	}
	return nil, invalidf("%q: anything-but takes a string, a number, a list or an operator", p)
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func pathOr(p string) string {
	if p == "" {
		return "(pattern)"
	}
	return p
}

func literal(v any) string {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v)
	return strings.TrimSpace(b.String())
}
