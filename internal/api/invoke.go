package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/kafkaesm/kafkaesm/internal/function"
	"github.com/kafkaesm/kafkaesm/internal/invoke"
)

// AsyncInvoker queues Event invocations (invoke.Async).
type AsyncInvoker interface {
	Enqueue(req invoke.Request) error
}

var qualifierRE = regexp.MustCompile(`^[a-zA-Z0-9$_-]{1,128}$`)

// handleInvoke serves Invoke: POST /2015-03-31/functions/{FunctionName}/invocations.
func (s *Server) handleInvoke(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Invoker == nil || s.cfg.Functions == nil {
		WriteError(w, Errorf(Service, "Invoke is not configured on this server."))
		return
	}
	name := r.PathValue("FunctionName")
	qualifier := r.URL.Query().Get("Qualifier")
	if name == "" || len(name) > 170 {
		WriteError(w, Errorf(Validation, "1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 170", name))
		return
	}
	if r.URL.Query().Has("Qualifier") && !qualifierRE.MatchString(qualifier) {
		WriteError(w, Errorf(Validation, "1 validation error detected: Value '%s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)", qualifier))
		return
	}
	typ := r.Header.Get("X-Amz-Invocation-Type")
	if typ == "" {
		typ = "RequestResponse"
	}
	if typ != "RequestResponse" && typ != "Event" && typ != "DryRun" {
		WriteError(w, Errorf(Validation, "1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", typ))
		return
	}
	logType := r.Header.Get("X-Amz-Log-Type")
	if logType != "" && logType != "None" && logType != "Tail" {
		WriteError(w, Errorf(Validation, "1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]", logType))
		return
	}
	var clientCtx string
	if cc := r.Header.Get("X-Amz-Client-Context"); cc != "" {
		b, err := base64.StdEncoding.DecodeString(cc)
		if err != nil || len(cc) > 3583 {
			WriteError(w, Errorf(InvalidParameterValue, "Client context must be a valid Base64-encoded JSON object."))
			return
		}
		clientCtx = string(b)
	}

	payload, ok := invoke.ReadPayload(r.Body, r.ContentLength, function.MaxPayload)
	if !ok {
		WriteError(w, Errorf(RequestTooLarge, "Request must be smaller than %d bytes for the InvokeFunction operation", function.MaxPayload))
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}") // the SDKs send no body when Payload is unset
	}
	if !json.Valid(payload) {
		WriteError(w, Errorf(InvalidRequestContent, "Could not parse request body into json: Could not parse payload into json: the payload is not valid JSON"))
		return
	}
	if typ == "Event" && len(payload) > invoke.MaxAsyncPayload {
		WriteError(w, Errorf(RequestTooLarge, "%d byte payload is too large for the Event invocation type (limit %d bytes)", len(payload), invoke.MaxAsyncPayload))
		return
	}

	// The name is checked as every other operation checks it: the engine's lenient parse would
	// otherwise run "public:function:secret" as secret, while authorization saw the resource
	// function:public:function:secret.
	ref, err := function.ParseInvokeName(name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.ownRef(ref) {
		WriteError(w, Errorf(ResourceNotFound, "Function not found: %s", s.invokeArn(name, qualifier)))
		return
	}
	if q := ref.Qualifier; q != "" && qualifier != "" && q != qualifier {
		WriteError(w, Errorf(InvalidParameterValue, "The derived qualifier from the function name does not match the specified qualifier."))
		return
	}
	// The function, version or alias must exist now; the engine resolves the qualifier again
	// when the invocation starts (an alias may have moved, and a weighted one picks a version
	// per invocation).
	fn, err := s.cfg.Functions.Resolve(r.Context(), name, qualifier)
	if err != nil {
		s.writeInvokeError(w, r, name, qualifier, err)
		return
	}
	_, qualifier, _ = invoke.Qualify(name, qualifier)
	req := invoke.Request{
		Function:      fn.FunctionName,
		Qualifier:     qualifier,
		Payload:       payload,
		Tail:          logType == "Tail" && typ == "RequestResponse",
		RequestID:     w.Header().Get("x-amzn-RequestId"),
		ClientContext: clientCtx,
		TraceID:       r.Header.Get("X-Amzn-Trace-Id"),
	}

	switch typ {
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		if s.cfg.Async == nil {
			WriteError(w, Errorf(Service, "Asynchronous invocation is not configured on this server."))
			return
		}
		if err := s.cfg.Async.Enqueue(req); err != nil {
			s.writeInvokeError(w, r, name, qualifier, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}

	res, err := s.cfg.Invoker.Invoke(r.Context(), req)
	if err != nil {
		s.writeInvokeError(w, r, name, qualifier, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amz-Executed-Version", res.ExecutedVersion)
	if res.FunctionError != "" {
		h.Set("X-Amz-Function-Error", res.FunctionError)
	}
	if req.Tail {
		h.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(res.LogTail))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Payload)
}

func (s *Server) writeInvokeError(w http.ResponseWriter, r *http.Request, name, qualifier string, err error) {
	var te *invoke.ThrottleError
	switch {
	case errors.Is(err, invoke.ErrFunctionNotFound):
		WriteError(w, Errorf(ResourceNotFound, "Function not found: %s", s.invokeArn(name, qualifier)))
	case errors.As(err, &te):
		WriteError(w, &Error{Code: TooManyRequests, Message: "Rate Exceeded.", Reason: te.Reason, RetryAfter: 1})
	case errors.Is(err, invoke.ErrThrottled), errors.Is(err, invoke.ErrQueueFull):
		WriteError(w, &Error{Code: TooManyRequests, Message: "Rate Exceeded.", Reason: invoke.ReasonConcurrency, RetryAfter: 1})
	case errors.Is(err, invoke.ErrRequestTooLarge):
		WriteError(w, Errorf(RequestTooLarge, "Request must be smaller than %d bytes for the InvokeFunction operation", function.MaxPayload))
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client left; nobody reads the answer.
	default:
		s.cfg.Logger.Error("invoke failed", "function", name, "error", err)
		WriteError(w, err)
	}
}

// invokeArn is the ARN Lambda names in "Function not found" messages.
func (s *Server) invokeArn(name, qualifier string) string {
	n, q := invoke.ParseFunctionName(name)
	if qualifier == "" {
		qualifier = q
	}
	arn := function.Arn(s.cfg.Region, s.cfg.AccountID, n)
	if strings.HasPrefix(name, "arn:") {
		if parts := strings.Split(name, ":"); len(parts) >= 7 {
			arn = strings.Join(parts[:7], ":")
		}
	}
	if qualifier != "" {
		arn += ":" + qualifier
	}
	return arn
}
