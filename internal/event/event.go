// Package event encodes Kafka records into the payload Lambda hands to a function for a
// self-managed Kafka event source (events.KafkaEvent in aws-lambda-go), and builds batches that
// respect Lambda's 6 MB synchronous invocation limit exactly. It owns the wire format only: it
// does no I/O and knows nothing about consumer groups or invocation.
//
// The encoder appends JSON by hand into a reusable buffer: no reflection and no allocation per
// record (base64 is written straight into the buffer). Every size is computed before anything is
// written, so a batch never goes over its limit and a record that cannot fit even alone is
// reported instead of being encoded. Base64 has its own encoder (base64.go): it is most of the
// cost of a payload.
package event

import (
	"encoding/base64"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// MaxPayloadBytes is Lambda's synchronous invocation payload limit (6 MB = 6,291,456 bytes), the
// size at which a batch is flushed whatever BatchSize says.
const MaxPayloadBytes = 6 << 20

// Event source names. AWS sends SelfManagedKafka; the seed document's example shows
// aws:SelfManagedKafka, which a server flag may select.
const (
	SourceSelfManagedKafka    = "SelfManagedKafka"
	SourceAWSSelfManagedKafka = "aws:SelfManagedKafka"
)

// Timestamp types as Kafka's Java TimestampType enum names them.
const (
	CreateTime      = "CREATE_TIME"
	LogAppendTime   = "LOG_APPEND_TIME"
	NoTimestampType = "NO_TIMESTAMP_TYPE"
)

// Encoder holds what is common to every payload of one mapping. It is immutable and safe for
// concurrent use; each Batch it makes is not.
type Encoder struct {
	// prefix is `{"eventSource":"…","bootstrapServers":"…","records":{`.
	prefix []byte
	limit  int
}

// NewEncoder returns an encoder for payloads with the given eventSource (empty means
// SourceSelfManagedKafka) and bootstrap servers (comma-joined, as AWS sends them).
func NewEncoder(eventSource string, bootstrapServers []string) *Encoder {
	if eventSource == "" {
		eventSource = SourceSelfManagedKafka
	}
	p := make([]byte, 0, 64+len(eventSource)+16*len(bootstrapServers))
	p = append(p, `{"eventSource":`...)
	p = appendString(p, eventSource)
	p = append(p, `,"bootstrapServers":`...)
	p = appendString(p, strings.Join(bootstrapServers, ","))
	p = append(p, `,"records":{`...)
	return &Encoder{prefix: p, limit: MaxPayloadBytes}
}

// WithLimit returns a copy of e whose batches stop at limit bytes instead of MaxPayloadBytes
// (for tests that need small limits).
func (e *Encoder) WithLimit(limit int) *Encoder {
	c := *e
	c.limit = limit
	return &c
}

// Limit is the payload size this encoder's batches never exceed.
func (e *Encoder) Limit() int { return e.limit }

// FitsAlone reports whether r can be delivered at all: whether a payload holding only r stays
// within the limit.
func (e *Encoder) FitsAlone(r *kgo.Record) bool {
	return len(e.prefix)+partitionOpenSize(r, true)+RecordSize(r)+len(`]}}`) <= e.limit
}

// timestampType maps record attributes to Kafka's enum name.
func timestampType(r *kgo.Record) string {
	switch r.Attrs.TimestampType() {
	case 1:
		return LogAppendTime
	case -1:
		return NoTimestampType
	default:
		return CreateTime
	}
}

// RecordSize is the exact length of r's JSON object as AppendRecord writes it.
func RecordSize(r *kgo.Record) int {
	return headSize(r.Topic, r.Partition) + tailSize(r)
}

// A record's object is a head, the same for every record of a partition (a Batch writes it
// once per partition and copies it), and a tail.

// headSize is len(appendHead(nil, topic, partition)).
func headSize(topic string, partition int32) int {
	return len(`{"topic":`) + stringSize(topic) + len(`,"partition":`) + intSize(int64(partition)) + len(`,"offset":`)
}

// appendHead appends `{"topic":"…","partition":…,"offset":`.
func appendHead(b []byte, topic string, partition int32) []byte {
	b = append(b, `{"topic":`...)
	b = appendString(b, topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(partition), 10)
	return append(b, `,"offset":`...)
}

// tailSize is len(appendTail(nil, r)).
func tailSize(r *kgo.Record) int {
	n := intSize(r.Offset) +
		len(`,"timestamp":`) + intSize(r.Timestamp.UnixMilli()) +
		len(`,"timestampType":""`) + len(timestampType(r))
	if r.Key != nil {
		n += len(`,"key":""`) + base64.StdEncoding.EncodedLen(len(r.Key))
	}
	if r.Value != nil {
		n += len(`,"value":""`) + base64.StdEncoding.EncodedLen(len(r.Value))
	}
	n += len(`,"headers":[]}`)
	for i, h := range r.Headers {
		if i > 0 {
			n++ // ,
		}
		n += len(`{:[]}`) + stringSize(h.Key)
		for j, c := range h.Value {
			if j > 0 {
				n++
			}
			n += int(signedByteLen[c])
		}
	}
	return n
}

// AppendRecord appends r as Lambda's record object. A nil key is omitted (AWS omits a null
// key); a nil value (tombstone) is omitted too, which is what aws-lambda-go's
// `value,omitempty` produces and what decoders that accept either AWS shape handle. Header
// values are arrays of signed bytes (-128..127), one single-entry object per header, so
// duplicate names stay separate and ordered.
func AppendRecord(b []byte, r *kgo.Record) []byte {
	return appendTail(appendHead(b, r.Topic, r.Partition), r)
}

// appendTail appends the rest of r's object after its head: from the offset's value on.
func appendTail(b []byte, r *kgo.Record) []byte {
	b = strconv.AppendInt(b, r.Offset, 10)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
	b = append(b, `,"timestampType":"`...)
	b = append(b, timestampType(r)...)
	b = append(b, '"')
	if r.Key != nil {
		b = append(b, `,"key":"`...)
		b = appendBase64(b, r.Key)
		b = append(b, '"')
	}
	if r.Value != nil {
		b = append(b, `,"value":"`...)
		b = appendBase64(b, r.Value)
		b = append(b, '"')
	}
	b = append(b, `,"headers":[`...)
	for i, h := range r.Headers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendString(b, h.Key)
		b = append(b, ':', '[')
		for j, c := range h.Value {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, signedByteText[c]...)
		}
		b = append(b, ']', '}')
	}
	return append(b, ']', '}')
}

