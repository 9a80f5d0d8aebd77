//! The CLI's errors and exit codes, so that scripts can tell a mistake in the command line
//! from bad data, a file that cannot be read or written, and a bug:
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | internal error (a failure inside doppel or its tensor backend) |
//! | 2    | usage: a bad flag, option, configuration key or value |
//! | 3    | bad input data or model file (malformed, unreadable as a table, unlearnable, corrupt) |
//! | 4    | I/O: a file cannot be opened, read, created or renamed |
//! | 101  | a panic escaped (a bug in doppel; please report it) |
//! | 130  | interrupted (SIGINT), 129 SIGHUP, 143 SIGTERM |

use std::fmt;

/// Internal error: a failure inside doppel or its tensor backend.
pub const INTERNAL: u8 = 1;
/// Usage error: a bad flag, option, configuration key or value.
pub const USAGE: u8 = 2;
/// Bad input data or model file.
pub const DATA: u8 = 3;
/// A file cannot be opened, read, created or renamed.
pub const IO: u8 = 4;

/// The help text's summary of the exit codes.
pub const HELP: &str = "Exit codes: 0 success, 1 internal error, 2 usage (a bad flag, option or \
configuration value), 3 bad input data or model file, 4 I/O (a file cannot be read or written), \
101 a bug (a panic), 130 interrupted.";

/// An error the CLI prints (`error: {message}`) before exiting with `code`.
#[derive(Debug)]
pub struct CliError {
    /// The exit code (one of the constants above).
    pub code: u8,
    /// What went wrong and, where it helps, what to do.
    pub message: String,
}

impl CliError {
    /// An error with an explicit exit code.
    pub fn new(code: u8, message: impl Into<String>) -> CliError {
        CliError { code, message: message.into() }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A message of the CLI's own checks of its flags: a usage error.
impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::new(USAGE, message)
    }
}

impl From<doppel_core::Error> for CliError {
    fn from(error: doppel_core::Error) -> CliError {
        use doppel_core::Error as E;
        let code = match &error {
            E::Io { .. } => IO,
            E::Input { .. } | E::Table { .. } | E::Data(_) | E::Model { .. } => DATA,
            E::BaseModel { .. } => DATA,
            E::Config(_) | E::UnknownFormat { .. } => USAGE,
            E::Cancelled => 130,
            E::Candle(_) => INTERNAL,
        };
        CliError::new(code, error.to_string())
    }
}

impl From<doppel_report::Error> for CliError {
    fn from(error: doppel_report::Error) -> CliError {
        use doppel_report::Error as E;
        let code = match &error {
            E::BadOption { .. } | E::InvalidOption { .. } => USAGE,
            _ => DATA,
        };
        CliError::new(code, error.to_string())
    }
}

/// Serialising doppel's own values to JSON cannot fail on valid data: a bug if it does.
impl From<serde_json::Error> for CliError {
    fn from(error: serde_json::Error) -> CliError {
        CliError::new(INTERNAL, format!("cannot write JSON: {error}"))
    }
}

/// A progress bar's template is a constant: a bug if it does not parse.
impl From<indicatif::style::TemplateError> for CliError {
    fn from(error: indicatif::style::TemplateError) -> CliError {
        CliError::new(INTERNAL, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_their_class() {
        let io = doppel_core::Error::io("x.csv", std::io::Error::other("gone"));
        let cases = [
            (io, IO),
            (doppel_core::Error::input("x.csv", "row 3"), DATA),
            (doppel_core::Error::table("x.csv", doppel_table::Error::NoRows), DATA),
            (doppel_core::Error::Data("no rows".into()), DATA),
            (doppel_core::Error::Config("bad key".into()), USAGE),
        ];
        for (error, code) in cases {
            assert_eq!(CliError::from(error).code, code);
        }
        assert_eq!(CliError::from("--rows must be > 0".to_string()).code, USAGE);
    }
}
