//! The Arrow C stream functions called as a host would call them: a stream produced on the host
//! side trains a model, a generated stream is read back, and ownership holds on every path.

use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, RecordBatchIterator, StringArray};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

use super::*;

fn last_error() -> String {
    // SAFETY: doppel_last_error returns NULL or a live NUL-terminated string.
    let message = doppel_last_error();
    assert!(!message.is_null(), "a failed call leaves a message");
    unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
}

fn small_config() -> *mut DoppelConfig {
    let mut config = null_mut();
    let json = CString::new(r#"{"training": {"max_epochs": 2, "batch_size": 64}}"#).unwrap();
    // SAFETY: valid string and out-pointer.
    assert_eq!(unsafe { doppel_config_from_json(json.as_ptr(), &mut config) }, DoppelStatus::Ok);
    config
}

/// A host-side reader that counts its release (its drop) in its own counter.
struct Counted {
    reader: RecordBatchIterator<Vec<Result<RecordBatch, ArrowError>>>,
    released: Arc<AtomicUsize>,
}

impl Iterator for Counted {
    type Item = Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.reader.next()
    }
}

impl RecordBatchReader for Counted {
    fn schema(&self) -> SchemaRef {
        self.reader.schema()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }
}

/// 300 rows in two batches (a string and an int64 column, with nulls), exported as a C stream,
/// with the count of its releases.
fn host_stream() -> (FFI_ArrowArrayStream, Arc<AtomicUsize>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("colour", DataType::Utf8, true),
        Field::new("count", DataType::Int64, true),
    ]));
    let batch = |rows: std::ops::Range<usize>| {
        let colours: StringArray =
            rows.clone().map(|i| (i % 50 != 0).then(|| ["red", "green", "blue"][i % 3])).collect();
        let counts: Int64Array = rows.map(|i| Some((i % 17) as i64)).collect();
        let columns: Vec<ArrayRef> = vec![Arc::new(colours), Arc::new(counts)];
        RecordBatch::try_new(schema.clone(), columns)
    };
    let reader = RecordBatchIterator::new(vec![batch(0..200), batch(200..300)], schema.clone());
    let released = Arc::new(AtomicUsize::new(0));
    let counted = Counted { reader, released: released.clone() };
    (FFI_ArrowArrayStream::new(Box::new(counted)), released)
}

/// Reads a stream the library produced, as a host would.
fn read_stream(stream: &mut FFI_ArrowArrayStream) -> (SchemaRef, Vec<RecordBatch>) {
    // SAFETY: an initialised stream, moved out of (its release is left NULL).
    let reader = unsafe { RecordBatchStreamReader::from_raw(stream) }.expect("a stream");
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().expect("batches");
    (schema, batches)
}

#[test]
fn train_from_a_host_stream_and_generate_into_one() {
    let config = small_config();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut stream, released) = host_stream();
    let mut model = null_mut();
    // SAFETY: valid arguments throughout; handles freed once at the end.
    unsafe {
        let status = doppel_train_arrow(config, &mut stream, None, null_mut(), &mut model);
        assert_eq!(status, DoppelStatus::Ok, "{}", last_error());
        // Taken over and released by the library.
        assert!(stream.release().is_none());
        assert_eq!(released.load(Ordering::SeqCst), 1, "released once");

        let mut out = FFI_ArrowArrayStream::empty();
        assert_eq!(doppel_generate_arrow(model, 2500, 7, &mut out), DoppelStatus::Ok);
        // The stream keeps the model alive: free it before reading.
        let path = CString::new(dir.path().join("s.arrow").to_str().unwrap()).unwrap();
        assert_eq!(doppel_generate_file(model, 2500, 7, path.as_ptr()), DoppelStatus::Ok);
        doppel_model_free(model);

        let (schema, batches) = read_stream(&mut out);
        let fields: Vec<(&str, &DataType)> =
            schema.fields().iter().map(|f| (f.name().as_str(), f.data_type())).collect();
        assert_eq!(fields, [("colour", &DataType::Utf8), ("count", &DataType::Int64)]);
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [1024, 1024, 452]);
        // The rows of the file generated with the same seed.
        let from_stream = table_from_batches(Path::new("s"), &schema, &batches).unwrap();
        let from_file = read_table(&dir.path().join("s.arrow"), &ReadOptions::default()).unwrap();
        assert_eq!(from_stream.to_text_table(), from_file.to_text_table());
        doppel_config_free(config);
    }
}