// partitionOpenSize is the length of `"topic-partition":[` (plus the `],` that closes the
// previous partition when first is false).
func partitionOpenSize(r *kgo.Record, first bool) int {
	n := stringSize(r.Topic) + 1 + intSize(int64(r.Partition)) + len(`:[`) // quotes counted in stringSize
	if !first {
		n += len(`],`)
	}
	return n
}

func appendPartitionKey(b []byte, topic string, partition int32) []byte {
	// The key is "topic-partition": write it as one JSON string without building it first.
	b = appendString(b, topic)
	b = b[:len(b)-1] // reopen the string
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(partition), 10)
	return append(b, '"')
}

// intSize is len(strconv.AppendInt(nil, v, 10)), without dividing once per digit: offsets
// and millisecond timestamps have 7 to 13 digits, and every record has both.
func intSize(v int64) int {
	if v < 0 {
		return 1 + uintSize(uint64(-v)) // -MinInt64 wraps to its own magnitude as a uint64
	}
	return uintSize(uint64(v))
}

func uintSize(x uint64) int {
	if x == 0 {
		return 1
	}
	// A b-bit number has floor(b·log10 2) or one more digits; 1233/4096 ≈ log10 2.
	d := bits.Len64(x) * 1233 >> 12
	if x >= pow10[d] {
		d++
	}
	return d
}

var pow10 = [20]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// signedByteText is the decimal text of each byte as a Java (signed) byte; signedByteLen its
// length. Tables keep header encoding to one copy per byte.
var (
	signedByteText [256]string
	signedByteLen  [256]uint8
)

func init() {
	for i := range 256 {
		signedByteText[i] = strconv.Itoa(int(int8(uint8(i))))
		signedByteLen[i] = uint8(len(signedByteText[i]))
	}
}

const hexDigits = "0123456789abcdef"

// needsEscape marks the ASCII bytes that JSON (as encoding/json writes it) escapes.
var needsEscape = func() (t [utf8.RuneSelf]bool) {
	for i := range 0x20 {
		t[i] = true
	}
	t['"'], t['\\'], t['<'], t['>'], t['&'] = true, true, true, true, true
	return t
}()

// appendString appends s as a JSON string. Topic names are restricted to [a-zA-Z0-9._-] by
// Kafka, but header keys are arbitrary, so escaping follows encoding/json (invalid UTF-8 becomes
// U+FFFD, <>& and U+2028/9 are escaped).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !needsEscape[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// stringSize is len(appendString(nil, s)).
func stringSize(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case !needsEscape[c]:
				n++
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			default:
				n += 6
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}
