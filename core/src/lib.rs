//! doppel-core: learns a private table and generates a synthetic twin of it.
//!
//! The pipeline: [`ingest`] reads a file into a [`Table`]; [`schema`] infers each column's kind;
//! [`tokenizer`] turns records into field-tagged token sequences; [`model`] is an LSTM on candle;
//! [`train()`] fits it; [`generate()`] samples new records and writes them in the source's formats.
//!
//! The modules named here are the public surface the CLI, the C ABI and the tests use; the
//! training internals (the hand-written backward pass, the optimizers, the private releases)
//! are crate-private, reached through [`train()`] and [`TrainedModel`].

pub use doppel_table::accountant;
pub(crate) mod artifact;
pub(crate) mod backprop;
pub(crate) mod balance;
pub(crate) mod byte_dfa;
pub mod config;
pub mod device;
pub mod dp;
pub mod dp_defaults;
pub(crate) mod error;
pub mod filter;
pub mod generate;
pub mod ingest;
pub mod limits;
pub mod llama;
pub(crate) mod lstm_cell;
pub mod model;
pub(crate) mod numbers;
pub(crate) mod optim;
pub mod order;
pub mod output;
pub(crate) mod private_schema;
pub(crate) mod private_stats;
pub mod relations;
pub use doppel_table::rng;
pub mod schema;
pub mod steer;
pub(crate) mod subword;
pub(crate) mod table;
pub mod tokenizer;
pub(crate) mod train;
mod validate;

pub use accountant::{AccountantKind, GaussianEvent, PrivacySpent};
pub use artifact::{
    ModelMetadata, TrainedModel, TrainingSummary, FORMAT_NAME, FORMAT_VERSION,
    OLDEST_FORMAT_VERSION,
};
pub use config::TrainConfig;
pub use device::DeviceChoice;
pub use error::{Error, Result};
pub use generate::{
    generate, generate_batches, generate_filtered_to_file, generate_seeded_batches,
    generate_seeded_to_file, generate_to_file, generate_to_file_as, impute_to_file, BatchStream,
    Filtered, GenerateOptions, Sampling,
};
pub use limits::Limits;
pub use schema::{ColumnKind, ColumnSchema, Schema};
pub use table::{SourceType, Table};
pub use train::{train, Progress, MIN_ROWS};
