//! The report crate's error type.

/// What can go wrong reading tables or comparing them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A table that cannot be read (doppel-table's reader: the row, line and column at
    /// fault are fields of the error).
    #[error("{0}")]
    Table(#[from] doppel_table::Error),
    /// The synthetic table's columns differ from the real table's, or a name is ambiguous.
    #[error("column '{column}' is {problem}")]
    Columns {
        /// The column concerned.
        column: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A table to compare has a header but no rows.
    #[error("the {table} table has no rows")]
    NoRows {
        /// `real` or `synthetic`.
        table: &'static str,
    },
    /// Every column was skipped, so there is nothing to measure.
    #[error("no column can be compared: {reasons}")]
    NothingToCompare {
        /// Why each column was skipped, as `'name': reason; ...`.
        reasons: String,
    },
    /// A table has too few rows for the report.
    #[error("the {table} table has {rows} row(s); the report needs at least {needed}")]
    TooFewRows {
        /// `real`, `synthetic` or `holdout`.
        table: String,
        /// Rows found.
        rows: usize,
        /// Rows needed.
        needed: usize,
    },
    /// A report option names something that does not exist or is out of range.
    #[error("option {option}: {problem}")]
    BadOption {
        /// The option.
        option: String,
        /// What is wrong, and what would be accepted.
        problem: String,
    },
    /// A [`FidelityOptions`](crate::FidelityOptions) value is out of range.
    #[error("option {option} = {value} is outside {min}..={max}")]
    InvalidOption {
        /// The option's field name.
        option: &'static str,
        /// The value given.
        value: usize,
        /// Smallest allowed value.
        min: usize,
        /// Largest allowed value.
        max: usize,
    },
}

/// The report crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
