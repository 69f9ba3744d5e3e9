package kafkaauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/pemkey"
	"github.com/kafkaesm/kafkaesm/internal/secrets"
)

// LastProcessingResult texts Lambda reports for Kafka access failures.
const (
	ResultAuthzFailed       = "PROBLEM: Cluster failed to authorize Lambda."
	ResultSASLFailed        = "PROBLEM: SASL authentication failed."
	ResultServerRejected    = "PROBLEM: Server failed to authenticate Lambda."
	ResultServerNotTrusted  = "PROBLEM: Lambda failed to authenticate server."
	ResultInvalidCertOrKey  = "PROBLEM: Provided certificate or private key is invalid."
	ResultConnectionError   = "PROBLEM: Connection error. Please check your event source connection configuration."
	resultConfigErrorPrefix = "PROBLEM: "
)

// Problem is what a failure means for a mapping: the StateTransitionReason and the
// LastProcessingResult Lambda reports for it.
type Problem struct {
	// Reason is a StateTransitionReason (mapping.Reason*). It is empty for transient
	// connection errors, which Lambda reports in LastProcessingResult while it keeps retrying
	// without stopping the consumer; a non-empty Reason stops the consumer until the cause is
	// fixed.
	Reason string
	// Result is the LastProcessingResult text.
	Result string
}

// Classify maps an error from Options, Probe, a kgo.HookBrokerConnect hook, cl.Ping, a kadm
// call or a poll (fetch errors, group session errors) to Lambda's report. It is the only place
// that knows these mappings; nil maps to the zero Problem.
//
//   - *ConfigError (a missing or malformed secret) → ESM_CONFIG_NOT_VALID, "PROBLEM: <message>"
//     naming the secret and what is wrong with it.
//   - *CertError, pemkey errors (not PEM, wrong key password, unsupported encryption, key not
//     matching the certificate) → EVENT_SOURCE_AUTHN_ERROR, "Provided certificate or private
//     key is invalid." AWS's documentation lists this message among the authentication errors
//     and does not name its reason code; kafkaesm uses EVENT_SOURCE_AUTHN_ERROR because the
//     consumer cannot authenticate, and keeps ESM_CONFIG_NOT_VALID for secrets that are absent
//     or not in Lambda's JSON format.
//   - Topic/Group/Cluster/TransactionalId authorization failures (kerr codes, *kadm.AuthError)
//     → EVENT_SOURCE_AUTHZ_ERROR, "Cluster failed to authorize Lambda."
//   - kerr.SaslAuthenticationFailed, kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState →
//     EVENT_SOURCE_AUTHN_ERROR, "SASL authentication failed."
//   - the broker rejecting our certificate (TLS alert "certificate required", "bad
//     certificate", "unknown certificate authority", …, received as a *net.OpError with Op
//     "remote error") → EVENT_SOURCE_AUTHN_ERROR, "Server failed to authenticate Lambda."
//   - our verification of the broker failing (unknown CA, SAN/host mismatch, expired) →
//     EVENT_SOURCE_AUTHN_ERROR, "Lambda failed to authenticate server."
//   - anything else → no reason, "Connection error. Please check your event source connection
//     configuration."
func Classify(err error) Problem {
	if err == nil {
		return Problem{}
	}
	var (
		cfgErr  *ConfigError
		certErr *CertError
		unsupp  *pemkey.UnsupportedError
		authErr *kadm.AuthError
	)
	switch {
	case errors.As(err, &cfgErr):
		return Problem{Reason: mapping.ReasonConfigNotValid, Result: resultConfigErrorPrefix + cfgErr.Message}
	case errors.Is(err, secrets.ErrNotFound), errors.Is(err, secrets.ErrMalformed):
		// A secret error that did not come through Options (which wraps it in ConfigError).
		return Problem{Reason: mapping.ReasonConfigNotValid, Result: resultConfigErrorPrefix + "The secret of a source access configuration is missing or malformed."}
	case errors.As(err, &certErr), errors.As(err, &unsupp),
		errors.Is(err, pemkey.ErrNotPEM), errors.Is(err, pemkey.ErrNoKey), errors.Is(err, pemkey.ErrMalformed),
		errors.Is(err, pemkey.ErrIncorrectPassword), errors.Is(err, pemkey.ErrPasswordRequired):
		return Problem{Reason: mapping.ReasonAuthnError, Result: ResultInvalidCertOrKey}
	case errors.As(err, &authErr),
		errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.ClusterAuthorizationFailed), errors.Is(err, kerr.TransactionalIDAuthorizationFailed),
		errors.Is(err, kerr.DelegationTokenAuthorizationFailed):
		return Problem{Reason: mapping.ReasonAuthzError, Result: ResultAuthzFailed}
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism),
		errors.Is(err, kerr.IllegalSaslState):
		return Problem{Reason: mapping.ReasonAuthnError, Result: ResultSASLFailed}
	case peerRejectedUs(err):
		return Problem{Reason: mapping.ReasonAuthnError, Result: ResultServerRejected}
	case serverNotTrusted(err):
		return Problem{Reason: mapping.ReasonAuthnError, Result: ResultServerNotTrusted}
	}
	return Problem{Result: ResultConnectionError}
}

// IsStop reports whether err stops a mapping's consumer (a non-empty reason), as opposed to a
// transient error that is retried.
func IsStop(err error) bool { return Classify(err).Reason != "" }

// Certificate-related TLS alerts the broker sends when it does not accept our client
// certificate, spelled as crypto/tls prints them (alert.go). Java's broker sends "bad
// certificate" for a missing certificate and "certificate unknown" (Go: "unknown certificate")
// for an untrusted one, both observed against the test broker. crypto/tls reports a received alert as *net.OpError{Op: "remote error"} whose
// Err prints "tls: <alert>"; tls.AlertError is only used by QUIC. Under TLS 1.3 the alert
// arrives on the first read after the handshake, so it is not always under "unable to dial".
var clientCertAlerts = []string{
	"certificate required",
	"bad certificate",
	"unknown certificate authority",
	"unsupported certificate",
	"revoked certificate",
	"expired certificate",
	"unknown certificate",
	"access denied",
}

func peerRejectedUs(err error) bool {
	var op *net.OpError
	for e := err; errors.As(e, &op); e = op.Err {
		if op.Op == "remote error" && op.Err != nil {
			msg := op.Err.Error()
			for _, a := range clientCertAlerts {
				if strings.HasSuffix(msg, "tls: "+a) {
					return true
				}
			}
			return false
		}
		if op.Err == nil {
			return false
		}
	}
	return false
}

func serverNotTrusted(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		ierr x509.CertificateInvalidError
		serr x509.SystemRootsError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) ||
		errors.As(err, &ierr) || errors.As(err, &serr)
}

// isContextErr reports whether err is only the caller's cancellation.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
