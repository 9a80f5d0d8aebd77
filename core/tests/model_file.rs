//! Untrusted model files (issue 12, point 7) and models training must never write (point 9):
//! every corruption of a real model's metadata or tensors is refused by `from_bytes` with one
//! `Error::Model` naming the problem, before anything is allocated from the metadata's sizes,
//! and no edit makes loading or generating panic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;

use doppel_core::model::LstmModel;
use doppel_core::rng::Rng;
use doppel_core::{generate, train, Error, GenerateOptions, Result, Table, TrainConfig};
use doppel_core::{TrainedModel, TrainingSummary};
use serde_json::Value;

/// 60 rows: a categorical, an integer and a float spread over bins, a date, an identifier and
/// a short text.
fn table() -> Table {
    let n = 60;
    let column = |f: &dyn Fn(usize) -> String| (0..n).map(|i| Some(f(i))).collect();
    let columns = vec![
        column(&|i| ["red", "green", "blue"][i % 3].to_string()),
        column(&|i| (18 + (i * 7) % 50).to_string()),
        column(&|i| format!("{:.2}", (i * 37 % 100) as f64 / 8.0)),
        column(&|i| format!("2021-03-{:02}", 1 + i % 28)),
        column(&|i| (1000 + i).to_string()),
        column(&|i| format!("item {} of {}", i % 31, i % 7)),
    ];
    let names = ["colour", "age", "score", "day", "id", "note"].map(String::from).to_vec();
    Table::from_columns(names, columns).expect("a rectangular table")
}

fn tiny_config() -> TrainConfig {
    let mut config = TrainConfig::default();
    config.model.hidden_size = 8;
    config.model.embedding_dim = 4;
    config.training.max_epochs = Some(2);
    config.training.batch_size = Some(32);
    config.tokenizer.rare_category_threshold = 3;
    config.tokenizer.numeric_bins = 4;
    config.tokenizer.bin_positions = 4;
    config
}

/// The bytes of one small trained model, shared by the tests.
fn model_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let model = train(&table(), &tiny_config(), &mut |_| {}, &AtomicBool::new(false))
            .expect("the tiny model trains");
        model.to_bytes().expect("the tiny model serialises")
    })
}

/// The safetensors header (JSON) and the tensor data of model file bytes.
fn split(bytes: &[u8]) -> (Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).expect("a JSON header");
    (header, bytes[8 + n..].to_vec())
}

