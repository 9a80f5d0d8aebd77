//! Writing outputs so that nothing is lost and nothing else is destroyed.
//!
//! Where an output goes depends on what is at its path (see [`Destination`]):
//!
//! * a regular file, or nothing yet: the output is written to a temporary file
//!   `.{name}.tmp-{pid}-{n}` in the destination's directory and renamed over the destination
//!   only once it is complete, so a failure midway leaves the old file as it was;
//! * a symbolic link: the link is followed to its final target, and that target is replaced as
//!   above (the link stays a link); a link to a missing file is refused;
//! * a character device (such as `/dev/null`), a FIFO, or `-` (standard output): the output is
//!   written straight through, with no temporary file and no rename (a device node is never
//!   replaced); a failure midway leaves whatever was written;
//! * anything else (a directory, a block device, a socket) is refused.
//!
//! [`refuse_output_over_inputs`] refuses an output that is one of the run's inputs, also
//! through a hard or symbolic link. [`AtomicFile`] is the writer; [`write_atomic`] writes a
//! byte buffer through it; [`create_sink`] streams generated rows into a CSV, Parquet or Arrow
//! IPC file through it.
//!
//! Temporary files are recorded while they exist, so that a process being terminated can
//! remove them ([`remove_temporary_files`], called by the CLI's signal handler; the library
//! installs no handler), and creating one removes the leftovers of killed processes for the
//! same destination.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use parquet::errors::ParquetError;

use crate::error::{Error, Result};
use crate::ingest::Format;

/// Distinguishes the temporary files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The temporary files this process has open, and whether it is shutting down (then no new
/// one may be created).
static LIVE_TEMPS: Mutex<LiveTemps> = Mutex::new(LiveTemps { paths: None, closed: false });

/// See [`LIVE_TEMPS`].
struct LiveTemps {
    paths: Option<HashSet<PathBuf>>,
    closed: bool,
}

/// The path that names standard output.
pub const STDOUT_PATH: &str = "-";

/// What an output path leads to, and so how it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A regular file or a new path (a symbolic link resolved to its final target): written
    /// to a temporary file beside it, then renamed over it.
    File(PathBuf),
    /// A character device or a FIFO: written straight through.
    Stream(PathBuf),
    /// `-`: standard output.
    Stdout,
}

impl Destination {
    /// Decides how `path` is written, following symbolic links; refuses a directory, a block
    /// device, a socket and a link to a missing file, naming `path`.
    pub fn of(path: &Path) -> Result<Destination> {
        if path.as_os_str() == STDOUT_PATH {
            return Ok(Destination::Stdout);
        }
        let refuse = |what: &str| {
            Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{what}; an output must be a regular file, a character device, a FIFO or - (standard output)"),
                ),
            )
        };
        let link = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Destination::File(path.to_path_buf()))
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        let (target, meta) = if link.file_type().is_symlink() {
            // Follow the link (and any chain of links) to the file it names, which is replaced.
            let target = std::fs::canonicalize(path)
                .map_err(|_| refuse("is a symbolic link to a missing file (or a loop of links)"))?;
            let meta = std::fs::metadata(&target).map_err(|e| Error::io(path, e))?;
            (target, meta)
        } else {
            (path.to_path_buf(), link)
        };
        let kind = meta.file_type();
        if kind.is_file() {
            return Ok(Destination::File(target));
        }
        if kind.is_dir() {
            return Err(refuse("is a directory"));
        }
        if is_stream(&kind) {
            return Ok(Destination::Stream(target));
        }
        Err(refuse("is not a regular file (a block device or a socket)"))
    }
}

/// Whether `kind` is a character device or a FIFO, written straight through.
#[cfg(unix)]
fn is_stream(kind: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_char_device() || kind.is_fifo()
}

/// Whether `kind` is a character device or a FIFO (none outside Unix).
#[cfg(not(unix))]
fn is_stream(_kind: &std::fs::FileType) -> bool {
    false
}

