//! Pretrained Llama decoders from a local Hugging Face directory: a tiny random model written
//! in that layout loads, and its logits equal those of PyTorch `transformers` on the same
//! weights (golden values from `core/tests/golden/llama_logits.py`); missing and mismatched
//! files are errors naming them.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use doppel_core::llama::{write_random, Llama, LlamaConfig};
use doppel_core::{Error, Result};

/// The two tiny models of the golden file: grouped-query attention with a separate output
/// layer, and plain multi-head attention with the output tied to the embedding.
fn tiny(name: &str) -> LlamaConfig {
    let tied = name == "tied";
    LlamaConfig {
        model_type: "llama".into(),
        vocab_size: 96,
        hidden_size: 64,
        intermediate_size: 112,
        layers: 2,
        heads: 4,
        kv_heads: if tied { 4 } else { 2 },
        head_dim: 16,
        rms_norm_eps: 1e-5,
        rope_theta: if tied { 500.0 } else { 10_000.0 },
        max_positions: 64,
        tie_word_embeddings: tied,
        sliding_window: None,
    }
}

const MODELS: [(&str, u64); 2] = [("gqa", 7), ("tied", 8)];

/// The weights' standard deviation: large enough that attention is far from uniform and the
/// logits span several units, so that a wrong mask, rotation or head grouping shows.
const STD: f64 = 0.15;

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::io("a temporary directory", e))
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/llama_logits.json")
}

#[test]
fn logits_match_pytorch_transformers_on_the_same_weights() -> Result<()> {
    let text = std::fs::read_to_string(golden()).map_err(|e| Error::io(golden(), e))?;
    let golden: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::Data(e.to_string()))?;
    let dir = tempdir()?;
    for (name, seed) in MODELS {
        write_random(&dir.path().join(name), &tiny(name), seed, STD)?;
        let model = Llama::load(&dir.path().join(name), &Device::Cpu)?;
        let ids: Vec<Vec<u32>> = serde_json::from_value(golden[name]["ids"].clone())
            .map_err(|e| Error::Data(e.to_string()))?;
        let want: Vec<Vec<Vec<f32>>> = serde_json::from_value(golden[name]["logits"].clone())
            .map_err(|e| Error::Data(e.to_string()))?;
        let (b, t) = (ids.len(), ids[0].len());
        let input = Tensor::from_vec(ids.concat(), (b, t), &Device::Cpu)?;
        let got = model.forward(&input)?.to_vec3::<f32>()?;
        let mut worst = 0f32;
        for (g, w) in got.iter().flatten().flatten().zip(want.iter().flatten().flatten()) {
            worst = worst.max((g - w).abs());
        }
        assert_eq!(got.len() * got[0].len() * got[0][0].len(), b * t * 96);
        eprintln!("{name}: largest difference from transformers' logits {worst:e}");
        assert!(worst < 1e-4, "{name}: logits differ from transformers' by {worst}");
        // The training pass (composite kernels, differentiable) gives the same next-token
        // loss as transformers' logits.
        let mut want_loss = 0f64;
        for (seq, logits) in ids.iter().zip(&want) {
            for (p, row) in logits.iter().enumerate().take(t - 1) {
                let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
                let sum: f64 = row.iter().map(|&x| f64::from(x - max).exp()).sum();
                let target = row[seq[p + 1] as usize];
                want_loss -= f64::from(target - max) - sum.ln();
            }
        }
        want_loss /= (b * (t - 1)) as f64;
        let ones = Tensor::ones((b, t), candle_core::DType::F32, &Device::Cpu)?;
        let loss = f64::from(model.loss(&input, &ones, None)?.to_scalar::<f32>()?);
        assert!((loss - want_loss).abs() < 1e-4, "{name}: loss {loss} vs {want_loss}");
        // The logits are not trivially small: a wrong block would show.
        let spread = want.iter().flatten().flatten().fold(0f32, |m, &x| m.max(x.abs()));
        assert!(spread > 1.0, "{name}: golden logits span only {spread}");
    }
    Ok(())
}

