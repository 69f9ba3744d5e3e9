package filter

import (
	"errors"
	"testing"
)

// Examples from Lambda's "Filter rule syntax" table (invocation-eventfiltering) and the Kafka
// filtering page (kafka-filtering), each applied to a record's JSON value.
func TestDocumentedExamples(t *testing.T) {
	tests := []struct {
		name, pattern, value string
		want                 bool
	}{
		{"null", `{"value":{"UserID":[null]}}`, `{"UserID":null}`, true},
		{"null: a string is not null", `{"value":{"UserID":[null]}}`, `{"UserID":"u"}`, false},
		{"null: absent is not null", `{"value":{"UserID":[null]}}`, `{}`, false},
		{"empty", `{"value":{"LastName":[""]}}`, `{"LastName":""}`, true},
		{"empty: not empty", `{"value":{"LastName":[""]}}`, `{"LastName":"x"}`, false},
		{"equals", `{"value":{"Name":["Alice"]}}`, `{"Name":"Alice"}`, true},
		{"equals: case matters", `{"value":{"Name":["Alice"]}}`, `{"Name":"alice"}`, false},
		{"equals-ignore-case", `{"value":{"Name":[{"equals-ignore-case":"alice"}]}}`, `{"Name":"ALICE"}`, true},
		{"and", `{"value":{"Location":["New York"],"Day":["Monday"]}}`, `{"Location":"New York","Day":"Monday"}`, true},
		{"and: one differs", `{"value":{"Location":["New York"],"Day":["Monday"]}}`, `{"Location":"New York","Day":"Tuesday"}`, false},
		{"or", `{"value":{"PaymentType":["Credit","Debit"]}}`, `{"PaymentType":"Debit"}`, true},
		{"or: neither", `{"value":{"PaymentType":["Credit","Debit"]}}`, `{"PaymentType":"Cash"}`, false},
		{"$or", `{"value":{"$or":[{"Location":["New York"]},{"Day":["Monday"]}]}}`, `{"Location":"Paris","Day":"Monday"}`, true},
		{"$or: neither", `{"value":{"$or":[{"Location":["New York"]},{"Day":["Monday"]}]}}`, `{"Location":"Paris","Day":"Friday"}`, false},
		{"$or at the top", `{"$or":[{"partition":[1]},{"value":{"Day":["Monday"]}}]}`, `{"Day":"Monday"}`, true},
		{"not", `{"value":{"Weather":[{"anything-but":["Raining"]}]}}`, `{"Weather":"Sunny"}`, true},
		{"not: the excluded value", `{"value":{"Weather":[{"anything-but":["Raining"]}]}}`, `{"Weather":"Raining"}`, false},
		{"not: absent does not match", `{"value":{"Weather":[{"anything-but":["Raining"]}]}}`, `{}`, false},
		{"anything-but a string", `{"value":{"state":[{"anything-but":"initializing"}]}}`, `{"state":"running"}`, true},
		{"anything-but a number", `{"value":{"x":[{"anything-but":100}]}}`, `{"x":100}`, false},
		{"anything-but prefix", `{"value":{"state":[{"anything-but":{"prefix":"init"}}]}}`, `{"state":"initializing"}`, false},
		{"anything-but suffix", `{"value":{"f":[{"anything-but":{"suffix":".txt"}}]}}`, `{"f":"a.png"}`, true},
		{"anything-but equals-ignore-case", `{"value":{"s":[{"anything-but":{"equals-ignore-case":["A","B"]}}]}}`, `{"s":"b"}`, false},
		{"anything-but wildcard", `{"value":{"s":[{"anything-but":{"wildcard":"*/lib/*"}}]}}`, `{"s":"/usr/lib/x"}`, false},
		{"numeric equals", `{"value":{"Price":[{"numeric":["=",100]}]}}`, `{"Price":100}`, true},
		{"numeric equals: 100.0", `{"value":{"Price":[{"numeric":["=",100]}]}}`, `{"Price":100.0}`, true},
		{"numeric equals: other", `{"value":{"Price":[{"numeric":["=",100]}]}}`, `{"Price":101}`, false},
		{"numeric equals: a string is not a number", `{"value":{"Price":[{"numeric":["=",100]}]}}`, `{"Price":"100"}`, false},
		{"numeric range", `{"value":{"Price":[{"numeric":[">",10,"<=",20]}]}}`, `{"Price":20}`, true},
		{"numeric range: low bound open", `{"value":{"Price":[{"numeric":[">",10,"<=",20]}]}}`, `{"Price":10}`, false},
		{"numeric range: above", `{"value":{"Price":[{"numeric":[">",10,"<=",20]}]}}`, `{"Price":20.5}`, false},
		{"exists", `{"value":{"ProductName":[{"exists":true}]}}`, `{"ProductName":"x"}`, true},
		{"exists: absent", `{"value":{"ProductName":[{"exists":true}]}}`, `{"Other":"x"}`, false},
		{"does not exist", `{"value":{"ProductName":[{"exists":false}]}}`, `{"Other":"x"}`, true},
		{"does not exist: present", `{"value":{"ProductName":[{"exists":false}]}}`, `{"ProductName":"x"}`, false},
		{"does not exist: nested under an absent object", `{"value":{"a":{"b":[{"exists":false}]}}}`, `{}`, true},
		{"begins with", `{"value":{"Region":[{"prefix":"us-"}]}}`, `{"Region":"us-east-1"}`, true},
		{"begins with: no", `{"value":{"Region":[{"prefix":"us-"}]}}`, `{"Region":"eu-west-1"}`, false},
		{"begins with, ignoring case", `{"value":{"Region":[{"prefix":{"equals-ignore-case":"US-"}}]}}`, `{"Region":"us-east-1"}`, true},
		{"ends with", `{"value":{"FileName":[{"suffix":".png"}]}}`, `{"FileName":"image.png"}`, true},
		{"ends with: no", `{"value":{"FileName":[{"suffix":".png"}]}}`, `{"FileName":"image.jpg"}`, false},
		{"ends with, ignoring case", `{"value":{"FileName":[{"suffix":{"equals-ignore-case":".PNG"}}]}}`, `{"FileName":"a.png"}`, true},
		{"wildcard", `{"value":{"EventName":[{"wildcard":"Delete*Item"}]}}`, `{"EventName":"DeleteOldItem"}`, true},
		{"wildcard: no", `{"value":{"EventName":[{"wildcard":"Delete*Item"}]}}`, `{"EventName":"DeleteItems"}`, false},
		{"wildcard: several stars", `{"value":{"p":[{"wildcard":"*/bin/*.sh"}]}}`, `{"p":"/usr/bin/run.sh"}`, true},
		{"wildcard: escaped star", `{"value":{"p":[{"wildcard":"a\\*b"}]}}`, `{"p":"a*b"}`, true},
		{"wildcard: escaped star is literal", `{"value":{"p":[{"wildcard":"a\\*b"}]}}`, `{"p":"axb"}`, false},
		{"kafka: device_ID prefix", `{"value":{"device_ID":[{"prefix":"AB"}]}}`, `{"device_ID":"AB1234","session":{"start_time":"yyyy-mm-ddThh:mm:ss","duration":162}}`, true},
		{"kafka: device_ID prefix, no", `{"value":{"device_ID":[{"prefix":"AB"}]}}`, `{"device_ID":"CD1234"}`, false},
		{"nested object", `{"value":{"session":{"duration":[{"numeric":[">",100]}]}}}`, `{"session":{"duration":162}}`, true},
		{"array value: any element", `{"value":{"tags":["b"]}}`, `{"tags":["a","b"]}`, true},
		{"array of objects", `{"value":{"items":{"sku":["x"]}}}`, `{"items":[{"sku":"y"},{"sku":"x"}]}`, true},
		{"plain string value", `{"value":["Hello, this is a test."]}`, `Hello, this is a test.`, true},
		{"plain string value: prefix", `{"value":[{"prefix":"Hello"}]}`, `Hello, this is a test.`, true},
		{"plain string value vs structural pattern", `{"value":{"a":["b"]}}`, `Hello`, false},
		{"structural value vs string pattern", `{"value":[{"prefix":"{"}]}`, `{"a":"b"}`, false},
		{"JSON string value", `{"value":["abc"]}`, `"abc"`, true},
		{"JSON number value", `{"value":[{"numeric":[">=",5]}]}`, `7`, true},
		{"boolean", `{"value":{"ok":[true]}}`, `{"ok":true}`, true},
		{"boolean: false", `{"value":{"ok":[true]}}`, `{"ok":false}`, false},
		{"metadata: topic and partition", `{"topic":["orders"],"partition":[0]}`, `x`, true},
		{"metadata: partition", `{"partition":[{"numeric":[">",0]}]}`, `x`, false},
		{"metadata: timestampType", `{"timestampType":["CREATE_TIME"]}`, `x`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile([]string{tc.pattern})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			r := &Record{Topic: "orders", Partition: 0, Offset: 15, Timestamp: 1545084650987, TimestampType: "CREATE_TIME", Value: []byte(tc.value)}
			if got := m.Match(r); got != tc.want {
				t.Fatalf("Match(%s) against %s = %v, want %v", tc.value, tc.pattern, got, tc.want)
			}
		})
	}
}

