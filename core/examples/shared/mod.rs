//! What the LoRA benchmark examples share.

use doppel_core::llama::LlamaConfig;

/// SmolLM2-135M's shape (30 blocks, hidden 576, grouped-query attention 9/3, vocabulary 49,152,
/// output tied to the embedding): the 135M-parameter configuration of BENCHMARKS.md.
pub fn smollm2_135m_shape() -> LlamaConfig {
    LlamaConfig {
        model_type: "llama".into(),
        vocab_size: 49_152,
        hidden_size: 576,
        intermediate_size: 1_536,
        layers: 30,
        heads: 9,
        kv_heads: 3,
        head_dim: 64,
        rms_norm_eps: 1e-5,
        rope_theta: 100_000.0,
        max_positions: 8_192,
        tie_word_embeddings: true,
        sliding_window: None,
    }
}