#[test]
fn missing_and_mismatched_files_are_errors_naming_them() -> Result<()> {
    let dir = tempdir()?;
    let message = |dir: &Path| Llama::load(dir, &Device::Cpu).err().map(|e| e.to_string());
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).map_err(|e| Error::io(&empty, e))?;
    let error = message(&empty).unwrap_or_default();
    assert!(error.contains("no config.json") && error.contains("downloads nothing"), "{error}");
    // A configuration without weights.
    let bare = dir.path().join("bare");
    std::fs::create_dir_all(&bare).map_err(|e| Error::io(&bare, e))?;
    std::fs::write(bare.join("config.json"), tiny("gqa").to_json())
        .map_err(|e| Error::io(&bare, e))?;
    assert!(message(&bare).unwrap_or_default().contains("no *.safetensors"));
    // Weights that do not fit the configuration: the tensor and both shapes named.
    let model = dir.path().join("model");
    write_random(&model, &tiny("gqa"), 1, STD)?;
    let wider = LlamaConfig { intermediate_size: 128, ..tiny("gqa") };
    std::fs::write(model.join("config.json"), wider.to_json()).map_err(|e| Error::io(&model, e))?;
    let error = message(&model).unwrap_or_default();
    assert!(error.contains("model.layers.0.mlp.gate_proj.weight has shape [112, 64]"), "{error}");
    // A shard index naming a file outside the directory.
    std::fs::write(
        model.join("model.safetensors.index.json"),
        r#"{"weight_map": {"model.norm.weight": "../elsewhere.safetensors"}}"#,
    )
    .map_err(|e| Error::io(&model, e))?;
    let error = message(&model).unwrap_or_default();
    assert!(error.contains("not a file of the directory"), "{error}");
    // A config.json or tokenizer.json of hostile size is refused before it is read.
    let padded = format!("{}{}", tiny("gqa").to_json(), " ".repeat(2 << 20));
    std::fs::write(bare.join("config.json"), padded).map_err(|e| Error::io(&bare, e))?;
    let error = message(&bare).unwrap_or_default();
    assert!(error.contains("config.json") && error.contains("MAX_CONFIG_FILE_BYTES"), "{error}");
    let huge =
        std::fs::File::create(bare.join("tokenizer.json")).map_err(|e| Error::io(&bare, e))?;
    huge.set_len(65 << 20).map_err(|e| Error::io(&bare, e))?;
    let error = doppel_core::llama::text::BaseTokenizer::load(&bare).err().map(|e| e.to_string());
    let error = error.unwrap_or_default();
    assert!(
        error.contains("tokenizer.json") && error.contains("MAX_TOKENIZER_FILE_BYTES"),
        "{error}"
    );
    Ok(())
}

/// Writes the golden file's two models under `$DOPPEL_TINY_LLAMA_DIR` for
/// `core/tests/golden/llama_logits.py` (see its docstring).
#[test]
#[ignore = "writes the tiny models for the golden script; run by hand"]
fn write_the_tiny_models_for_the_golden_script() -> Result<()> {
    let dir = std::env::var("DOPPEL_TINY_LLAMA_DIR")
        .map_err(|_| Error::Config("set DOPPEL_TINY_LLAMA_DIR".into()))?;
    for (name, seed) in MODELS {
        write_random(&Path::new(&dir).join(name), &tiny(name), seed, STD)?;
    }
    Ok(())
}

/// 200 rows of `data/adult.csv` as byte ids (printable ASCII, `id = byte - 31`, 0 for padding),
/// cut or padded to `len`, with a mask of the real bytes.
fn adult_bytes(len: usize) -> Result<(Vec<u32>, Vec<f32>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/adult.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1).take(200) {
        let bytes: Vec<u32> = line.bytes().map(|b| u32::from(b.clamp(32, 126)) - 31).collect();
        for i in 0..len {
            ids.push(bytes.get(i).copied().unwrap_or(0));
            mask.push(if i < bytes.len() { 1.0 } else { 0.0 });
        }
    }
    Ok((ids, mask))
}

