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
    /// SHA-256 of the file's bytes (`sha256:<hex>`).
    checksum: String,
}

impl BaseTokenizer {
    /// Reads `dir/tokenizer.json`; an error names the file.
    pub fn load(dir: &Path) -> Result<BaseTokenizer> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            let message = "missing: the base model's tokenizer is read from here".into();
            return Err(Error::BaseModel { path, message });
        }
        // Capped, and only a regular file, before the tokenizers crate parses it.
        let bytes = crate::ingest::read_capped(
            &path,
            crate::limits::MAX_TOKENIZER_FILE_BYTES,
            "a base model's tokenizer.json",
            "MAX_TOKENIZER_FILE_BYTES",
        )?;
        let inner = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| Error::BaseModel {
            path: path.clone(),
            message: format!("not a readable tokenizer: {e}"),
        })?;
        let checksum = crate::llama::checkpoint::sha256_hex(&[&bytes]);
        Ok(BaseTokenizer { inner, path, checksum })
    }

    /// Trains a byte-level BPE tokenizer of at most `vocab_size` tokens on `texts` and writes
    /// it to `path` (for tests, which build the models they need).
    pub fn train_bpe(texts: &[String], vocab_size: usize, path: &Path) -> Result<()> {
        use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        let failed = |e: tokenizers::Error| Error::Data(format!("tokenizer training: {e}"));
        // Every byte in the vocabulary (as byte-level BPE tokenizers have it), so that any text
        // can be written, not only the training texts' characters.
        let mut trainer = BpeTrainerBuilder::new()
            .show_progress(false)
            .vocab_size(vocab_size)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
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

    /// The checksum of its `tokenizer.json` (`sha256:<hex>`): a LoRA model file records it
    /// with the weights', and loading refuses another.
    pub fn checksum(&self) -> &str {
        &self.checksum
    }

    /// How many token ids it gives (its vocabulary with added tokens).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Each token's bytes, by id: what the token writes into the text (`None` for a special
    /// token such as `<s>`, never drawn in a record). Byte-level vocabularies (GPT-2's,
    /// Llama 3's, SmolLM's: a space is `Ġ`) are mapped back through GPT-2's byte-to-character
    /// table; SentencePiece ones (Llama 2's, Mistral's: a space is `▁`, a byte `<0x0A>`) by
    /// their conventions.
    pub fn token_bytes(&self) -> Vec<Option<Box<[u8]>>> {
        let vocab = self.inner.get_vocab(true);
        let added = self.inner.get_added_tokens_decoder();
        let byte_level = vocab.keys().any(|t| t.contains('\u{120}') || t.contains('\u{10a}'));
        let table = byte_level_table();
        let mut out = vec![None; self.vocab_size().max(vocab.len())];
        for (text, id) in vocab {
            let bytes: Option<Vec<u8>> = match added.get(&id) {
                Some(token) if token.special => None,
                Some(token) => Some(token.content.as_bytes().to_vec()),
                None if byte_level => text.chars().map(|c| table.get(&c).copied()).collect(),
                None => Some(sentencepiece_bytes(&text)),
            };
            if let Some(slot) = out.get_mut(id as usize) {
                *slot = bytes.map(Vec::into_boxed_slice);
            }
        }
        out
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

/// GPT-2's byte-level alphabet, reversed: each byte is written as one character, the
/// printable ones as themselves and the rest as `U+0100` onwards in byte order (the table of
/// `bytes_to_unicode` in OpenAI's GPT-2 encoder, which byte-level BPE tokenizers share).
fn byte_level_table() -> std::collections::HashMap<char, u8> {
    let mut table = std::collections::HashMap::new();
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, 33..=126 | 161..=172 | 174..=255);
        let code = if printable {
            u32::from(b)
        } else {
            next += 1;
            next - 1
        };
        if let Some(c) = char::from_u32(code) {
            table.insert(c, b);
        }
    }
    table
}

/// A SentencePiece token's bytes: `<0xNN>` is that byte, `▁` a space.
fn sentencepiece_bytes(text: &str) -> Vec<u8> {
    let hex = text.strip_prefix("<0x").and_then(|t| t.strip_suffix('>'));
    match hex.filter(|h| h.len() == 2).and_then(|h| u8::from_str_radix(h, 16).ok()) {
        Some(byte) => vec![byte],
        None => text.replace('\u{2581}', " ").into_bytes(),
    }
}

