//! Records as text for a pretrained model: a prompt that carries the schema, then each record
//! as compact JSON (`{"age":39,"workclass":"State-gov",...}`), tokenized by the base model's
//! own tokenizer (`tokenizer.json`, read with Hugging Face's `tokenizers` crate). The loss
//! counts the record's tokens only: the prompt is context.

use std::path::{Path, PathBuf};

use crate::config::KindName;
use crate::error::{Error, Result};
use crate::schema::{ColumnKind, Schema};

/// What ends a record in the text (the model learns to write it, and generation stops there).
pub const RECORD_END: &str = "\n";

/// A base model's tokenizer.
pub struct BaseTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl BaseTokenizer {
    /// Reads `dir/tokenizer.json`; an error names the file.
    pub fn load(dir: &Path) -> Result<BaseTokenizer> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            let message = "missing: the base model's tokenizer is read from here".into();
            return Err(Error::BaseModel { path, message });
        }
        let inner = tokenizers::Tokenizer::from_file(&path).map_err(|e| Error::BaseModel {
            path: path.clone(),
            message: format!("not a readable tokenizer: {e}"),
        })?;
        Ok(BaseTokenizer { inner, path })
    }

    /// Trains a byte-level BPE tokenizer of at most `vocab_size` tokens on `texts` and writes
    /// it to `path` (for tests, which build the models they need).
    pub fn train_bpe(texts: &[String], vocab_size: usize, path: &Path) -> Result<()> {
        use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        let failed = |e: tokenizers::Error| Error::Data(format!("tokenizer training: {e}"));
        let mut trainer =
            BpeTrainerBuilder::new().show_progress(false).vocab_size(vocab_size).build();
        let mut tokenizer = tokenizers::TokenizerBuilder::new()
            .with_model(BPE::default())
            .with_normalizer(None::<tokenizers::NormalizerWrapper>)
            .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
            .with_post_processor(None::<tokenizers::PostProcessorWrapper>)
            .with_decoder(Some(ByteLevel::new(false, true, true)))
            .build()
            .map_err(failed)?;
        tokenizer.train(&mut trainer, texts.iter()).map_err(failed)?;
        let tokenizer: tokenizers::Tokenizer = tokenizer.into();
        tokenizer.save(path, false).map_err(|e| Error::Data(format!("{}: {e}", path.display())))
    }

    /// How many token ids it gives (its vocabulary with added tokens).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The ids of `text`, without special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.inner.encode(text, false).map_err(|e| Error::BaseModel {
            path: self.path.clone(),
            message: format!("cannot encode: {e}"),
        })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(|e| Error::BaseModel {
            path: self.path.clone(),
            message: format!("cannot decode: {e}"),
        })
    }
}

/// The prompt before every record: the columns, their kinds, and the record's shape.
pub fn prompt(schema: &Schema) -> String {
    let columns: Vec<String> =
        schema.columns.iter().map(|c| format!("{} ({})", c.name, kind_name(&c.kind))).collect();
    format!("A table's record as JSON. Columns: {}.{RECORD_END}", columns.join(", "))
}

