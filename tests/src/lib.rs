//! Cross-crate tests for doppel live in `tests/`; this library is empty on purpose.