#[test]
fn lora_starts_at_the_base_and_training_it_lowers_the_loss() -> Result<()> {
    use candle_nn::{AdamW, Optimizer, ParamsAdamW};
    use doppel_core::llama::LoraConfig;
    use doppel_core::rng::Rng;
    let dir = tempdir()?;
    let config = tiny("gqa");
    write_random(dir.path(), &config, 3, 0.02)?;
    let base = Llama::load(dir.path(), &Device::Cpu)?;
    let mut model = Llama::load(dir.path(), &Device::Cpu)?;
    let lora = LoraConfig { rank: 4, alpha: 8.0, ..LoraConfig::default() };
    model.add_lora(&lora, 5)?;
    assert_eq!(model.adapters().len(), 2 * 7 * 2, "A and B for 7 projections in 2 blocks");
    let len = 48;
    let (ids, mask) = adult_bytes(len)?;
    let ids = Tensor::from_vec(ids, (200, len), &Device::Cpu)?;
    let mask = Tensor::from_vec(mask, (200, len), &Device::Cpu)?;
    // B starts at zero: the adapted model computes its base's logits.
    let probe = ids.narrow(0, 0, 2)?;
    let same = (model.forward(&probe)? - base.forward(&probe)?)?.abs()?.max_all()?;
    assert_eq!(same.to_scalar::<f32>()?, 0.0);
    let vars: Vec<candle_core::Var> =
        model.adapters().into_iter().map(|(_, v)| v.clone()).collect();
    let mut optimizer = AdamW::new(vars, ParamsAdamW { lr: 1e-2, ..ParamsAdamW::default() })?;
    let mut rng = Rng::new(9, 0);
    let before = model.loss(&ids, &mask, None)?.to_scalar::<f32>()?;
    for step in 0..40 {
        let rows = ids.narrow(0, (step * 20) % 200, 20)?;
        let weights = mask.narrow(0, (step * 20) % 200, 20)?;
        optimizer.backward_step(&model.loss(&rows, &weights, Some(&mut rng))?)?;
    }
    let after = model.loss(&ids, &mask, None)?.to_scalar::<f32>()?;
    eprintln!("LoRA on 200 Adult rows as bytes: loss {before} -> {after} in 40 steps");
    assert!(after < before - 0.5, "loss {before} -> {after}");
    // The base is untouched: only adapters were variables.
    let base_again = Llama::load(dir.path(), &Device::Cpu)?;
    let drift = (base.forward(&probe)? - base_again.forward(&probe)?)?.abs()?.max_all()?;
    assert_eq!(drift.to_scalar::<f32>()?, 0.0);
    // Saved and reloaded onto the base, the adapters give the same logits.
    let saved = dir.path().join("adapters.safetensors");
    model.save_adapters(&saved)?;
    let mut reloaded = Llama::load(dir.path(), &Device::Cpu)?;
    reloaded.add_lora(&lora, 77)?;
    reloaded.load_adapters(&saved)?;
    let diff = (model.forward(&probe)? - reloaded.forward(&probe)?)?.abs()?.max_all()?;
    assert_eq!(diff.to_scalar::<f32>()?, 0.0);
    // Adapters of another shape are refused, naming the file.
    let mut other = Llama::load(dir.path(), &Device::Cpu)?;
    other.add_lora(&LoraConfig { rank: 2, ..lora.clone() }, 1)?;
    let error = other.load_adapters(&saved).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("adapters.safetensors") && error.contains("lora_A"), "{error}");
    Ok(())
}

/// The base in `dir` held in `dtype`, with rank-3 adapters (no dropout) whose `A` and `B` are
/// both drawn away from zero, so that both factors' gradients are non-zero.
fn with_random_adapters(dir: &Path, dtype: candle_core::DType) -> Result<Llama> {
    use doppel_core::llama::LoraConfig;
    let mut model = Llama::load_as(dir, &Device::Cpu, dtype)?;
    let lora = LoraConfig { rank: 3, alpha: 6.0, dropout: 0.0, ..LoraConfig::default() };
    model.add_lora(&lora, 2)?;
    let mut rng = doppel_core::rng::Rng::new(5, 0);
    for (_, var) in model.adapters() {
        let values: Vec<f32> =
            (0..var.elem_count()).map(|_| ((rng.uniform() - 0.5) * 0.3) as f32).collect();
        var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu)?)?;
    }
    Ok(model)
}