/// A kind's name as configurations write it (`integer`, `categorical`, ...).
fn kind_name(kind: &ColumnKind) -> String {
    let name = serde_json::to_value(KindName::of(kind)).ok();
    name.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// One record (`None`: missing) as compact JSON in the schema's column order: numbers as
/// numbers when they read as such, a missing cell as `null`, the rest as strings.
pub fn record_json(schema: &Schema, row: &[Option<&str>]) -> String {
    let fields: Vec<String> = schema
        .columns
        .iter()
        .zip(row)
        .map(|(column, cell)| {
            let value = match (cell, &column.kind) {
                (None, _) => serde_json::Value::Null,
                (Some(text), ColumnKind::Integer | ColumnKind::Float { .. }) => {
                    serde_json::from_str::<serde_json::Number>(text.trim())
                        .map(serde_json::Value::Number)
                        .unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
                }
                (Some(text), _) => serde_json::Value::String(text.to_string()),
            };
            // Written by hand, not as a map: serde_json's map would sort the keys.
            format!("{}:{value}", serde_json::Value::String(column.name.clone()))
        })
        .collect();
    format!("{{{}}}{RECORD_END}", fields.join(","))
}

/// Training sequences of `len` tokens: the prompt's ids (context), then records' ids
/// (targets), then padding (id 0, not a target). With `pack`, as many whole records as fit
/// follow one prompt (training without DP: fewer, fuller sequences); without, one record
/// each (the unit DP protects is one record). Returns the ids and the target mask, row-major
/// `[sequences, len]`. A record too long for `len` with the prompt is an error naming it.
pub fn sequences(
    tokenizer: &BaseTokenizer,
    prompt: &str,
    records: &[String],
    len: usize,
    pack: bool,
) -> Result<(Vec<u32>, Vec<f32>)> {
    let head = tokenizer.encode(prompt)?;
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    let mut open = 0;
    let pad = |ids: &mut Vec<u32>, mask: &mut Vec<f32>, used: usize| {
        ids.extend(std::iter::repeat_n(0, len - used));
        mask.extend(std::iter::repeat_n(0.0, len - used));
    };
    for (i, record) in records.iter().enumerate() {
        let body = tokenizer.encode(record)?;
        if head.len() + body.len() > len {
            return Err(Error::Data(format!(
                "record {} takes {} tokens with the prompt, over the sequence length {len}",
                i + 1,
                head.len() + body.len()
            )));
        }
        // Close the open sequence when this record does not join it.
        if open > 0 && (!pack || open + body.len() > len) {
            pad(&mut ids, &mut mask, open);
            open = 0;
        }
        if open == 0 {
            ids.extend(&head);
            mask.extend(std::iter::repeat_n(0.0, head.len()));
            open = head.len();
        }
        ids.extend(&body);
        mask.extend(std::iter::repeat_n(1.0, body.len()));
        open += body.len();
    }
    if open > 0 {
        pad(&mut ids, &mut mask, open);
    }
    Ok((ids, mask))
}

/// Generates `n` records' texts: all start from `prompt`, then draw one token at a time (a KV
/// cache keeps the earlier positions) with `sampling`, each ending when a token writes
/// [`RECORD_END`] or after `max_tokens` (such a text is returned as it stands: the caller
/// validates records). The same `seed`, the same texts.
pub fn generate_records(
    model: &super::Llama,
    tokenizer: &BaseTokenizer,
    prompt: &str,
    n: usize,
    sampling: &crate::generate::Sampling,
    max_tokens: usize,
    seed: u64,
) -> Result<Vec<String>> {
    use candle_core::Tensor;
    let device = model.device().clone();
    let head = tokenizer.encode(prompt)?;
    let mut cache = super::KvCache::default();
    let start: Vec<u32> = head.iter().copied().cycle().take(n * head.len()).collect();
    let mut logits =
        model.forward_cached(&Tensor::from_vec(start, (n, head.len()), &device)?, &mut cache)?;
    let (mut rng, mut probs) = (crate::rng::Rng::new(seed, 0), Vec::new());
    let mut texts = vec![Vec::new(); n];
    let mut done = vec![false; n];
    for _ in 0..max_tokens {
        let last = logits.dim(1)? - 1;
        let rows = logits.narrow(1, last, 1)?.squeeze(1)?.to_vec2::<f32>()?;
        let mut next = vec![0u32; n];
        for (r, row) in rows.iter().enumerate() {
            if done[r] {
                continue;
            }
            next[r] = crate::generate::sample(row, sampling, &mut rng, &mut probs);
            texts[r].push(next[r]);
            done[r] = tokenizer.decode(&[next[r]])?.contains(RECORD_END);
        }
        if done.iter().all(|&d| d) {
            break;
        }
        logits = model.forward_cached(&Tensor::from_vec(next, (n, 1), &device)?, &mut cache)?;
    }
    texts.iter().map(|ids| tokenizer.decode(ids)).collect()
}