#[test]
fn the_stream_is_released_on_every_failure() {
    let config = small_config();
    let mut model = null_mut();
    // SAFETY: the NULL arguments are the point; everything else is valid.
    unsafe {
        let (mut stream, released) = host_stream();
        let status = doppel_train_arrow(null(), &mut stream, None, null_mut(), &mut model);
        assert_eq!(
            (status, last_error().as_str()),
            (DoppelStatus::NullParameter, "config is NULL")
        );
        assert!(stream.release().is_none(), "taken over despite the failure");
        assert_eq!(released.load(Ordering::SeqCst), 1, "and released once");

        let (mut stream, released) = host_stream();
        let status = doppel_train_arrow(config, &mut stream, None, null_mut(), null_mut());
        assert_eq!(
            (status, last_error().as_str()),
            (DoppelStatus::NullParameter, "out_model is NULL")
        );
        assert!(stream.release().is_none());
        assert_eq!(released.load(Ordering::SeqCst), 1);

        let status = doppel_train_arrow(config, null_mut(), None, null_mut(), &mut model);
        assert_eq!(
            (status, last_error().as_str()),
            (DoppelStatus::NullParameter, "stream is NULL")
        );

        // A stream already released is refused by name.
        let mut empty = FFI_ArrowArrayStream::empty();
        let status = doppel_train_arrow(config, &mut empty, None, null_mut(), &mut model);
        assert_eq!(status, DoppelStatus::InvalidArgument);
        assert_eq!(last_error(), "stream is already released");

        // A table without rows is invalid data naming the stream.
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let reader = RecordBatchIterator::new(Vec::new(), schema);
        let mut stream = FFI_ArrowArrayStream::new(Box::new(reader));
        let status = doppel_train_arrow(config, &mut stream, None, null_mut(), &mut model);
        assert_eq!(status, DoppelStatus::InvalidData);
        assert!(last_error().contains("<arrow stream>") && last_error().contains("no data rows"));
        assert!(model.is_null(), "out-parameter untouched on failure");

        // generate_arrow checks its pointers and leaves the out-stream untouched.
        let mut out = FFI_ArrowArrayStream::empty();
        let status = doppel_generate_arrow(null(), 10, 1, &mut out);
        assert_eq!((status, last_error().as_str()), (DoppelStatus::NullParameter, "model is NULL"));
        assert!(out.release().is_none());
        let (mut stream, _) = host_stream();
        assert_eq!(
            doppel_train_arrow(config, &mut stream, None, null_mut(), &mut model),
            DoppelStatus::Ok
        );
        let status = doppel_generate_arrow(model, 10, 1, null_mut());
        assert_eq!(
            (status, last_error().as_str()),
            (DoppelStatus::NullParameter, "out_stream is NULL")
        );
        doppel_model_free(model);
        doppel_config_free(config);
    }
}

/// A reader that panics on its second batch.
struct Panicking(usize);

impl Iterator for Panicking {
    type Item = Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0 += 1;
        assert!(self.0 < 2, "deliberate panic in batch {}", self.0);
        Some(Ok(RecordBatch::new_empty(self.schema())))
    }
}

impl RecordBatchReader for Panicking {
    fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]))
    }
}

#[test]
fn a_panic_while_generating_a_stream_becomes_its_error() {
    let mut stream = FFI_ArrowArrayStream::new(Box::new(PanicFree::new(Panicking(0))));
    // SAFETY: an initialised stream, moved out of.
    let reader = unsafe { RecordBatchStreamReader::from_raw(&mut stream) }.expect("a stream");
    let batches: Vec<_> = reader.collect();
    assert_eq!(batches.len(), 2, "one batch, then the error, then the end");
    assert!(batches[0].is_ok());
    let error = batches[1].as_ref().expect_err("the panic is an error").to_string();
    assert!(
        error.contains("internal error") && error.contains("deliberate panic in batch 2"),
        "{error}"
    );
}

/// A one-column seed stream of `colours` (None: a null, "generate this cell").
fn colour_stream(colours: &[Option<&str>]) -> FFI_ArrowArrayStream {
    let schema = Arc::new(Schema::new(vec![Field::new("colour", DataType::Utf8, true)]));
    let column: StringArray = colours.iter().copied().collect();
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(column) as ArrayRef]);
    FFI_ArrowArrayStream::new(Box::new(RecordBatchIterator::new(vec![batch], schema)))
}

/// The text of every cell of a stream the library produced, row by row.
fn stream_rows(stream: &mut FFI_ArrowArrayStream) -> Vec<Vec<Option<String>>> {
    let (schema, batches) = read_stream(stream);
    let table = table_from_batches(Path::new("s"), &schema, &batches).unwrap();
    (0..table.num_rows())
        .map(|r| (0..schema.fields().len()).map(|c| table.cell(r, c).map(String::from)).collect())
        .collect()
}

