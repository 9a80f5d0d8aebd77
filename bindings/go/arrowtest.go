package doppel

// Test support for the Arrow C stream functions, kept unexported. It lives outside the
// _test.go files because cgo cannot be used there; export_test.go hands it to the tests. It
// reads a stream the way a host without Arrow would, through the struct's callbacks.

// #include <stdlib.h>
// #include "doppel.h"
//
// static int stream_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
//   return s->get_schema(s, out);
// }
// static int stream_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
//   return s->get_next(s, out);
// }
// static const char *stream_last_error(struct ArrowArrayStream *s) {
//   return s->get_last_error != NULL ? s->get_last_error(s) : NULL;
// }
// static void release_schema(struct ArrowSchema *schema) {
//   if (schema->release != NULL) schema->release(schema);
// }
// static void release_array(struct ArrowArray *array) {
//   if (array->release != NULL) array->release(array);
// }
import "C"

import (
	"fmt"
	"unsafe"
)

// streamTable is what readCStream found in a stream: the schema's column names and
// formats, the row count, and every value: int64, float64, string, or nil for a null.
type streamTable struct {
	Columns []string
	Formats []string // Arrow format strings: "l" Int64, "g" Float64, "u" Utf8
	Rows    int64
	Values  [][]any // Values[row][column]
}

// newCStream allocates a zeroed struct ArrowArrayStream in C memory; free it with freeCStream.
func newCStream() unsafe.Pointer {
	return C.calloc(1, C.sizeof_struct_ArrowArrayStream)
}

// newGoStream allocates a zeroed struct ArrowArrayStream in Go memory; release the stream it
// comes to hold with releaseStream.
func newGoStream() unsafe.Pointer {
	return unsafe.Pointer(new(C.struct_ArrowArrayStream))
}

// freeCStream releases the stream at p if it is live, then frees the C memory.
func freeCStream(p unsafe.Pointer) {
	releaseStream(p)
	C.free(p)
}

// streamReleased says whether the stream at p was released or moved out (release is NULL).
func streamReleased(p unsafe.Pointer) bool {
	return (*C.struct_ArrowArrayStream)(p).release == nil
}

// readCStream reads the schema and every batch of the stream at p, releasing each of them
// and then the stream.
func readCStream(p unsafe.Pointer) (*streamTable, error) {
	s := (*C.struct_ArrowArrayStream)(p)
	defer releaseStream(p)
	var schema C.struct_ArrowSchema
	if rc := C.stream_get_schema(s, &schema); rc != 0 {
		return nil, streamError(s, "get_schema", rc)
	}
	defer C.release_schema(&schema)
	table := &streamTable{}
	for _, child := range unsafe.Slice(schema.children, int(schema.n_children)) {
		table.Columns = append(table.Columns, C.GoString(child.name))
		table.Formats = append(table.Formats, C.GoString(child.format))
	}
	for {
		var batch C.struct_ArrowArray
		if rc := C.stream_get_next(s, &batch); rc != 0 {
			return nil, streamError(s, "get_next", rc)
		}
		if batch.release == nil {
			return table, nil // the end of the stream
		}
		err := table.appendBatch(&batch)
		C.release_array(&batch)
		if err != nil {
			return nil, err
		}
	}
}

// streamError describes a failed stream callback with the producer's message.
func streamError(s *C.struct_ArrowArrayStream, what string, rc C.int) error {
	message := "(no message)"
	if m := C.stream_last_error(s); m != nil {
		message = C.GoString(m)
	}
	return fmt.Errorf("%s failed with %d: %s", what, int(rc), message)
}

// appendBatch renders a batch (a struct array, one child per column) into t.Values.
func (t *streamTable) appendBatch(batch *C.struct_ArrowArray) error {
	if int(batch.n_children) != len(t.Columns) {
		return fmt.Errorf("a batch of %d columns, the schema has %d", batch.n_children, len(t.Columns))
	}
	children := unsafe.Slice(batch.children, int(batch.n_children))
	rows := int(batch.length)
	values := make([][]any, rows)
	for i := range values {
		values[i] = make([]any, len(t.Columns))
	}
	for c, child := range children {
		if int(child.length) < int(batch.offset)+rows {
			return fmt.Errorf("column %s: %d values for %d rows", t.Columns[c], child.length, rows)
		}
		for i := 0; i < rows; i++ {
			v, err := cell(child, t.Formats[c], int(batch.offset)+i)
			if err != nil {
				return fmt.Errorf("column %s: %w", t.Columns[c], err)
			}
			values[i][c] = v
		}
	}
	t.Values = append(t.Values, values...)
	t.Rows += int64(rows)
	return nil
}

// cell reads the value at index i of a column array of the given format; a null is nil.
func cell(a *C.struct_ArrowArray, format string, i int) (any, error) {
	buffers := unsafe.Slice(a.buffers, int(a.n_buffers))
	j := int(a.offset) + i
	if validity := buffers[0]; validity != nil && *(*byte)(unsafe.Add(validity, j/8))&(1<<(j%8)) == 0 {
		return nil, nil
	}
	switch format {
	case "l":
		return int64(unsafe.Slice((*C.int64_t)(buffers[1]), j+1)[j]), nil
	case "g":
		return float64(unsafe.Slice((*C.double)(buffers[1]), j+1)[j]), nil
	case "u":
		offsets := unsafe.Slice((*C.int32_t)(buffers[1]), j+2)
		start, end := int(offsets[j]), int(offsets[j+1])
		return C.GoStringN((*C.char)(unsafe.Add(buffers[2], start)), C.int(end-start)), nil
	}
	return nil, fmt.Errorf("format %q is not one the library generates", format)
}
