package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Code is an AWS exception name. Every error the API returns comes from this table, so the
// status code, the body's message member and the X-Amzn-ErrorType header never disagree.
type Code string

const (
	InvalidParameterValue Code = "InvalidParameterValueException"
	ResourceNotFound      Code = "ResourceNotFoundException"
	ResourceConflict      Code = "ResourceConflictException"
	ResourceInUse         Code = "ResourceInUseException"
	TooManyRequests       Code = "TooManyRequestsException"
	Validation            Code = "ValidationException"
	InvalidRequestContent Code = "InvalidRequestContentException"
	RequestTooLarge       Code = "RequestTooLargeException"
	UnsupportedMediaType  Code = "UnsupportedMediaTypeException"
	Service               Code = "ServiceException"
	UnrecognizedClient    Code = "UnrecognizedClientException"
	InvalidSignature      Code = "InvalidSignatureException"
	CodeStorageExceeded   Code = "CodeStorageExceededException"
	InvalidZipFile        Code = "InvalidZipFileException"
	PreconditionFailed    Code = "PreconditionFailedException"
	// ProvisionedConcurrencyNotFound: GetProvisionedConcurrencyConfig finds none.
	ProvisionedConcurrencyNotFound Code = "ProvisionedConcurrencyConfigNotFoundException"
	// Authentication and authorisation (sigv4.go, guard.go, authz.go).
	MissingAuthenticationToken Code = "MissingAuthenticationTokenException"
	IncompleteSignature        Code = "IncompleteSignatureException"
	AccessDenied               Code = "AccessDeniedException"
)

type errorDef struct {
	status int
	// lowerMessage: Lambda spells the member "message" for some exceptions and "Message" for
	// others (the SDK reads either, boto3 keeps the raw key).
	lowerMessage bool
	// noType: framework errors (ValidationException) carry no "Type" member.
	noType bool
	fault  string
}

var errorTable = map[Code]errorDef{
	InvalidParameterValue:          {status: 400, lowerMessage: true, fault: "User"},
	ResourceNotFound:               {status: 404, fault: "User"},
	ResourceConflict:               {status: 409, lowerMessage: true, fault: "User"},
	ResourceInUse:                  {status: 400, fault: "User"},
	TooManyRequests:                {status: 429, lowerMessage: true, fault: "User"},
	Validation:                     {status: 400, lowerMessage: true, noType: true},
	InvalidRequestContent:          {status: 400, lowerMessage: true, fault: "User"},
	RequestTooLarge:                {status: 413, lowerMessage: true, fault: "User"},
	UnsupportedMediaType:           {status: 415, lowerMessage: true, fault: "User"},
	Service:                        {status: 500, fault: "Service"},
	UnrecognizedClient:             {status: 403, noType: true},
	InvalidSignature:               {status: 403, noType: true},
	CodeStorageExceeded:            {status: 400, fault: "User"},
	InvalidZipFile:                 {status: 502, fault: "User"},
	PreconditionFailed:             {status: 412, lowerMessage: true, fault: "User"},
	ProvisionedConcurrencyNotFound: {status: 404, fault: "User"},
	// MissingAuthenticationTokenException and IncompleteSignatureException are 403 on Lambda's
	// endpoint, as InvalidSignatureException and UnrecognizedClientException.
	MissingAuthenticationToken: {status: 403, noType: true},
	IncompleteSignature:        {status: 403, noType: true},
	AccessDenied:               {status: 403, noType: true},
}

// Error is an API error: an AWS exception name and a message.
type Error struct {
	Code    Code
	Message string
	// Reason is TooManyRequestsException's ThrottleReason.
	Reason string
	// RetryAfter, in seconds, for TooManyRequestsException (header Retry-After).
	RetryAfter int
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an API error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WriteError writes err in AWS's restJson1 error shape. Errors that are not *Error become a
// ServiceException whose message does not leak the internal error text.
func WriteError(w http.ResponseWriter, err error) {
	e, ok := err.(*Error)
	if !ok {
		e = &Error{Code: Service, Message: "An internal error occurred."}
	}
	def, ok := errorTable[e.Code]
	if !ok {
		def = errorTable[Service]
	}
	body := map[string]any{}
	if !def.noType {
		body["Type"] = def.fault
	}
	if def.lowerMessage {
		body["message"] = e.Message
	} else {
		body["Message"] = e.Message
	}
	if e.Reason != "" {
		body["Reason"] = e.Reason
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", string(e.Code))
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(def.status)
	_ = json.NewEncoder(w).Encode(body)
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
