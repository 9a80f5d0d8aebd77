//! Reading a source file (CSV, Arrow IPC or Parquet) into a [`Table`].
//!
//! Every format ends in the same shape: one nullable UTF-8 column per source column.
//!
//! * CSV (RFC 4180): the first record is the header; every cell keeps its exact text, untrimmed
//!   (CSV has no nulls, so an empty field is `Some("")`). Quoted delimiters, embedded newlines,
//!   CRLF line ends and a UTF-8 byte order mark are handled.
//! * Arrow IPC (file format, or stream format when the file magic is absent) and Parquet: every
//!   column is rendered as text by Arrow's display formatter; a null stays a null.
//!
//! Errors name the file and, where known, the row, line and column at fault, so a user can fix
//! the input.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::table::{SourceType, Table};

/// A source (or output) file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Delimited text with a header row (RFC 4180).
    Csv,
    /// Arrow IPC: the file format (`.arrow`, `.feather` v2) or the stream format.
    ArrowIpc,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The file extensions (lower case) each format is known by. A path without an extension
    /// (`-`, `/dev/null`, a FIFO) is CSV; any other extension is refused by [`Format::of_path`].
    pub const EXTENSIONS: [(Format, &'static [&'static str]); 3] = [
        (Format::Csv, &["csv", "tsv", "txt"]),
        (Format::Parquet, &["parquet", "pq"]),
        (Format::ArrowIpc, &["arrow", "arrows", "ipc", "feather"]),
    ];

    /// The format a path's extension names (case-insensitive, see [`Format::EXTENSIONS`]); a
    /// path without an extension is CSV.
    ///
    /// Errors: [`Error::UnknownFormat`] naming the path and the supported extensions, for an
    /// extension no format has (`data.xyz` is not read or written as CSV by guess).
    pub fn of_path(path: &Path) -> Result<Format> {
        let Some(extension) = path.extension().filter(|e| !e.is_empty()) else {
            return Ok(Format::Csv);
        };
        let lower = extension.to_string_lossy().to_ascii_lowercase();
        Format::EXTENSIONS
            .iter()
            .find(|(_, known)| known.contains(&lower.as_str()))
            .map(|&(format, _)| format)
            .ok_or_else(|| Error::UnknownFormat {
                path: path.to_path_buf(),
                extension: extension.to_string_lossy().into_owned(),
            })
    }

    /// `explicit` when given (a format named by the user, whatever the extension), else the
    /// format of the path's extension ([`Format::of_path`]).
    pub fn resolve(path: &Path, explicit: Option<Format>) -> Result<Format> {
        explicit.map_or_else(|| Format::of_path(path), Ok)
    }

    /// The supported extensions for messages: `.csv, .tsv, .txt (CSV), ...`.
    pub fn supported_extensions() -> String {
        let named = |(format, extensions): &(Format, &[&str])| {
            let list: Vec<String> = extensions.iter().map(|e| format!(".{e}")).collect();
            let name = match format {
                Format::Csv => "CSV",
                Format::Parquet => "Parquet",
                Format::ArrowIpc => "Arrow IPC",
            };
            format!("{} ({name})", list.join(", "))
        };
        let all: Vec<String> = Format::EXTENSIONS.iter().map(named).collect();
        all.join("; ")
    }
}

/// How a source file is read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadOptions {
    /// Field delimiter of CSV input; `None` detects it among `,` `;` tab `|` (see
    /// [`sniff_delimiter`]).
    pub delimiter: Option<u8>,
    /// Upper bounds on the table: columns, rows, bytes of one cell (in every format) and of
    /// the whole table.
    pub limits: Limits,
    /// The file's format, whatever its extension; `None` takes it from the extension (see
    /// [`Format::of_path`]).
    pub format: Option<Format>,
}

impl ReadOptions {
    /// The options a training configuration gives: its delimiter and its limits.
    pub fn from_config(config: &TrainConfig) -> ReadOptions {
        ReadOptions {
            // Validation refuses a delimiter that is not ASCII; a non-ASCII one here is
            // detected instead of being truncated to a wrong byte.
            delimiter: config.delimiter.and_then(|d| u8::try_from(d).ok().filter(u8::is_ascii)),
            limits: config.limits.clone(),
            format: None,
        }
    }
}

use doppel_table::csv::SNIFF_BYTES;
pub use doppel_table::csv::{delimiter_name, sniff_delimiter, DELIMITER_CANDIDATES};

/// Checks that `delimiter` can separate CSV fields: one printable ASCII character other than
/// the quote, or a tab. `name` is the key or flag that set it, for the message. Returns it as
/// a byte.
pub fn check_delimiter(delimiter: char, name: &str) -> Result<u8> {
    let byte = u8::try_from(delimiter).ok().filter(u8::is_ascii);
    match byte {
        Some(b) if b == b'\t' || (b.is_ascii_graphic() || b == b' ') && b != b'"' => Ok(b),
        _ => Err(Error::Config(format!(
            "{name} {delimiter:?} must be a single ASCII character, printable and not the quote \
             '\"' (or a tab)"
        ))),
    }
}

/// Detects the delimiter of the CSV file at `path` from its first bytes (see
/// [`sniff_delimiter`]).
pub fn detect_delimiter(path: &Path) -> Result<u8> {
    let file = open_regular_file(path)?;
    let mut sample = Vec::new();
    file.take(SNIFF_BYTES as u64).read_to_end(&mut sample).map_err(|e| Error::io(path, e))?;
    Ok(sniff_delimiter(&sample))
}

/// Opens the file at `path` for reading if it is a regular file (links followed): a FIFO would
/// block until a writer comes, a device may never end, and a directory is no table.
///
/// The kind is checked on the opened handle, so a path swapped for something else between a
/// check and the open cannot slip through; on Unix the open itself is non-blocking (which
/// changes nothing for a regular file), so a FIFO swapped in cannot hang it either.
pub fn open_regular_file(path: &Path) -> Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() { "a directory" } else { "a device, FIFO or socket" };
        return Err(Error::input(
            path,
            format!("is not a regular file ({kind}); give a file path"),
        ));
    }
    Ok(file)
}