func TestKeyAndAbsentParts(t *testing.T) {
	m, err := Compile([]string{`{"key":["order-1"]}`, `{"key":{"region":["eu"]}}`})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  []byte
		want bool
	}{
		{[]byte("order-1"), true},
		{[]byte(`{"region":"eu"}`), true},
		{[]byte("order-2"), false},
		{nil, false},
		{[]byte{0xff, 0xfe}, false}, // not UTF-8: only metadata patterns apply
	} {
		if got := m.Match(&Record{Topic: "t", Key: tc.key, Value: []byte("v")}); got != tc.want {
			t.Errorf("key %q: %v, want %v", tc.key, got, tc.want)
		}
	}
	// A pattern requiring the value to be absent matches a tombstone.
	m, _ = Compile([]string{`{"value":[{"exists":false}]}`})
	if !m.Match(&Record{Topic: "t"}) || m.Match(&Record{Topic: "t", Value: []byte("x")}) {
		t.Fatal("exists:false on value")
	}
}

func TestFiltersAreOred(t *testing.T) {
	m, err := Compile([]string{`{"value":{"a":["1"]}}`, `{"value":{"b":["2"]}}`})
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{`{"a":"1"}`: true, `{"b":"2"}`: true, `{"a":"2","b":"1"}`: false} {
		if got := m.Match(&Record{Value: []byte(v)}); got != want {
			t.Errorf("%s: %v, want %v", v, got, want)
		}
	}
	var none *Matcher
	if !none.Match(&Record{}) {
		t.Fatal("nil matcher must match everything")
	}
}

