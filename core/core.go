// Package core holds the domain types of jsonevent: the inbound request, the
// normalised event, the adapter contract and the error type with codes that
// the receiver maps to HTTP statuses in one table.
//
// Dependency rule: core and its sub-packages never import adapters or cmd;
// adapters import core; only cmd wires everything together.
package core

import (
	"errors"
	"fmt"
)

// Code classifies an Error. The receiver maps each code to one HTTP status.
type Code string

// Error codes. They are part of the wire contract: clients see them in the
// "error" member of every JSON error body.
const (
	CodeInvalid              Code = "invalid"                // 400
	CodeUnauthorized         Code = "unauthorized"           // 401
	CodeNotFound             Code = "not_found"              // 404
	CodeMethodNotAllowed     Code = "method_not_allowed"     // 405
	CodeConflict             Code = "conflict"               // 409
	CodeTooLarge             Code = "too_large"              // 413
	CodeUnsupportedMediaType Code = "unsupported_media_type" // 415
	CodeUnprocessable        Code = "unprocessable"          // 422
	CodeRateLimited          Code = "rate_limited"           // 429
	CodeUnavailable          Code = "unavailable"            // 503
	CodeInternal             Code = "internal"               // 500
)

// Error is the one error type that crosses package boundaries with a code.
// Message is written for the person who must act on it (a vendor admin), in
// lowercase without a final period.
type Error struct {
	Code    Code
	Message string
	Err     error // optional cause, never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the client-facing message of err: the message of the
// first *Error in its chain, or a generic text for internal errors, so that
// internal details never leak to a caller.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error; the request was not stored, retry later"
}