fn join(header: &Value, data: &[u8]) -> Vec<u8> {
    let text = header.to_string();
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// The model with its doppel metadata edited by `edit`.
fn with_metadata(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let (mut header, data) = split(model_bytes());
    let json = header["__metadata__"]["doppel"].as_str().expect("doppel metadata").to_string();
    let mut metadata: Value = serde_json::from_str(&json).expect("metadata JSON");
    edit(&mut metadata);
    header["__metadata__"]["doppel"] = Value::String(metadata.to_string());
    join(&header, &data)
}

/// The index of the codec of column `name`.
fn column_index(metadata: &Value, name: &str) -> usize {
    let columns = metadata["tokenizer"]["schema"]["columns"].as_array().expect("columns");
    columns.iter().position(|c| c["name"] == name).expect("the column exists")
}

/// The message of the `Error::Model` that loading `bytes` gives (failing the test otherwise).
fn refusal(bytes: &[u8]) -> String {
    let loaded = catch_unwind(|| TrainedModel::from_bytes(bytes, Path::new("m.doppel")));
    match loaded {
        Ok(Err(Error::Model { message, .. })) => message,
        Ok(Err(other)) => panic!("not a model error: {other}"),
        Ok(Ok(_)) => panic!("the corrupt model loaded"),
        Err(_) => panic!("loading the corrupt model panicked"),
    }
}

fn assert_refused(what: &str, bytes: &[u8], words: &[&str]) {
    let message = refusal(bytes);
    for word in words {
        assert!(message.contains(word), "{what}: '{message}' does not name '{word}'");
    }
}

/// The number of rows `generate` hands over.
fn generated_rows(model: &TrainedModel, options: &GenerateOptions) -> Result<usize> {
    let mut rows = 0;
    let mut count = |batch: Vec<Vec<String>>| {
        rows += batch.len();
        Ok(())
    };
    generate(model, options, &mut count, &mut |_| {})?;
    Ok(rows)
}

#[test]
fn the_unedited_model_loads_and_generates() -> Result<()> {
    let model = TrainedModel::from_bytes(model_bytes(), Path::new("m.doppel"))?;
    let options = GenerateOptions { rows: 20, ..GenerateOptions::default() };
    assert_eq!(generated_rows(&model, &options)?, 20);
    Ok(())
}

#[test]
fn huge_sizes_in_the_metadata_are_refused_before_allocating() {
    let vocab = with_metadata(|m| m["tokenizer"]["vocab_size"] = 1_000_000_000u64.into());
    assert_refused("vocab_size 10^9", &vocab, &["vocab_size", "1000000000"]);
    let hidden = with_metadata(|m| m["config"]["model"]["hidden_size"] = 1_000_000_000u64.into());
    assert_refused("hidden_size 10^9", &hidden, &["model.hidden_size", "1000000000"]);
    let layers = with_metadata(|m| m["config"]["model"]["layers"] = 1_000_000u64.into());
    assert_refused("layers 10^6", &layers, &["model.layers", "1000000"]);
    // Raising the file's own limits does not help: the tensors must still match.
    let raised = with_metadata(|m| {
        m["config"]["limits"]["max_hidden_size"] = 2_000_000_000u64.into();
        m["config"]["model"]["hidden_size"] = 1_000_000_000u64.into();
    });
    assert_refused("raised limit", &raised, &["lstm.weight_ih_l0", "shape"]);
}

#[test]
fn inconsistent_codecs_are_refused() {
    let unsorted = with_metadata(|m| {
        let c = column_index(m, "age");
        let edges = m["tokenizer"]["codecs"][c]["edges"].as_array_mut().expect("edges");
        edges.swap(0, 1);
    });
    assert_refused("unsorted edges", &unsorted, &["'age'", "edges"]);
    let swapped = with_metadata(|m| {
        let codecs = m["tokenizer"]["codecs"].as_array_mut().expect("codecs");
        codecs.swap(0, 1);
    });
    assert_refused("codecs swapped", &swapped, &["'colour'", "codec"]);
    let bigger = with_metadata(|m| {
        let size = m["tokenizer"]["fields"][0]["size"].as_u64().expect("a size");
        m["tokenizer"]["fields"][0]["size"] = (size + 1).into();
    });
    assert_refused("field size", &bigger, &["field 0", "'colour'"]);
    let empty = with_metadata(|m| m["tokenizer"]["fields"][1]["size"] = 0.into());
    assert_refused("field of size 0", &empty, &["field 1", "'age'", "0 tokens"]);
    let slots = with_metadata(|m| {
        let c = column_index(m, "age");
        m["tokenizer"]["codecs"][c]["positions"] = 4_294_967_295u64.into();
    });
    assert_refused("positions", &slots, &["'age'"]);
}

#[test]
fn bad_formats_and_decimals_are_refused() {
    for format in ["%Q", "%", "%Y-%m-%d %z"] {
        let bad = with_metadata(|m| {
            let c = column_index(m, "day");
            m["tokenizer"]["schema"]["columns"][c]["kind"]["format"] = format.into();
            m["tokenizer"]["codecs"][c]["format"]["format"] = format.into();
        });
        assert_refused(format, &bad, &["'day'", "format"]);
    }
    let decimals = with_metadata(|m| {
        let c = column_index(m, "score");
        m["tokenizer"]["schema"]["columns"][c]["kind"]["decimals"] = 4_000_000_000u64.into();
        m["tokenizer"]["codecs"][c]["format"]["decimals"] = 4_000_000_000u64.into();
    });
    assert_refused("decimals 4e9", &decimals, &["'score'", "decimals"]);
    let template = with_metadata(|m| {
        let c = column_index(m, "id");
        m["tokenizer"]["schema"]["columns"][c]["kind"]["shape"] =
            serde_json::json!({"form": "template", "template": "ID-\\9"});
    });
    assert_refused("constant template", &template, &["'id'", "template"]);
}

/// Versions this doppel does not read are refused naming the version and the range read; a
/// file of the oldest version read still loads.
#[test]
fn format_versions_outside_the_range_read_are_refused() {
    use doppel_core::{FORMAT_VERSION, OLDEST_FORMAT_VERSION};
    for version in [0, FORMAT_VERSION + 1] {
        let bytes = with_metadata(|m| m["format_version"] = version.into());
        assert_refused("version", &bytes, &[&format!("format version {version}"), "retrain"]);
    }
    let oldest = with_metadata(|m| m["format_version"] = OLDEST_FORMAT_VERSION.into());
    let model = TrainedModel::from_bytes(&oldest, Path::new("m.doppel")).expect("loads");
    assert_eq!(model.metadata().format_version, OLDEST_FORMAT_VERSION);
}

#[test]
fn a_model_without_columns_is_refused() {
    let none = with_metadata(|m| {
        m["tokenizer"]["schema"]["columns"] = Value::Array(Vec::new());
        m["tokenizer"]["codecs"] = Value::Array(Vec::new());
        m["tokenizer"]["fields"] = Value::Array(Vec::new());
        m["tokenizer"]["vocab_size"] = 0.into();
    });
    assert_refused("0 columns", &none, &["no columns"]);
}

#[test]
fn bad_tensors_are_refused() {
    let (header, mut data) = split(model_bytes());
    // A NaN in the output bias.
    let start = header["output.bias"]["data_offsets"][0].as_u64().expect("offset") as usize;
    data[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_refused("NaN weight", &join(&header, &data), &["output.bias", "not finite"]);

    let (mut header, data) = split(model_bytes());
    let entry = header["output.bias"].clone();
    header.as_object_mut().expect("an object").remove("output.bias");
    header["output.bias_"] = entry;
    assert_refused("missing tensor", &join(&header, &data), &["output.bias", "missing"]);

    let (mut header, data) = split(model_bytes());
    let shape = header["token_embedding.weight"]["shape"].as_array().expect("a shape").clone();
    header["token_embedding.weight"]["shape"] =
        Value::Array(vec![shape[1].clone(), shape[0].clone()]);
    assert_refused("wrong shape", &join(&header, &data), &["token_embedding.weight", "shape"]);
}

/// Replaces one random digit of the header (shapes, offsets and all the metadata) at a time:
/// loading may fail, but neither loading nor generating from what loads may panic.
#[test]
fn random_digit_edits_never_panic() {
    let bytes = model_bytes();
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let digits: Vec<usize> = (8..8 + n).filter(|&i| bytes[i].is_ascii_digit()).collect();
    let mut rng = Rng::new(12, 7);
    let options = GenerateOptions { rows: 50, batch_size: 25, ..GenerateOptions::default() };
    let (mut loaded, mut panics) = (0, Vec::new());
    for edit in 0..2_000 {
        let mut edited = bytes.to_vec();
        let at = digits[rng.below(digits.len())];
        edited[at] = b'0' + rng.below(10) as u8;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let model = TrainedModel::from_bytes(&edited, Path::new("m.doppel")).ok()?;
            Some(generated_rows(&model, &options))
        }));
        match outcome {
            Ok(Some(_)) => loaded += 1,
            Ok(None) => {}
            Err(_) => panics.push((edit, at, edited[at] as char)),
        }
    }
    assert!(panics.is_empty(), "{} edits panicked, e.g. {:?}", panics.len(), &panics[..1]);
    assert!(loaded > 0, "no edit left a loadable model");
}