func TestInvalidPatterns(t *testing.T) {
	for _, p := range []string{
		``, `not json`, `[]`, `"x"`, `{}`, `{"value":{}}`, `{"a":"b"}`, `{"a":1}`, `{"a":[]}`, `{"a":[[1]]}`,
		`{"a":[{"prefix":1}]}`, `{"a":[{"suffix":[]}]}`, `{"a":[{"unknown":"x"}]}`, `{"a":[{"prefix":"x","suffix":"y"}]}`,
		`{"a":[{"numeric":[">"]}]}`, `{"a":[{"numeric":["~",1]}]}`, `{"a":[{"numeric":[">","1"]}]}`,
		`{"a":[{"numeric":["<",1,">",0]}]}`, `{"a":[{"numeric":[">",5,"<",1]}]}`, `{"a":[{"exists":"yes"}]}`,
		`{"a":[{"anything-but":[]}]}`, `{"a":[{"anything-but":{"numeric":[">",1]}}]}`, `{"a":[{"anything-but":[{"prefix":"x"}]}]}`,
		`{"a":[{"wildcard":"a**b"}]}`, `{"a":[{"wildcard":"a\\b"}]}`, `{"a":[{"cidr":"10.0.0.0/8"}]}`,
		`{"$or":[{"a":["1"]}]}`, `{"$or":{"a":["1"]}}`, `{"$or":[{"a":["1"]},"b"]}`, `{"a":["1"]} {}`,
	} {
		if err := Validate(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%s) = %v, want ErrInvalid", p, err)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add(`{"value":{"device_ID":[{"prefix":"AB"}]}}`, []byte(`{"device_ID":"AB1234"}`), []byte("k"))
	f.Add(`{"value":[{"wildcard":"*a*b*"}],"key":[{"anything-but":{"suffix":"x"}}]}`, []byte("xaxb"), []byte(nil))
	f.Add(`{"$or":[{"value":{"n":[{"numeric":[">",0,"<",10]}]}},{"value":{"n":[null,""]}}]}`, []byte(`{"n":[1,2]}`), []byte("{}"))
	f.Fuzz(func(t *testing.T, pattern string, value, key []byte) {
		m, err := Compile([]string{pattern})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		r := &Record{Topic: "t", Value: value, Key: key}
		if m.Match(r) != m.Match(r) {
			t.Fatal("Match is not deterministic")
		}
	})
}
