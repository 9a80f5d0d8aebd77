//! doppel-table: the layer the engine (`doppel-core`) and the report (`doppel-report`, also
//! built for the browser) share, free of candle and of anything that does not build for
//! wasm32.
//!
//! - [`csv`]: the one CSV reader, with its limits ([`ReadLimits`]) and error messages;
//! - [`Table`]: a header and rows of text cells, the form the report compares;
//! - [`missing`]: the missing-value tokens and the missing test;
//! - [`value`]: reading numbers from cell text;
//! - [`datetime`]: the date formats and reading and writing dates as seconds;
//! - [`json`]: reading configuration-like JSON with errors naming the key;
//! - [`rng`]: the seeded random number generator every random choice takes;
//! - [`accountant`] and [`privacy`]: the (ε, δ) accountants and the privacy statement a model
//!   carries, so the browser can compute and check the same figures as the engine.

pub mod accountant;
pub mod csv;
pub mod datetime;
pub mod error;
pub mod json;
pub mod missing;
pub mod privacy;
pub mod rng;
pub mod table;
pub mod value;

pub use csv::{read_csv, read_header, ReadLimits};
pub use error::{Error, Result};
pub use privacy::PrivacyReport;
pub use rng::Rng;
pub use table::Table;
