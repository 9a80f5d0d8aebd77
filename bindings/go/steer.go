package doppel

// #include "doppel.h"
import "C"

import (
	"encoding/json"
	"unsafe"
)

// GenerateOptions steer a generation: how many rows and with which seed (as the arguments of
// Generate), conditions every row satisfies, category shares and fairness. Empty strings
// steer nothing. Every field is sent as it is: the zero value asks for 0 rows with seed 0
// (the C ABI's defaults, 1,000 rows and seed 42, apply only to keys left out), so set Rows.
type GenerateOptions struct {
	// Rows is the number of records; not read with a seed table (one record per seed row).
	Rows int `json:"rows"`
	// Seed is the seed of every random draw (all 64 bits are used).
	Seed uint64 `json:"seed"`
	// Where holds conditions every row satisfies, such as
	// "age >= 60 and workclass in (Private, State-gov)" (=, !=, <, <=, >, >=, in, not in).
	Where string `json:"where,omitempty"`
	// Rebalance sets category shares, such as "sex=Female:0.5" (several values joined by ",",
	// several columns by ";"); the other columns keep their distribution given them.
	Rebalance string `json:"rebalance,omitempty"`
	// Fair makes a target independent of a sensitive column: "target=income sensitive=sex".
	Fair string `json:"fair,omitempty"`
}

// json is the options object of the C ABI.
func (o GenerateOptions) json() (string, error) {
	if o.Rows < 0 {
		return "", invalidArgument("Rows is negative: %d", o.Rows)
	}
	text, err := json.Marshal(o)
	return string(text), err
}

// GenerateSteered writes records steered by opts to path (formats as in Generate). seed, if
// not nil, points to an Arrow C stream (struct ArrowArrayStream) of seed rows: one record is
// generated per seed row, its non-null cells kept exactly and the rest generated given them;
// the stream is always taken over and released, whatever GenerateSteered returns (so it is
// never the same struct as an output stream). Options or
// conditions the model cannot meet give ErrInvalidConfig with a message naming them, and
// nothing is written.
func (m *Model) GenerateSteered(opts GenerateOptions, seed unsafe.Pointer, path string) error {
	defer releaseStream(seed) // for the paths that never reach the library
	cseed := (*C.struct_ArrowArrayStream)(seed)
	return m.withOptions("Model.GenerateSteered", opts, &path,
		func(p *C.DoppelModel, coptions, cpath *C.char) C.enum_DoppelStatus {
			return C.doppel_generate_steered_file(p, coptions, cseed, cpath)
		})
}

// GenerateSteeredArrow is GenerateSteered into the Arrow C stream at out, as GenerateArrow
// fills it.
func (m *Model) GenerateSteeredArrow(opts GenerateOptions, seed unsafe.Pointer, out unsafe.Pointer) error {
	defer releaseStream(seed)
	cseed := (*C.struct_ArrowArrayStream)(seed)
	stream := (*C.struct_ArrowArrayStream)(out)
	return m.withOptions("Model.GenerateSteeredArrow", opts, nil,
		func(p *C.DoppelModel, coptions, _ *C.char) C.enum_DoppelStatus {
			return C.doppel_generate_steered_arrow(p, coptions, cseed, stream)
		})
}

// Impute writes the rows of the Arrow C stream table to path with their null cells filled by
// draws from the model given each row's known cells; known cells never change. With draws
// above 1, each filled cell takes the typical value of that many draws (the median of a
// number's). opts.Seed is read; the stream is always taken over and released.
func (m *Model) Impute(opts GenerateOptions, table unsafe.Pointer, draws int, path string) error {
	defer releaseStream(table)
	if draws < 1 {
		return invalidArgument("draws must be at least 1, got %d", draws)
	}
	ctable := (*C.struct_ArrowArrayStream)(table)
	return m.withOptions("Model.Impute", opts, &path,
		func(p *C.DoppelModel, coptions, cpath *C.char) C.enum_DoppelStatus {
			return C.doppel_impute_file(p, coptions, ctable, C.size_t(draws), cpath)
		})
}

// GenerateFiltered writes the records GenerateSteered writes for opts (no seed stream) to
// path, less those within distance of a row of the Arrow C stream training (the training
// rows; the mean per-cell distance, 0 for exact copies only), generating on until opts.Rows
// are written, and returns how many it dropped. The stream is always taken over and
// released. A model trained with DP, or a distance outside [0, 1), gives ErrInvalidConfig.
// The filter guards against copies; it is no privacy guarantee of its own.
func (m *Model) GenerateFiltered(opts GenerateOptions, training unsafe.Pointer, distance float64, path string) (dropped int, err error) {
	defer releaseStream(training)
	ctraining := (*C.struct_ArrowArrayStream)(training)
	var cdropped C.size_t
	err = m.withOptions("Model.GenerateFiltered", opts, &path,
		func(p *C.DoppelModel, coptions, cpath *C.char) C.enum_DoppelStatus {
			return C.doppel_generate_filtered_file(p, coptions, ctraining, C.double(distance), cpath, &cdropped)
		})
	return int(cdropped), err
}

// withOptions runs a steered call on the live model with opts as the options JSON and path
// (NULL when nil) as C strings, freed afterwards.
func (m *Model) withOptions(method string, opts GenerateOptions, path *string,
	f func(p *C.DoppelModel, options, path *C.char) C.enum_DoppelStatus,
) error {
	options, err := opts.json()
	if err != nil {
		return err
	}
	coptions, err := cString("options", options)
	if err != nil {
		return err
	}
	defer freeCString(coptions)
	var cpath *C.char
	if path != nil {
		if cpath, err = cString("path", *path); err != nil {
			return err
		}
		defer freeCString(cpath)
	}
	return m.use(method, func(p *C.DoppelModel) error {
		return call(func() C.enum_DoppelStatus { return f(p, coptions, cpath) })
	})
}