#[test]
fn every_saved_model_reloads() -> Result<()> {
    let model = TrainedModel::from_bytes(model_bytes(), Path::new("m.doppel"))?;
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = dir.path().join("m.doppel");
    model.save(&path)?;
    TrainedModel::load(&path)?;
    Ok(())
}

/// With and without the context sum (`model.context`): the file holds its tensor exactly
/// when the model has it, reloads, and generates the rows the model in memory does.
#[test]
fn models_with_and_without_the_context_sum_reload_and_generate_alike() -> Result<()> {
    let options = GenerateOptions { rows: 40, seed: 3, ..GenerateOptions::default() };
    let rows = |model: &TrainedModel| -> Result<Vec<Vec<String>>> {
        let mut out = Vec::new();
        let consume = &mut |batch: Vec<Vec<String>>| {
            out.extend(batch);
            Ok(())
        };
        generate(model, &options, consume, &mut |_| {})?;
        Ok(out)
    };
    for context in [false, true] {
        let mut config = tiny_config();
        config.model.context = Some(context);
        let model = train(&table(), &config, &mut |_| {}, &AtomicBool::new(false))?;
        let bytes = model.to_bytes()?;
        let (header, data) = split(&bytes);
        assert_eq!(header.get("context_embedding.weight").is_some(), context);
        let reloaded = TrainedModel::from_bytes(&bytes, Path::new("m.doppel"))?;
        assert_eq!(reloaded.metadata().config.model.context, Some(context));
        assert_eq!(rows(&model)?, rows(&reloaded)?);
        if context {
            // Its tensor is required: a file that lost it is refused.
            let mut header = header.clone();
            header.as_object_mut().expect("an object").remove("context_embedding.weight");
            assert_refused("no context tensor", &join(&header, &data), &["tensors"]);
        }
    }
    Ok(())
}