/// Fails, naming both paths, when `output` is the same file as one of `inputs` (compared by
/// device and inode on Unix, so hard and symbolic links count; by canonical path elsewhere).
///
/// An output or input that does not exist yet, and `-`, match nothing; so do two character
/// devices or FIFOs (writing to `/dev/null` while reading `/dev/stdin` is no loss).
pub fn refuse_output_over_inputs(output: &Path, inputs: &[&Path]) -> Result<()> {
    if output.as_os_str() == STDOUT_PATH {
        return Ok(());
    }
    let Some(out_id) = file_identity(output) else {
        return Ok(());
    };
    for input in inputs {
        if input.as_os_str() != STDOUT_PATH && file_identity(input).as_ref() == Some(&out_id) {
            return Err(Error::Config(format!(
                "output {} is the same file as the input {}; refusing to overwrite an input \
                 (choose another output path)",
                output.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// The identity of the regular file at `path` (links followed), if it exists.
#[cfg(unix)]
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file().then(|| (meta.dev(), meta.ino()))
}

/// The identity of the regular file at `path` (links followed), if it exists.
#[cfg(not(unix))]
fn file_identity(path: &Path) -> Option<PathBuf> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        std::fs::canonicalize(path).ok()
    } else {
        None
    }
}

/// Removes every temporary file this process still has open, and refuses new ones from then
/// on. For a signal handler of the host program (the CLI's, on SIGINT and SIGTERM) before it
/// exits; the library never calls it by itself. Returns how many files were removed.
pub fn remove_temporary_files() -> usize {
    let mut live = LIVE_TEMPS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    live.closed = true;
    let paths = live.paths.take().unwrap_or_default();
    paths.iter().filter(|p| std::fs::remove_file(p).is_ok()).count()
}

/// Records `temp` as live; fails when the process is shutting down.
fn register_temp(temp: &Path) -> std::io::Result<()> {
    let mut live = LIVE_TEMPS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if live.closed {
        return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "shutting down"));
    }
    live.paths.get_or_insert_with(HashSet::new).insert(temp.to_path_buf());
    Ok(())
}

/// Forgets `temp` (renamed into place or removed).
fn unregister_temp(temp: &Path) {
    let mut live = LIVE_TEMPS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(paths) = live.paths.as_mut() {
        paths.remove(temp);
    }
}

/// How long a temporary file of another process must have been left untouched before it is
/// taken as stale where process ids cannot be checked (outside Linux).
const STALE_AFTER: Duration = Duration::from_secs(60);

/// Removes the temporary files `.{name}.tmp-{pid}-{n}` in `directory` left by processes that
/// no longer run (killed before they could clean up). Best effort: a file that cannot be
/// examined or removed is left.
fn remove_stale_temps(directory: &Path, name: &std::ffi::OsStr) {
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".tmp-");
    let Some(prefix) = prefix.to_str() else { return };
    let Ok(entries) = std::fs::read_dir(directory) else { return };
    let ours = std::process::id();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let Some((pid, n)) = rest.split_once('-') else { continue };
        let (Ok(pid), true) = (pid.parse::<u32>(), n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        if pid != ours && !process_may_run(pid, &entry) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether the process `pid` that left `entry` may still be writing it: on Linux, whether it
/// runs; elsewhere, whether the file changed in the last [`STALE_AFTER`].
fn process_may_run(pid: u32, entry: &std::fs::DirEntry) -> bool {
    let proc_root = Path::new("/proc/self");
    if proc_root.exists() {
        return Path::new("/proc").join(pid.to_string()).exists();
    }
    let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    age.is_none_or(|age| age < STALE_AFTER)
}

/// Where an [`AtomicFile`]'s bytes go.
#[derive(Debug)]
enum Sink {
    /// A file: a temporary file, or a character device or FIFO written through.
    File(File),
    /// Standard output.
    Stdout(std::io::Stdout),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File(f) => f.write(buf),
            Sink::Stdout(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Stdout(s) => s.flush(),
        }
    }
}

/// An output written so that nothing is lost (see the [module documentation](self)): a
/// temporary file beside a regular destination, renamed over it by [`AtomicFile::commit`]; or
/// a character device, FIFO or standard output written straight through.
///
/// Writes are buffered. Dropping an `AtomicFile` without committing it removes the temporary
/// file and leaves a regular destination untouched.
#[derive(Debug)]
pub struct AtomicFile {
    destination: PathBuf,
    /// What the temporary file is renamed to: the destination with symbolic links resolved.
    target: PathBuf,
    /// The temporary file, `None` when writing straight through.
    temp: Option<PathBuf>,
    writer: Option<BufWriter<Sink>>,
}

impl AtomicFile {
    /// Opens `path` for writing as its [`Destination`] says: for a regular file or a new path,
    /// a temporary file `.{name}.tmp-{pid}-{n}` in the directory of the (link-resolved)
    /// destination, after removing stale ones of the same destination left by killed
    /// processes.
    ///
    /// Fails with [`Error::Io`] naming `path` when its directory is missing or not writable,
    /// or when `path` cannot be an output.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let (target, temp, sink) = match Destination::of(path)? {
            Destination::Stdout => (path.to_path_buf(), None, Sink::Stdout(std::io::stdout())),
            Destination::Stream(device) => {
                let file =
                    OpenOptions::new().write(true).open(&device).map_err(|e| Error::io(path, e))?;
                (device, None, Sink::File(file))
            }
            Destination::File(target) => {
                let (temp, file) = create_temp(path, &target)?;
                (target, Some(temp), Sink::File(file))
            }
        };
        Ok(AtomicFile {
            destination: path.to_path_buf(),
            target,
            temp,
            writer: Some(BufWriter::with_capacity(1 << 16, sink)),
        })
    }

    /// The destination path.
    pub fn path(&self) -> &Path {
        &self.destination
    }

    /// Flushes; for a regular destination, syncs the data to disk and renames the temporary
    /// file over the destination (the link-resolved target).
    pub fn commit(mut self) -> Result<()> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let Some(temp) = self.temp.take() else {
            let mut writer = writer;
            return writer.flush().map_err(|e| Error::io(&self.destination, e));
        };
        let result = finish_file(writer, &temp, &self.target);
        if result.is_err() {
            // Best effort: the error that matters is the one returned.
            let _ = std::fs::remove_file(&temp);
        }
        unregister_temp(&temp);
        result.map_err(|e| Error::io(&self.destination, e))
    }

    fn writer(&mut self) -> std::io::Result<&mut BufWriter<Sink>> {
        self.writer.as_mut().ok_or_else(|| std::io::Error::other("write after commit"))
    }
}