/// The prompt before every record: the columns, their kinds, and the record's shape.
pub fn prompt(schema: &Schema) -> String {
    let columns: Vec<String> = schema
        .columns
        .iter()
        .filter(|c| in_record(&c.kind))
        .map(|c| format!("{} ({})", c.name, kind_name(&c.kind)))
        .collect();
    format!("A table's record as JSON. Columns: {}.{RECORD_END}", columns.join(", "))
}

/// A kind's name as configurations write it (`integer`, `categorical`, ...).
fn kind_name(kind: &ColumnKind) -> String {
    let name = serde_json::to_value(KindName::of(kind)).ok();
    name.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Whether a column is written in the records: identifiers are not (their values are
/// regenerated, never learned).
pub(crate) fn in_record(kind: &ColumnKind) -> bool {
    !matches!(kind, ColumnKind::Identifier { .. })
}

/// One record (`None`: missing) as compact JSON in the schema's column order: numbers as
/// numbers when they read as such, a missing cell as `null`, the rest as strings; identifier
/// columns left out.
pub fn record_json(schema: &Schema, row: &[Option<&str>]) -> String {
    record_json_in(schema, row, &record_columns(schema, None))
}

/// [`record_json`] with the columns in `order` (schema indices).
pub(crate) fn record_json_in(schema: &Schema, row: &[Option<&str>], order: &[usize]) -> String {
    let fields: Vec<String> = order
        .iter()
        .filter_map(|&c| Some((schema.columns.get(c)?, row.get(c).copied().flatten())))
        .map(|(column, cell)| {
            let value = json_value(&column.kind, cell);
            // Written by hand, not as a map: serde_json's map would sort the keys.
            format!("{}:{value}", serde_json::Value::String(column.name.clone()))
        })
        .collect();
    format!("{{{}}}{RECORD_END}", fields.join(","))
}

/// A cell (`None`: missing) as a record writes it: a number when the column's kind is one and
/// the text reads as one, `null` when missing, else a string.
pub(crate) fn json_value(kind: &ColumnKind, cell: Option<&str>) -> serde_json::Value {
    match (cell, kind) {
        (None, _) => serde_json::Value::Null,
        (Some(text), ColumnKind::Integer | ColumnKind::Float { .. }) => {
            serde_json::from_str::<serde_json::Number>(text.trim())
                .map(serde_json::Value::Number)
                .unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
        }
        (Some(text), _) => serde_json::Value::String(text.to_string()),
    }
}

/// The columns a record writes (schema indices), in its order: those marked in `first` (per
/// schema column), then the others, each part in the schema's order; identifiers never.
pub(crate) fn record_columns(schema: &Schema, first: Option<&[bool]>) -> Vec<usize> {
    let marked = |c: &usize| first.and_then(|f| f.get(*c)).copied().unwrap_or(false);
    let written = (0..schema.columns.len()).filter(|&c| in_record(&schema.columns[c].kind));
    let (head, tail): (Vec<usize>, Vec<usize>) = written.partition(marked);
    head.into_iter().chain(tail).collect()
}

/// Every row of `table` (cells in `schema`'s column order) as [`record_json`] writes it.
pub fn table_records(table: &crate::Table, schema: &Schema) -> Vec<String> {
    (0..table.num_rows())
        .map(|r| {
            let row: Vec<Option<&str>> =
                (0..schema.columns.len()).map(|c| table.cell(r, c)).collect();
            record_json(schema, &row)
        })
        .collect()
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
    let bodies = records.iter().map(|r| tokenizer.encode(r)).collect::<Result<Vec<_>>>()?;
    for (i, body) in bodies.iter().enumerate() {
        if head.len() + body.len() > len {
            return Err(Error::Data(format!(
                "record {} takes {} tokens with the prompt, over the sequence length {len}",
                i + 1,
                head.len() + body.len()
            )));
        }
    }
    let bodies: Vec<&[u32]> = bodies.iter().map(Vec::as_slice).collect();
    let (mut ids, mut mask, width) = pack_records(&head, &bodies, len, pack);
    // Padded on to `len`.
    let rows = ids.len() / width.max(1);
    let (mut padded_ids, mut padded_mask) = (Vec::new(), Vec::new());
    for r in 0..rows {
        padded_ids.extend(&ids[r * width..(r + 1) * width]);
        padded_ids.extend(std::iter::repeat_n(0, len - width));
        padded_mask.extend(&mask[r * width..(r + 1) * width]);
        padded_mask.extend(std::iter::repeat_n(0.0, len - width));
    }
    (ids, mask) = (padded_ids, padded_mask);
    Ok((ids, mask))
}

/// The sequences of `bodies` (records' ids, each at most `len - head.len()` long) after
/// `head` (the prompt's ids): with `pack` as many whole records per sequence as fit in `len`,
/// else one each; padded with id 0 (not a target) to the longest sequence. Returns the ids,
/// the target mask (row-major) and that width.
pub(crate) fn pack_records(
    head: &[u32],
    bodies: &[&[u32]],
    len: usize,
    pack: bool,
) -> (Vec<u32>, Vec<f32>, usize) {
    let mut sequences: Vec<(Vec<u32>, Vec<f32>)> = Vec::new();
    for body in bodies {
        let joins = sequences.last().is_some_and(|(ids, _)| pack && ids.len() + body.len() <= len);
        if !joins {
            sequences.push((head.to_vec(), vec![0.0; head.len()]));
        }
        if let Some((ids, mask)) = sequences.last_mut() {
            ids.extend_from_slice(body);
            mask.extend(std::iter::repeat_n(1.0, body.len()));
        }
    }
    let width = sequences.iter().map(|(ids, _)| ids.len()).max().unwrap_or(0);
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for (i, m) in sequences {
        let pad = width - i.len();
        ids.extend(i);
        ids.extend(std::iter::repeat_n(0, pad));
        mask.extend(m);
        mask.extend(std::iter::repeat_n(0.0, pad));
    }
    (ids, mask, width)
}

/// Generates `n` records' texts: all start from `prompt`, then draw one token at a time (a KV
/// cache keeps the earlier positions) with `sampling`, each ending when a token writes
/// [`RECORD_END`] or after `max_tokens` (such a text is returned as it stands: the caller
/// validates records). With `grammars` (none, or one per record), each token is drawn among
/// those that keep its record inside its shape, and a record with none left ends there. The
/// same `seed`, the same texts.
#[allow(clippy::too_many_arguments)] // A sampling pass: each is one of its settings.
pub fn generate_records(
    model: &super::Llama,
    tokenizer: &BaseTokenizer,
    prompt: &str,
    n: usize,
    sampling: &crate::generate::Sampling,
    max_tokens: usize,
    seed: u64,
    grammars: &[&super::RecordGrammar],
) -> Result<Vec<String>> {
    use candle_core::Tensor;
    let device = model.device().clone();
    let head = tokenizer.encode(prompt)?;
    let head_len = head.len();
    if head_len == 0 {
        return Err(Error::Data("an empty prompt: generation needs one token to start".into()));
    }
    // The prompt once, its keys and values then copied for every record.
    let mut shared = super::KvCache::default();
    let first =
        model.forward_cached(&Tensor::from_vec(head, (1, head_len), &device)?, &mut shared)?;
    let mut cache = shared.repeat(n)?;
    let mut logits = first.narrow(1, head_len - 1, 1)?.repeat((n, 1, 1))?;
    let (mut rng, mut probs) = (crate::rng::Rng::new(seed, 0), Vec::new());
    let mut texts = vec![Vec::new(); n];
    let mut done = vec![false; n];
    if !grammars.is_empty() && grammars.len() != n {
        return Err(Error::Data(format!("{} record grammars for {n} records", grammars.len())));
    }
    let mut states: Vec<_> = grammars.iter().map(|g| g.start()).collect();
    for _ in 0..max_tokens {
        let last = logits.dim(1)? - 1;
        let mut rows = logits.narrow(1, last, 1)?.squeeze(1)?.to_vec2::<f32>()?;
        let mut next = vec![0u32; n];
        for (r, row) in rows.iter_mut().enumerate() {
            if done[r] {
                continue;
            }
            let grammar = grammars.get(r);
            if let Some(g) = grammar {
                if !g.bar(states[r], row) {
                    done[r] = true;
                    continue;
                }
            }
            next[r] = crate::generate::sample(row, sampling, &mut rng, &mut probs);
            texts[r].push(next[r]);
            match grammar {
                Some(g) => match g.advance(states[r], next[r]) {
                    Some(state) => {
                        states[r] = state;
                        done[r] = g.ends(next[r]);
                    }
                    None => done[r] = true,
                },
                None => done[r] = tokenizer.decode(&[next[r]])?.contains(RECORD_END),
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        logits = model.forward_cached(&Tensor::from_vec(next, (n, 1), &device)?, &mut cache)?;
    }
    texts.iter().map(|ids| tokenizer.decode(ids)).collect()
}
