//! A pretrained model's directory in the Hugging Face layout: `config.json` and one or more
//! `*.safetensors` shards, memory-mapped. Nothing is downloaded: a missing file, or a tensor
//! whose name, shape or type does not fit the configuration, is an error naming the file
//! before any weight is copied.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use super::{Llama, LlamaConfig};
use crate::error::{Error, Result};

/// The weight files of `dir`: those `model.safetensors.index.json` lists, else
/// `model.safetensors`, else every `*.safetensors` in it (sorted).
fn shards(dir: &Path) -> Result<Vec<PathBuf>> {
    let bad = |path: &Path, message: String| Error::BaseModel { path: path.to_path_buf(), message };
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(&index, format!("not readable: {e}")))?;
        let map = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad(&index, "it has no weight_map".into()))?;
        let mut files: Vec<PathBuf> = Vec::new();
        for file in map.values() {
            let name =
                file.as_str().ok_or_else(|| bad(&index, "a shard name is not text".into()))?;
            // A shard is a file of this directory, never a path out of it.
            if name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(bad(&index, format!("shard '{name}' is not a file of the directory")));
            }
            let path = dir.join(name);
            if !files.contains(&path) {
                files.push(path);
            }
        }
        return Ok(files);
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(bad(dir, "no *.safetensors weights in it".into()));
    }
    Ok(files)
}

impl Llama {
    /// Loads the decoder in `dir` (`config.json`, safetensors weights in f32, f16 or bf16) onto
    /// `device`, in f32.
    pub fn load(dir: &Path, device: &Device) -> Result<Llama> {
        Llama::load_as(dir, device, DType::F32)
    }

    /// [`Llama::load`] with the weights in `dtype` (f32, bf16 or f16; see
    /// [`super::Precision`]).
    pub fn load_as(dir: &Path, device: &Device, dtype: DType) -> Result<Llama> {
        if !matches!(dtype, DType::F32 | DType::BF16 | DType::F16) {
            return Err(Error::Config(format!(
                "a base is held in f32, bf16 or f16, not {dtype:?}"
            )));
        }
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            let message = "no config.json: doppel reads a local Hugging Face model directory \
                           (config.json, *.safetensors, tokenizer.json) and downloads nothing"
                .into();
            return Err(Error::BaseModel { path: dir.to_path_buf(), message });
        }
        let config = LlamaConfig::from_file(&config_path)?;
        let files = shards(dir)?;
        for file in &files {
            if !file.is_file() {
                return Err(Error::BaseModel { path: file.clone(), message: "missing".into() });
            }
        }
        // SAFETY: the files are mapped read-only and must not change while the model is
        // loaded (as for every memory-mapped checkpoint reader); the safetensors parser
        // checks each header's offsets against the file's length.
        let weights =
            unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| Error::BaseModel {
                path: dir.to_path_buf(),
                message: format!("the weights do not read: {e}"),
            })?;
        let fingerprint = fingerprint(&config, &weights, dir)?;
        let expected: HashMap<String, Vec<usize>> = config.weight_shapes().into_iter().collect();
        let mut get = |name: &str| -> Result<Tensor> {
            let bad = |message: String| Error::BaseModel { path: dir.to_path_buf(), message };
            let view = weights.get(name).map_err(|_| bad(format!("no tensor {name}")))?;
            let want =
                expected.get(name).ok_or_else(|| bad(format!("unexpected tensor {name}")))?;
            if view.shape() != want.as_slice() {
                return Err(bad(format!(
                    "{name} has shape {:?}; config.json gives {want:?}",
                    view.shape()
                )));
            }
            use safetensors::Dtype;
            if !matches!(view.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) {
                return Err(bad(format!(
                    "{name} is {:?}; f32, f16 or bf16 expected",
                    view.dtype()
                )));
            }
            Ok(weights.load(name, device)?.to_dtype(dtype)?)
        };
        let mut model = Llama::from_weights(&config, &mut get)?;
        model.fingerprint = fingerprint;
        Ok(model)
    }
}

/// The checksum of a base model's weights: SHA-256 over each tensor the configuration names, in
/// its order, as name, type, shape and bytes (so the same weights give the same checksum however
/// they are sharded, and any changed value, type or shape another). Written `sha256:<hex>`.
/// Reading every byte once costs about a second per 2 GB with the CPU's SHA instructions.
fn fingerprint(config: &LlamaConfig, weights: &MmapedSafetensors, dir: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (name, _) in config.weight_shapes() {
        let view = weights.get(&name).map_err(|_| Error::BaseModel {
            path: dir.to_path_buf(),
            message: format!("no tensor {name}"),
        })?;
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update(format!("{:?}{:?}", view.dtype(), view.shape()).as_bytes());
        hash.update((view.data().len() as u64).to_le_bytes());
        hash.update(view.data());
    }
    Ok(hex(hash.finalize().as_slice()))
}

/// `sha256:<hex>` of `parts` in order.
pub(crate) fn sha256_hex(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    parts.iter().for_each(|p| hash.update(p));
    hex(hash.finalize().as_slice())
}

fn hex(digest: &[u8]) -> String {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Writes a decoder of `config` with random weights (normal with standard deviation `std`:
/// `transformers` initialises with 0.02, tests take more so that attention is far from
/// uniform; the norms' weights 1 + a tenth of that, so that they count) in the Hugging Face
/// layout: `dir/config.json` and `dir/model.safetensors`, f32. For tests and benchmarks, which
/// build the models they need.
pub fn write_random(dir: &Path, config: &LlamaConfig, seed: u64, std: f64) -> Result<()> {
    let mut rng = crate::rng::Rng::new(seed, 0);
    let mut tensors = HashMap::new();
    for (name, shape) in config.weight_shapes() {
        let n: usize = shape.iter().product();
        let norm = name.ends_with("norm.weight");
        let values: Vec<f32> = (0..n)
            .map(|_| {
                let z = (rng.normal() * std) as f32;
                if norm {
                    1.0 + z * 0.1
                } else {
                    z
                }
            })
            .collect();
        tensors.insert(name, Tensor::from_vec(values, shape, &Device::Cpu)?);
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, config.to_json()).map_err(|e| Error::io(&config_path, e))?;
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    Ok(())
}

/// Writes a tiny random Llama (2 layers, hidden 64, 512 positions) in the Hugging Face layout
/// into `dir`, with a byte-level BPE tokenizer of at most 800 tokens trained on `table`'s
/// records as LoRA training writes them (JSON after the schema's prompt): a base model for
/// tests, examples and host-language tests, which cannot download one.
pub fn write_tiny_base(dir: &Path, table: &crate::Table, seed: u64) -> Result<()> {
    use super::text::{prompt, table_records, BaseTokenizer};
    let config = crate::TrainConfig::default();
    let schema = crate::schema::infer_schema(table, &config.schema_settings())?;
    let mut texts: Vec<String> = table_records(table, &schema);
    texts.push(prompt(&schema));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    BaseTokenizer::train_bpe(&texts, 800, &dir.join("tokenizer.json"))?;
    let vocab_size = BaseTokenizer::load(dir)?.vocab_size();
    let llama = LlamaConfig {
        model_type: "llama".into(),
        vocab_size,
        hidden_size: 64,
        intermediate_size: 112,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        head_dim: 16,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        max_positions: 512,
        tie_word_embeddings: false,
        sliding_window: None,
    };
    write_random(dir, &llama, seed, 0.02)
}