/// Creates the temporary file for `target` (the resolved destination of `path`), registered
/// as live, after removing stale ones.
fn create_temp(path: &Path, target: &Path) -> Result<(PathBuf, File)> {
    let name = target.file_name().ok_or_else(|| {
        Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))
    })?;
    let directory = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    remove_stale_temps(directory, name);
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp-{}-{n}", std::process::id()));
    let temp = directory.join(temp_name);
    register_temp(&temp).map_err(|e| Error::io(path, e))?;
    let file = OpenOptions::new().write(true).create_new(true).open(&temp).map_err(|e| {
        unregister_temp(&temp);
        let message = format!("cannot create a file in {}: {e}", directory.display());
        Error::io(path, std::io::Error::new(e.kind(), message))
    })?;
    // Keep the permissions of a file being replaced.
    if let Ok(meta) = std::fs::metadata(target) {
        // Best effort: the output is still correct with the default permissions.
        let _ = file.set_permissions(meta.permissions());
    }
    Ok((temp, file))
}

/// Flushes and syncs `writer`, renames `temp` to `destination` and syncs the directory.
fn finish_file(writer: BufWriter<Sink>, temp: &Path, destination: &Path) -> std::io::Result<()> {
    let Sink::File(file) = writer.into_inner().map_err(|e| e.into_error())? else {
        return Err(std::io::Error::other("a temporary file is a file"));
    };
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
        let writer = self.writer.take();
        if let (Some(writer), Some(temp)) = (writer, self.temp.take()) {
            // Not committed: discard the buffer (a BufWriter flushes on drop) and the file.
            let (sink, _unflushed) = writer.into_parts();
            drop(sink);
            let _ = std::fs::remove_file(&temp);
            unregister_temp(&temp);
        }
    }
}

