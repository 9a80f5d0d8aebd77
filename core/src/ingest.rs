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

use std::cell::Cell;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::table::Table;

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
    /// The format a path's extension names (case-insensitive): `.parquet`/`.pq` are Parquet;
    /// `.arrow`/`.ipc`/`.feather`/`.arrows` are Arrow IPC; anything else is CSV.
    pub fn from_path(path: &Path) -> Format {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match extension.as_str() {
            "parquet" | "pq" => Format::Parquet,
            "arrow" | "ipc" | "feather" | "arrows" => Format::ArrowIpc,
            _ => Format::Csv,
        }
    }
}

/// How a source file is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadOptions {
    /// Field delimiter of CSV input (one byte, `b','` by default).
    pub delimiter: u8,
    /// Upper bound on one CSV field, in bytes (1 MiB by default). A longer field is refused
    /// with an error naming its row and column.
    pub max_field_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { delimiter: b',', max_field_bytes: 1 << 20 }
    }
}

/// Reads the file at `path` in the format its extension names (see [`Format::from_path`]).
pub fn read_table(path: &Path, options: &ReadOptions) -> Result<Table> {
    match Format::from_path(path) {
        Format::Csv => {
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            read_csv(file, path, options)
        }
        Format::ArrowIpc => read_arrow_ipc(path),
        Format::Parquet => read_parquet(path),
    }
}

/// The smallest number of raw bytes one CSV record may span before reading stops (see
/// [`GuardedReader`]).
const MIN_RECORD_BUDGET: u64 = 16 << 20;

/// Bytes the CSV reader may have buffered beyond the record it is parsing.
const READ_AHEAD_SLACK: u64 = 1 << 20;

/// A reader that refuses to hand out bytes past a limit the CSV loop moves forward after each
/// record. The csv crate buffers a whole record before returning it, so without this an
/// unbalanced quote would make it buffer the rest of the file; with it, memory stays bounded
/// by the largest record that can still be valid.
struct GuardedReader<R> {
    inner: R,
    consumed: u64,
    limit: Cell<u64>,
    tripped: Cell<bool>,
}

impl<R: Read> Read for GuardedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.consumed >= self.limit.get() {
            self.tripped.set(true);
            return Err(std::io::Error::other("record too long"));
        }
        let room = usize::try_from(self.limit.get() - self.consumed).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let n = self.inner.read(&mut buf[..want])?;
        self.consumed += n as u64;
        Ok(n)
    }
}

