//! Writing outputs so that nothing is lost: every output is written to a temporary file in the
//! destination's directory and renamed over the destination only once it is complete.
//!
//! [`AtomicFile`] is that temporary file; [`write_atomic`] writes a byte buffer through it;
//! [`create_sink`] streams generated rows into a CSV, Parquet or Arrow IPC file through it. A
//! failure midway (or a sink dropped without [`RowSink::finish`]) leaves the destination as it
//! was and no temporary file behind.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use parquet::errors::ParquetError;

use crate::error::{Error, Result};
use crate::ingest::Format;

/// Distinguishes the temporary files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file written under a temporary name beside its destination and renamed over it by
/// [`AtomicFile::commit`].
///
/// Writes are buffered. Dropping an `AtomicFile` without committing it removes the temporary
/// file and leaves the destination untouched.
#[derive(Debug)]
pub struct AtomicFile {
    destination: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates a temporary file `.{name}.tmp-{pid}-{n}` in the directory of `path`.
    ///
    /// Fails with [`Error::Io`] naming `path` when its directory is missing or not writable.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let name = path.file_name().ok_or_else(|| {
            Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
            )
        })?;
        let directory = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".tmp-{}-{n}", std::process::id()));
        let temp = directory.join(temp_name);
        let file = OpenOptions::new().write(true).create_new(true).open(&temp).map_err(|e| {
            let message = format!("cannot create a file in {}: {e}", directory.display());
            Error::io(path, std::io::Error::new(e.kind(), message))
        })?;
        // Keep the permissions of a file being replaced.
        if let Ok(meta) = std::fs::metadata(path) {
            // Best effort: the output is still correct with the default permissions.
            let _ = file.set_permissions(meta.permissions());
        }
        Ok(AtomicFile {
            destination: path.to_path_buf(),
            temp,
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// The destination path.
    pub fn path(&self) -> &Path {
        &self.destination
    }

    /// Flushes, syncs the data to disk and renames the temporary file over the destination.
    pub fn commit(mut self) -> Result<()> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let result = finish_file(writer, &self.temp, &self.destination);
        if result.is_err() {
            // Best effort: the error that matters is the one returned.
            let _ = std::fs::remove_file(&self.temp);
        }
        result.map_err(|e| Error::io(&self.destination, e))
    }

    fn writer(&mut self) -> std::io::Result<&mut BufWriter<File>> {
        self.writer.as_mut().ok_or_else(|| std::io::Error::other("write after commit"))
    }
}