/// Writes `bytes` to `path` (see [`AtomicFile`]): a regular destination holds either its old
/// content or all of `bytes`.
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
    /// 64-bit integers parsed from the text; a text that is no integer is an error.
    Int64,
    /// 64-bit floats parsed from the text; a text that is no finite number is an error.
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
///
/// A path whose extension names no format is refused ([`Error::UnknownFormat`], naming the
/// supported extensions) before anything is created: rows are never written as CSV into
/// `data.xyz` by guess. A path without an extension (`-`, `/dev/null`, a FIFO) is fine.
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
/// typed by `schema`, whose fields have the Arrow types of `types`. A cell its column's type
/// cannot hold is an error naming its row (1-based within `rows`), column and text, never a
/// null.
pub fn rows_to_batch(
    schema: &SchemaRef,
    types: &[OutputType],
    rows: &[Vec<Option<&str>>],
) -> Result<RecordBatch> {
    let mut builders: Vec<ColumnBuilder> = types.iter().map(|&t| ColumnBuilder::new(t)).collect();
    for (r, row) in rows.iter().enumerate() {
        check_width(Path::new("<generated>"), r + 1, row.len(), builders.len())?;
        append_row(&mut builders, schema, r + 1, row)?;
    }
    let arrays = builders.iter_mut().map(ColumnBuilder::finish).collect();
    RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::Data(format!("cannot build a record batch: {e}")))
}

