//! doppel-tests: tests that need more than one of doppel's crates, so that they belong to
//! none of them.
//!
//! - `tests/pipeline.rs`: doppel-core reads a table, trains a small model and generates rows;
//!   doppel-report scores them (the path the CLI's `run` and the C ABI take), and the test
//!   checks the report's JSON fields. `cargo test --release -p doppel-tests` runs it in
//!   seconds.
//! - `data/`: small tables the crates' and the language bindings' tests train on
//!   (`adult_small.csv`, see `data/README.md`).
//! - `browser/`: the report page's test in headless Chromium (`.ci/browser-test`).
//!
//! The library itself is empty.
