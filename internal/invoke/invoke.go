// Package invoke runs functions: execution environments speaking the Lambda Runtime API, HTTP
// targets, concurrency limits, timeouts and logs. It must not know about Kafka or mappings: the
// poller hands it a payload and gets a Result back.
//
// Behaviour, as Lambda's:
//   - An execution environment is a child process in its own process group with its own
//     loopback Runtime API listener (env.go). provided* runs CodeDir/bootstrap; python3.* runs
//     "python3 -m awslambdaric HANDLER" with PYTHONPATH=CodeDir. Warm environments are reused;
//     new ones start on demand up to min(ReservedConcurrentExecutions, Config.MaxConcurrency);
//     beyond that Invoke returns a *ThrottleError.
//   - Function errors are Results with FunctionError "Unhandled": the runtime's error object;
//     Sandbox.Timedout ("Task timed out after N.NN seconds", the process group is killed);
//     Runtime.ExitError (the runtime exited mid-invocation or during init); the runtime's
//     /init/error object; Runtime.InvalidEntrypoint (no bootstrap); Function.ResponseSizeTooLarge
//     (response over 6 MB). Environments that failed are replaced, never reused.
//   - A new revision (RevisionId, CodeSha256, LastModified, code dir or configuration) retires
//     the old environments; busy ones finish their invocation first. Idle ones are reaped after
//     Config.IdleTimeout.
//   - An HTTP target receives the event as a JSON POST with the Runtime API's invocation headers;
//     2xx is success, 429 a throttle (*ThrottleError), anything else an Unhandled error, under
//     the same timeout and limits.
//   - Logs: START/END/REPORT lines and the runtime's stdout and stderr go to rotated files under
//     <data-dir>/logs/<function>/ (logs.go) and, with Request.Tail, the last 4 KB to the Result.
//   - Event invocations go through Async: in memory, lost on restart (async.go).
//
// Lock order: Engine.mu, then env.mu, then fnLog.mu. No lock is held while waiting on a process,
// a channel or the network.
package invoke

import (
	"context"
	"errors"
	"time"
)

// Result is the outcome of one synchronous invocation.
type Result struct {
	// Payload is the function's response, or its error object when FunctionError is set.
	Payload []byte
	// FunctionError is "" on success, else "Unhandled" (or "Handled"), as X-Amz-Function-Error.
	FunctionError string
	// ExecutedVersion is X-Amz-Executed-Version: the version that ran ("$LATEST", "3").
	ExecutedVersion string
	// LogTail is the last 4 KB of the invocation's log when requested.
	LogTail []byte
	// RequestID is the invocation's request id (Lambda-Runtime-Aws-Request-Id).
	RequestID string
	// Duration is how long the function ran (the REPORT line's Duration).
	Duration time.Duration
}

// Request is one invocation.
type Request struct {
	// Function is a function name, ARN or partial ARN, optionally with a qualifier.
	Function string
	// Qualifier is the Invoke API's Qualifier parameter: "", "$LATEST", a version or an alias,
	// resolved when the invocation starts (Functions.Resolve).
	Qualifier string
	// Payload is the event. It is handed to the runtime as is, without a copy: the caller must
	// not modify it until Invoke returns.
	Payload []byte
	// Tail asks for the last 4 KB of log in Result.LogTail (LogType=Tail).
	Tail bool
	// RequestID, when set, is used as the invocation's request id; otherwise one is generated.
	RequestID string
	// ClientContext is the decoded X-Amz-Client-Context JSON (Lambda-Runtime-Client-Context).
	ClientContext string
	// TraceID is passed as Lambda-Runtime-Trace-Id when set.
	TraceID string
	// LogNote, when set, is written to the function's log as its own line right after the
	// invocation's START line (the poller says which records and which attempt it is).
	LogNote string
}

// ErrThrottled is returned when the function is at its concurrency limit
// (TooManyRequestsException; the poller backs off and retries). The error returned is a
// *ThrottleError, which matches ErrThrottled with errors.Is and carries Lambda's reason.
var ErrThrottled = errors.New("rate exceeded: function concurrency limit reached")

// ErrFunctionNotFound is returned for an unknown function.
var ErrFunctionNotFound = errors.New("function not found")

// ErrRequestTooLarge is returned for a payload over function.MaxPayload.
var ErrRequestTooLarge = errors.New("request payload too large")

// ErrClosed is returned by Invoke after Close.
var ErrClosed = errors.New("invoke engine closed")

// Throttle reasons, as Lambda's ThrottleReason enum.
const (
	ReasonReservedConcurrency = "ReservedFunctionConcurrentInvocationLimitExceeded"
	ReasonConcurrency         = "ConcurrentInvocationLimitExceeded"
	// ReasonHTTPTarget: an HTTP target answered 429 Too Many Requests (its own limit).
	ReasonHTTPTarget = "FunctionInvocationRateLimitExceeded"
)

// ThrottleError is a throttled invocation with Lambda's ThrottleReason.
type ThrottleError struct {
	Reason string
}

func (e *ThrottleError) Error() string { return ErrThrottled.Error() + " (" + e.Reason + ")" }

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottleError) Is(target error) bool { return target == ErrThrottled }

// Invoker invokes functions synchronously (RequestResponse). A function error is not an error
// here: it is a Result with FunctionError set. err is for the invocation not happening at all
// (ErrThrottled, ErrFunctionNotFound, ctx cancelled).
type Invoker interface {
	Invoke(ctx context.Context, req Request) (Result, error)
}