/// Appends one row's cells to `builders` (one per field of `schema`); `row` numbers it in
/// errors.
fn append_row(
    builders: &mut [ColumnBuilder],
    schema: &SchemaRef,
    row: usize,
    cells: &[Option<&str>],
) -> Result<()> {
    for ((builder, &cell), field) in builders.iter_mut().zip(cells).zip(schema.fields()) {
        builder.append(cell).map_err(|what| {
            let problem = format!(
                "'{}' is not {what}, the column's type in a typed output",
                cell.unwrap_or_default()
            );
            Error::cell(row, field.name(), cell, problem)
        })?;
    }
    Ok(())
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

    /// Appends `cell` (`None` is a null); a text this column's type cannot hold is refused
    /// with what it is not.
    fn append(&mut self, cell: Option<&str>) -> std::result::Result<(), &'static str> {
        match (self, cell) {
            (ColumnBuilder::Utf8(b), cell) => b.append_option(cell),
            (ColumnBuilder::Int64(b), None) => b.append_null(),
            (ColumnBuilder::Float64(b), None) => b.append_null(),
            (ColumnBuilder::Int64(b), Some(text)) => {
                b.append_value(text.trim().parse().map_err(|_| "a 64-bit integer")?)
            }
            (ColumnBuilder::Float64(b), Some(text)) => {
                let value = doppel_table::value::parse_number(text).ok_or("a finite number")?;
                b.append_value(value)
            }
        }
        Ok(())
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
        append_row(&mut self.builders, &self.schema, self.rows + 1, cells)
            .map_err(|e| crate::ingest::in_file(&self.path, e))?;
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

    /// Rows covering plain values, a cell needing quotes, missing values and an exponent.
    const ROWS: [[Option<&str>; 3]; 3] = [
        [Some("1"), Some("2.5"), Some("plain")],
        [Some("2"), None, Some("a, \"quoted\"\nnote")],
        [None, Some("1e-3"), None],
    ];

    fn write_rows(path: &Path, format: Format) -> Result<()> {
        let mut sink = create_sink(path, format, &header(), &TYPES, b',')?;
        for row in &ROWS {
            sink.write_row(row)?;
        }
        sink.finish()
    }

    /// The Arrow schema of `header()` typed by `TYPES`.
    fn typed_schema() -> SchemaRef {
        let fields: Vec<Field> = header()
            .iter()
            .zip(TYPES)
            .map(|(name, t)| Field::new(name.clone(), t.data_type(), true))
            .collect();
        Arc::new(Schema::new(fields))
    }

    #[test]
    fn generated_rows_become_typed_batches_with_nulls() -> Result<()> {
        use arrow_array::{Array, Float64Array, Int64Array, StringArray};
        let schema = typed_schema();
        let rows: Vec<Vec<Option<&str>>> = ROWS.iter().map(|r| r.to_vec()).collect();
        let batch = rows_to_batch(&schema, &TYPES, &rows)?;
        let id = batch.column(0).as_any().downcast_ref::<Int64Array>().expect("int64");
        assert_eq!(id.iter().collect::<Vec<_>>(), [Some(1), Some(2), None]);
        let price = batch.column(1).as_any().downcast_ref::<Float64Array>().expect("float64");
        assert_eq!(price.iter().collect::<Vec<_>>(), [Some(2.5), None, Some(0.001)]);
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
        let golden = "id,price,note\n1,2.5,plain\n2,,\"a, \"\"quoted\"\"\nnote\"\n,1e-3,\n";
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
        let options = ReadOptions { delimiter: Some(b'\t'), ..ReadOptions::default() };
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
        assert_eq!(column(1), [Some("2.5"), None, Some("0.001")]);
        assert_eq!(column(2), [Some("plain"), Some("a, \"quoted\"\nnote"), None]);
        assert_eq!(names(dir.path())?, [name]);
        Ok(())
    }

    /// A text a typed column cannot hold is an error naming its row, column and text (it
    /// used to become a null silently), and no file appears.
    #[test]
    fn a_value_its_type_cannot_hold_is_an_error() -> Result<()> {
        let cell_error = |e: Error| match e {
            Error::Table {
                source: doppel_table::Error::Cell { row, column, value, .. }, ..
            } => (row, column, value),
            other => panic!("expected a cell error, got {other:?}"),
        };
        let schema = typed_schema();
        let rows = vec![ROWS[0].to_vec(), vec![Some("3"), Some("_RARE_"), None]];
        let err = rows_to_batch(&schema, &TYPES, &rows).unwrap_err();
        assert_eq!(cell_error(err), (2, "price".into(), Some("_RARE_".into())));
        for format in [Format::Parquet, Format::ArrowIpc] {
            let dir = tempdir()?;
            let path = dir.path().join("out.parquet");
            let mut sink = create_sink(&path, format, &header(), &TYPES, b',')?;
            sink.write_row(&ROWS[0])?;
            let err = sink.write_row(&[Some("4.5"), None, None]).unwrap_err();
            assert!(err.to_string().contains("out.parquet: row 2, column 'id'"), "{err}");
            assert_eq!(cell_error(err), (2, "id".into(), Some("4.5".into())));
            drop(sink);
            assert_eq!(names(dir.path())?, Vec::<String>::new());
        }
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
    #[cfg(unix)]
    #[test]
    fn a_symlinked_destination_replaces_its_target_and_stays_a_link() -> Result<()> {
        let dir = tempdir()?;
        let real = dir.path().join("real");
        std::fs::create_dir(&real).map_err(|e| Error::io(&real, e))?;
        let target = real.join("out.csv");
        write_atomic(&target, b"old")?;
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&target, &link).map_err(|e| Error::io(&link, e))?;
        write_atomic(&link, b"new")?;
        let kind = std::fs::symlink_metadata(&link).map_err(|e| Error::io(&link, e))?;
        assert!(kind.file_type().is_symlink(), "the link was replaced by a file");
        assert_eq!(std::fs::read(&target).map_err(|e| Error::io(&target, e))?, b"new");
        assert_eq!(names(dir.path())?, ["link.csv", "real"]);
        assert_eq!(names(&real)?, ["out.csv"]);
        // A link to a missing file is refused, and nothing is created.
        let dangling = dir.path().join("dangling.csv");
        std::os::unix::fs::symlink(dir.path().join("nowhere.csv"), &dangling)
            .map_err(|e| Error::io(&dangling, e))?;
        let err = write_atomic(&dangling, b"x").unwrap_err().to_string();
        assert!(err.contains("dangling.csv") && err.contains("missing file"), "{err}");
        assert!(!dir.path().join("nowhere.csv").exists());
        Ok(())
    }

    #[test]
    fn a_directory_destination_is_refused() -> Result<()> {
        let dir = tempdir()?;
        let err = write_atomic(dir.path(), b"x").unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        assert!(names(dir.path())?.is_empty());
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn character_devices_and_fifos_are_written_through() -> Result<()> {
        use std::os::unix::fs::FileTypeExt;
        let null = Path::new("/dev/null");
        assert_eq!(Destination::of(null)?, Destination::Stream(null.to_path_buf()));
        write_atomic(null, b"discarded")?;
        let kind = std::fs::symlink_metadata(null).map_err(|e| Error::io(null, e))?;
        assert!(kind.file_type().is_char_device());

        let dir = tempdir()?;
        let fifo = dir.path().join("pipe.csv");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo))
        };
        write_rows(&fifo, Format::Csv)?;
        let bytes = reader.join().map_err(|_| Error::Data("reader panicked".into()))?;
        let bytes = bytes.map_err(|e| Error::io(&fifo, e))?;
        assert!(String::from_utf8_lossy(&bytes).starts_with("id,price,note\n1,2.5,plain\n"));
        let kind = std::fs::symlink_metadata(&fifo).map_err(|e| Error::io(&fifo, e))?;
        assert!(kind.file_type().is_fifo(), "the FIFO was replaced");
        assert_eq!(names(dir.path())?, ["pipe.csv"]);
        assert_eq!(Destination::of(Path::new("-"))?, Destination::Stdout);
        Ok(())
    }

    #[test]
    fn an_output_over_an_input_is_refused_naming_both() -> Result<()> {
        let dir = tempdir()?;
        let input = dir.path().join("in.csv");
        write_atomic(&input, b"a\n1\n")?;
        let other = dir.path().join("other.csv");
        write_atomic(&other, b"a\n1\n")?;
        let new = dir.path().join("new.csv");
        let err = refuse_output_over_inputs(&input, &[&other, &input]).unwrap_err().to_string();
        assert!(err.contains("output") && err.contains("same file as the input"), "{err}");
        assert_eq!(err.matches("in.csv").count(), 2, "{err}");
        refuse_output_over_inputs(&other, &[&input])?;
        refuse_output_over_inputs(&new, &[&input])?;
        refuse_output_over_inputs(Path::new("-"), &[&input])?;
        #[cfg(unix)]
        {
            let hard = dir.path().join("hard.csv");
            std::fs::hard_link(&input, &hard).map_err(|e| Error::io(&hard, e))?;
            let soft = dir.path().join("soft.csv");
            std::os::unix::fs::symlink(&input, &soft).map_err(|e| Error::io(&soft, e))?;
            for alias in [&hard, &soft] {
                let err = refuse_output_over_inputs(alias, &[&input]).unwrap_err().to_string();
                assert!(err.contains(&*alias.to_string_lossy()), "{err}");
                let err = refuse_output_over_inputs(&input, &[alias]).unwrap_err().to_string();
                assert!(err.contains("same file as the input"), "{err}");
            }
        }
        Ok(())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stale_temporary_files_of_dead_processes_are_removed() -> Result<()> {
        let dir = tempdir()?;
        let mut child =
            std::process::Command::new("true").spawn().map_err(|e| Error::io("true", e))?;
        let dead = child.id();
        child.wait().map_err(|e| Error::io("true", e))?;
        let stale = dir.path().join(format!(".out.csv.tmp-{dead}-3"));
        let ours = dir.path().join(format!(".out.csv.tmp-{}-999999", std::process::id()));
        let other = dir.path().join(format!(".other.csv.tmp-{dead}-3"));
        let odd = dir.path().join(".out.csv.tmp-notapid");
        for path in [&stale, &ours, &other, &odd] {
            std::fs::write(path, b"x").map_err(|e| Error::io(path, e))?;
        }
        write_atomic(&dir.path().join("out.csv"), b"done")?;
        assert!(!stale.exists(), "the dead process's temporary file is still there");
        assert!(ours.exists() && other.exists() && odd.exists());
        Ok(())
    }
}