#[test]
fn steered_generation_follows_options_and_a_seed_stream() {
    let config = small_config();
    let (mut stream, _) = host_stream();
    let mut model = null_mut();
    let dir = tempfile::tempdir().expect("tempdir");
    // SAFETY: valid arguments throughout; handles freed once at the end.
    unsafe {
        assert_eq!(
            doppel_train_arrow(config, &mut stream, None, null_mut(), &mut model),
            DoppelStatus::Ok
        );
        // Conditions: every row satisfies them, and `rows` and `seed` are read.
        let options = CString::new(r#"{"rows": 300, "seed": 5, "where": "colour = red"}"#).unwrap();
        let mut out = FFI_ArrowArrayStream::empty();
        let status = doppel_generate_steered_arrow(model, options.as_ptr(), null_mut(), &mut out);
        assert_eq!(status, DoppelStatus::Ok, "{}", last_error());
        let rows = stream_rows(&mut out);
        assert_eq!(rows.len(), 300);
        assert!(rows.iter().all(|r| r[0].as_deref() == Some("red")), "{rows:?}");

        // A seed: one row per seed row, given cells kept, nulls generated; the file and the
        // stream hold the same rows for the same options.
        let seed: Vec<Option<&str>> =
            (0..40).map(|i| (i % 4 != 0).then(|| ["green", "blue"][i % 2])).collect();
        let mut seed_stream = colour_stream(&seed);
        let mut out = FFI_ArrowArrayStream::empty();
        let status = doppel_generate_steered_arrow(model, null(), &mut seed_stream, &mut out);
        assert_eq!(status, DoppelStatus::Ok, "{}", last_error());
        assert!(seed_stream.release().is_none(), "the seed stream is taken over");
        let rows = stream_rows(&mut out);
        assert_eq!(rows.len(), 40);
        for (row, given) in rows.iter().zip(&seed) {
            if let Some(given) = given {
                assert_eq!(row[0].as_deref(), Some(*given));
            }
            assert!(row[1].is_some(), "the count is generated: {row:?}");
        }
        let path = CString::new(dir.path().join("seeded.arrow").to_str().unwrap()).unwrap();
        let mut seed_stream = colour_stream(&seed);
        let status = doppel_generate_steered_file(model, null(), &mut seed_stream, path.as_ptr());
        assert_eq!(status, DoppelStatus::Ok, "{}", last_error());
        let from_file = read_table(&dir.path().join("seeded.arrow"), &ReadOptions::default());
        let from_file = from_file.unwrap();
        let file_rows: Vec<Vec<Option<String>>> = (0..from_file.num_rows())
            .map(|r| (0..2).map(|c| from_file.cell(r, c).map(String::from)).collect())
            .collect();
        assert_eq!(file_rows, rows);

        // Imputation fills nulls only (NULL options: the defaults).
        let path = CString::new(dir.path().join("imputed.csv").to_str().unwrap()).unwrap();
        let mut table = colour_stream(&seed);
        let status = doppel_impute_file(model, null(), &mut table, 3, path.as_ptr());
        assert_eq!(status, DoppelStatus::Ok, "{}", last_error());
        let imputed = read_table(&dir.path().join("imputed.csv"), &ReadOptions::default()).unwrap();
        assert_eq!(imputed.num_rows(), 40);
        for (r, given) in seed.iter().enumerate() {
            let colour = imputed.cell(r, 0);
            assert!(colour.is_some_and(|c| given.is_none_or(|g| g == c)), "row {r}: {colour:?}");
        }
        doppel_model_free(model);
        doppel_config_free(config);
    }
}

#[test]
fn steered_generation_names_bad_options_and_releases_the_seed() {
    let config = small_config();
    let (mut stream, _) = host_stream();
    let mut model = null_mut();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = CString::new(dir.path().join("never.csv").to_str().unwrap()).unwrap();
    // SAFETY: valid arguments but for the ones under test.
    unsafe {
        assert_eq!(
            doppel_train_arrow(config, &mut stream, None, null_mut(), &mut model),
            DoppelStatus::Ok
        );
        for (options, status, named) in [
            (r#"{"wher": "colour = red"}"#, DoppelStatus::InvalidConfig, "wher"),
            (r#"{"rows": -1}"#, DoppelStatus::InvalidConfig, "rows"),
            (r#"{"where": "colour = purple"}"#, DoppelStatus::InvalidConfig, "purple"),
            (r#"{"where": "shade = red"}"#, DoppelStatus::InvalidConfig, "shade"),
            (r#"{"rebalance": "colour=red:1.5"}"#, DoppelStatus::InvalidConfig, "1.5"),
        ] {
            let json = CString::new(options).unwrap();
            let (mut seed, released) = host_stream();
            let got = doppel_generate_steered_file(model, json.as_ptr(), &mut seed, path.as_ptr());
            assert_eq!(got, status, "{options}: {}", last_error());
            assert!(last_error().contains(named), "{options}: {}", last_error());
            assert!(seed.release().is_none(), "taken over on failure");
            assert_eq!(released.load(Ordering::SeqCst), 1, "and released once");
        }
        // A seed column the model lacks is invalid data naming it; nothing is written.
        let schema = Arc::new(Schema::new(vec![Field::new("shade", DataType::Utf8, true)]));
        let column: StringArray = vec![Some("dark")].into_iter().collect();
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(column) as ArrayRef]);
        let reader = RecordBatchIterator::new(vec![batch], schema);
        let mut seed = FFI_ArrowArrayStream::new(Box::new(reader));
        let got = doppel_generate_steered_file(model, null(), &mut seed, path.as_ptr());
        assert_eq!(got, DoppelStatus::InvalidData, "{}", last_error());
        assert!(last_error().contains("shade"), "{}", last_error());
        assert!(!dir.path().join("never.csv").exists());
        // NULL arguments are named; imputation needs its table.
        let (mut seed, released) = host_stream();
        let got = doppel_generate_steered_arrow(model, null(), &mut seed, null_mut());
        assert_eq!(
            (got, last_error().as_str()),
            (DoppelStatus::NullParameter, "out_stream is NULL")
        );
        assert_eq!(released.load(Ordering::SeqCst), 1);
        let got = doppel_generate_steered_file(null(), null(), null_mut(), path.as_ptr());
        assert_eq!((got, last_error().as_str()), (DoppelStatus::NullParameter, "model is NULL"));
        let got = doppel_impute_file(model, null(), null_mut(), 1, path.as_ptr());
        assert_eq!((got, last_error().as_str()), (DoppelStatus::NullParameter, "table is NULL"));
        let (mut table, _) = host_stream();
        let got = doppel_impute_file(model, null(), &mut table, 0, path.as_ptr());
        assert_eq!(got, DoppelStatus::InvalidConfig, "{}", last_error());
        assert!(last_error().contains("draws"), "{}", last_error());
        doppel_model_free(model);
        doppel_config_free(config);
    }
}

#[test]
fn filtered_generation_drops_copies_of_the_training_stream() {
    let config = small_config();
    let (mut stream, _) = host_stream();
    let mut model = null_mut();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = CString::new(dir.path().join("filtered.csv").to_str().unwrap()).unwrap();
    // SAFETY: valid arguments but for the NULL ones under test.
    unsafe {
        assert_eq!(
            doppel_train_arrow(config, &mut stream, None, null_mut(), &mut model),
            DoppelStatus::Ok
        );
        let options = CString::new(r#"{"rows": 400, "seed": 2}"#).unwrap();
        let (mut training, released) = host_stream();
        let mut dropped = usize::MAX;
        let status = doppel_generate_filtered_file(
            model,
            options.as_ptr(),
            &mut training,
            0.0,
            path.as_ptr(),
            &mut dropped,
        );
        assert_eq!(status, DoppelStatus::Ok, "{}", last_error());
        assert_eq!(released.load(Ordering::SeqCst), 1, "the training stream released once");
        // The host stream's 300 rows hold 3 x 17 (colour, count) pairs plus missing colours:
        // a small model copies many of them, and none is written.
        assert!(dropped > 0 && dropped != usize::MAX, "{dropped}");
        let written = read_table(&dir.path().join("filtered.csv"), &ReadOptions::default());
        let written = written.unwrap();
        assert_eq!(written.num_rows(), 400);
        let (source, _) = host_stream();
        let reader = RecordBatchStreamReader::try_new(source).unwrap();
        let schema = reader.schema();
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
        let training = table_from_batches(Path::new("t"), &schema, &batches).unwrap();
        let rows = |t: &Table| -> std::collections::HashSet<(Option<String>, Option<String>)> {
            (0..t.num_rows())
                .map(|r| (t.cell(r, 0).map(String::from), t.cell(r, 1).map(String::from)))
                .filter(|(c, _)| c.as_deref().is_some_and(|c| !c.is_empty()))
                .collect()
        };
        let copies = rows(&written).intersection(&rows(&training)).count();
        assert_eq!(copies, 0, "no written row copies a training row");
        // NULL training, and a distance out of range with the stream still released.
        let got = doppel_generate_filtered_file(
            model,
            null(),
            null_mut(),
            0.0,
            path.as_ptr(),
            null_mut(),
        );
        assert_eq!((got, last_error().as_str()), (DoppelStatus::NullParameter, "training is NULL"));
        let (mut training, released) = host_stream();
        let got = doppel_generate_filtered_file(
            model,
            null(),
            &mut training,
            1.5,
            path.as_ptr(),
            null_mut(),
        );
        assert_eq!(got, DoppelStatus::InvalidConfig, "{}", last_error());
        assert_eq!(released.load(Ordering::SeqCst), 1);
        doppel_model_free(model);
        doppel_config_free(config);
    }
}