/// Reads CSV text from `reader`; `path` names the source in messages only.
///
/// The first record is the header: an empty name becomes `column_<i>` (1-based), a repeated
/// name is an error. Every data row must have as many fields as the header.
pub fn read_csv(reader: impl Read, path: &Path, options: &ReadOptions) -> Result<Table> {
    let max = options.max_field_bytes;
    // The raw bytes of a valid record with `columns` fields: each field at most `max` bytes,
    // doubled by quote escaping, plus its quotes and delimiter or line end.
    let budget = |columns: usize| {
        (columns as u64)
            .saturating_mul((max as u64).saturating_mul(2).saturating_add(4))
            .max(MIN_RECORD_BUDGET)
    };
    let guarded = GuardedReader {
        inner: reader,
        consumed: 0,
        limit: Cell::new(budget(1).saturating_add(READ_AHEAD_SLACK)),
        tripped: Cell::new(false),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(options.delimiter)
        .from_reader(guarded);
    let mut record = csv::ByteRecord::new();

    // Reads the next record: the header when `row` is 0, data row `row` otherwise.
    let read_next = |rdr: &mut csv::Reader<GuardedReader<_>>,
                     record: &mut csv::ByteRecord,
                     row: usize,
                     budget: u64|
     -> Result<bool> {
        let line = rdr.position().line();
        match rdr.read_byte_record(record) {
            Ok(more) => Ok(more),
            Err(_) if rdr.get_ref().tripped.get() => {
                let what = if row == 0 { "the header".to_owned() } else { format!("row {row}") };
                Err(Error::input(
                    path,
                    format!(
                        "{what} (from line {line}) runs past {budget} bytes without ending, so a \
                         field is over the limit of {max} bytes (max_field_bytes); check for an \
                         unbalanced quote"
                    ),
                ))
            }
            Err(e) => Err(csv_error(path, e)),
        }
    };

    // The header.
    if !read_next(&mut rdr, &mut record, 0, budget(1))? {
        return Err(Error::input(path, "is empty: expected a header row"));
    }
    let names = header_names(&record, path, max)?;
    let columns = names.len();
    let budget = budget(columns);
    let mut builders: Vec<StringBuilder> = (0..columns).map(|_| StringBuilder::new()).collect();

    // The data rows.
    let mut row = 0usize;
    loop {
        let limit = rdr.position().byte().saturating_add(budget).saturating_add(READ_AHEAD_SLACK);
        rdr.get_ref().limit.set(limit);
        if !read_next(&mut rdr, &mut record, row + 1, budget)? {
            break;
        }
        row += 1;
        let line = record.position().map_or(0, csv::Position::line);
        if record.len() != columns {
            return Err(Error::input(
                path,
                format!(
                    "row {row} (line {line}) has {} fields but the header has {columns}",
                    record.len()
                ),
            ));
        }
        for (c, field) in record.iter().enumerate() {
            if field.len() > max {
                return Err(Error::input(
                    path,
                    format!(
                        "row {row}, column '{}': field is {} bytes, over the limit of {max} bytes \
                         (max_field_bytes)",
                        names[c],
                        field.len()
                    ),
                ));
            }
            let text = std::str::from_utf8(field).map_err(|e| {
                Error::input(
                    path,
                    format!(
                        "row {row} (line {line}), column '{}': invalid UTF-8 (at byte {} of the field)",
                        names[c],
                        e.valid_up_to()
                    ),
                )
            })?;
            builders[c].append_value(text);
        }
    }
    if row == 0 {
        return Err(Error::input(path, "has a header but no data rows"));
    }
    let arrays = builders.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
    Table::from_arrays(names, arrays).map_err(|e| in_file(path, e))
}

/// The column names of a CSV header record.
fn header_names(record: &csv::ByteRecord, path: &Path, max: usize) -> Result<Vec<String>> {
    let line = record.position().map_or(1, csv::Position::line);
    let mut names = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        let column = i + 1;
        if field.len() > max {
            return Err(Error::input(
                path,
                format!(
                    "header, column {column}: name is {} bytes, over the limit of {max} bytes \
                     (max_field_bytes)",
                    field.len()
                ),
            ));
        }
        let text = std::str::from_utf8(field).map_err(|e| {
            Error::input(
                path,
                format!(
                    "header (line {line}), column {column}: invalid UTF-8 (at byte {} of the name)",
                    e.valid_up_to()
                ),
            )
        })?;
        let text = if i == 0 { text.strip_prefix('\u{feff}').unwrap_or(text) } else { text };
        names.push(if text.is_empty() { format!("column_{column}") } else { text.to_owned() });
    }
    check_unique(&names, path)?;
    Ok(names)
}

