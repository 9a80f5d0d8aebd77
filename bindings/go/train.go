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
import "C"

import "runtime/cgo"

// Train trains a model on a CSV, Parquet or Arrow IPC file (chosen by extension).
//
// progress, if not nil, is called after every training step on the calling goroutine;
// returning false cancels training, which then fails with ErrCancelled (even on the very
// last step). A panic in
// progress cancels training and is raised again from Train. progress must not call
// runtime.Goexit (t.FailNow, t.Fatal): that cannot unwind through the library's C frames.
//
// cfg stays in use (Close waits) until training ends.
func Train(cfg *Config, path string, progress func(Progress) bool) (*Model, error) {
	cpath, err := cString("path", path)
	if err != nil {
		return nil, err
	}
	defer freeCString(cpath)
	var out *C.DoppelModel
	err = cfg.use("Train", func(c *C.DoppelConfig) error {
		if progress == nil {
			return call(func() C.enum_DoppelStatus { return C.doppel_train_file(c, cpath, nil, nil, &out) })
		}
		return trainWithProgress(c, cpath, progress, &out)
	})
	if err != nil {
		return nil, err
	}
	return newModel(out), nil
}

// trainWithProgress runs training with the Go progress function behind a cgo.Handle.
func trainWithProgress(c *C.DoppelConfig, path *C.char, progress func(Progress) bool, out **C.DoppelModel) error {
	state := &progressState{fn: progress}
	h := cgo.NewHandle(state)
	defer h.Delete()
	err := call(func() C.enum_DoppelStatus { return C.train_with_progress(c, path, C.uintptr_t(h), out) })
	if state.panicked {
		// Training was cancelled, so there is no model to free; the panic belongs to the caller.
		panic(state.recovered)
	}
	return err
}