/// Flushes and syncs `writer`, renames `temp` to `destination` and syncs the directory.
fn finish_file(writer: BufWriter<File>, temp: &Path, destination: &Path) -> std::io::Result<()> {
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(temp, destination)?;
    // Make the rename itself durable (Unix only; elsewhere a directory cannot be opened).
    #[cfg(unix)]
    if let Some(directory) = destination.parent() {
        let directory = if directory.as_os_str().is_empty() { Path::new(".") } else { directory };
        if let Ok(dir) = File::open(directory) {
            // Best effort: some file systems refuse fsync on directories.
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.writer()?.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer()?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            // Not committed: discard the buffer (a BufWriter flushes on drop) and the file.
            let (file, _unflushed) = writer.into_parts();
            drop(file);
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes `bytes` to `path` atomically: the destination holds either its old content or all of
/// `bytes`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.commit()
}

/// The Arrow type of an output column of a typed format (Parquet, Arrow IPC). CSV writes text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputType {
    /// Text, written as given.
    Utf8,
    /// 64-bit integers parsed from the text; an unparsable cell becomes a null.
    Int64,
    /// 64-bit floats parsed from the text; an unparsable cell becomes a null.
    Float64,
}

impl OutputType {
    /// The Arrow type written for this column.
    pub fn data_type(self) -> DataType {
        match self {
            OutputType::Utf8 => DataType::Utf8,
            OutputType::Int64 => DataType::Int64,
            OutputType::Float64 => DataType::Float64,
        }
    }
}

/// A destination for generated rows. Nothing appears at the destination until
/// [`finish`](RowSink::finish) succeeds.
pub trait RowSink {
    /// Writes one row; `cells` has one entry per column, `None` for a missing value.
    fn write_row(&mut self, cells: &[Option<&str>]) -> Result<()>;

    /// Completes the file and moves it to its destination.
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Rows per record batch of the typed formats.
const BATCH_ROWS: usize = 8192;

/// Opens a sink writing `header` and then rows to `path` in `format`.
///
/// `types` gives each column's Arrow type for Parquet and Arrow IPC (one per header name);
/// `delimiter` is used by CSV only. CSV cells are written as given (`None` as an empty field),
/// quoted only where needed, with `\n` line ends.
pub fn create_sink(
    path: &Path,
    format: Format,
    header: &[String],
    types: &[OutputType],
    delimiter: u8,
) -> Result<Box<dyn RowSink + Send>> {
    if header.len() != types.len() {
        return Err(Error::Data(format!(
            "{}: {} column names but {} column types",
            path.display(),
            header.len(),
            types.len()
        )));
    }
    let file = AtomicFile::create(path)?;
    match format {
        Format::Csv => {
            let mut writer = csv::WriterBuilder::new()
                .delimiter(delimiter)
                .terminator(csv::Terminator::Any(b'\n'))
                .quote_style(csv::QuoteStyle::Necessary)
                .from_writer(file);
            writer.write_record(header).map_err(|e| csv_error(path, e))?;
            Ok(Box::new(CsvSink {
                path: path.to_path_buf(),
                columns: header.len(),
                rows: 0,
                writer,
            }))
        }
        Format::Parquet | Format::ArrowIpc => {
            let fields: Vec<Field> = header
                .iter()
                .zip(types)
                .map(|(name, t)| Field::new(name.clone(), t.data_type(), true))
                .collect();
            let schema: SchemaRef = Arc::new(Schema::new(fields));
            let writer = if format == Format::Parquet {
                let w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None)
                    .map_err(|e| parquet_error(path, e))?;
                BatchWriter::Parquet(w)
            } else {
                let w = arrow_ipc::writer::FileWriter::try_new(file, &schema)
                    .map_err(|e| write_error(path, e))?;
                BatchWriter::Ipc(w)
            };
            let builders = types.iter().map(|&t| ColumnBuilder::new(t)).collect();
            Ok(Box::new(BatchSink {
                path: path.to_path_buf(),
                schema,
                builders,
                pending: 0,
                rows: 0,
                writer,
            }))
        }
    }
}

/// A csv crate error while writing `path`.
fn csv_error(path: &Path, error: csv::Error) -> Error {
    let message = error.to_string();
    match error.into_kind() {
        csv::ErrorKind::Io(e) => Error::io(path, e),
        _ => Error::Data(format!("{}: cannot write CSV: {message}", path.display())),
    }
}

/// An Arrow or Parquet error while writing `path`.
fn write_error(path: &Path, error: ArrowError) -> Error {
    match error {
        ArrowError::IoError(_, e) => Error::io(path, e),
        other => Error::Data(format!("{}: cannot write: {other}", path.display())),
    }
}

/// A Parquet error while writing `path`.
fn parquet_error(path: &Path, error: ParquetError) -> Error {
    let message = match error {
        ParquetError::External(e) => match e.downcast::<std::io::Error>() {
            Ok(e) => return Error::io(path, *e),
            Err(e) => e.to_string(),
        },
        other => other.to_string(),
    };
    Error::Data(format!("{}: cannot write Parquet: {message}", path.display()))
}

/// One record batch of generated `rows` (cells in column order, `None` for a missing value)
/// typed by `schema`, whose fields have the Arrow types of `types`; a number that does not
/// parse becomes a null, as in the typed file formats.
pub fn rows_to_batch(
    schema: &SchemaRef,
    types: &[OutputType],
    rows: &[Vec<Option<&str>>],
) -> Result<RecordBatch> {
    let mut builders: Vec<ColumnBuilder> = types.iter().map(|&t| ColumnBuilder::new(t)).collect();
    for (r, row) in rows.iter().enumerate() {
        check_width(Path::new("<generated>"), r + 1, row.len(), builders.len())?;
        for (builder, &cell) in builders.iter_mut().zip(row) {
            builder.append(cell);
        }
    }
    let arrays = builders.iter_mut().map(ColumnBuilder::finish).collect();
    RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::Data(format!("cannot build a record batch: {e}")))
}

