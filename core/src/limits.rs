//! Resource limits: the largest input, vocabulary and model doppel accepts, so that hostile or
//! accidental input is refused before the work (or the allocation) starts.
//!
//! Every limit has a sane default and is raised in the `[limits]` section of the configuration.
//! An error for a limit names it as `limits.<key>` so the user knows what to raise. Limits that
//! apply before a configuration exists (the size of the configuration file itself, of a model
//! file) are the constants at the bottom of this module.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Upper bounds on inputs and models (the `[limits]` section of the configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most columns a source table may have.
    pub max_columns: usize,
    /// Most data rows a source table may have.
    pub max_rows: usize,
    /// Most bytes in one cell, in every input format.
    pub max_field_bytes: usize,
    /// Most bytes of cell text in the whole table (what the table costs in memory).
    pub max_table_bytes: u64,
    /// Most distinct categories one column may keep in the vocabulary.
    pub max_categories: usize,
    /// Most tokens in the whole vocabulary (all columns together).
    pub max_vocabulary: usize,
    /// Largest `model.hidden_size`.
    pub max_hidden_size: usize,
    /// Largest `model.embedding_dim`.
    pub max_embedding_dim: usize,
    /// Largest `model.layers`.
    pub max_layers: usize,
    /// Largest `tokenizer.numeric_bins`.
    pub max_numeric_bins: usize,
    /// Largest `tokenizer.bin_positions`.
    pub max_bin_positions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_columns: 4_096,
            max_rows: 10_000_000,
            max_field_bytes: 1 << 20,
            max_table_bytes: 4 << 30,
            max_categories: 5_000,
            max_vocabulary: 200_000,
            max_hidden_size: 4_096,
            max_embedding_dim: 4_096,
            max_layers: 16,
            max_numeric_bins: 1_024,
            max_bin_positions: 1_024,
        }
    }
}

impl Limits {
    /// Checks that every limit is positive, naming the key at fault.
    pub fn validate(&self) -> Result<()> {
        let zero = [
            ("max_columns", self.max_columns == 0),
            ("max_rows", self.max_rows == 0),
            ("max_field_bytes", self.max_field_bytes == 0),
            ("max_table_bytes", self.max_table_bytes == 0),
            ("max_categories", self.max_categories == 0),
            ("max_vocabulary", self.max_vocabulary == 0),
            ("max_hidden_size", self.max_hidden_size == 0),
            ("max_embedding_dim", self.max_embedding_dim == 0),
            ("max_layers", self.max_layers == 0),
            ("max_numeric_bins", self.max_numeric_bins == 0),
            ("max_bin_positions", self.max_bin_positions == 0),
        ];
        match zero.iter().find(|(_, is_zero)| *is_zero) {
            Some((key, _)) => Err(Error::Config(format!("limits.{key} must be > 0"))),
            None => Ok(()),
        }
    }

    /// The limits a table reader applies (the first four keys).
    pub fn read_limits(&self) -> doppel_table::ReadLimits {
        doppel_table::ReadLimits {
            max_columns: self.max_columns,
            max_rows: self.max_rows,
            max_field_bytes: self.max_field_bytes,
            max_table_bytes: self.max_table_bytes,
        }
    }

    /// An error for `value` above the limit `key` (without the `limits.` prefix): what was
    /// seen, the limit, and the key that raises it.
    pub fn exceeded(what: &str, value: impl std::fmt::Display, key: &str, limit: u64) -> Error {
        Error::Config(format!(
            "{what} is {value}, above the limit of {limit}; raise limits.{key} in the \
             configuration if this is intended"
        ))
    }
}

/// Largest configuration file read (TOML or JSON), in bytes.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// Largest model file read, in bytes.
pub const MAX_MODEL_FILE_BYTES: u64 = 4 << 30;
/// Largest `tokenizer.json` of a base model read (Llama 3's is 9 MB, Qwen's 11 MB): a file
/// above it is refused before it is read.
pub const MAX_TOKENIZER_FILE_BYTES: u64 = 64 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_limit_is_named() {
        let limits = Limits { max_layers: 0, ..Limits::default() };
        let message = limits.validate().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("limits.max_layers must be > 0"), "{message}");
        assert!(Limits::default().validate().is_ok());
    }

    #[test]
    fn an_exceeded_limit_names_the_key_that_raises_it() {
        let e = Limits::exceeded("model.layers", 20, "max_layers", 16).to_string();
        assert!(e.contains("model.layers is 20") && e.contains("limits.max_layers"), "{e}");
    }
}
