//! The one error type of `doppel-core`.

use std::path::PathBuf;

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in the engine. Each variant carries what a user needs to act on it:
/// the file, row, column or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read, created or renamed.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Input data is malformed (bad CSV, invalid UTF-8, ragged rows, oversized fields, ...).
    #[error("{path}: {message}")]
    Input {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong, naming the row and column where known.
        message: String,
    },
    /// A table that cannot be read or learned from, in the file `path` where known: the
    /// error carries the row, line, column and value at fault as fields
    /// ([`doppel_table::Error`], e.g. [`doppel_table::Error::Cell`]).
    #[error("{}{source}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Table {
        /// The file at fault, when the table came from one.
        path: Option<PathBuf>,
        /// What is wrong, and where.
        source: doppel_table::Error,
    },
    /// A file's extension names no table format doppel reads or writes (and no format was
    /// given explicitly).
    #[error(
        "{path}: unknown file extension {extension:?}: doppel reads and writes {}, and a path \
         without an extension as CSV",
        crate::ingest::Format::supported_extensions()
    )]
    UnknownFormat {
        /// The file at fault.
        path: PathBuf,
        /// Its extension, without the dot.
        extension: String,
    },
    /// The data cannot be learned from (no rows, a column with no values, ...).
    #[error("{0}")]
    Data(String),
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A model file is corrupt, truncated or from an incompatible version.
    #[error("{path}: not a usable doppel model: {message}")]
    Model {
        /// The model file at fault.
        path: PathBuf,
        /// Why it cannot be used.
        message: String,
    },
    /// A pretrained base model's directory (its `config.json`, weights or tokenizer) cannot be
    /// used: a missing file, a key or tensor that does not fit.
    #[error("{path}: not a usable base model: {message}")]
    BaseModel {
        /// The file at fault.
        path: PathBuf,
        /// Why it cannot be used.
        message: String,
    },
    /// A tensor operation failed inside candle.
    #[error("tensor backend: {0}")]
    Candle(#[from] candle_core::Error),
    /// Training was cancelled through its cancel flag.
    #[error("training cancelled")]
    Cancelled,
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An error of the table reader for the file at `path` (a failed read is [`Error::Io`]).
    pub fn table(path: impl Into<PathBuf>, source: doppel_table::Error) -> Self {
        match source {
            doppel_table::Error::Io(source) => Error::Io { path: path.into(), source },
            source => Error::Table { path: Some(path.into()), source },
        }
    }

    /// A cell of a table that cannot be used ([`doppel_table::Error::Cell`]): its 1-based data
    /// row, column, text and what is wrong; [`crate::ingest::in_file`] adds the file.
    pub fn cell(
        row: usize,
        column: impl Into<String>,
        value: Option<&str>,
        problem: impl Into<String>,
    ) -> Self {
        let source = doppel_table::Error::cell(row, column, value, problem);
        Error::Table { path: None, source }
    }

    /// An [`Error::Input`] for `path`.
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input { path: path.into(), message: message.into() }
    }
}

/// An error of the shared layer where no file is involved: an accountant's argument out of
/// range is a configuration error, anything else (a privacy statement its ledger does not
/// give, a table built in memory) a data error.
impl From<doppel_table::Error> for Error {
    fn from(error: doppel_table::Error) -> Self {
        match error {
            doppel_table::Error::Argument(message) => Error::Config(message),
            other => Error::Data(other.to_string()),
        }
    }
}
