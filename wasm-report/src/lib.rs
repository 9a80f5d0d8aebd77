//! doppel-report: quality and privacy metrics for synthetic tables, in pure Rust so that the same
//! code runs natively and in the browser (WebAssembly), where private data never leaves the
//! user's machine.
//!
//! Today: [`fidelity`] (univariate, bivariate and overall accuracy) and [`exact_match_share`].

pub mod error;
pub mod fidelity;
pub mod frame;
pub mod sample;
pub mod table;

pub use error::{Error, Result};
pub use fidelity::{
    exact_match_share, fidelity, ColumnFidelity, ColumnKind, FidelityOptions, FidelityReport,
    MAX_BINS,
};
pub use table::Table;
