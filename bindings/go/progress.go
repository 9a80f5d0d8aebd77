package doppel

// This file holds the //export'ed callback, so its preamble may only declare, never define
// (cgo copies it into two C files).

// #include <stdint.h>
// #include "doppel.h"
import "C"

import "runtime/cgo"

// Progress is one training step, reported to the progress function of Train or TrainArrow.
type Progress struct {
	Epoch         int     // epoch, from 1
	Step          int     // step within the epoch, from 1
	StepsPerEpoch int     // steps per epoch
	Loss          float64 // the loss of this step, in nats per token
	// Epsilon is, under differential privacy, the epsilon spent as of the last completed
	// epoch (the library accounts once per epoch; 0 during the first). Negative without
	// differential privacy.
	Epsilon float64
}

// progressState is what the C callback's user_data points to (through a cgo.Handle): the
// user's function, and what happened to it.
type progressState struct {
	fn        func(Progress) bool
	stopped   bool // the function asked to cancel or panicked: do not call it again
	panicked  bool // the function panicked ...
	recovered any  // ... with this value, raised again once the library has returned
}

// report calls the user's function and says whether to go on. A panic must not unwind
// through the library's frames, so it is kept and training is cancelled instead.
func (s *progressState) report(p Progress) (goOn bool) {
	if s.stopped {
		return false
	}
	returned := false
	defer func() {
		// Checking returned rather than recover's value also catches panic(nil).
		if !returned {
			s.recovered, s.panicked, s.stopped, goOn = recover(), true, true, false
		}
	}()
	goOn = s.fn(p)
	returned = true
	s.stopped = !goOn
	return goOn
}

//export doppelGoProgress
func doppelGoProgress(p *C.DoppelProgress, userData C.uintptr_t) C.int32_t {
	state := cgo.Handle(userData).Value().(*progressState)
	goOn := state.report(Progress{
		Epoch:         int(p.epoch),
		Step:          int(p.step),
		StepsPerEpoch: int(p.steps_per_epoch),
		Loss:          float64(p.loss),
		Epsilon:       float64(p.epsilon),
	})
	if goOn {
		return 0
	}
	return 1
}
