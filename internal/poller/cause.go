package poller

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kafkaesm/kafkaesm/internal/invoke"
)

// maxCauseLen bounds a reported cause: it is stored with the mapping and shown in one line of
// `kafkaesm status`.
const maxCauseLen = 512

// errorCause is the cause reported with a PROBLEM result for a Kafka error: the error's own
// text (the Kafka error code and message, the TLS or SASL failure), without the poller's
// wrapping, on one line, bounded, with anything that looks like secret material removed.
// Kafka client and kafkaauth errors never carry secret values (they are logged as they are);
// the redaction is a second line of defence, since this text leaves the server in API responses.
func errorCause(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	// "poller: client options for mapping <uuid>: <cause>" says nothing the mapping does not.
	for _, p := range []string{"poller: client options for mapping ", "poller: kafka client for mapping "} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			if _, after, ok := strings.Cut(rest, ": "); ok {
				s = after
			}
		}
	}
	return cleanCause(s)
}

// functionCause is the cause reported with "PROBLEM: Function call failed": the function's
// errorType and errorMessage (its Lambda error object), or the invocation error. The request id
// is left out, so the same failure repeated is one report, not one per retry.
func functionCause(payload []byte, err error) string {
	if err != nil {
		return cleanCause(err.Error())
	}
	var e struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(payload, &e) == nil && (e.ErrorType != "" || e.ErrorMessage != "") {
		msg := requestID.ReplaceAllString(e.ErrorMessage, "")
		switch {
		case e.ErrorType == "":
			return cleanCause(msg)
		case msg == "":
			return cleanCause(e.ErrorType)
		}
		return cleanCause(e.ErrorType + ": " + msg)
	}
	return cleanCause(string(payload))
}

// throttleCause is the cause reported while a mapping's batches keep being throttled.
func throttleCause(err error, limit int) string {
	what := "the function is throttled"
	var te *invoke.ThrottleError
	if errors.As(err, &te) {
		switch te.Reason {
		case invoke.ReasonReservedConcurrency:
			what = "the function is throttled: it is running as many invocations as its ReservedConcurrentExecutions allows"
		case invoke.ReasonConcurrency:
			what = "the function is throttled: the node runs as many invocations as it allows, counting every function (its concurrency limit, like an account's)"
		case invoke.ReasonHTTPTarget:
			what = "the function is throttled: its HTTP target answered 429 Too Many Requests"
		}
	}
	s := what + "; kafkaesm retries the batch"
	if limit > 0 {
		s += " and runs at most " + strconv.Itoa(limit) + " of this mapping's invocations at a time"
	}
	return cleanCause(s + " (not counted as failures)")
}

var (
	requestID = regexp.MustCompile(`RequestId: [0-9A-Za-z-]+ (Error: )?`)
	// PEM blocks (keys, certificates) and JSON or key=value members named like credentials.
	pemBlock   = regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|$)`)
	credMember = regexp.MustCompile(`(?i)("?(password|secret|token|private_?key|keyPassword|sasl\.jaas\.config)"?\s*[:=]\s*)("[^"]*"|[^\s,;}]+)`)
)

func cleanCause(s string) string {
	s = pemBlock.ReplaceAllString(s, "[redacted]")
	s = credMember.ReplaceAllString(s, "${1}[redacted]")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxCauseLen {
		cut := maxCauseLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