#[test]
fn a_model_that_cannot_be_read_back_is_never_written() -> Result<()> {
    let model = TrainedModel::from_bytes(model_bytes(), Path::new("m.doppel"))?;
    let meta = model.metadata();
    let summary = TrainingSummary { train_loss: vec![f64::NAN], ..meta.summary.clone() };
    let config = meta.config.clone();
    let tokenizer = meta.tokenizer.clone();
    let network = LstmModel::new(
        &config.model,
        tokenizer.fields(),
        tokenizer.vocab_size(),
        1,
        model.network()?.device(),
    )?;
    let broken = TrainedModel::new(config, tokenizer, summary, network);
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let path = dir.path().join("broken.doppel");
    let err = broken.save(&path).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("train_loss") || err.contains("not finite"), "{err}");
    assert!(!path.exists(), "an unloadable model was written");
    Ok(())
}

#[test]
fn a_diverging_loss_stops_training_with_a_clear_error() {
    let mut config = tiny_config();
    config.training.learning_rate = Some(1e300);
    let err = train(&table(), &config, &mut |_| {}, &AtomicBool::new(false));
    let message = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("not finite") && message.contains("training.learning_rate"),
        "{message}"
    );
    assert!(message.contains("epoch"), "{message}");
}

#[test]
fn model_sizes_above_the_limits_are_refused_naming_the_key() {
    for (json, key) in [
        (r#"{"model": {"hidden_size": 100000}}"#, "limits.max_hidden_size"),
        (r#"{"model": {"embedding_dim": 100000}}"#, "limits.max_embedding_dim"),
        (r#"{"model": {"layers": 1000}}"#, "limits.max_layers"),
        (r#"{"tokenizer": {"numeric_bins": 100000}}"#, "limits.max_numeric_bins"),
        (r#"{"tokenizer": {"bin_positions": 4294967297}}"#, "limits.max_bin_positions"),
    ] {
        let err = TrainConfig::from_json(json).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(key), "{json}: {err}");
    }
    // Raising the limit lets the size through.
    let raised = r#"{"model": {"layers": 20}, "limits": {"max_layers": 32}}"#;
    assert!(TrainConfig::from_json(raised).is_ok());
}

#[test]
fn too_many_categories_are_refused_before_training() {
    let n = 200;
    let names = vec!["code".to_string(), "x".to_string()];
    let columns = vec![
        (0..n).map(|i| Some(format!("c{}", i % 50))).collect(),
        (0..n).map(|i| Some((i % 7).to_string())).collect(),
    ];
    let table = Table::from_columns(names, columns).expect("a table");
    let mut config = tiny_config();
    config.limits.max_categories = 20;
    let err = train(&table, &config, &mut |_| {}, &AtomicBool::new(false));
    let message = err.err().map(|e| e.to_string()).unwrap_or_default();
    for word in ["'code'", "50", "limits.max_categories", "text", "identifier"] {
        assert!(message.contains(word), "{message} lacks {word}");
    }
    config.limits.max_categories = 5_000;
    config.limits.max_vocabulary = 30;
    let err = train(&table, &config, &mut |_| {}, &AtomicBool::new(false));
    let message = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("limits.max_vocabulary"), "{message}");
}

/// A model file written by doppel before the model became typed layers (format version 1,
/// `core/tests/golden/model_v1.doppel`, trained at commit fea3c9e with
/// `doppel train --input tests/data/adult_small.csv --config core/tests/golden/model_v1.toml`)
/// still loads and generates exactly the rows that version generated for the same seed
/// (`doppel generate --rows 300 --seed 9`, `model_v1_seed9.csv`).
#[test]
fn a_model_file_of_format_version_1_generates_the_same_rows_for_the_same_seed() -> Result<()> {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let model = TrainedModel::load(&golden.join("model_v1.doppel"))?;
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let out = dir.path().join("rows.csv");
    let options = GenerateOptions { rows: 300, seed: 9, ..GenerateOptions::default() };
    doppel_core::generate_to_file(&model, &options, &out, &mut |_| {})?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| Error::io(p, e));
    let (got, want) = (read(&out)?, read(&golden.join("model_v1_seed9.csv"))?);
    assert_eq!(got.lines().count(), 301);
    assert!(got == want, "generated rows differ from those of format version 1");
    Ok(())
}
