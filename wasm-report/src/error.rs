//! The report crate's error type.

/// What can go wrong reading tables or comparing them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input has no header row.
    #[error("the table is empty: expected a header row")]
    Empty,
    /// A row has a different number of fields than the header.
    #[error("row {row} has {found} fields, but the header has {expected}")]
    Ragged {
        /// 1-based data row number.
        row: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// A row is not valid UTF-8.
    #[error("row {row} is not valid UTF-8")]
    InvalidUtf8 {
        /// 1-based data row number (0 for the header).
        row: usize,
    },
    /// The CSV could not be read.
    #[error("cannot read CSV: {0}")]
    Csv(String),
    /// The synthetic table's columns differ from the real table's.
    #[error("column '{column}' is {problem}")]
    Columns {
        /// The column concerned.
        column: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// The report crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
