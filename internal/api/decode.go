package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/mapping"
	"github.com/kafkaesm/kafkaesm/internal/store"
)

// decodeJSON reads r's body (at most limit bytes) into v. An empty body is an empty object.
// It writes the error response itself and reports whether decoding succeeded.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, op string, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		WriteError(w, Errorf(RequestTooLarge, "Request must be smaller than %d bytes for the %s operation", limit, op))
		return false
	}
	if err != nil {
		WriteError(w, Errorf(InvalidRequestContent, "Could not read request body: %v", err))
		return false
	}
	if int64(len(body)) > limit {
		WriteError(w, Errorf(RequestTooLarge, "Request must be smaller than %d bytes for the %s operation", limit, op))
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		WriteError(w, Errorf(InvalidRequestContent, "Could not parse request body into json: %s", jsonProblem(err)))
		return false
	}
	if dec.More() {
		WriteError(w, Errorf(InvalidRequestContent, "Could not parse request body into json: unexpected data after the JSON object"))
		return false
	}
	return true
}

// jsonProblem describes a decoding error without echoing request bytes back.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "request"
		}
		return "Cannot deserialize value of type " + te.Value + " into member " + field
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "malformed JSON: " + strings.TrimPrefix(se.Error(), "json: ")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return "malformed JSON"
}

// apiError turns the errors of the model packages and the store into the error table's
// entries. Anything unknown is an internal error (logged by the caller).
func apiError(err error) (*Error, bool) {
	var ae *Error
	if errors.As(err, &ae) {
		return ae, true
	}
	var me *mapping.Error
	if errors.As(err, &me) {
		if me.Validation {
			return &Error{Code: Validation, Message: me.Message}, true
		}
		return &Error{Code: InvalidParameterValue, Message: me.Message}, true
	}
	var qe *function.ErrCodeStorageExceeded
	if errors.As(err, &qe) {
		return &Error{Code: CodeStorageExceeded, Message: qe.Error()}, true
	}
	if errors.Is(err, function.ErrRevisionMismatch) {
		return errRevisionMismatch, true
	}
	var fe *function.Error
	if errors.As(err, &fe) {
		if fe.Validation {
			return &Error{Code: Validation, Message: fe.Message}, true
		}
		return &Error{Code: InvalidParameterValue, Message: fe.Message}, true
	}
	var ie *mapping.InUseError
	if errors.As(err, &ie) {
		return &Error{Code: ResourceInUse, Message: ie.Message}, true
	}
	if errors.Is(err, store.ErrBadMarker) {
		return &Error{Code: InvalidParameterValue, Message: "The marker is not valid."}, true
	}
	return nil, false
}

// fail writes err; unexpected errors are logged and answered as ServiceException.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if ae, ok := apiError(err); ok {
		WriteError(w, ae)
		return
	}
	s.cfg.Logger.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	WriteError(w, err)
}

// handle registers h for pattern and, when the pattern ends in a path without a trailing slash,
// also for the slash form: ServeMux would otherwise answer one of them with a 307 redirect.
// Every route is authorised and audited under its IAM action (authz.go); a Lambda route without
// one is a programming error, caught by every test that builds a Server.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	if _, ok := routeActions[pattern]; !ok {
		panic("api: route " + pattern + " has no IAM action in routeActions")
	}
	ah := s.authorize(actionFor(pattern), s.lambdaResource, h)
	s.mux.Handle(pattern, ah)
	if !strings.HasSuffix(pattern, "/") && !strings.HasSuffix(pattern, "}") {
		s.mux.Handle(pattern+"/{$}", ah)
	}
}
