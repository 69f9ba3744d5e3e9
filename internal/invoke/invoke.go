// Package invoke runs functions: execution environments speaking the Lambda Runtime API, HTTP
// targets, concurrency limits, timeouts and logs. It must not know about Kafka or mappings: the
// poller hands it a payload and gets a Result back.
package invoke

import (
	"context"
	"errors"
)

// Result is the outcome of one synchronous invocation.
type Result struct {
	// Payload is the function's response, or its error object when FunctionError is set.
	Payload []byte
	// FunctionError is "" on success, else "Unhandled" (or "Handled"), as X-Amz-Function-Error.
	FunctionError string
	// ExecutedVersion is X-Amz-Executed-Version ("$LATEST").
	ExecutedVersion string
	// LogTail is the last 4 KB of the invocation's log when requested.
	LogTail []byte
}

// Request is one invocation.
type Request struct {
	// Function is a function name, ARN or partial ARN, optionally with a qualifier.
	Function string
	Payload  []byte
	// Tail asks for the last 4 KB of log in Result.LogTail (LogType=Tail).
	Tail bool
}

// ErrThrottled is returned when the function is at its concurrency limit
// (TooManyRequestsException; the poller backs off and retries).
var ErrThrottled = errors.New("rate exceeded: function concurrency limit reached")

// ErrFunctionNotFound is returned for an unknown function.
var ErrFunctionNotFound = errors.New("function not found")

// Invoker invokes functions synchronously (RequestResponse). A function error is not an error
// here: it is a Result with FunctionError set. err is for the invocation not happening at all
// (ErrThrottled, ErrFunctionNotFound, ctx cancelled).
type Invoker interface {
	Invoke(ctx context.Context, req Request) (Result, error)
}
