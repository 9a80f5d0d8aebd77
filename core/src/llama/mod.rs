//! Pretrained Llama-family decoders from local Hugging Face directories: the second model of
//! the engine next to the LSTM (issue 16). [`LlamaConfig`] reads `config.json`,
//! [`Llama::load`] maps the safetensors weights, [`Llama::forward`] gives logits. LoRA
//! adapters, their DP training and generation build on these.

mod checkpoint;
mod config;
mod lora;
mod model;
pub mod text;

pub use checkpoint::write_random;
pub use config::LlamaConfig;
pub use lora::{LoraConfig, Projection};
pub use model::{KvCache, Llama};
