//! doppel-core: learns a private table and generates a synthetic twin of it.
//!
//! The pipeline: [`ingest`] reads a file into a [`Table`]; [`schema`] infers each column's kind;
//! [`tokenizer`] turns records into field-tagged token sequences; [`model`] is an LSTM on candle;
//! [`train()`] fits it; [`generate()`] samples new records and writes them in the source's formats.

pub mod accountant;
pub mod artifact;
pub mod backprop;
pub mod config;
pub mod device;
pub mod dp;
pub mod error;
pub mod generate;
pub mod ingest;
pub mod limits;
pub mod lstm_cell;
pub mod model;
pub mod optim;
pub mod output;
pub mod private_schema;
pub mod private_stats;
pub mod rng;
pub mod schema;
pub mod subword;
pub mod table;
pub mod tokenizer;
pub mod train;
mod validate;

pub use accountant::{AccountantKind, GaussianEvent, PrivacySpent};
pub use artifact::{TrainedModel, TrainingSummary};
pub use config::TrainConfig;
pub use device::DeviceChoice;
pub use error::{Error, Result};
pub use generate::{
    generate, generate_batches, generate_to_file, BatchStream, GenerateOptions, Sampling,
};
pub use limits::Limits;
pub use schema::{ColumnKind, ColumnSchema, Schema};
pub use table::Table;
pub use train::{train, Progress};
