package chute

import (
	"errors"
	"fmt"
)

// APIError is an error answer of the gateway's HTTP API. Code is one of the
// platform's error codes (BAD_REQUEST, RUN_NOT_FOUND, UNAVAILABLE, ...), or
// HTTP_ERROR when the answer was not one of the gateway's.
type APIError struct {
	// Status is the HTTP status code of the answer.
	Status int
	// Code is the platform's error code.
	Code string
	// Message says what was wrong.
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("chute: gateway answered %d %s: %s", e.Status, e.Code, e.Message)
}

// retryable tells whether the same request may succeed later: the gateway
// was overloaded or could not reach the log or the database.
func (e *APIError) retryable() bool {
	return e.Status >= 500 || e.Status == 429 || e.Status == 408
}

// TaskError is a task's failure as the platform records it.
type TaskError struct {
	// Name is the error's type, e.g. "*errors.errorString" or "NonRetryableError".
	Name string `json:"name"`
	// Message is the error's text.
	Message string `json:"message"`
	// Stack is where it happened, when known (a panic's stack trace).
	Stack string `json:"stack,omitempty"`
	// NonRetryable is true when the task asked for no retry.
	NonRetryable bool `json:"nonRetryable"`
}

// RunFailedError is returned by Run and Result when the run ended without
// completing: it failed, was cancelled or timed out.
type RunFailedError struct {
	// RunId is the run that ended.
	RunId string
	// Status is its final status: FAILED, CANCELLED or TIMED_OUT.
	Status string
	// TaskError is the task's failure as recorded, nil when there was none
	// (a cancelled run, for one).
	TaskError *TaskError
}

// Error implements error.
func (e *RunFailedError) Error() string {
	if e.TaskError == nil {
		return fmt.Sprintf("chute: run %s ended %s", e.RunId, e.Status)
	}
	return fmt.Sprintf("chute: run %s ended %s: %s: %s", e.RunId, e.Status, e.TaskError.Name, e.TaskError.Message)
}

// ChunkTooLargeError is returned by PutStreamBytes and TryPutStream (and
// fails the attempt when PutStream meets it) for a chunk larger than the
// gateway takes. Nothing is sent for such a chunk: split it into smaller ones.
type ChunkTooLargeError struct {
	// Size is the chunk's size in bytes.
	Size int
	// Limit is the largest chunk the gateway takes, in bytes.
	Limit int
}

// Error implements error.
func (e *ChunkTooLargeError) Error() string {
	return fmt.Sprintf("chute: stream chunk of %d bytes exceeds the gateway's limit of %d bytes; split it into smaller chunks", e.Size, e.Limit)
}

// NonRetryableError wraps a task's error to fail its run at once, without
// spending the run's remaining retries. Create one with NewNonRetryableError.
type NonRetryableError struct {
	// Err is the task's error.
	Err error
}

// NewNonRetryableError marks err so that the run fails without a retry:
//
//	return nil, hatchet.NewNonRetryableError(fmt.Errorf("bad input: %w", err))
func NewNonRetryableError(err error) error {
	return &NonRetryableError{Err: err}
}

// Error implements error.
func (e *NonRetryableError) Error() string {
	if e.Err == nil {
		return "non-retryable error"
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *NonRetryableError) Unwrap() error { return e.Err }

// AttemptCancelledError is the cause (see context.Cause) of a task context
// that was cancelled by the platform or the worker.
type AttemptCancelledError struct {
	// RunId is the run whose attempt was cancelled.
	RunId string
	// Attempt is the cancelled attempt's number.
	Attempt int
	// Reason says why: the gateway's reason (the run was cancelled, timed out,
	// or went to another worker), the connection to the gateway was lost, or
	// the worker's drain deadline passed.
	Reason string
}

// Error implements error.
func (e *AttemptCancelledError) Error() string {
	return fmt.Sprintf("chute: attempt %d of run %s was cancelled: %s", e.Attempt, e.RunId, e.Reason)
}

// StreamDisconnectedError ends a subscription whose connection dropped more
// times in a row than StreamOptions.MaxReconnects allows.
type StreamDisconnectedError struct {
	// RunId is the run whose stream was being read.
	RunId string
	// Failures is how many connections in a row failed.
	Failures int
	// Last is the last connection's error.
	Last error
}

// Error implements error.
func (e *StreamDisconnectedError) Error() string {
	return fmt.Sprintf("chute: stream of run %s dropped %d times in a row (last: %v)", e.RunId, e.Failures, e.Last)
}

// Unwrap returns the last connection's error.
func (e *StreamDisconnectedError) Unwrap() error { return e.Last }

// isNonRetryable tells whether a task error should fail the run without a
// retry: the task said so, or retrying would only meet the same oversize chunk.
func isNonRetryable(err error) bool {
	var nr *NonRetryableError
	var big *ChunkTooLargeError
	return errors.As(err, &nr) || errors.As(err, &big)
}