/// Fails when a row has the wrong number of cells.
fn check_width(path: &Path, row: usize, cells: usize, columns: usize) -> Result<()> {
    if cells == columns {
        return Ok(());
    }
    Err(Error::Data(format!(
        "{}: row {row} has {cells} cells but the header has {columns} columns",
        path.display()
    )))
}

/// Streams rows as CSV.
struct CsvSink {
    path: PathBuf,
    columns: usize,
    rows: usize,
    writer: csv::Writer<AtomicFile>,
}

impl RowSink for CsvSink {
    fn write_row(&mut self, cells: &[Option<&str>]) -> Result<()> {
        check_width(&self.path, self.rows + 1, cells.len(), self.columns)?;
        self.writer
            .write_record(cells.iter().map(|c| c.unwrap_or("")))
            .map_err(|e| csv_error(&self.path, e))?;
        self.rows += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let file = self.writer.into_inner().map_err(|e| Error::io(&self.path, e.into_error()))?;
        file.commit()
    }
}

/// One typed column being accumulated.
enum ColumnBuilder {
    Utf8(StringBuilder),
    Int64(Int64Builder),
    Float64(Float64Builder),
}

impl ColumnBuilder {
    fn new(t: OutputType) -> ColumnBuilder {
        match t {
            OutputType::Utf8 => ColumnBuilder::Utf8(StringBuilder::new()),
            OutputType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(BATCH_ROWS)),
            OutputType::Float64 => {
                ColumnBuilder::Float64(Float64Builder::with_capacity(BATCH_ROWS))
            }
        }
    }

    fn append(&mut self, cell: Option<&str>) {
        match self {
            ColumnBuilder::Utf8(b) => b.append_option(cell),
            ColumnBuilder::Int64(b) => b.append_option(cell.and_then(|s| s.trim().parse().ok())),
            ColumnBuilder::Float64(b) => b.append_option(cell.and_then(|s| s.trim().parse().ok())),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
        }
    }
}

/// The writer of a typed format.
enum BatchWriter {
    Parquet(parquet::arrow::ArrowWriter<AtomicFile>),
    Ipc(arrow_ipc::writer::FileWriter<AtomicFile>),
}

/// Accumulates rows into record batches of [`BATCH_ROWS`] and writes them as Parquet or
/// Arrow IPC.
struct BatchSink {
    path: PathBuf,
    schema: SchemaRef,
    builders: Vec<ColumnBuilder>,
    pending: usize,
    rows: usize,
    writer: BatchWriter,
}

impl BatchSink {
    /// Writes the pending rows as one record batch.
    fn flush_batch(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        let arrays = self.builders.iter_mut().map(ColumnBuilder::finish).collect();
        self.pending = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| write_error(&self.path, e))?;
        match &mut self.writer {
            BatchWriter::Parquet(w) => w.write(&batch).map_err(|e| parquet_error(&self.path, e)),
            BatchWriter::Ipc(w) => w.write(&batch).map_err(|e| write_error(&self.path, e)),
        }
    }
}

