package doppel

// #include "doppel.h"
import "C"

import (
	"errors"
	"fmt"
)

// Status is the outcome of a library call; the values mirror DoppelStatus in doppel.h.
type Status int

// The status codes of the C ABI, taken from the header so they cannot drift.
const (
	StatusOK              Status = C.DOPPEL_STATUS_OK
	StatusNullParameter   Status = C.DOPPEL_STATUS_NULL_PARAMETER
	StatusInvalidArgument Status = C.DOPPEL_STATUS_INVALID_ARGUMENT
	StatusInvalidConfig   Status = C.DOPPEL_STATUS_INVALID_CONFIG
	StatusIO              Status = C.DOPPEL_STATUS_IO
	StatusInvalidData     Status = C.DOPPEL_STATUS_INVALID_DATA
	StatusInvalidModel    Status = C.DOPPEL_STATUS_INVALID_MODEL
	StatusCancelled       Status = C.DOPPEL_STATUS_CANCELLED
	StatusInternal        Status = C.DOPPEL_STATUS_INTERNAL
	StatusPanic           Status = C.DOPPEL_STATUS_PANIC
)

var statusNames = map[Status]string{
	StatusOK:              "ok",
	StatusNullParameter:   "null parameter",
	StatusInvalidArgument: "invalid argument",
	StatusInvalidConfig:   "invalid config",
	StatusIO:              "i/o error",
	StatusInvalidData:     "invalid data",
	StatusInvalidModel:    "invalid model",
	StatusCancelled:       "cancelled",
	StatusInternal:        "internal error",
	StatusPanic:           "panic in libdoppel",
}

// String names the status in words.
func (s Status) String() string {
	if name, ok := statusNames[s]; ok {
		return name
	}
	// The ABI only appends codes: a newer library may return one this package does not know.
	return fmt.Sprintf("status %d", int(s))
}

// Error is a failed library call: its status code and the library's message (which names
// the file, key or argument at fault).
type Error struct {
	Status  Status
	Message string
}

// Error formats the status and the message.
func (e *Error) Error() string {
	if e.Message == "" {
		return "doppel: " + e.Status.String()
	}
	return "doppel: " + e.Status.String() + ": " + e.Message
}

// Is makes errors.Is(err, ErrCancelled) and the other sentinels match any *Error with the
// same status, whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Status == e.Status
}

// Sentinels for errors.Is, one per failure status.
var (
	ErrNullParameter   = &Error{Status: StatusNullParameter}
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrInvalidConfig   = &Error{Status: StatusInvalidConfig}
	ErrIO              = &Error{Status: StatusIO}
	ErrInvalidData     = &Error{Status: StatusInvalidData}
	ErrInvalidModel    = &Error{Status: StatusInvalidModel}
	ErrCancelled       = &Error{Status: StatusCancelled}
	ErrInternal        = &Error{Status: StatusInternal}
	ErrPanic           = &Error{Status: StatusPanic}
)

// ErrClosed is wrapped by the error of any method called on a closed (or nil) Config or
// Model; the library is not called then.
var ErrClosed = errors.New("use of a closed doppel handle")

// closedError names the method that met a closed handle.
func closedError(method string) error {
	return fmt.Errorf("doppel: %s: %w", method, ErrClosed)
}

// invalidArgument reports an argument refused on the Go side, with the library's status code.
func invalidArgument(format string, args ...any) error {
	return &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf(format, args...)}
}
