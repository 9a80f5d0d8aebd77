//! A pretrained model's `config.json` (the Hugging Face layout), read and checked before any
//! weight is touched.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The architectures whose decoder [`super::Llama`] computes exactly: Llama (TinyLlama,
/// SmolLM2) and Mistral (the same blocks; its sliding window is refused beyond its length).
const MODEL_TYPES: [&str; 2] = ["llama", "mistral"];

/// Bounds on a configuration's sizes, far above the models the issue names (Mistral-7B:
/// hidden 4,096, 32 layers, vocabulary 32,768), so that a hostile file cannot ask for
/// terabytes before its weights are compared with it.
const MAX_HIDDEN: usize = 16_384;
const MAX_INTERMEDIATE: usize = 65_536;
const MAX_LAYERS: usize = 256;
const MAX_HEADS: usize = 256;
const MAX_VOCAB: usize = 1 << 20;

/// The decoder's shape, as `config.json` gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    /// `model_type`: one of `llama`, `mistral`.
    pub model_type: String,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `hidden_size`.
    pub hidden_size: usize,
    /// `intermediate_size` (the SwiGLU width).
    pub intermediate_size: usize,
    /// `num_hidden_layers`.
    pub layers: usize,
    /// `num_attention_heads`.
    pub heads: usize,
    /// `num_key_value_heads` (grouped-query attention; unset: `heads`).
    pub kv_heads: usize,
    /// `head_dim` (unset: `hidden_size / heads`).
    pub head_dim: usize,
    /// `rms_norm_eps`.
    pub rms_norm_eps: f64,
    /// `rope_theta` (unset: 10,000).
    pub rope_theta: f64,
    /// `max_position_embeddings`.
    pub max_positions: usize,
    /// `tie_word_embeddings`: the output layer is the token embedding (unset: false).
    pub tie_word_embeddings: bool,
    /// `sliding_window` (Mistral): attention sees at most this many positions back.
    pub sliding_window: Option<usize>,
}

/// The keys read, as written; any other key is ignored (Hugging Face configurations carry
/// many that do not change the computation, such as `bos_token_id` or `torch_dtype`).
#[derive(Deserialize)]
struct Raw {
    model_type: Option<String>,
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    sliding_window: Option<usize>,
    hidden_act: Option<String>,
    rope_scaling: Option<serde_json::Value>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
}

impl LlamaConfig {
    /// Reads and checks `path` (a `config.json`); errors name the file and the key.
    pub fn from_file(path: &Path) -> Result<LlamaConfig> {
        // Capped, and only a regular file: a base directory is input like any other.
        let bytes = crate::ingest::read_capped(
            path,
            crate::limits::MAX_CONFIG_FILE_BYTES,
            "a base model's config.json",
            "MAX_CONFIG_FILE_BYTES",
        )?;
        let text = String::from_utf8(bytes).map_err(|e| Error::BaseModel {
            path: path.to_path_buf(),
            message: format!("not UTF-8 text ({e})"),
        })?;
        LlamaConfig::from_json(&text, path)
    }

