package doppel

// #include "doppel.h"
//
// // Releases a stream unless it already is (release is NULL once released or moved).
// static void release_stream(struct ArrowArrayStream *stream) {
//   if (stream != NULL && stream->release != NULL) stream->release(stream);
// }
import "C"

import "unsafe"

// GenerateArrow generates rows synthetic records drawn with seed into the Arrow C stream
// that out points to (a struct ArrowArrayStream, e.g. an Arrow Go cdata.CArrowArrayStream):
// the training columns in order, typed Int64, Float64 or Utf8 as in the Parquet output, with
// missing values as nulls; the same rows as Generate writes for the same seed. Batches (up to
// 1,024 rows) are made as the consumer reads them.
//
// out is written only on success, and overwritten without being released: pass an empty
// (zeroed or already released) struct. On success the caller owns the stream: import it, or
// release it through its release callback. The stream holds its own reference to the model,
// so it may be read after Close. Like any Arrow stream it is read from one goroutine at a
// time; many goroutines may each generate and read their own stream from one model.
//
// With Arrow Go (github.com/apache/arrow-go/v18/arrow/cdata):
//
//	var stream cdata.CArrowArrayStream
//	if err := model.GenerateArrow(1000, 42, unsafe.Pointer(&stream)); err != nil {
//		return err
//	}
//	reader, err := cdata.ImportCRecordReader(&stream, nil) // the reader now owns the stream
//
// A nil out gives ErrNullParameter.
func (m *Model) GenerateArrow(rows int, seed uint64, out unsafe.Pointer) error {
	if rows < 0 {
		return invalidArgument("rows is negative: %d", rows)
	}
	stream := (*C.struct_ArrowArrayStream)(out)
	return m.use("Model.GenerateArrow", func(p *C.DoppelModel) error {
		return call(func() C.enum_DoppelStatus {
			return C.doppel_generate_arrow(p, C.size_t(rows), C.uint64_t(seed), stream)
		})
	})
}

// releaseStream releases the Arrow C stream at p unless it is nil or already released.
func releaseStream(p unsafe.Pointer) {
	C.release_stream((*C.struct_ArrowArrayStream)(p))
}
