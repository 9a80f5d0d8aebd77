package doppel

// #include <stdlib.h>
// #include "doppel.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// Model is a trained model. Generation only reads it, so many goroutines may call Generate
// at once; Close returns at once and the model is freed when the last call in flight ends.
// Release it with Close.
type Model struct {
	h handle[C.DoppelModel]
}

// LoadModel reads a model file written by Save (or the CLI); a file that is not a model
// gives ErrInvalidModel.
func LoadModel(path string) (*Model, error) {
	cpath, err := cString("path", path)
	if err != nil {
		return nil, err
	}
	defer freeCString(cpath)
	var out *C.DoppelModel
	if err := call(func() C.enum_DoppelStatus { return C.doppel_model_load(cpath, &out) }); err != nil {
		return nil, err
	}
	return newModel(out), nil
}

// ModelFromBytes rebuilds a model from the output of Bytes; the library copies the data.
func ModelFromBytes(data []byte) (*Model, error) {
	// The library takes (NULL, 0) as an empty buffer.
	var start *byte
	if len(data) > 0 {
		start = &data[0]
	}
	var out *C.DoppelModel
	err := call(func() C.enum_DoppelStatus {
		return C.doppel_model_from_bytes((*C.uint8_t)(unsafe.Pointer(start)), C.size_t(len(data)), &out)
	})
	runtime.KeepAlive(data)
	if err != nil {
		return nil, err
	}
	return newModel(out), nil
}

// newModel wraps a fresh library pointer; the finalizer frees it if Close is never called.
func newModel(ptr *C.DoppelModel) *Model {
	m := &Model{}
	m.h.ptr = ptr
	runtime.SetFinalizer(m, (*Model).Close)
	return m
}

// use runs f with the live pointer; a nil or closed Model gives an ErrClosed error.
func (m *Model) use(method string, f func(*C.DoppelModel) error) error {
	if m == nil {
		return closedError(method)
	}
	err := m.h.use(method, f)
	runtime.KeepAlive(m)
	return err
}

// Save writes the model to a file (through a temporary file, renamed once complete).
func (m *Model) Save(path string) error {
	cpath, err := cString("path", path)
	if err != nil {
		return err
	}
	defer freeCString(cpath)
	return m.use("Model.Save", func(p *C.DoppelModel) error {
		return call(func() C.enum_DoppelStatus { return C.doppel_model_save(p, cpath) })
	})
}

// Bytes serialises the model; ModelFromBytes reads it back.
func (m *Model) Bytes() ([]byte, error) {
	var data []byte
	err := m.use("Model.Bytes", func(p *C.DoppelModel) error {
		var buf *C.uint8_t
		var n C.size_t
		if err := call(func() C.enum_DoppelStatus { return C.doppel_model_to_bytes(p, &buf, &n) }); err != nil {
			return err
		}
		defer C.doppel_bytes_free(buf, n)
		data = append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))...)
		return nil
	})
	return data, err
}

// Generate writes rows synthetic records drawn with seed to path, in the format its
// extension names (.csv, .parquet, .arrow, ...; another extension is an error with
// StatusInvalidArgument, and nothing is written); the file appears only once complete. The
// same seed gives the same rows. Safe to call from many goroutines at once.
func (m *Model) Generate(rows int, seed uint64, path string) error {
	if rows < 0 {
		return invalidArgument("rows is negative: %d", rows)
	}
	cpath, err := cString("path", path)
	if err != nil {
		return err
	}
	defer freeCString(cpath)
	return m.use("Model.Generate", func(p *C.DoppelModel) error {
		return call(func() C.enum_DoppelStatus {
			return C.doppel_generate_file(p, C.size_t(rows), C.uint64_t(seed), cpath)
		})
	})
}

// Close releases the model once every call in flight has returned. Later calls return an
// error wrapping ErrClosed; closing again does nothing.
func (m *Model) Close() error {
	if m == nil {
		return nil
	}
	m.h.release(func(p *C.DoppelModel) { C.doppel_model_free(p) })
	runtime.SetFinalizer(m, nil)
	return nil
}
