//! doppel-report: quality and privacy metrics for synthetic tables, in pure Rust so that the same
//! code runs natively and in the browser (WebAssembly), where private data never leaves the
//! user's machine.
//!
//! [`build_report`] computes everything from a real (training) table, a synthetic table and an
//! optional holdout of real rows the model never saw; [`render_html`] turns the [`Report`] into
//! a self-contained page, and the report serialises to versioned JSON (`docs/report.md`).
//!
//! - fidelity: univariate, bivariate and trivariate accuracy ([`mod@fidelity`]), per-column
//!   summaries ([`summary`]), correlation matrices ([`correlation`]), principal-component
//!   structure ([`structure`]) and a real-vs-synthetic classifier ([`discriminator`]);
//! - utility: train on synthetic, test on real ([`utility`]), with the boosted trees of
//!   [`learn`];
//! - privacy: exact copies, distance to closest record, membership and attribute inference
//!   ([`privacy`]);
//! - validity: placeholders, values outside the real domain, broken formats and constant
//!   columns in the synthetic table ([`validity`]);
//! - scores: the 0-100 quality and privacy scores ([`score`]).

pub mod correlation;
pub mod discriminator;
pub mod error;
pub mod fidelity;
pub mod frame;
pub mod html;
pub mod kinds;
pub mod learn;
mod minhash;
pub mod moments;
pub mod privacy;
pub mod report;
pub mod sample;
pub mod score;
pub mod structure;
pub mod summary;
pub mod utility;
pub mod validity;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use doppel_table::table;
pub use doppel_table::Table;
pub use error::{Error, Result};
pub use fidelity::{
    exact_match_share, fidelity, ColumnFidelity, ColumnKind, FidelityOptions, FidelityReport,
    MAX_BINS,
};
pub use html::render_html;
pub use report::{build_report, ModelPrivacy, Report, ReportOptions};

/// A table from string literals, for tests; panics on ragged rows.
#[cfg(test)]
pub(crate) fn literal_table(names: &[&str], rows: &[&[&str]]) -> Table {
    let names = names.iter().map(|s| s.to_string()).collect();
    let rows = rows.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect();
    Table::new(names, rows).expect("a rectangular table")
}

/// `n` sentences of 3 to 12 words drawn from a small vocabulary, for tests of text columns.
#[cfg(test)]
pub(crate) fn sentences(n: usize, rng: &mut sample::Rng) -> Vec<String> {
    const WORDS: [&str; 16] = [
        "the", "parcel", "arrived", "late", "and", "was", "damaged", "customer", "asked", "for",
        "a", "refund", "driver", "left", "it", "outside",
    ];
    (0..n)
        .map(|_| {
            let words = 3 + rng.below(10);
            let picked: Vec<&str> = (0..words).map(|_| WORDS[rng.below(WORDS.len())]).collect();
            picked.join(" ")
        })
        .collect()
}