#[test]
fn clipped_per_record_gradients_equal_one_record_at_a_time() -> Result<()> {
    let dir = tempdir()?;
    write_random(dir.path(), &tiny("gqa"), 4, STD)?;
    let model = with_random_adapters(dir.path(), candle_core::DType::F32)?;
    let (n, len) = (6, 24);
    let (ids, mut mask) = adult_bytes(len)?;
    // A prompt of a different length per record: its tokens are context, not targets.
    for r in 0..n {
        mask[r * len..r * len + 2 + r].iter_mut().for_each(|m| *m = 0.0);
    }
    let ids = Tensor::from_vec(ids[..n * len].to_vec(), (n, len), &Device::Cpu)?;
    let mask = Tensor::from_vec(mask[..n * len].to_vec(), (n, len), &Device::Cpu)?;
    // A clip between the records' norms, so that some are clipped and some not.
    let (_, norms) = model.clipped_gradients(&ids, &mask, 1e9)?;
    let mut sorted = norms.clone();
    sorted.sort_by(f32::total_cmp);
    let clip = f64::from(sorted[n / 2]);
    let (fast, fast_norms) = model.clipped_gradients(&ids, &mask, clip)?;
    // One record at a time: its loss alone, one backward pass, its norm, clipped, summed.
    let adapters = model.adapters();
    let mut naive: Vec<Tensor> =
        adapters.iter().map(|(_, v)| v.zeros_like()).collect::<candle_core::Result<_>>()?;
    for (r, &fast_norm) in fast_norms.iter().enumerate() {
        let loss = model.loss(&ids.narrow(0, r, 1)?, &mask.narrow(0, r, 1)?, None)?;
        let grads = loss.backward()?;
        let each: Vec<Tensor> = adapters
            .iter()
            .map(|(name, v)| {
                grads.get(v).cloned().ok_or_else(|| Error::Data(format!("no gradient of {name}")))
            })
            .collect::<Result<_>>()?;
        let norm: f32 = each
            .iter()
            .map(|g| g.sqr()?.sum_all()?.to_scalar::<f32>())
            .sum::<candle_core::Result<f32>>()?
            .sqrt();
        assert!((norm - fast_norm).abs() <= 1e-4 * norm, "record {r}: {norm} vs {fast_norm}");
        let factor = (clip / f64::from(norm)).min(1.0);
        for (sum, g) in naive.iter_mut().zip(&each) {
            *sum = (&*sum + (g * factor)?)?;
        }
    }
    let clipped = fast_norms.iter().filter(|&&x| f64::from(x) > clip).count();
    assert!(clipped > 0 && clipped < n, "{clipped} of {n} records clipped");
    for ((name, _), (f, s)) in adapters.iter().zip(fast.iter().zip(&naive)) {
        let scale = s.abs()?.max_all()?.to_scalar::<f32>()?;
        let diff = (f - s)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(scale > 0.0 && diff <= 1e-4 * scale, "{name}: {diff} against {scale}");
    }
    Ok(())
}