/// Reads the whole regular file at `path`, refusing one larger than `limit` bytes (named by
/// `what`, e.g. "a configuration file", and the constant `key` that sets it) before reading
/// more than `limit + 1` bytes.
pub fn read_capped(path: &Path, limit: u64, what: &str, key: &str) -> Result<Vec<u8>> {
    let file = open_regular_file(path)?;
    let too_large = || {
        Error::input(path, format!("is larger than {limit} bytes, the limit for {what} ({key})"))
    };
    if file.metadata().is_ok_and(|m| m.len() > limit) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// An input error at `path` for a value above a limit (the same message as the CSV reader's).
fn over_limit(
    path: &Path,
    what: &str,
    value: impl std::fmt::Display,
    key: &'static str,
    limit: u64,
) -> Error {
    let (what, value) = (what.to_owned(), value.to_string());
    Error::table(path, doppel_table::Error::OverLimit { what, value, key, limit })
}

/// Refuses a table of more than `limits.max_columns` columns (every format checks this first).
fn check_columns(path: &Path, columns: usize, limits: &Limits) -> Result<()> {
    limits.read_limits().check_columns(columns).map_err(|e| Error::table(path, e))
}

/// Refuses more than `limits.max_rows` rows; `seen` is what the message shows (an exact count,
/// or "more than N" while reading).
fn check_rows(path: &Path, rows: u64, seen: impl std::fmt::Display, limits: &Limits) -> Result<()> {
    limits.read_limits().check_rows(rows, seen).map_err(|e| Error::table(path, e))
}

/// Reads the file at `path` in `options.format`, or else the format its extension names (see
/// [`Format::of_path`]: an unknown extension is an error), within `options.limits`. The file
/// must be a regular file (see [`open_regular_file`]).
pub fn read_table(path: &Path, options: &ReadOptions) -> Result<Table> {
    match Format::resolve(path, options.format)? {
        Format::Csv => {
            let file = open_regular_file(path)?;
            read_csv(file, path, options)
        }
        Format::ArrowIpc => {
            decoder_boundary(path, "Arrow IPC", || read_arrow_ipc(path, &options.limits))
        }
        Format::Parquet => {
            decoder_boundary(path, "Parquet", || read_parquet(path, &options.limits))
        }
    }
}

/// Reads CSV text from `reader` with doppel-table's reader ([`doppel_table::read_csv`]: the
/// report reads CSV with the same code); `path` names the source in messages only.
///
/// The first record is the header: an empty name becomes `column_<i>` (1-based), a repeated
/// name is an error. Every data row must have as many fields as the header. The delimiter is
/// detected from the first bytes when `options` has none. Columns, rows, field bytes and
/// table bytes are checked against `options.limits` as the text is read.
pub fn read_csv(reader: impl Read, path: &Path, options: &ReadOptions) -> Result<Table> {
    let mut builders: Vec<StringBuilder> = Vec::new();
    let on_row = |record: &csv::StringRecord| {
        if builders.is_empty() {
            builders.resize_with(record.len(), StringBuilder::new);
        }
        for (builder, field) in builders.iter_mut().zip(record) {
            builder.append_value(field);
        }
    };
    let limits = options.limits.read_limits();
    let names = doppel_table::read_csv(reader, options.delimiter, &limits, on_row)
        .map_err(|e| Error::table(path, e))?;
    let arrays = builders.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
    Table::from_arrays(names, arrays).map_err(|e| in_file(path, e))
}

/// Re-targets an error about a table's data ([`Error::Data`], from [`Table`] construction or
/// from training on it) at the file the table came from, so that the message names it.
pub fn in_file(path: &Path, error: Error) -> Error {
    match error {
        Error::Data(message) => Error::input(path, message),
        Error::Table { path: None, source } => Error::table(path, source),
        other => other,
    }
}

/// Runs a third-party decoder on a file, turning a panic inside it into an input error naming
/// the file. The Arrow IPC and Parquet readers validate most of what they read, but not all:
/// fuzzing found an IPC file whose buffer offsets make `arrow-ipc` panic while slicing. A panic
/// must never reach a host process; the file is simply unreadable.
fn decoder_boundary(
    path: &Path,
    format: &str,
    read: impl FnOnce() -> Result<Table>,
) -> Result<Table> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|payload| {
        let why = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Err(Error::input(path, format!("not a readable {format} file: the decoder failed ({why})")))
    })
}

/// Checks that every block an Arrow IPC file's footer declares lies within the file. arrow-ipc
/// allocates a block's declared length before reading it, so a forged footer (found by
/// fuzzing) could ask for up to 2^62 bytes from a file of a few hundred.
fn check_ipc_blocks(file: &mut File) -> std::result::Result<(), String> {
    let len = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    if len < 10 {
        return Err("too short for the file format".into());
    }
    let mut trailer = [0u8; 10];
    file.seek(SeekFrom::Start(len - 10)).map_err(|e| e.to_string())?;
    file.read_exact(&mut trailer).map_err(|e| e.to_string())?;
    let footer_len = arrow_ipc::reader::read_footer_length(trailer).map_err(|e| e.to_string())?;
    let footer_start = (len - 10)
        .checked_sub(footer_len as u64)
        .ok_or_else(|| format!("a footer of {footer_len} bytes in a file of {len}"))?;
    let mut footer = vec![0u8; footer_len];
    file.seek(SeekFrom::Start(footer_start)).map_err(|e| e.to_string())?;
    file.read_exact(&mut footer).map_err(|e| e.to_string())?;
    let footer = arrow_ipc::root_as_footer(&footer).map_err(|e| format!("bad footer ({e})"))?;
    let blocks = footer.recordBatches().into_iter().chain(footer.dictionaries()).flatten();
    for block in blocks {
        let end = u64::try_from(block.offset()).ok().and_then(|offset| {
            let meta = u64::try_from(block.metaDataLength()).ok()?;
            let body = u64::try_from(block.bodyLength()).ok()?;
            offset.checked_add(meta)?.checked_add(body)
        });
        if end.is_none_or(|end| end > footer_start) {
            return Err(format!(
                "a block at offset {} of {} + {} bytes lies outside the file's {len} bytes",
                block.offset(),
                block.metaDataLength(),
                block.bodyLength()
            ));
        }
    }
    Ok(())
}

