//! Pretrained Llama-family decoders from local Hugging Face directories: the second model of
//! the engine next to the LSTM (issue 16). [`LlamaConfig`] reads `config.json`,
//! [`Llama::load`] maps the safetensors weights, [`Llama::forward`] gives logits. LoRA
//! adapters, their DP training and generation build on these.

pub(crate) mod checkpoint;
mod config;
mod grammar;
mod lora;
mod model;
mod records;
mod shape;
pub mod text;
mod tuned;

pub use checkpoint::{write_random, write_tiny_base};
pub use config::LlamaConfig;
pub use grammar::{BaseTokens, RecordGrammar};
pub use lora::{LoraConfig, Precision, Projection, DEFAULT_MAX_RECORD_TOKENS};
pub use model::{KvCache, Llama};
pub(crate) use records::generate_rows;
pub use records::{INVALID_PASSES, INVALID_SHARE};
pub(crate) use shape::check_plan;
pub(crate) use tuned::{adapter_shapes, apply_defaults, train_lora};
pub use tuned::{Base, BaseInfo, LoraModel, LORA_BATCH_SIZE, LORA_EPOCHS, LORA_LEARNING_RATE};