/// Fails, naming the name and both positions, when a column name appears twice.
fn check_unique(names: &[String], path: &Path) -> Result<()> {
    let mut seen = std::collections::HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if let Some(first) = seen.insert(name.as_str(), i) {
            return Err(Error::input(
                path,
                format!(
                    "header: column name '{name}' appears more than once (columns {} and {}); \
                     column names must be unique",
                    first + 1,
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

/// A csv crate error as an [`Error`] for `path`.
fn csv_error(path: &Path, error: csv::Error) -> Error {
    let message = error.to_string();
    match error.into_kind() {
        csv::ErrorKind::Io(e) => Error::io(path, e),
        _ => Error::input(path, message),
    }
}

/// Re-targets an error from [`Table`] construction at the file it came from.
fn in_file(path: &Path, error: Error) -> Error {
    match error {
        Error::Data(message) => Error::input(path, message),
        other => other,
    }
}

/// The Arrow IPC file magic, at the start (and end) of the file format.
const ARROW_MAGIC: &[u8; 6] = b"ARROW1";

/// Reads an Arrow IPC file: the file format when it starts with the Arrow magic, the stream
/// format otherwise.
fn read_arrow_ipc(path: &Path) -> Result<Table> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
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
        let reader =
            arrow_ipc::reader::FileReader::try_new(BufReader::new(file), None).map_err(bad)?;
        let schema = reader.schema();
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>().map_err(bad)?;
        table_from_batches(path, &schema, &batches)
    } else {
        let reader =
            arrow_ipc::reader::StreamReader::try_new(BufReader::new(file), None).map_err(bad)?;
        let schema = reader.schema();
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>().map_err(bad)?;
        table_from_batches(path, &schema, &batches)
    }
}

/// Reads a Parquet file.
fn read_parquet(path: &Path) -> Result<Table> {
    use arrow_array::RecordBatchReader;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| Error::input(path, format!("not a readable Parquet file: {e}")))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::input(path, format!("not a readable Parquet file: {e}")))?;
    table_from_batches(path, &schema, &batches)
}

/// Renders every column of Arrow record `batches` as text (nulls stay nulls) and builds a
/// [`Table`]; errors name `path` (a file, or a label such as `<arrow stream>`), the row and
/// the column.
pub fn table_from_batches(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Table> {
    if schema.fields().is_empty() {
        return Err(Error::input(path, "has no columns"));
    }
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Err(Error::input(path, "has no data rows"));
    }
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
    check_unique(&names, path)?;
    let options = FormatOptions::default();
    let mut arrays = Vec::with_capacity(names.len());
    for (c, (name, field)) in names.iter().zip(schema.fields()).enumerate() {
        let mut builder = StringBuilder::with_capacity(rows, rows * 8);
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
                formatter.value(r).write(&mut builder).map_err(|e| {
                    Error::input(
                        path,
                        format!(
                            "row {}, column '{name}': cannot render as text: {e}",
                            offset + r + 1
                        ),
                    )
                })?;
                builder.append_value("");
            }
            offset += array.len();
        }
        arrays.push(Arc::new(builder.finish()) as ArrayRef);
    }
    Table::from_arrays(names, arrays).map_err(|e| in_file(path, e))
}

#[cfg(test)]
mod tests {
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
    fn format_follows_the_extension() {
        assert_eq!(Format::from_path(Path::new("a/b.PARQUET")), Format::Parquet);
        assert_eq!(Format::from_path(Path::new("b.pq")), Format::Parquet);
        for name in ["b.arrow", "b.ipc", "b.feather", "b.arrows"] {
            assert_eq!(Format::from_path(Path::new(name)), Format::ArrowIpc, "{name}");
        }
        assert_eq!(Format::from_path(Path::new("b.tsv")), Format::Csv);
        assert_eq!(Format::from_path(Path::new("b")), Format::Csv);
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
        let options = ReadOptions { delimiter: b';', ..ReadOptions::default() };
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
    fn ten_megabyte_field_names_column_and_limit() {
        let mut text = b"id,blob\n1,\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', 10_000_000));
        text.extend_from_slice(b"\"\n");
        let err = csv_err(&text);
        assert!(
            err.contains("row 1, column 'blob': field is 10000000 bytes, over the limit of 1048576 bytes (max_field_bytes)"),
            "{err}"
        );
    }

    #[test]
    fn unbalanced_quote_stops_early() {
        // An unbalanced quote turns the rest of the input into one field; reading stops once
        // the record cannot be valid instead of buffering all of it.
        let options = ReadOptions { max_field_bytes: 10, ..ReadOptions::default() };
        let endless = (&b"a,b\n1,\"oops\n"[..]).chain(std::io::repeat(b'y').take(1 << 40));
        let err = read_csv(endless, Path::new("in.csv"), &options).unwrap_err().to_string();
        assert!(err.contains("row 1 (from line 2) runs past"), "{err}");
        assert!(err.contains("unbalanced quote"), "{err}");
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
}
