//! The error type of `doppel-table`: what went wrong, with the row, line, column and value at
//! fault as fields (the caller adds the file name).

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// A table that cannot be read, or an argument out of range. Rows are 1-based data rows (the
/// header is row 0), lines are the 1-based lines a record starts on (a quoted field may span
/// lines), columns are named where the header is known.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No header row.
    #[error("the file is empty: expected a header row")]
    Empty,
    /// A header and no data rows.
    #[error("the table has a header but no data rows")]
    NoRows,
    /// A row with a different number of fields than the header.
    #[error("row {row} (line {line}) has {found} fields but the header has {expected}")]
    Ragged {
        /// The data row.
        row: usize,
        /// The line it starts on; for a table built in memory, `row + 1`.
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// A field that is not valid UTF-8.
    #[error(
        "row {row} (line {line}), column '{column}': invalid UTF-8 (at byte {byte} of the field)"
    )]
    InvalidUtf8 {
        /// The data row.
        row: usize,
        /// The line it starts on.
        line: u64,
        /// The column.
        column: String,
        /// Offset of the first invalid byte in the field.
        byte: usize,
    },
    /// A header name that is not valid UTF-8.
    #[error("header (line {line}), column {column}: invalid UTF-8 (at byte {byte} of the name)")]
    InvalidUtf8Name {
        /// The line the header starts on.
        line: u64,
        /// The 1-based column.
        column: usize,
        /// Offset of the first invalid byte in the name.
        byte: usize,
    },
    /// A field longer than `limits.max_field_bytes`.
    #[error(
        "row {row}, column '{column}': field is {bytes} bytes, over the limit of {max} bytes \
         (limits.max_field_bytes)"
    )]
    FieldTooLong {
        /// The data row.
        row: usize,
        /// The column.
        column: String,
        /// The field's length.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A header name longer than `limits.max_field_bytes`.
    #[error(
        "header, column {column}: name is {bytes} bytes, over the limit of {max} bytes \
         (limits.max_field_bytes)"
    )]
    NameTooLong {
        /// The 1-based column.
        column: usize,
        /// The name's length.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A field whose raw text ran past what any field within the limit can take: reading
    /// stopped there instead of buffering the rest of the input.
    #[error(
        "{} (from line {line}): a field runs past {raw} bytes, over the limit of {max} bytes \
         (limits.max_field_bytes){}",
        row_name(*row),
        if *in_quotes { "; check for an unbalanced quote" } else { "" }
    )]
    FieldRunsPast {
        /// The data row (0 for the header).
        row: usize,
        /// The line the field starts on.
        line: u64,
        /// Raw bytes read of the field when reading stopped.
        raw: u64,
        /// The limit on a field's text.
        max: usize,
        /// Whether the field is inside quotes (an unbalanced quote is the likely cause).
        in_quotes: bool,
    },
    /// A record whose raw text ran past what its fields may hold.
    #[error(
        "{} (from line {line}) runs past {budget} bytes without ending, more than its fields \
         may hold (limits.max_field_bytes, limits.max_table_bytes); check for an unbalanced \
         quote",
        row_name(*row)
    )]
    RecordTooLong {
        /// The data row (0 for the header).
        row: usize,
        /// The line it starts on.
        line: u64,
        /// Bytes it was allowed.
        budget: u64,
    },
    /// A column name that appears twice.
    #[error(
        "header: column name '{name}' appears more than once (columns {first} and {second}); \
         column names must be unique"
    )]
    DuplicateName {
        /// The name.
        name: String,
        /// The 1-based column where it first appears.
        first: usize,
        /// The 1-based column where it appears again.
        second: usize,
    },
    /// A value above one of the limits.
    #[error(
        "{what} is {value}, above the limit of {limit}; raise limits.{key} in the configuration \
         if this is intended"
    )]
    OverLimit {
        /// What was measured.
        what: String,
        /// What was seen.
        value: String,
        /// The limit's key, without the `limits.` prefix.
        key: &'static str,
        /// The limit.
        limit: u64,
    },
    /// Text the CSV parser refused.
    #[error("{} (line {line}): {message}", row_name(*row))]
    Csv {
        /// The data row (0 for the header).
        row: usize,
        /// The line it starts on.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// A cell that cannot be used: not a value of its column's kind, too long, or not
    /// renderable as text.
    #[error("row {row}, column '{column}': {problem}")]
    Cell {
        /// The data row.
        row: usize,
        /// The column.
        column: String,
        /// The cell's text (its first 60 characters), where it has one.
        value: Option<String>,
        /// What is wrong with it, and what to do.
        problem: String,
    },
    /// Reading the input failed.
    #[error("{0}")]
    Io(std::io::Error),
    /// A privacy statement whose figures its own ledger does not give.
    #[error("the privacy statement does not match the model's ledger: {0}")]
    Statement(String),
    /// An argument out of range (the accountant's parameters); the message names it.
    #[error("{0}")]
    Argument(String),
}

impl Error {
    /// An [`Error::Cell`]; the value is cut to its first 60 characters.
    pub fn cell(
        row: usize,
        column: impl Into<String>,
        value: Option<&str>,
        problem: impl Into<String>,
    ) -> Error {
        let value = value.map(|v| v.chars().take(60).collect());
        Error::Cell { row, column: column.into(), value, problem: problem.into() }
    }
}

/// `the header` for row 0, `row <n>` otherwise.
fn row_name(row: usize) -> String {
    match row {
        0 => "the header".to_owned(),
        n => format!("row {n}"),
    }
}