/// The Arrow IPC file magic, at the start (and end) of the file format.
const ARROW_MAGIC: &[u8; 6] = b"ARROW1";

/// Reads an Arrow IPC file: the file format when it starts with the Arrow magic, the stream
/// format otherwise.
fn read_arrow_ipc(path: &Path, limits: &Limits) -> Result<Table> {
    let mut file = open_regular_file(path)?;
    let mut magic = [0u8; 6];
    let is_file_format = match file.read_exact(&mut magic) {
        Ok(()) => &magic == ARROW_MAGIC,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => false,
        Err(e) => return Err(Error::io(path, e)),
    };
    file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(path, e))?;
    let bad = |e: arrow_schema::ArrowError| {
        Error::input(path, format!("not a readable Arrow IPC file: {e}"))
    };
    if is_file_format {
        check_ipc_blocks(&mut file)
            .map_err(|why| Error::input(path, format!("not a readable Arrow IPC file: {why}")))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(path, e))?;
        let reader =
            arrow_ipc::reader::FileReader::try_new(BufReader::new(file), None).map_err(bad)?;
        let schema = reader.schema();
        let batches = collect_batches(path, &schema, reader, limits)?;
        table_from_batches_within(path, &schema, &batches, limits)
    } else {
        // The stream format needs no such check: its reader (arrow-ipc 60) reads a message's
        // metadata and body as the bytes arrive, allocating at most 64 MB ahead of them.
        let reader =
            arrow_ipc::reader::StreamReader::try_new(BufReader::new(file), None).map_err(bad)?;
        let schema = reader.schema();
        let batches = collect_batches(path, &schema, reader, limits)?;
        table_from_batches_within(path, &schema, &batches, limits)
    }
}

/// Reads a Parquet file. The row and column counts and the decoded size in the footer are
/// checked against `limits` before any data is decoded; text and binary columns are decoded
/// as views, so a value repeated through a dictionary is held once, and every batch's cells
/// are checked as it arrives.
fn read_parquet(path: &Path, limits: &Limits) -> Result<Table> {
    use arrow_array::RecordBatchReader;
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};

    let bad = |e: parquet::errors::ParquetError| {
        Error::input(path, format!("not a readable Parquet file: {e}"))
    };
    let file = open_regular_file(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(bad)?;
    let metadata = builder.metadata().clone();
    let rows = metadata.file_metadata().num_rows();
    // A negative count in the footer is as unusable as a huge one.
    check_rows(path, u64::try_from(rows).unwrap_or(u64::MAX), rows, limits)?;
    let columns = builder.schema().fields().len();
    check_columns(path, columns, limits)?;
    let decoded: u64 = metadata
        .row_groups()
        .iter()
        .flat_map(|g| g.columns())
        .map(|c| u64::try_from(c.uncompressed_size()).unwrap_or(u64::MAX))
        .fold(0, u64::saturating_add);
    if decoded > limits.max_table_bytes {
        return Err(over_limit(
            path,
            "the decoded size of the data",
            format!("{decoded} bytes"),
            "max_table_bytes",
            limits.max_table_bytes,
        ));
    }
    let schema = Arc::new(arrow_schema::Schema::new_with_metadata(
        builder.schema().fields().iter().map(as_view).collect::<Vec<_>>(),
        builder.schema().metadata().clone(),
    ));
    let file = open_regular_file(path)?;
    let options = ArrowReaderOptions::new().with_schema(schema);
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
        .and_then(|b| b.build())
        .map_err(bad)?;
    let schema = reader.schema();
    let batches = collect_batches(path, &schema, reader, limits)?;
    table_from_batches_within(path, &schema, &batches, limits)
}

/// `field` with text and binary types read as views (no copy of a dictionary's values).
fn as_view(field: &arrow_schema::FieldRef) -> arrow_schema::FieldRef {
    use arrow_schema::DataType;
    let view = match field.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8View,
        DataType::Binary | DataType::LargeBinary => DataType::BinaryView,
        _ => return field.clone(),
    };
    Arc::new(field.as_ref().clone().with_data_type(view))
}

/// Collects the record batches of `reader`, checking each against `limits` as it arrives
/// (the number of columns before the first): rows, bytes of a text or binary cell, and bytes
/// of the whole table. `path` names the source in errors (a file, or a label such as
/// `<arrow stream>`).
pub fn collect_batches<E: std::fmt::Display>(
    path: &Path,
    schema: &SchemaRef,
    reader: impl Iterator<Item = std::result::Result<RecordBatch, E>>,
    limits: &Limits,
) -> Result<Vec<RecordBatch>> {
    let columns = schema.fields().len();
    check_columns(path, columns, limits)?;
    let mut batches = Vec::new();
    let mut rows = 0usize;
    let mut bytes = 0u64;
    for batch in reader {
        let batch =
            batch.map_err(|e| Error::input(path, format!("cannot read a record batch: {e}")))?;
        let text = check_batch(path, &batch, rows, limits)?;
        rows = rows.saturating_add(batch.num_rows());
        let more = format!("more than {}", limits.max_rows);
        check_rows(path, rows as u64, more, limits)?;
        bytes = bytes.saturating_add(text);
        if bytes > limits.max_table_bytes {
            return Err(over_limit(
                path,
                &format!("the table's text and binary cells up to row {rows}"),
                format!("{bytes} bytes"),
                "max_table_bytes",
                limits.max_table_bytes,
            ));
        }
        batches.try_reserve(1).map_err(|e| Error::input(path, format!("out of memory: {e}")))?;
        batches.push(batch);
    }
    Ok(batches)
}

