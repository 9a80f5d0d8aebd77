//! The one CSV reader of doppel: the engine reads its training tables with it, the report (also
//! in the browser) its real, synthetic and holdout tables, with the same limits and the same
//! error messages.
//!
//! RFC 4180 with a header row: quoted delimiters, embedded newlines, CRLF line ends and a
//! UTF-8 byte-order mark are handled; every cell keeps its exact text, untrimmed (CSV has no
//! nulls, so an empty field is an empty text). An empty header name becomes `column_<i>`
//! (1-based), a repeated one is an error; every row must have as many fields as the header,
//! and there must be at least one row. Columns, rows, the bytes of one field and of the whole
//! table are checked against [`ReadLimits`] as the text is read, so a hostile file is refused
//! before it costs memory.

use std::cell::Cell;
use std::io::Read;

use crate::error::{Error, Result};

/// Upper bounds on a table read from CSV (the engine's `[limits]` section holds the same keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// Most columns (`limits.max_columns`).
    pub max_columns: usize,
    /// Most data rows (`limits.max_rows`).
    pub max_rows: usize,
    /// Most bytes in one cell (`limits.max_field_bytes`).
    pub max_field_bytes: usize,
    /// Most bytes of cell text in the whole table (`limits.max_table_bytes`).
    pub max_table_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_columns: 4_096,
            max_rows: 10_000_000,
            max_field_bytes: 1 << 20,
            max_table_bytes: 4 << 30,
        }
    }
}

impl ReadLimits {
    /// Refuses more than `max_columns` columns.
    pub fn check_columns(&self, columns: usize) -> Result<()> {
        if columns > self.max_columns {
            let (what, value) = ("the number of columns".into(), columns.to_string());
            let limit = self.max_columns as u64;
            return Err(Error::OverLimit { what, value, key: "max_columns", limit });
        }
        Ok(())
    }

    /// Refuses more than `max_rows` rows; `seen` is what the message shows (an exact count, or
    /// "more than N" while reading).
    pub fn check_rows(&self, rows: u64, seen: impl std::fmt::Display) -> Result<()> {
        if rows > self.max_rows as u64 {
            let (what, value) = ("the number of rows".into(), seen.to_string());
            let limit = self.max_rows as u64;
            return Err(Error::OverLimit { what, value, key: "max_rows", limit });
        }
        Ok(())
    }
}

/// The delimiters [`sniff_delimiter`] chooses among, the preferred first.
pub const DELIMITER_CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Bytes read from the start of CSV text to detect its delimiter.
pub const SNIFF_BYTES: usize = 64 << 10;

/// Records (the header and the rows after it) compared to detect the delimiter.
const SNIFF_RECORDS: usize = 20;

/// A delimiter's name for messages: the character, or `tab`.
pub fn delimiter_name(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "tab".to_owned(),
        other => format!("'{}'", char::from(other)),
    }
}

/// Detects the delimiter of CSV text from its first bytes: the candidate of
/// [`DELIMITER_CANDIDATES`] that splits the header and the next records (quotes respected)
/// into the same number of fields, more than one; among several, the one giving the most
/// fields, then the earlier candidate. `,` when none does.
pub fn sniff_delimiter(sample: &[u8]) -> u8 {
    // Only whole lines: a record cut at the end of the sample would count short.
    let sample = match sample.iter().rposition(|&b| b == b'\n') {
        Some(end) if sample.len() >= SNIFF_BYTES => &sample[..=end],
        _ => sample,
    };
    let mut best: Option<(usize, u8)> = None;
    for delimiter in DELIMITER_CANDIDATES {
        let Some(fields) = consistent_fields(sample, delimiter) else { continue };
        if fields > 1 && best.is_none_or(|(most, _)| fields > most) {
            best = Some((fields, delimiter));
        }
    }
    best.map_or(b',', |(_, d)| d)
}