    /// Reads and checks the text of a `config.json`; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<LlamaConfig> {
        let bad = |message: String| Error::BaseModel { path: path.to_path_buf(), message };
        let raw: Raw =
            serde_json::from_str(text).map_err(|e| bad(format!("not a readable config: {e}")))?;
        let model_type = raw.model_type.unwrap_or_default();
        if !MODEL_TYPES.contains(&model_type.as_str()) {
            return Err(bad(format!(
                "model_type '{model_type}' is not one doppel runs ({})",
                MODEL_TYPES.join(", ")
            )));
        }
        let size = |key: &str, value: Option<usize>, most: usize| match value {
            Some(v) if (1..=most).contains(&v) => Ok(v),
            Some(v) => Err(bad(format!("{key} is {v}; it must be in 1..={most}"))),
            None => Err(bad(format!("{key} is missing"))),
        };
        let hidden_size = size("hidden_size", raw.hidden_size, MAX_HIDDEN)?;
        let heads = size("num_attention_heads", raw.num_attention_heads, MAX_HEADS)?;
        let kv_heads =
            size("num_key_value_heads", raw.num_key_value_heads.or(Some(heads)), MAX_HEADS)?;
        if heads % kv_heads != 0 {
            let what = "is not a multiple of num_key_value_heads";
            return Err(bad(format!("num_attention_heads ({heads}) {what} ({kv_heads})")));
        }
        let head_dim = match raw.head_dim {
            Some(d) => size("head_dim", Some(d), MAX_HIDDEN)?,
            None if hidden_size % heads == 0 => hidden_size / heads,
            None => {
                return Err(bad(format!(
                    "hidden_size ({hidden_size}) is not a multiple of num_attention_heads ({heads})"
                )))
            }
        };
        if head_dim % 2 != 0 {
            return Err(bad(format!("head_dim is {head_dim}; rotary embeddings need it even")));
        }
        let positive = |key: &str, value: Option<f64>, default: Option<f64>| match value.or(default)
        {
            Some(v) if v.is_finite() && v > 0.0 => Ok(v),
            Some(v) => Err(bad(format!("{key} is {v}; it must be positive"))),
            None => Err(bad(format!("{key} is missing"))),
        };
        if let Some(act) = raw.hidden_act.filter(|a| a != "silu") {
            return Err(bad(format!("hidden_act '{act}' is not supported (silu is)")));
        }
        if raw.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(bad("rope_scaling is not supported yet (it must be null)".into()));
        }
        if raw.attention_bias == Some(true) || raw.mlp_bias == Some(true) {
            return Err(bad("attention_bias and mlp_bias are not supported (false)".into()));
        }
        Ok(LlamaConfig {
            model_type,
            vocab_size: size("vocab_size", raw.vocab_size, MAX_VOCAB)?,
            hidden_size,
            intermediate_size: size("intermediate_size", raw.intermediate_size, MAX_INTERMEDIATE)?,
            layers: size("num_hidden_layers", raw.num_hidden_layers, MAX_LAYERS)?,
            heads,
            kv_heads,
            head_dim,
            rms_norm_eps: positive("rms_norm_eps", raw.rms_norm_eps, None)?,
            rope_theta: positive("rope_theta", raw.rope_theta, Some(10_000.0))?,
            max_positions: size("max_position_embeddings", raw.max_position_embeddings, 1 << 24)?,
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
            sliding_window: raw.sliding_window,
        })
    }

    /// The configuration as `config.json` text (the keys [`LlamaConfig::from_json`] reads),
    /// for checkpoints written by doppel's tests and benchmarks.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": self.model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_positions,
            "tie_word_embeddings": self.tie_word_embeddings,
            "hidden_act": "silu",
            "attention_bias": false,
            "mlp_bias": false,
            "rope_scaling": null,
            "torch_dtype": "float32",
        })
        .to_string()
    }

    /// The name and shape of every weight a checkpoint of this configuration holds, in the
    /// Hugging Face names.
    pub fn weight_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (h, i, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let (q, kv) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
        let mut shapes = vec![("model.embed_tokens.weight".to_string(), vec![v, h])];
        for l in 0..self.layers {
            let p = |name: &str| format!("model.layers.{l}.{name}.weight");
            shapes.extend([
                (p("input_layernorm"), vec![h]),
                (p("self_attn.q_proj"), vec![q, h]),
                (p("self_attn.k_proj"), vec![kv, h]),
                (p("self_attn.v_proj"), vec![kv, h]),
                (p("self_attn.o_proj"), vec![h, q]),
                (p("post_attention_layernorm"), vec![h]),
                (p("mlp.gate_proj"), vec![i, h]),
                (p("mlp.up_proj"), vec![i, h]),
                (p("mlp.down_proj"), vec![h, i]),
            ]);
        }
        shapes.push(("model.norm.weight".to_string(), vec![h]));
        if !self.tie_word_embeddings {
            shapes.push(("lm_head.weight".to_string(), vec![v, h]));
        }
        shapes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> serde_json::Value {
        serde_json::json!({
            "model_type": "llama", "vocab_size": 100, "hidden_size": 64,
            "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "max_position_embeddings": 256,
            "bos_token_id": 1, "torch_dtype": "bfloat16"
        })
    }

    fn read(value: &serde_json::Value) -> Result<LlamaConfig> {
        LlamaConfig::from_json(&value.to_string(), Path::new("base/config.json"))
    }

    #[test]
    fn a_config_reads_with_defaults_and_round_trips() -> Result<()> {
        let c = read(&tiny())?;
        assert_eq!(
            (c.head_dim, c.kv_heads, c.rope_theta, c.tie_word_embeddings),
            (16, 2, 1e4, false)
        );
        assert_eq!(LlamaConfig::from_json(&c.to_json(), Path::new("x"))?, c);
        let shapes = c.weight_shapes();
        assert_eq!(shapes.len(), 1 + 2 * 9 + 2);
        assert!(shapes.contains(&("model.layers.1.self_attn.k_proj.weight".into(), vec![32, 64])));
        Ok(())
    }

    #[test]
    fn bad_configs_are_errors_naming_the_file_and_key() {
        let cases: [(&str, serde_json::Value, &str); 7] = [
            ("model_type", serde_json::json!("gpt2"), "model_type 'gpt2'"),
            ("hidden_size", serde_json::json!(0), "hidden_size is 0"),
            ("vocab_size", serde_json::json!(1u64 << 40), "vocab_size is"),
            ("num_key_value_heads", serde_json::json!(3), "not a multiple"),
            ("rope_scaling", serde_json::json!({"type": "llama3"}), "rope_scaling"),
            ("hidden_act", serde_json::json!("gelu"), "hidden_act 'gelu'"),
            ("rms_norm_eps", serde_json::json!(-1.0), "rms_norm_eps is -1"),
        ];
        for (key, value, expected) in cases {
            let mut config = tiny();
            config[key] = value;
            let error = read(&config).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                error.contains("base/config.json") && error.contains(expected),
                "{key}: {error}"
            );
        }
        let mut config = tiny();
        config.as_object_mut().map(|o| o.remove("num_hidden_layers"));
        let error = read(&config).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("num_hidden_layers is missing"), "{error}");
        let error = LlamaConfig::from_json("{", Path::new("c.json")).err().map(|e| e.to_string());
        assert!(error.unwrap_or_default().contains("c.json: not a usable base model"));
    }
}