/// Fails, naming the row and column, when a text or binary cell of `batch` (whose first row
/// is row `first + 1` of the table) is longer than `limits.max_field_bytes`; returns the bytes
/// of its text and binary cells.
fn check_batch(path: &Path, batch: &RecordBatch, first: usize, limits: &Limits) -> Result<u64> {
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    let max = limits.max_field_bytes;
    let mut bytes = 0u64;
    for (c, array) in batch.columns().iter().enumerate() {
        let lengths: Box<dyn Iterator<Item = usize>> = match array.data_type() {
            DataType::Utf8 => {
                Box::new(array.as_string::<i32>().iter().map(|v| v.map_or(0, str::len)))
            }
            DataType::LargeUtf8 => {
                Box::new(array.as_string::<i64>().iter().map(|v| v.map_or(0, str::len)))
            }
            DataType::Utf8View => {
                Box::new(array.as_string_view().views().iter().map(|v| *v as u32 as usize))
            }
            DataType::Binary => {
                Box::new(array.as_binary::<i32>().iter().map(|v| v.map_or(0, <[u8]>::len)))
            }
            DataType::LargeBinary => {
                Box::new(array.as_binary::<i64>().iter().map(|v| v.map_or(0, <[u8]>::len)))
            }
            DataType::BinaryView => {
                Box::new(array.as_binary_view().views().iter().map(|v| *v as u32 as usize))
            }
            _ => continue,
        };
        let mut total = 0u64;
        let mut over = None;
        for (r, len) in lengths.enumerate() {
            total = total.saturating_add(len as u64);
            if len > max {
                over = Some((r, len));
                break;
            }
        }
        bytes = bytes.saturating_add(total);
        if let Some((r, len)) = over {
            let name = batch.schema_ref().field(c).name().clone();
            let problem = format!(
                "field is {len} bytes, over the limit of {max} bytes (limits.max_field_bytes)"
            );
            let cell = doppel_table::Error::cell(first + r + 1, name, None, problem);
            return Err(Error::table(path, cell));
        }
    }
    Ok(bytes)
}

/// Renders every column of Arrow record `batches` as text (nulls stay nulls) and builds a
/// [`Table`], within the default [`Limits`] (see [`table_from_batches_within`]).
pub fn table_from_batches(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Table> {
    table_from_batches_within(path, schema, batches, &Limits::default())
}

/// Renders every column of Arrow record `batches` as text (nulls stay nulls) and builds a
/// [`Table`] that keeps each column's [`SourceType`]; errors name `path` (a file, or a label such as `<arrow stream>`), the row and
/// the column. Columns, rows, the rendered text of each cell and of the whole table are
/// checked against `limits`.
pub fn table_from_batches_within(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    limits: &Limits,
) -> Result<Table> {
    if schema.fields().is_empty() {
        return Err(Error::input(path, "has no columns"));
    }
    let columns = schema.fields().len();
    check_columns(path, columns, limits)?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).fold(0, usize::saturating_add);
    if rows == 0 {
        return Err(Error::input(path, "has no data rows"));
    }
    check_rows(path, rows as u64, rows, limits)?;
    let names: Vec<String> = schema
        .fields()
        .iter()
        .enumerate()
        .map(
            |(i, f)| {
                if f.name().is_empty() {
                    format!("column_{}", i + 1)
                } else {
                    f.name().clone()
                }
            },
        )
        .collect();
    doppel_table::csv::check_unique(&names).map_err(|e| Error::table(path, e))?;
    let options = FormatOptions::default();
    let max = limits.max_field_bytes;
    let mut table_bytes = 0u64;
    let mut arrays = Vec::with_capacity(names.len());
    for (c, (name, field)) in names.iter().zip(schema.fields()).enumerate() {
        let mut builder = StringBuilder::with_capacity(rows, rows.saturating_mul(8).min(1 << 26));
        let mut offset = 0usize;
        for batch in batches {
            let array = batch.column(c);
            let formatter = ArrayFormatter::try_new(array.as_ref(), &options).map_err(|e| {
                Error::input(
                    path,
                    format!(
                        "column '{name}' has type {} which cannot be read as text: {e}",
                        field.data_type()
                    ),
                )
            })?;
            let nulls = array.logical_nulls();
            for r in 0..array.len() {
                if nulls.as_ref().is_some_and(|n| n.is_null(r)) {
                    builder.append_null();
                    continue;
                }
                let before = builder.values_slice().len();
                formatter.value(r).write(&mut builder).map_err(|e| {
                    let problem = format!("cannot render as text: {e}");
                    let cell = doppel_table::Error::cell(offset + r + 1, name, None, problem);
                    Error::table(path, cell)
                })?;
                let len = builder.values_slice().len() - before;
                if len > max {
                    let problem = format!(
                        "field is {len} bytes as text, over the limit of {max} bytes \
                         (limits.max_field_bytes)"
                    );
                    let cell = doppel_table::Error::cell(offset + r + 1, name, None, problem);
                    return Err(Error::table(path, cell));
                }
                table_bytes = table_bytes.saturating_add(len as u64);
                if table_bytes > limits.max_table_bytes {
                    return Err(over_limit(
                        path,
                        "the table's text",
                        format!("more than {table_bytes} bytes"),
                        "max_table_bytes",
                        limits.max_table_bytes,
                    ));
                }
                builder.append_value("");
            }
            offset += array.len();
        }
        arrays.push(Arc::new(builder.finish()) as ArrayRef);
    }
    let source = schema.fields().iter().map(|f| SourceType::of(f.data_type())).collect();
    Ok(Table::from_arrays(names, arrays).map_err(|e| in_file(path, e))?.with_source_types(source))
}