/// The number of fields every one of the first records of `sample` has when split at
/// `delimiter`, or `None` when they differ (or the text is not valid CSV).
fn consistent_fields(sample: &[u8], delimiter: u8) -> Option<usize> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(sample);
    let mut fields = None;
    for record in reader.byte_records().take(SNIFF_RECORDS) {
        let n = record.ok()?.len();
        if *fields.get_or_insert(n) != n {
            return None;
        }
    }
    fields
}

/// The smallest number of raw bytes one CSV record may span before reading stops (see
/// [`GuardedReader`]).
const MIN_RECORD_BUDGET: u64 = 16 << 20;

/// Bytes the CSV parser may have buffered beyond the record it is parsing.
const READ_AHEAD_SLACK: u64 = 1 << 20;

/// Where the [`GuardedReader`]'s scan is within a CSV field (the states of an RFC 4180
/// parser that matter for a field's length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldState {
    /// At the start of a field.
    Start,
    /// Inside an unquoted field (a quote here is an ordinary byte).
    Unquoted,
    /// Inside a quoted field: delimiters and line ends are part of it.
    Quoted,
    /// Just after a quote inside a quoted field: the end of the quotes, or an escaped quote.
    QuoteInQuoted,
}

/// Why a [`GuardedReader`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trip {
    /// One field ran past what a field within `max_field_bytes` can take.
    Field,
    /// One record ran past its budget.
    Record,
}

/// A reader that scans the bytes it hands to the CSV parser and stops (with an error) as soon
/// as one field runs past what a field of `max_field_bytes` can take raw (quotes doubled and
/// enclosing quotes), or the record past a budget the read loop moves forward after each
/// record. The csv crate buffers a whole record before returning it, so without this an
/// unbalanced quote would make it buffer the rest of the input; with it, memory stays bounded
/// by one field's limit (and the record's budget).
struct GuardedReader<R> {
    inner: R,
    consumed: u64,
    limit: Cell<u64>,
    tripped: Cell<Option<Trip>>,
    delimiter: u8,
    state: FieldState,
    field_bytes: u64,
    max_field_raw: u64,
    /// The line the scan is on (1-based), and the line where the current field started.
    line: u64,
    field_line: u64,
    /// Records ended so far (the header is record 0), and whether the current record has
    /// any byte yet (the csv crate skips empty lines, so they end no record).
    records: u64,
    record_started: bool,
}