#[test]
fn records_as_json_train_a_lora_with_a_bpe_of_the_table() -> Result<()> {
    use candle_nn::{AdamW, Optimizer, ParamsAdamW};
    use doppel_core::ingest::{read_table, ReadOptions};
    use doppel_core::llama::text::{prompt, sequences, table_records, BaseTokenizer};
    use doppel_core::llama::LoraConfig;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/adult.csv");
    let table = read_table(&path, &ReadOptions::default())?;
    let config = doppel_core::TrainConfig::default();
    let schema = doppel_core::schema::infer_schema(&table, &config.schema_settings())?;
    let table = table.take_rows(&(0..200).collect::<Vec<_>>());
    let records = table_records(&table, &schema);
    assert!(records[0].starts_with("{\"age\":39,\"workclass\":\"State-gov\""), "{}", records[0]);
    let dir = tempdir()?;
    let head = prompt(&schema);
    assert!(head.contains("age (integer), workclass (categorical)"), "{head}");
    let mut texts = records.clone();
    texts.push(head.clone());
    BaseTokenizer::train_bpe(&texts, 800, &dir.path().join("tokenizer.json"))?;
    let tokenizer = BaseTokenizer::load(dir.path())?;
    let ids = tokenizer.encode(&records[7])?;
    assert_eq!(tokenizer.decode(&ids)?, records[7], "a record's text survives its tokens");
    let llama =
        LlamaConfig { vocab_size: tokenizer.vocab_size(), max_positions: 256, ..tiny("gqa") };
    write_random(dir.path(), &llama, 11, 0.02)?;
    let mut model = Llama::load(dir.path(), &Device::Cpu)?;
    model.add_lora(&LoraConfig { rank: 8, alpha: 16.0, ..LoraConfig::default() }, 3)?;
    let len = 224;
    let (ids, mask) = sequences(&tokenizer, &head, &records, len, false)?;
    assert_eq!(ids.len(), 200 * len, "one record per sequence");
    // Packed (training without DP): fewer sequences, the same target tokens, each sequence
    // the prompt then whole records.
    let long = 4 * len;
    let (packed, packed_mask) = sequences(&tokenizer, &head, &records, long, true)?;
    let rows = packed.len() / long;
    assert!(rows < 100 && rows * long == packed.len(), "{rows} packed sequences");
    assert_eq!(packed_mask.iter().sum::<f32>(), mask.iter().sum::<f32>());
    let prompt_ids = tokenizer.encode(&head)?;
    for r in 0..rows {
        assert_eq!(&packed[r * long..r * long + prompt_ids.len()], prompt_ids.as_slice());
    }
    let targets: f32 = mask.iter().sum();
    let ids = Tensor::from_vec(ids, (200, len), &Device::Cpu)?;
    let mask = Tensor::from_vec(mask, (200, len), &Device::Cpu)?;
    let vars: Vec<candle_core::Var> =
        model.adapters().into_iter().map(|(_, v)| v.clone()).collect();
    let mut optimizer = AdamW::new(vars, ParamsAdamW { lr: 1e-2, ..ParamsAdamW::default() })?;
    let mut rng = doppel_core::rng::Rng::new(1, 0);
    // The loss before and after over 40 of the records (all 200 are trained on).
    let (probe_ids, probe_mask) = (ids.narrow(0, 0, 40)?, mask.narrow(0, 0, 40)?);
    let before = model.loss(&probe_ids, &probe_mask, None)?.to_scalar::<f32>()?;
    for step in 0..20 {
        let at = (step * 10) % 200;
        let loss = model.loss(&ids.narrow(0, at, 10)?, &mask.narrow(0, at, 10)?, Some(&mut rng))?;
        optimizer.backward_step(&loss)?;
    }
    let after = model.loss(&probe_ids, &probe_mask, None)?.to_scalar::<f32>()?;
    eprintln!("records as JSON, {targets} target tokens: loss {before} -> {after} in 20 steps");
    assert!(after < before - 0.3, "loss {before} -> {after}");
    // The prompt is context: a record that does not fit is named.
    let error = sequences(&tokenizer, &head, &records[..3], 20, true).err().map(|e| e.to_string());
    assert!(error.unwrap_or_default().contains("record 1 takes"));
    Ok(())
}

#[test]
fn cached_steps_give_the_whole_sequences_logits() -> Result<()> {
    use doppel_core::llama::KvCache;
    let dir = tempdir()?;
    for (name, seed) in MODELS {
        write_random(&dir.path().join(name), &tiny(name), seed, STD)?;
        let model = Llama::load(&dir.path().join(name), &Device::Cpu)?;
        let ids: Vec<u32> = (0..2 * 9).map(|i| (i * 37 % 96) as u32).collect();
        let ids = Tensor::from_vec(ids, (2, 9), &Device::Cpu)?;
        let whole = model.forward(&ids)?;
        // A prompt of four positions, then one position per step.
        let mut cache = KvCache::default();
        let mut parts = vec![model.forward_cached(&ids.narrow(1, 0, 4)?, &mut cache)?];
        for p in 4..9 {
            parts.push(model.forward_cached(&ids.narrow(1, p, 1)?, &mut cache)?);
        }
        assert_eq!(cache.len(), 9);
        let stepped = Tensor::cat(&parts, 1)?;
        let diff = (whole - stepped)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-4, "{name}: cached steps differ by {diff}");
    }
    Ok(())
}