#[cfg(test)]
mod tests {
    /// The arrow_ingest fuzz target's reproducers: arrow-ipc panics on bad buffer offsets, or
    /// allocates a forged block length; the reader returns an error naming the file instead.
    #[test]
    fn ipc_files_that_break_the_decoder_are_input_errors() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/crashes/arrow_ingest");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("the reproducers are committed") {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
            let tmp = tempfile::tempdir().expect("tempdir");
            let path = tmp.path().join("crash.arrow");
            std::fs::write(&path, bytes).expect("write");
            let err = read_table(&path, &ReadOptions::default()).err().map(|e| e.to_string());
            let err = err.unwrap_or_default();
            assert!(
                err.contains("crash.arrow") && err.contains("not a readable Arrow IPC"),
                "{err}"
            );
            seen += 1;
        }
        assert!(seen >= 1);
    }

    use super::*;

    use arrow_array::{Date32Array, Float64Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    fn csv(text: &[u8]) -> Result<Table> {
        read_csv(text, Path::new("in.csv"), &ReadOptions::default())
    }

    fn csv_err(text: &[u8]) -> String {
        match csv(text) {
            Ok(t) => panic!("expected an error, read {} rows", t.num_rows()),
            Err(e) => e.to_string(),
        }
    }

    fn column(t: &Table, c: usize) -> Vec<Option<&str>> {
        (0..t.num_rows()).map(|r| t.cell(r, c)).collect()
    }

    #[test]
    fn format_follows_the_extension() -> Result<()> {
        assert_eq!(Format::of_path(Path::new("a/b.PARQUET"))?, Format::Parquet);
        assert_eq!(Format::of_path(Path::new("b.pq"))?, Format::Parquet);
        for name in ["b.arrow", "b.ipc", "b.feather", "b.arrows", "b.Feather"] {
            assert_eq!(Format::of_path(Path::new(name))?, Format::ArrowIpc, "{name}");
        }
        for name in ["b.csv", "b.tsv", "b.TXT", "b", "-", "/dev/null", ".hidden"] {
            assert_eq!(Format::of_path(Path::new(name))?, Format::Csv, "{name}");
        }
        Ok(())
    }

    #[test]
    fn an_unknown_extension_is_refused_naming_the_supported_ones() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("data.xyz");
        std::fs::write(&path, "a,b\n1,2\n").map_err(|e| Error::io(&path, e))?;
        let err = read_table(&path, &ReadOptions::default()).unwrap_err();
        assert!(matches!(err, Error::UnknownFormat { .. }), "{err:?}");
        let message = err.to_string();
        for needle in ["data.xyz", "\"xyz\"", ".csv", ".tsv", ".parquet", ".arrow", ".feather"] {
            assert!(message.contains(needle), "{needle}: {message}");
        }
        // An explicit format reads it whatever its extension.
        let options = ReadOptions { format: Some(Format::Csv), ..ReadOptions::default() };
        assert_eq!(read_table(&path, &options)?.column_names(), ["a", "b"]);
        assert_eq!(Format::resolve(&path, Some(Format::Parquet))?, Format::Parquet);
        Ok(())
    }

    #[test]
    fn quoted_delimiter_is_one_field() -> Result<()> {
        let t = csv(b"name,city\n\"Smith, J\",Paris\n")?;
        assert_eq!(t.column_names(), ["name", "city"]);
        assert_eq!(column(&t, 0), [Some("Smith, J")]);
        assert_eq!(column(&t, 1), [Some("Paris")]);
        Ok(())
    }

    #[test]
    fn embedded_newline_and_escaped_quote_are_kept() -> Result<()> {
        let t = csv(b"a,b\n\"line 1\nline 2\",\"say \"\"hi\"\"\"\nx,y\n")?;
        assert_eq!(column(&t, 0), [Some("line 1\nline 2"), Some("x")]);
        assert_eq!(column(&t, 1), [Some("say \"hi\""), Some("y")]);
        Ok(())
    }

    #[test]
    fn crlf_line_ends() -> Result<()> {
        let t = csv(b"a,b\r\n1,2\r\n3,4\r\n")?;
        assert_eq!(t.column_names(), ["a", "b"]);
        assert_eq!(column(&t, 1), [Some("2"), Some("4")]);
        Ok(())
    }

    #[test]
    fn bom_is_stripped() -> Result<()> {
        let t = csv(b"\xef\xbb\xbfid,v\n1,2\n")?;
        assert_eq!(t.column_names(), ["id", "v"]);
        assert_eq!(t.column_index("id"), Some(0));
        Ok(())
    }

    #[test]
    fn empty_fields_and_spaces_are_kept_verbatim() -> Result<()> {
        let t = csv(b"a,,c\n, x ,\"\"\n")?;
        assert_eq!(t.column_names(), ["a", "column_2", "c"]);
        assert_eq!(t.cell(0, 0), Some(""));
        assert_eq!(t.cell(0, 1), Some(" x "));
        assert_eq!(t.cell(0, 2), Some(""));
        Ok(())
    }

    #[test]
    fn semicolon_delimiter() -> Result<()> {
        let options = ReadOptions { delimiter: Some(b';'), ..ReadOptions::default() };
        let t = read_csv(&b"a;b\n1,5;2\n"[..], Path::new("in.csv"), &options)?;
        assert_eq!(column(&t, 0), [Some("1,5")]);
        assert_eq!(column(&t, 1), [Some("2")]);
        Ok(())
    }

    #[test]
    fn empty_file_is_refused() {
        let err = csv_err(b"");
        assert!(err.contains("in.csv") && err.contains("is empty: expected a header row"), "{err}");
    }

    #[test]
    fn header_only_is_refused() {
        let err = csv_err(b"a,b\n");
        assert!(err.contains("has a header but no data rows"), "{err}");
    }

    #[test]
    fn ragged_row_names_row_and_line() {
        let err = csv_err(b"a,b\n1,2\n\"x\ny\",2\n3,4,5\n");
        assert!(err.contains("row 3 (line 5) has 3 fields but the header has 2"), "{err}");
        let err = csv_err(b"a,b\n1\n");
        assert!(err.contains("row 1 (line 2) has 1 fields but the header has 2"), "{err}");
    }

    #[test]
    fn invalid_utf8_names_row_and_column() {
        let err = csv_err(b"a,b\n1,2\n3,x\xff\n");
        assert!(err.contains("row 2 (line 3), column 'b': invalid UTF-8"), "{err}");
        let err = csv_err(b"a,\xc3(\n1,2\n");
        assert!(err.contains("header (line 1), column 2: invalid UTF-8"), "{err}");
    }

    #[test]
    fn duplicate_header_name_is_named() {
        let err = csv_err(b"a,b,a\n1,2,3\n");
        assert!(err.contains("'a' appears more than once (columns 1 and 3)"), "{err}");
    }

    #[test]
    fn oversized_fields_name_row_column_and_limit() {
        // Over the limit but within what the raw-byte guard lets through: the exact size.
        let mut text = b"id,blob\n1,".to_vec();
        text.extend(std::iter::repeat_n(b'x', 1_500_000));
        text.extend_from_slice(b"\n");
        let err = csv_err(&text);
        assert!(
            err.contains("row 1, column 'blob': field is 1500000 bytes, over the limit of 1048576 bytes (limits.max_field_bytes)"),
            "{err}"
        );
        // Far over it: the guard stops at twice the limit (quotes doubled) and names it.
        let mut text = b"id,blob\n1,\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', 10_000_000));
        text.extend_from_slice(b"\"\n");
        let err = csv_err(&text);
        assert!(err.contains("row 1 (from line 2): a field runs past 2097154 bytes"), "{err}");
        assert!(err.contains("limits.max_field_bytes"), "{err}");
        assert!(err.contains("unbalanced quote"), "{err}");
        // Unquoted, after a blank line and CRLF line ends: the row and line are still right,
        // and no quote is blamed.
        let mut text = b"id,blob\r\n1,a\r\n\r\n2,b\n3,".to_vec();
        text.extend(std::iter::repeat_n(b'x', 3_000_000));
        let err = csv_err(&text);
        assert!(err.contains("row 3 (from line 5): a field runs past"), "{err}");
        assert!(!err.contains("quote"), "{err}");
    }

    #[test]
    fn unbalanced_quote_stops_early() {
        // An unbalanced quote turns the rest of the input into one field; reading stops once
        // the field cannot be valid instead of buffering all of it.
        let limits = Limits { max_field_bytes: 10, ..Limits::default() };
        let options = ReadOptions { limits, ..ReadOptions::default() };
        let endless = (&b"a,b\n1,\"oops\n"[..]).chain(std::io::repeat(b'y').take(1 << 40));
        let err = read_csv(endless, Path::new("in.csv"), &options).unwrap_err().to_string();
        assert!(err.contains("row 1 (from line 2): a field runs past 22 bytes"), "{err}");
        assert!(err.contains("unbalanced quote"), "{err}");
    }

    /// Counts the bytes read through it.
    struct Counting<R> {
        inner: R,
        read: std::rc::Rc<std::cell::Cell<u64>>,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }

    #[test]
    fn wide_header_and_unbalanced_quote_stop_within_one_field() {
        // 3,000 columns allowed 6.3 GB for one record (columns x max_field_bytes x 2); an
        // unbalanced quote must stop once one field is past its limit.
        let header: Vec<String> = (0..3_000).map(|i| format!("c{i}")).collect();
        let start = format!("{}\n\"", header.join(","));
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let input = Counting {
            inner: start.as_bytes().chain(std::io::repeat(b'y').take(64 << 20)),
            read: read.clone(),
        };
        let err =
            read_csv(input, Path::new("q.csv"), &ReadOptions::default()).unwrap_err().to_string();
        assert!(
            err.contains("limits.max_field_bytes") && err.contains("unbalanced quote"),
            "{err}"
        );
        assert!(read.get() < 8 << 20, "read {} bytes before stopping", read.get());
    }

    #[test]
    fn columns_rows_and_table_bytes_are_limited() {
        let read = |text: &[u8], limits: Limits| {
            let options = ReadOptions { delimiter: Some(b','), limits, format: None };
            read_csv(text, Path::new("in.csv"), &options).err().map(|e| e.to_string())
        };
        let err = read(b"a,b,c\n1,2,3\n", Limits { max_columns: 2, ..Limits::default() });
        let err = err.unwrap_or_default();
        assert!(err.contains("in.csv") && err.contains("columns is 3"), "{err}");
        assert!(err.contains("limits.max_columns"), "{err}");
        let err = read(b"a\n1\n2\n3\n", Limits { max_rows: 2, ..Limits::default() });
        assert!(err.unwrap_or_default().contains("limits.max_rows"));
        let err = read(b"a\n1234\n5678\n", Limits { max_table_bytes: 6, ..Limits::default() });
        assert!(err.unwrap_or_default().contains("limits.max_table_bytes"));
        assert_eq!(
            read(b"a,b\n1,2\n3,4\n", Limits { max_rows: 2, max_columns: 2, ..Limits::default() }),
            None
        );
    }

    #[test]
    fn the_delimiter_is_detected_when_not_given() -> Result<()> {
        // The detection itself is doppel-table's (tested there); the engine's reader uses it.
        let t = read_csv(&b"x\ty\n1\t2\n"[..], Path::new("in.tsv"), &ReadOptions::default())?;
        assert_eq!(t.column_names(), ["x", "y"]);
        Ok(())
    }

    #[test]
    fn quote_line_ends_and_control_characters_cannot_be_delimiters() {
        for bad in ['"', '\n', '\r', '\u{0}', '\u{1b}', '\u{7f}', 'é'] {
            let err = check_delimiter(bad, "--delimiter").err().map(|e| e.to_string());
            assert!(err.is_some_and(|e| e.contains("--delimiter")), "{bad:?} accepted");
        }
        for good in [',', ';', '\t', '|', ' ', ':'] {
            assert!(check_delimiter(good, "delimiter").is_ok(), "{good:?} refused");
        }
    }

    #[cfg(unix)]
    #[test]
    fn inputs_that_are_not_regular_files_are_refused() -> Result<()> {
        let dir = tempdir()?;
        let fifo = dir.path().join("in.csv");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        for path in [fifo.as_path(), dir.path(), Path::new("/dev/zero")] {
            let err = read_table(path, &ReadOptions::default()).unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
        let err = read_capped(Path::new("/dev/zero"), 10, "a test file", "LIMIT");
        assert!(err.is_err_and(|e| e.to_string().contains("not a regular file")));
        let big = dir.path().join("big.toml");
        std::fs::write(&big, [b'#'; 11]).map_err(|e| Error::io(&big, e))?;
        let err = read_capped(&big, 10, "a test file", "LIMIT").unwrap_err().to_string();
        assert!(err.contains("larger than 10 bytes") && err.contains("LIMIT"), "{err}");
        assert_eq!(read_capped(&big, 11, "a test file", "LIMIT")?.len(), 11);
        Ok(())
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let err =
            read_table(Path::new("/no/such/dir/data.csv"), &ReadOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("/no/such/dir/data.csv"), "{err}");
    }

    fn typed_batch() -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
        let schema = Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("x", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("d", DataType::Date32, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![1, -20, 300])),
                Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-0.25)])),
                Arc::new(StringArray::from(vec![Some("a b"), None, Some("")])),
                // 19723 days after 1970-01-01 is 2024-01-01.
                Arc::new(Date32Array::from(vec![Some(19723), Some(0), None])),
            ],
        )
    }

    fn check_typed(t: &Table) {
        assert_eq!(t.column_names(), ["n", "x", "s", "d"]);
        assert_eq!(column(t, 0), [Some("1"), Some("-20"), Some("300")]);
        assert_eq!(column(t, 1), [Some("1.5"), None, Some("-0.25")]);
        assert_eq!(column(t, 2), [Some("a b"), None, Some("")]);
        assert_eq!(column(t, 3), [Some("2024-01-01"), Some("1970-01-01"), None]);
    }

    fn tempdir() -> Result<tempfile::TempDir> {
        tempfile::tempdir().map_err(|e| Error::io("tempdir", e))
    }

    #[test]
    fn parquet_round_trip() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("t.parquet");
        let batch = typed_batch().map_err(|e| Error::Data(e.to_string()))?;
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
            .map_err(|e| Error::Data(e.to_string()))?;
        writer.write(&batch).map_err(|e| Error::Data(e.to_string()))?;
        writer.close().map_err(|e| Error::Data(e.to_string()))?;
        check_typed(&read_table(&path, &ReadOptions::default())?);
        Ok(())
    }

    #[test]
    fn arrow_ipc_file_and_stream_round_trip() -> Result<()> {
        let dir = tempdir()?;
        let batch = typed_batch().map_err(|e| Error::Data(e.to_string()))?;
        let data = |e: arrow_schema::ArrowError| Error::Data(e.to_string());

        let path = dir.path().join("t.arrow");
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut writer =
            arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).map_err(data)?;
        writer.write(&batch).map_err(data)?;
        writer.finish().map_err(data)?;
        check_typed(&read_table(&path, &ReadOptions::default())?);

        let path = dir.path().join("t.arrows");
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut writer =
            arrow_ipc::writer::StreamWriter::try_new(file, &batch.schema()).map_err(data)?;
        writer.write(&batch.slice(0, 1)).map_err(data)?;
        writer.write(&batch.slice(1, 2)).map_err(data)?;
        writer.finish().map_err(data)?;
        check_typed(&read_table(&path, &ReadOptions::default())?);
        Ok(())
    }

    #[test]
    fn empty_ipc_table_has_no_data_rows() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("empty.arrow");
        let batch = typed_batch().map_err(|e| Error::Data(e.to_string()))?;
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let data = |e: arrow_schema::ArrowError| Error::Data(e.to_string());
        let mut writer =
            arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).map_err(data)?;
        writer.finish().map_err(data)?;
        let err = read_table(&path, &ReadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("empty.arrow: has no data rows"), "{err}");
        Ok(())
    }

    #[test]
    fn corrupt_parquet_and_ipc_are_input_errors() -> Result<()> {
        let dir = tempdir()?;
        let path = dir.path().join("bad.parquet");
        std::fs::write(&path, b"PAR1 this is not parquet PAR1").map_err(|e| Error::io(&path, e))?;
        let err = read_table(&path, &ReadOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Input { .. }), "{err:?}");
        assert!(err.to_string().contains("bad.parquet: not a readable Parquet file"), "{err}");

        let path = dir.path().join("bad.arrow");
        std::fs::write(&path, b"ARROW1\0\0garbage").map_err(|e| Error::io(&path, e))?;
        let err = read_table(&path, &ReadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("bad.arrow: not a readable Arrow IPC file"), "{err}");
        Ok(())
    }
    fn write_parquet(
        path: &Path,
        batch: &RecordBatch,
        properties: Option<parquet::file::properties::WriterProperties>,
    ) -> Result<()> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), properties)
            .map_err(|e| Error::Data(e.to_string()))?;
        writer.write(batch).map_err(|e| Error::Data(e.to_string()))?;
        writer.close().map_err(|e| Error::Data(e.to_string()))?;
        Ok(())
    }

    #[test]
    fn parquet_of_every_common_codec_reads() -> Result<()> {
        use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
        let dir = tempdir()?;
        let batch = typed_batch().map_err(|e| Error::Data(e.to_string()))?;
        let codecs = [
            ("snappy", Compression::SNAPPY),
            ("zstd", Compression::ZSTD(ZstdLevel::default())),
            ("gzip", Compression::GZIP(GzipLevel::default())),
            ("lz4", Compression::LZ4),
            ("lz4_raw", Compression::LZ4_RAW),
            ("brotli", Compression::BROTLI(BrotliLevel::default())),
            ("none", Compression::UNCOMPRESSED),
        ];
        for (name, codec) in codecs {
            let path = dir.path().join(format!("{name}.parquet"));
            let properties = parquet::file::properties::WriterProperties::builder()
                .set_compression(codec)
                .build();
            write_parquet(&path, &batch, Some(properties))?;
            let table = read_table(&path, &ReadOptions::default())
                .map_err(|e| Error::Data(format!("{name}: {e}")))?;
            check_typed(&table);
        }
        Ok(())
    }

    /// A one-column text batch of `rows` copies of a `cell_bytes`-byte value.
    fn repeated_text(rows: usize, cell_bytes: usize) -> Result<RecordBatch> {
        let value = "z".repeat(cell_bytes);
        let schema = Schema::new(vec![Field::new("blob", DataType::Utf8, false)]);
        let array = StringArray::from(vec![value.as_str(); rows]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(array)])
            .map_err(|e| Error::Data(e.to_string()))
    }

    #[test]
    fn parquet_cells_over_the_field_limit_are_refused() -> Result<()> {
        // Compression keeps the file small however large the cells.
        let dir = tempdir()?;
        let path = dir.path().join("cells.parquet");
        let zstd = parquet::basic::Compression::ZSTD(parquet::basic::ZstdLevel::default());
        let properties =
            parquet::file::properties::WriterProperties::builder().set_compression(zstd).build();
        write_parquet(&path, &repeated_text(40, 2 << 20)?, Some(properties))?;
        let len = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len();
        assert!(len < 1 << 20, "the file is {len} bytes");
        let err = read_table(&path, &ReadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("row 1, column 'blob': field is 2097152 bytes"), "{err}");
        assert!(err.contains("limits.max_field_bytes"), "{err}");
        Ok(())
    }

    /// Every data error of reading names the file, row and column as fields of the error, not
    /// only in its text: a program can point at the cell.
    #[test]
    fn data_errors_carry_file_row_and_column_as_fields() -> Result<()> {
        use doppel_table::Error as T;
        let at = |e: Error| match e {
            Error::Table { path: Some(path), source } => {
                assert_eq!(path, Path::new("in.csv"));
                source
            }
            other => panic!("expected a table error naming the file, got {other:?}"),
        };
        let e = at(csv(b"a,b\n1,2\n3\n").unwrap_err());
        assert!(matches!(e, T::Ragged { row: 2, line: 3, expected: 2, found: 1 }), "{e:?}");
        let e = at(csv(b"a,b\n1,\xff\n").unwrap_err());
        assert!(matches!(&e, T::InvalidUtf8 { row: 1, line: 2, column, .. } if column == "b"));
        let limits = Limits { max_field_bytes: 3, ..Limits::default() };
        let options = ReadOptions { limits, ..ReadOptions::default() };
        let e =
            at(read_csv(&b"a,b\n1,2\n3,4567\n"[..], Path::new("in.csv"), &options).unwrap_err());
        assert!(
            matches!(&e, T::FieldTooLong { row: 2, column, bytes: 4, max: 3 } if column == "b")
        );
        // A typed file: the cell of a Parquet column.
        let dir = tempdir()?;
        let path = dir.path().join("cells.parquet");
        write_parquet(&path, &repeated_text(3, 40)?, None)?;
        let limits = Limits { max_field_bytes: 10, ..Limits::default() };
        let options = ReadOptions { limits, ..ReadOptions::default() };
        match read_table(&path, &options).unwrap_err() {
            Error::Table { path: Some(p), source: T::Cell { row: 1, column, .. } } => {
                assert_eq!((p, column.as_str()), (path.clone(), "blob"));
            }
            other => panic!("{other:?}"),
        }
        Ok(())
    }

    #[test]
    fn parquet_and_ipc_rows_and_columns_are_limited_before_decoding() -> Result<()> {
        let dir = tempdir()?;
        let batch = typed_batch().map_err(|e| Error::Data(e.to_string()))?;
        let path = dir.path().join("t.parquet");
        write_parquet(&path, &batch, None)?;
        let read = |path: &Path, limits: Limits| {
            let options = ReadOptions { limits, ..ReadOptions::default() };
            read_table(path, &options).err().map(|e| e.to_string()).unwrap_or_default()
        };
        let err = read(&path, Limits { max_rows: 2, ..Limits::default() });
        assert!(err.contains("rows is 3") && err.contains("limits.max_rows"), "{err}");
        let err = read(&path, Limits { max_columns: 3, ..Limits::default() });
        assert!(err.contains("columns is 4") && err.contains("limits.max_columns"), "{err}");
        let err = read(&path, Limits { max_table_bytes: 10, ..Limits::default() });
        assert!(err.contains("limits.max_table_bytes"), "{err}");

        let path = dir.path().join("t.arrow");
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let data = |e: arrow_schema::ArrowError| Error::Data(e.to_string());
        let mut writer =
            arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).map_err(data)?;
        writer.write(&batch).map_err(data)?;
        writer.finish().map_err(data)?;
        let err = read(&path, Limits { max_rows: 2, ..Limits::default() });
        assert!(err.contains("limits.max_rows"), "{err}");
        let err = read(&path, Limits { max_field_bytes: 2, ..Limits::default() });
        assert!(err.contains("row 1, column 's': field is 3 bytes"), "{err}");
        // The rendered text of a non-text cell is limited too ("-20" is 3 bytes).
        let limits = Limits { max_field_bytes: 2, ..Limits::default() };
        let numbers = batch.project(&[0]).map_err(data)?;
        let err =
            table_from_batches_within(Path::new("<s>"), &numbers.schema(), &[numbers], &limits)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
        assert!(err.contains("row 2, column 'n': field is 3 bytes as text"), "{err}");
        Ok(())
    }
}