impl<R: Read> GuardedReader<R> {
    /// Follows `bytes` through the field states; fails once a field is too long.
    fn scan(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        for &b in bytes {
            if self.field_bytes == 0 {
                self.field_line = self.line;
            }
            if b == b'\n' {
                self.line += 1;
            }
            let ends_record = b == b'\n' || b == b'\r';
            let ends_field = b == self.delimiter || ends_record;
            self.state = match (self.state, b) {
                (FieldState::Start, b'"') => FieldState::Quoted,
                (FieldState::Start | FieldState::Unquoted | FieldState::QuoteInQuoted, _)
                    if ends_field =>
                {
                    if ends_record && self.record_started {
                        self.records += 1;
                    }
                    self.record_started = !ends_record;
                    self.field_bytes = 0;
                    self.state = FieldState::Start;
                    continue;
                }
                (FieldState::Start | FieldState::Unquoted, _) => FieldState::Unquoted,
                (FieldState::Quoted, b'"') => FieldState::QuoteInQuoted,
                (FieldState::Quoted, _) => FieldState::Quoted,
                (FieldState::QuoteInQuoted, b'"') => FieldState::Quoted,
                (FieldState::QuoteInQuoted, _) => FieldState::Unquoted,
            };
            self.record_started = true;
            self.field_bytes += 1;
            if self.field_bytes > self.max_field_raw {
                self.tripped.set(Some(Trip::Field));
                return Err(std::io::Error::other("field too long"));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for GuardedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(trip) = self.tripped.get() {
            return Err(std::io::Error::other(format!("{trip:?} too long")));
        }
        if self.consumed >= self.limit.get() {
            self.tripped.set(Some(Trip::Record));
            return Err(std::io::Error::other("record too long"));
        }
        let room = usize::try_from(self.limit.get() - self.consumed).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let n = self.inner.read(&mut buf[..want])?;
        self.consumed += n as u64;
        self.scan(&buf[..n])?;
        Ok(n)
    }
}

/// Reads CSV text with a header row from `reader`, split at `delimiter` (detected from the
/// first bytes when `None`, see [`sniff_delimiter`]), within `limits`. Each data row goes to
/// `on_row` as it is read, with one text per header column; the column names are returned
/// (an empty name as `column_<i>`, a leading byte-order mark stripped).
///
/// Errors name the row (1-based, the header is row 0), the line it starts on and the column
/// at fault: [`Error::Empty`], [`Error::NoRows`], [`Error::Ragged`], [`Error::InvalidUtf8`],
/// [`Error::FieldTooLong`], [`Error::RecordTooLong`], [`Error::DuplicateName`],
/// [`Error::OverLimit`], [`Error::Csv`]; a failed read is [`Error::Io`].
pub fn read_csv(
    reader: impl Read,
    delimiter: Option<u8>,
    limits: &ReadLimits,
    mut on_row: impl FnMut(&csv::StringRecord),
) -> Result<Vec<String>> {
    read_rows(reader, delimiter, limits, Some(&mut on_row))
}

/// The column names in the header of CSV text, read and checked as [`read_csv`] does; nothing
/// after the header is read.
pub fn read_header(
    reader: impl Read,
    delimiter: Option<u8>,
    limits: &ReadLimits,
) -> Result<Vec<String>> {
    read_rows(reader, delimiter, limits, None)
}

/// [`read_csv`], or [`read_header`] when `on_row` is `None`.
fn read_rows(
    mut reader: impl Read,
    delimiter: Option<u8>,
    limits: &ReadLimits,
    on_row: Option<&mut dyn FnMut(&csv::StringRecord)>,
) -> Result<Vec<String>> {
    let mut sample = Vec::new();
    let delimiter = match delimiter {
        Some(d) => d,
        None => {
            (&mut reader).take(SNIFF_BYTES as u64).read_to_end(&mut sample).map_err(Error::Io)?;
            sniff_delimiter(&sample)
        }
    };
    let reader = std::io::Cursor::new(sample).chain(reader);
    let max = limits.max_field_bytes;
    let max_raw = (max as u64).saturating_mul(2).saturating_add(2);
    // The raw bytes of a valid record with `columns` fields: each field at most `max` bytes,
    // doubled by quote escaping, plus its quotes and delimiter or line end; and no more than
    // the table's remaining budget (its text, doubled, plus the delimiters).
    let budget = |columns: usize, table_left: u64| {
        let fields = (columns as u64).saturating_mul(max_raw.saturating_add(2));
        let table = table_left.saturating_mul(2).saturating_add((columns as u64).saturating_mul(4));
        fields.min(table).max(MIN_RECORD_BUDGET)
    };
    let guarded = GuardedReader {
        inner: reader,
        consumed: 0,
        limit: Cell::new(budget(1, limits.max_table_bytes).saturating_add(READ_AHEAD_SLACK)),
        tripped: Cell::new(None),
        delimiter,
        state: FieldState::Start,
        field_bytes: 0,
        max_field_raw: max_raw,
        line: 1,
        field_line: 1,
        records: 0,
        record_started: false,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(guarded);
    let mut record = csv::ByteRecord::new();

    if !read_record(&mut rdr, &mut record, 0, budget(1, limits.max_table_bytes), max)? {
        return Err(Error::Empty);
    }
    limits.check_columns(record.len())?;
    let names = header_names(record.clone(), max)?;
    let Some(on_row) = on_row else { return Ok(names) };
    let columns = names.len();

    let mut row = 0usize;
    let mut table_bytes = 0u64;
    loop {
        let budget = budget(columns, limits.max_table_bytes.saturating_sub(table_bytes));
        let limit = rdr.position().byte().saturating_add(budget).saturating_add(READ_AHEAD_SLACK);
        rdr.get_ref().limit.set(limit);
        if !read_record(&mut rdr, &mut record, row + 1, budget, max)? {
            break;
        }
        row += 1;
        limits.check_rows(row as u64, format!("more than {}", limits.max_rows))?;
        let line = line_of(&record);
        if record.len() != columns {
            return Err(Error::Ragged { row, line, expected: columns, found: record.len() });
        }
        table_bytes = table_bytes.saturating_add(record.as_slice().len() as u64);
        if table_bytes > limits.max_table_bytes {
            return Err(Error::OverLimit {
                what: format!("the table's text up to row {row}"),
                value: format!("{table_bytes} bytes"),
                key: "max_table_bytes",
                limit: limits.max_table_bytes,
            });
        }
        if let Some((c, field)) = record.iter().enumerate().find(|(_, f)| f.len() > max) {
            let column = names[c].clone();
            return Err(Error::FieldTooLong { row, column, bytes: field.len(), max });
        }
        let text =
            csv::StringRecord::from_byte_record(std::mem::take(&mut record)).map_err(|e| {
                let at = e.utf8_error();
                let column = names[at.field()].clone();
                Error::InvalidUtf8 { row, line, column, byte: at.valid_up_to() }
            })?;
        on_row(&text);
        record = text.into_byte_record();
    }
    if row == 0 {
        return Err(Error::NoRows);
    }
    Ok(names)
}

/// Reads the next record into `record` (the header when `row` is 0, data row `row`
/// otherwise), turning a stop of the [`GuardedReader`] into the error that says why.
fn read_record<R: Read>(
    rdr: &mut csv::Reader<GuardedReader<R>>,
    record: &mut csv::ByteRecord,
    row: usize,
    budget: u64,
    max: usize,
) -> Result<bool> {
    let line = rdr.position().line();
    match rdr.read_byte_record(record) {
        Ok(more) => Ok(more),
        Err(_) if rdr.get_ref().tripped.get() == Some(Trip::Field) => {
            let guard = rdr.get_ref();
            let quoted = matches!(guard.state, FieldState::Quoted | FieldState::QuoteInQuoted);
            Err(Error::FieldRunsPast {
                row: guard.records as usize,
                line: guard.field_line,
                raw: guard.max_field_raw,
                max,
                in_quotes: quoted,
            })
        }
        Err(_) if rdr.get_ref().tripped.get() == Some(Trip::Record) => {
            Err(Error::RecordTooLong { row, line, budget })
        }
        Err(e) => {
            let message = e.to_string();
            match e.into_kind() {
                csv::ErrorKind::Io(e) => Err(Error::Io(e)),
                _ => Err(Error::Csv { row, line, message }),
            }
        }
    }
}

/// The 1-based line a record starts on.
fn line_of(record: &csv::ByteRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}

/// The column names of a CSV header record.
fn header_names(record: csv::ByteRecord, max: usize) -> Result<Vec<String>> {
    let line = record.position().map_or(1, csv::Position::line);
    if let Some((i, field)) = record.iter().enumerate().find(|(_, f)| f.len() > max) {
        return Err(Error::NameTooLong { column: i + 1, bytes: field.len(), max });
    }
    let text = csv::StringRecord::from_byte_record(record).map_err(|e| {
        let at = e.utf8_error();
        Error::InvalidUtf8Name { line, column: at.field() + 1, byte: at.valid_up_to() }
    })?;
    let names: Vec<String> = text
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let name = if i == 0 { name.strip_prefix('\u{feff}').unwrap_or(name) } else { name };
            if name.is_empty() {
                format!("column_{}", i + 1)
            } else {
                name.to_owned()
            }
        })
        .collect();
    check_unique(&names)?;
    Ok(names)
}

/// Fails, naming the name and both positions, when a column name appears twice.
pub fn check_unique(names: &[String]) -> Result<()> {
    let mut seen = std::collections::HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if let Some(first) = seen.insert(name.as_str(), i) {
            let name = name.clone();
            return Err(Error::DuplicateName { name, first: first + 1, second: i + 1 });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `text` into its names and rows.
    fn read(text: &[u8], delimiter: Option<u8>) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let mut rows = Vec::new();
        let names = read_csv(text, delimiter, &ReadLimits::default(), |r| {
            rows.push(r.iter().map(str::to_owned).collect())
        })?;
        Ok((names, rows))
    }

    #[test]
    fn reads_quoted_fields_crlf_and_a_byte_order_mark() -> Result<()> {
        let (names, rows) =
            read(b"\xef\xbb\xbfa,b\r\n\"x,1\",\"line\nbreak\"\r\n\"say \"\"hi\"\"\",\r\n", None)?;
        assert_eq!(names, ["a", "b"]);
        assert_eq!(rows, [["x,1", "line\nbreak"], ["say \"hi\"", ""]]);
        // Before a quoted first name too, where the quote must still open the field.
        let (names, rows) = read(b"\xef\xbb\xbf\"a\";b\n1;2\n", Some(b';'))?;
        assert_eq!(
            (names, rows),
            (vec!["a".into(), "b".into()], vec![vec!["1".into(), "2".into()]])
        );
        Ok(())
    }

    #[test]
    fn each_error_names_its_row_line_and_column() {
        let err = |text: &[u8]| read(text, Some(b',')).unwrap_err();
        assert!(matches!(err(b""), Error::Empty));
        // A byte-order mark alone is no header either.
        assert!(matches!(err(b"\xef\xbb\xbf"), Error::Empty));
        assert!(matches!(err(b"a,b\n"), Error::NoRows));
        // Row 2 starts on line 4, after a quoted field that spans lines 2 and 3.
        let e = err(b"a,b\n\"1\n1\",2\n3\n");
        assert!(matches!(e, Error::Ragged { row: 2, line: 4, expected: 2, found: 1 }), "{e:?}");
        assert_eq!(e.to_string(), "row 2 (line 4) has 1 fields but the header has 2");
        let e = err(b"a,b\n1,2\n3,x\xff\n");
        assert!(
            matches!(&e, Error::InvalidUtf8 { row: 2, line: 3, column, byte: 1 } if column == "b"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "row 2 (line 3), column 'b': invalid UTF-8 (at byte 1 of the field)"
        );
        let e = err(b"a,\xc3(\n1,2\n");
        assert!(matches!(e, Error::InvalidUtf8Name { line: 1, column: 2, byte: 0 }), "{e:?}");
        let e = err(b"a,b,a\n1,2,3\n");
        assert!(matches!(&e, Error::DuplicateName { name, first: 1, second: 3 } if name == "a"));
    }

    #[test]
    fn empty_names_are_numbered() -> Result<()> {
        let (names, _) = read(b"a,,c\n1,2,3\n", None)?;
        assert_eq!(names, ["a", "column_2", "c"]);
        Ok(())
    }

    #[test]
    fn limits_are_named_by_their_key() {
        let limits = ReadLimits { max_rows: 1, ..ReadLimits::default() };
        let e = read_csv(&b"a\n1\n2\n"[..], None, &limits, |_| {}).unwrap_err();
        assert!(matches!(e, Error::OverLimit { key: "max_rows", limit: 1, .. }), "{e:?}");
        assert!(e.to_string().contains("raise limits.max_rows"), "{e}");
    }

    #[test]
    fn the_delimiter_is_detected_when_not_given() -> Result<()> {
        assert_eq!(sniff_delimiter(b"a\tb\tc\n1\t2, 3\t4\n5\t6\t7\n"), b'\t');
        assert_eq!(sniff_delimiter(b"a;b\n1,5;2\n3,5;4\n"), b';');
        assert_eq!(sniff_delimiter(b"a|b|c\n1|2|3\n"), b'|');
        assert_eq!(sniff_delimiter(b"a,b\n\"x;y;z\",2\n"), b',');
        // A tie goes to the comma; one column, or no consistent split, too.
        assert_eq!(sniff_delimiter(b"a,b;c\n1,2;3\n"), b',');
        assert_eq!(sniff_delimiter(b"a\n1\n"), b',');
        assert_eq!(sniff_delimiter(b""), b',');
        assert_eq!(read(b"x\ty\n1\t2\n", None)?.0, ["x", "y"]);
        assert_eq!(delimiter_name(b'\t'), "tab");
        Ok(())
    }
}