impl RowSink for BatchSink {
    fn write_row(&mut self, cells: &[Option<&str>]) -> Result<()> {
        check_width(&self.path, self.rows + 1, cells.len(), self.builders.len())?;
        for (builder, &cell) in self.builders.iter_mut().zip(cells) {
            builder.append(cell);
        }
        self.pending += 1;
        self.rows += 1;
        if self.pending == BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.flush_batch()?;
        let path = self.path;
        let file = match self.writer {
            BatchWriter::Parquet(w) => w.into_inner().map_err(|e| parquet_error(&path, e))?,
            BatchWriter::Ipc(w) => w.into_inner().map_err(|e| write_error(&path, e))?,
        };
        file.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{read_csv, read_table, ReadOptions};

    fn tempdir() -> Result<tempfile::TempDir> {
        tempfile::tempdir().map_err(|e| Error::io("tempdir", e))
    }

    fn names(dir: &Path) -> Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(dir, e))?;
        names.sort();
        Ok(names)
    }

    fn header() -> Vec<String> {
        vec!["id".into(), "price".into(), "note".into()]
    }

    const TYPES: [OutputType; 3] = [OutputType::Int64, OutputType::Float64, OutputType::Utf8];

    /// Rows covering plain values, a cell needing quotes, a missing value and unparsable numbers.
    const ROWS: [[Option<&str>; 3]; 3] = [
        [Some("1"), Some("2.5"), Some("plain")],
        [Some("2"), None, Some("a, \"quoted\"\nnote")],
        [Some("x"), Some("n/a"), None],
    ];

    fn write_rows(path: &Path, format: Format) -> Result<()> {
        let mut sink = create_sink(path, format, &header(), &TYPES, b',')?;
        for row in &ROWS {
            sink.write_row(row)?;
        }
        sink.finish()
    }

    #[test]
    fn generated_rows_become_typed_batches_with_nulls() -> Result<()> {
        use arrow_array::{Array, Float64Array, Int64Array, StringArray};
        let fields: Vec<Field> = header()
            .iter()
            .zip(TYPES)
            .map(|(name, t)| Field::new(name.clone(), t.data_type(), true))
            .collect();
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let rows: Vec<Vec<Option<&str>>> = ROWS.iter().map(|r| r.to_vec()).collect();
        let batch = rows_to_batch(&schema, &TYPES, &rows)?;
        let id = batch.column(0).as_any().downcast_ref::<Int64Array>().expect("int64");
        assert_eq!(id.iter().collect::<Vec<_>>(), [Some(1), Some(2), None]);
        let price = batch.column(1).as_any().downcast_ref::<Float64Array>().expect("float64");
        assert_eq!(price.iter().collect::<Vec<_>>(), [Some(2.5), None, None]);
        let note = batch.column(2).as_any().downcast_ref::<StringArray>().expect("utf8");
        assert_eq!(
            note.iter().collect::<Vec<_>>(),
            [Some("plain"), Some(ROWS[1][2].unwrap()), None]
        );
        assert_eq!(note.null_count(), 1);
        let short = vec![vec![Some("1")]];
        let err = rows_to_batch(&schema, &TYPES, &short).unwrap_err().to_string();
        assert!(err.contains("row 1 has 1 cells but the header has 3 columns"), "{err}");
        Ok(())
    }

    #[test]
    fn csv_output_bytes_are_exact() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("out.csv");
        write_rows(&path, Format::Csv)?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        // Written by hand from RFC 4180: quote only a cell holding a delimiter, quote or newline.
        let golden = "id,price,note\n1,2.5,plain\n2,,\"a, \"\"quoted\"\"\nnote\"\nx,n/a,\n";
        assert_eq!(String::from_utf8_lossy(&bytes), golden);
        assert_eq!(names(dir.path())?, ["out.csv"]);
        Ok(())
    }

    #[test]
    fn csv_output_reads_back() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("out.tsv");
        let mut sink = create_sink(&path, Format::Csv, &header(), &TYPES, b'\t')?;
        for row in &ROWS {
            sink.write_row(row)?;
        }
        sink.finish()?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let options = ReadOptions { delimiter: b'\t', ..ReadOptions::default() };
        let t = read_csv(&bytes[..], &path, &options)?;
        assert_eq!(t.column_names(), ["id", "price", "note"]);
        for (r, row) in ROWS.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                // CSV has no nulls: a missing value reads back as an empty field.
                assert_eq!(t.cell(r, c), Some(cell.unwrap_or("")), "row {r} column {c}");
            }
        }
        Ok(())
    }

    fn typed_round_trip(name: &str, format: Format) -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join(name);
        write_rows(&path, format)?;
        let t = read_table(&path, &ReadOptions::default())?;
        assert_eq!(t.column_names(), ["id", "price", "note"]);
        let column = |c| (0..t.num_rows()).map(|r| t.cell(r, c)).collect::<Vec<_>>();
        assert_eq!(column(0), [Some("1"), Some("2"), None]);
        assert_eq!(column(1), [Some("2.5"), None, None]);
        assert_eq!(column(2), [Some("plain"), Some("a, \"quoted\"\nnote"), None]);
        assert_eq!(names(dir.path())?, [name]);
        Ok(())
    }

    #[test]
    fn parquet_output_reads_back() -> Result<()> {
        typed_round_trip("out.parquet", Format::Parquet)
    }

    #[test]
    fn arrow_ipc_output_reads_back() -> Result<()> {
        typed_round_trip("out.arrow", Format::ArrowIpc)
    }

    #[test]
    fn many_rows_span_several_batches() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("big.parquet");
        let header = vec!["n".to_owned()];
        let mut sink = create_sink(&path, Format::Parquet, &header, &[OutputType::Int64], b',')?;
        let rows = 2 * BATCH_ROWS + 5;
        for i in 0..rows {
            sink.write_row(&[Some(&i.to_string())])?;
        }
        sink.finish()?;
        let t = read_table(&path, &ReadOptions::default())?;
        assert_eq!(t.num_rows(), rows);
        assert_eq!(t.cell(rows - 1, 0), Some(&*(rows - 1).to_string()));
        Ok(())
    }

    #[test]
    fn unwritable_path_is_named() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("missing").join("out.csv");
        let err =
            create_sink(&path, Format::Csv, &header(), &TYPES, b',').err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains(&*path.to_string_lossy()), "{err}");
        assert!(err.contains("cannot create a file in"), "{err}");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        Ok(())
    }

    #[test]
    fn dropped_sink_leaves_nothing() -> Result<()> {
        let dir = tempdir()?;
        for (name, format) in
            [("a.csv", Format::Csv), ("a.parquet", Format::Parquet), ("a.arrow", Format::ArrowIpc)]
        {
            let path = dir.path().join(name);
            let mut sink = create_sink(&path, format, &header(), &TYPES, b',')?;
            sink.write_row(&ROWS[0])?;
            assert_eq!(names(dir.path())?.len(), 1, "the temporary file exists while writing");
            drop(sink);
            assert!(!path.exists());
        }
        assert!(names(dir.path())?.is_empty(), "{:?}", names(dir.path())?);
        Ok(())
    }

    #[test]
    fn failed_row_leaves_the_old_file() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("out.csv");
        write_atomic(&path, b"old\n")?;
        let mut sink = create_sink(&path, Format::Csv, &header(), &TYPES, b',')?;
        let err = sink.write_row(&[Some("1")]).unwrap_err().to_string();
        assert!(err.contains("row 1 has 1 cells but the header has 3 columns"), "{err}");
        drop(sink);
        assert_eq!(std::fs::read(&path).map_err(|e| Error::io(&path, e))?, b"old\n");
        assert_eq!(names(dir.path())?, ["out.csv"]);
        Ok(())
    }

    #[test]
    fn atomic_file_replaces_on_commit_only() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("model.bin");
        write_atomic(&path, b"first")?;
        let mut file = AtomicFile::create(&path)?;
        file.write_all(b"second").map_err(|e| Error::io(&path, e))?;
        assert_eq!(std::fs::read(&path).map_err(|e| Error::io(&path, e))?, b"first");
        file.commit()?;
        assert_eq!(std::fs::read(&path).map_err(|e| Error::io(&path, e))?, b"second");
        assert_eq!(names(dir.path())?, ["model.bin"]);
        Ok(())
    }
}
