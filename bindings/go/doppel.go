// Package doppel is the Go host of libdoppel, doppel's C ABI: train a model on a table, save
// and load it, generate synthetic rows, compute differential-privacy budgets and score a
// synthetic table.
//
// Every failure is an *Error carrying the library's status code and message; errors.Is
// works against the sentinels (ErrCancelled, ErrIO, ...). Config and Model wrap library
// handles: release them with Close (a finalizer is only a safety net). Both are safe for
// concurrent use; a Model serves Generate from many goroutines at once.
//
// Link by setting CGO_LDFLAGS to the library, e.g.
//
//	CGO_LDFLAGS="/path/to/libdoppel.a -lm -ldl -lpthread" go build
//
// The header is found in the repository's include/ (two folders up); a vendored copy or
// any copy outside the repository also sets CGO_CFLAGS="-I/path/to/doppel/include".
//
// # Arrow C streams
//
// TrainArrow and Model.GenerateArrow exchange tables as Arrow C streams without copying
// them. The stream crosses as an unsafe.Pointer to a struct ArrowArrayStream, so that this
// package does not depend on Arrow Go: every cgo package has its own C types, and Arrow Go's
// *cdata.CArrowArrayStream (github.com/apache/arrow-go/v18/arrow/cdata) converts to
// unsafe.Pointer and back. Fill it with cdata.ExportRecordReader to train; read a generated
// one with cdata.ImportCRecordReader.
//
// Where the struct lives: C memory (C.calloc in your own cgo code) is the expected place for
// data handed between languages, and always safe. A zeroed Go value, such as
// new(cdata.CArrowArrayStream), is safe too: the struct holds only C pointers (the
// callbacks and the producer's private data) and the library keeps no pointer to it after
// the call returns. A struct holding a Go pointer (a hand-made stream whose private_data is
// Go memory) breaks cgo's pointer rules: cgo's check panics ("cgo argument has Go pointer
// to Go pointer"). Free C memory only once the stream in it has been released or moved out
// (its release is NULL).
package doppel

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #include <stdlib.h>
// #include "doppel.h"
import "C"

import (
	"runtime"
	"strings"
	"unsafe"
)

// Version is the library's version, e.g. "0.1.0".
func Version() string {
	return C.GoString(C.doppel_version())
}

// BuildInfo is the library's build information as JSON, e.g. {"version":"0.1.0","cuda":false}.
func BuildInfo() (string, error) {
	var out *C.char
	if err := call(func() C.enum_DoppelStatus { return C.doppel_build_info(&out) }); err != nil {
		return "", err
	}
	return takeString(out), nil
}

// call runs one C function and turns a failed status into an *Error. The message of
// doppel_last_error belongs to the OS thread that failed, so the goroutine stays on its
// thread from the call until the message is copied.
func call(f func() C.enum_DoppelStatus) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	status := Status(f())
	if status == StatusOK {
		return nil
	}
	var message string
	if last := C.doppel_last_error(); last != nil {
		message = C.GoString(last)
	}
	return &Error{Status: status, Message: message}
}

// cString copies s into C memory (free it with C.free); a NUL byte would silently cut the
// string short in C, so it is refused naming the argument.
func cString(name, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, invalidArgument("%s contains a NUL byte", name)
	}
	return C.CString(s), nil
}

// optionalCString is cString, with the empty string meaning NULL.
func optionalCString(name, s string) (*C.char, error) {
	if s == "" {
		return nil, nil
	}
	return cString(name, s)
}

// freeCString releases a string made by cString; NULL is fine.
func freeCString(s *C.char) {
	C.free(unsafe.Pointer(s))
}

// takeString copies a string the library returned and releases the original.
func takeString(s *C.char) string {
	defer C.doppel_string_free(s)
	return C.GoString(s)
}