#[test]
fn records_are_generated_until_their_end_the_same_for_a_seed() -> Result<()> {
    use doppel_core::llama::text::{generate_records, BaseTokenizer, RECORD_END};
    let dir = tempdir()?;
    let texts: Vec<String> =
        (0..50).map(|i| format!("{{\"a\":{i},\"b\":\"x{}\"}}{RECORD_END}", i % 7)).collect();
    BaseTokenizer::train_bpe(&texts, 120, &dir.path().join("tokenizer.json"))?;
    let tokenizer = BaseTokenizer::load(dir.path())?;
    let config =
        LlamaConfig { vocab_size: tokenizer.vocab_size(), max_positions: 64, ..tiny("gqa") };
    write_random(dir.path(), &config, 5, STD)?;
    let model = Llama::load(dir.path(), &Device::Cpu)?;
    let sampling = doppel_core::Sampling::default();
    let first = generate_records(&model, &tokenizer, "{\"a\":", 6, &sampling, 12, 3, &[])?;
    let again = generate_records(&model, &tokenizer, "{\"a\":", 6, &sampling, 12, 3, &[])?;
    let other = generate_records(&model, &tokenizer, "{\"a\":", 6, &sampling, 12, 4, &[])?;
    assert_eq!(first.len(), 6);
    assert_eq!(first, again, "the same seed, the same records");
    assert_ne!(first, other, "another seed, other records");
    // One record alone (the prompt's cache copied once: a view of its buffer, which the next
    // step's write needs as a whole tensor).
    let alone = generate_records(&model, &tokenizer, "{\"a\":", 1, &sampling, 12, 3, &[])?;
    assert_eq!(alone.len(), 1);
    for text in &first {
        // A record stops at the token that writes its end mark (a token may carry text after
        // it, never a second mark), or runs to max_tokens.
        let marks = text.matches(RECORD_END).count();
        let tokens = tokenizer.encode(text)?.len();
        assert!(marks == 1 || (marks == 0 && tokens >= 6), "{text:?}");
    }
    // Past the model's positions is an error, not a panic.
    let error = generate_records(&model, &tokenizer, "{\"a\":", 2, &sampling, 200, 3, &[]).err();
    let error = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("exceed the model's 64"), "{error}");
    Ok(())
}

#[test]
fn a_base_held_in_bf16_or_f16_keeps_to_its_f32_logits_and_gradients() -> Result<()> {
    use candle_core::DType;
    let dir = tempdir()?;
    write_random(dir.path(), &tiny("gqa"), 4, STD)?;
    let (n, len) = (6, 24);
    let (ids, mask) = adult_bytes(len)?;
    let ids = Tensor::from_vec(ids[..n * len].to_vec(), (n, len), &Device::Cpu)?;
    let mask = Tensor::from_vec(mask[..n * len].to_vec(), (n, len), &Device::Cpu)?;
    let adapted = |dtype: DType| with_random_adapters(dir.path(), dtype);
    let exact = adapted(DType::F32)?;
    let logits = exact.forward(&ids)?;
    let spread = logits.abs()?.max_all()?.to_scalar::<f32>()?;
    let (grads, norms) = exact.clipped_gradients(&ids, &mask, 1e9)?;
    // Each format's unit roundoff: 2^-8 for bf16, 2^-11 for f16.
    for (dtype, roundoff) in [(DType::BF16, 2f32.powi(-8)), (DType::F16, 2f32.powi(-11))] {
        let model = adapted(dtype)?;
        assert_eq!(model.dtype(), dtype);
        let got = model.forward(&ids)?;
        assert_eq!(got.dtype(), DType::F32, "logits are f32 whatever the base's format");
        let worst = (got - &logits)?.abs()?.max_all()?.to_scalar::<f32>()?;
        let (g, m) = model.clipped_gradients(&ids, &mask, 1e9)?;
        let mut worst_grad = 0f32;
        for (a, b) in g.iter().zip(&grads) {
            let scale = b.abs()?.max_all()?.to_scalar::<f32>()?;
            let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
            worst_grad = worst_grad.max(diff / scale);
        }
        let worst_norm = m.iter().zip(&norms).map(|(a, b)| (a - b).abs() / b).fold(0f32, f32::max);
        eprintln!(
            "{dtype:?}: logits within {worst:e} of f32's (spread {spread}), gradients {worst_grad:e}, \
             norms {worst_norm:e} relative"
        );
        // A few hundred roundings deep, errors grow as the square root: 16 units of roundoff.
        assert!(worst <= 16.0 * roundoff * spread, "{dtype:?}: logits off by {worst}");
        assert!(worst_grad <= 16.0 * roundoff, "{dtype:?}: gradients off by {worst_grad}");
        assert!(worst_norm <= 16.0 * roundoff, "{dtype:?}: norms off by {worst_norm}");
    }
    // Merged for generation, a bf16 model keeps its adapted logits to the same precision.
    let mut merged = adapted(DType::BF16)?;
    let before = merged.forward(&ids)?;
    merged.merge_adapters()?;
    let drift = (merged.forward(&ids)? - before)?.abs()?.max_all()?.to_scalar::<f32>()?;
    assert!(drift <= 16.0 * 2f32.powi(-8) * spread, "merging moved the logits by {drift}");
    Ok(())
}
