package doppel

// #include <stdint.h>
// #include "doppel.h"
//
// extern int32_t doppelGoProgress(DoppelProgress *progress, uintptr_t user_data);
//
// // The library calls this with the handle of the Go-side state as user_data; the handle
// // travels as an integer so that no Go pointer is given to C.
// static int32_t progress_trampoline(const DoppelProgress *progress, void *user_data) {
//   return doppelGoProgress((DoppelProgress *)progress, (uintptr_t)user_data);
// }
//
// static enum DoppelStatus train_with_progress(const DoppelConfig *config, const char *path,
//                                         uintptr_t state, DoppelModel **out) {
//   return doppel_train_file(config, path, progress_trampoline, (void *)state, out);
// }
//
// static enum DoppelStatus train_arrow_with_progress(const DoppelConfig *config,
//                                               struct ArrowArrayStream *stream,
//                                               uintptr_t state, DoppelModel **out) {
//   return doppel_train_arrow(config, stream, progress_trampoline, (void *)state, out);
// }
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// Train trains a model on a CSV, Parquet or Arrow IPC file (chosen by extension; an
// extension that names no format is an error with StatusInvalidArgument).
//
// progress, if not nil, is called after every training step on the calling goroutine;
// returning false cancels training, which then fails with ErrCancelled (even on the very
// last step). A panic in
// progress cancels training and is raised again from Train. progress must not call
// runtime.Goexit (t.FailNow, t.Fatal): that cannot unwind through the library's C frames.
//
// cfg stays in use until training ends (Close, even from progress, frees it afterwards).
func Train(cfg *Config, path string, progress func(Progress) bool) (*Model, error) {
	cpath, err := cString("path", path)
	if err != nil {
		return nil, err
	}
	defer freeCString(cpath)
	return train(cfg, "Train", progress,
		func(c *C.DoppelConfig, out **C.DoppelModel) C.enum_DoppelStatus {
			return C.doppel_train_file(c, cpath, nil, nil, out)
		},
		func(c *C.DoppelConfig, state C.uintptr_t, out **C.DoppelModel) C.enum_DoppelStatus {
			return C.train_with_progress(c, cpath, state, out)
		})
}

// TrainArrow trains a model on the record batches of the Arrow C stream that stream points
// to (a struct ArrowArrayStream, e.g. an Arrow Go cdata.CArrowArrayStream; see the package
// documentation for where it may live). Columns of any type Arrow can render as text are
// read; nulls are missing values, and so are the texts of the configuration's
// missing_tokens ("", "?", "NA", ... by default), as in files. progress and cfg behave as in
// Train.
//
// TrainArrow always takes the stream over, whatever it returns: the stream is released (and
// its release set to NULL) by the time TrainArrow returns, so never release it afterwards.
// A nil stream gives ErrNullParameter.
//
// With Arrow Go (github.com/apache/arrow-go/v18/arrow/cdata), from an array.RecordReader:
//
//	var stream cdata.CArrowArrayStream
//	cdata.ExportRecordReader(reader, &stream) // the stream now owns reader
//	model, err := doppel.TrainArrow(cfg, unsafe.Pointer(&stream), nil)
func TrainArrow(cfg *Config, stream unsafe.Pointer, progress func(Progress) bool) (*Model, error) {
	// The library releases the stream itself; this is for the paths that never reach it (a
	// closed config), so that ownership does not depend on the error.
	defer releaseStream(stream)
	cstream := (*C.struct_ArrowArrayStream)(stream)
	return train(cfg, "TrainArrow", progress,
		func(c *C.DoppelConfig, out **C.DoppelModel) C.enum_DoppelStatus {
			return C.doppel_train_arrow(c, cstream, nil, nil, out)
		},
		func(c *C.DoppelConfig, state C.uintptr_t, out **C.DoppelModel) C.enum_DoppelStatus {
			return C.train_arrow_with_progress(c, cstream, state, out)
		})
}

// train runs one of the library's training functions under cfg's lock: plain without a
// progress function, withProgress (given the state's handle as user_data) otherwise.
func train(cfg *Config, method string, progress func(Progress) bool,
	plain func(*C.DoppelConfig, **C.DoppelModel) C.enum_DoppelStatus,
	withProgress func(*C.DoppelConfig, C.uintptr_t, **C.DoppelModel) C.enum_DoppelStatus,
) (*Model, error) {
	var out *C.DoppelModel
	err := cfg.use(method, func(c *C.DoppelConfig) error {
		if progress == nil {
			return call(func() C.enum_DoppelStatus { return plain(c, &out) })
		}
		return trainWithProgress(progress, func(state C.uintptr_t) C.enum_DoppelStatus {
			return withProgress(c, state, &out)
		})
	})
	if err != nil {
		return nil, err
	}
	return newModel(out), nil
}

// trainWithProgress runs a training call with the Go progress function behind a cgo.Handle.
func trainWithProgress(progress func(Progress) bool, run func(state C.uintptr_t) C.enum_DoppelStatus) error {
	state := &progressState{fn: progress}
	h := cgo.NewHandle(state)
	defer h.Delete()
	err := call(func() C.enum_DoppelStatus { return run(C.uintptr_t(h)) })
	if state.panicked {
		// Training was cancelled, so there is no model to free; the panic belongs to the caller.
		panic(state.recovered)
	}
	return err
}
