//! The LoRA model behind the engine's surface (`model.kind = "lora"`): a tiny random Llama
//! with a tokenizer trained on the table, saved in the Hugging Face layout, trained through
//! `doppel_core::train` with and without DP; the model file records the base and the adapters,
//! and reloads only onto the base it was trained on.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::{Device, Tensor};
use doppel_core::config::ModelKind;
use doppel_core::ingest::{read_table, ReadOptions};
use doppel_core::llama::text::BaseTokenizer;
use doppel_core::llama::{write_tiny_base, LoraConfig, Precision};
use doppel_core::steer::Seed;
use doppel_core::{
    generate_seeded_to_file, Error, GenerateOptions, Result, Table, TrainConfig, TrainedModel,
};

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| Error::io("a temporary directory", e))
}

/// The first `rows` rows of the bundled Adult table, in five of its columns (an integer and
/// four categories: records a tiny model learns to write in a few steps).
fn adult(rows: usize) -> Result<Table> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/adult.csv");
    let table = read_table(&path, &ReadOptions::default())?;
    let keep = ["age", "workclass", "education", "sex", "income-per-year"];
    let columns = keep
        .iter()
        .map(|name| {
            let c = table.column_index(name).ok_or_else(|| Error::Data(format!("no {name}")))?;
            Ok((0..rows).map(|r| table.cell(r, c).map(str::to_string)).collect())
        })
        .collect::<Result<Vec<Vec<Option<String>>>>>()?;
    Table::from_columns(keep.map(String::from).to_vec(), columns)
}

/// A LoRA configuration on the base in `dir`: rank 8, a few epochs at a high learning rate.
fn lora_config(dir: &Path) -> TrainConfig {
    let mut config = TrainConfig::default();
    config.model.kind = ModelKind::Lora;
    config.model.base_model = Some(dir.to_path_buf());
    config.model.lora =
        Some(LoraConfig { rank: 8, alpha: 16.0, max_record_tokens: 100, ..LoraConfig::default() });
    config.training.learning_rate = Some(1e-2);
    config.training.max_epochs = Some(8);
    config.training.batch_size = Some(32);
    config.training.seed = 5;
    config
}

fn train(table: &Table, config: &TrainConfig) -> Result<TrainedModel> {
    doppel_core::train(table, config, &mut |_| {}, &AtomicBool::new(false))
}

/// The adapters' values by name.
fn adapters(model: &TrainedModel) -> Result<Vec<(String, Vec<f32>)>> {
    let lora = model.lora_model().ok_or_else(|| Error::Data("not a LoRA model".into()))?;
    lora.llama()
        .adapters()
        .into_iter()
        .map(|(name, var)| Ok((name, var.as_tensor().flatten_all()?.to_vec1::<f32>()?)))
        .collect()
}

/// The rows `options` generate from `model`.
fn generated(model: &TrainedModel, options: &GenerateOptions) -> Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    let mut keep = |batch: Vec<Vec<String>>| {
        rows.extend(batch);
        Ok(())
    };
    doppel_core::generate(model, options, &mut keep, &mut |_| {})?;
    Ok(rows)
}

#[test]
fn lora_trains_through_the_engine_and_its_file_reloads_only_onto_its_base() -> Result<()> {
    let table = adult(200)?;
    let dir = tempdir()?;
    let base = dir.path().join("tiny-llama");
    write_tiny_base(&base, &table, 11)?;
    let model = train(&table, &lora_config(&base))?;
    let s = &model.metadata().summary;
    eprintln!(
        "LoRA on 200 Adult rows: train loss {:?}, validation {:?}",
        s.train_loss, s.validation_loss
    );
    assert_eq!(s.training_rows + s.validation_rows, 200);
    let (first, last) = (s.train_loss[0], s.train_loss[s.train_loss.len() - 1]);
    assert!(last < first - 0.3, "the loss falls: {:?}", s.train_loss);
    assert!(s.validation_loss.iter().all(|v| v.is_finite()) && !s.validation_loss.is_empty());
    // Rank 8 on 7 projections of 2 blocks: A [8, in] and B [out, 8].
    let per_block = 8 * (64 + 64) + 8 * (64 + 32) * 2 + 8 * (64 + 64) + 8 * (64 + 112) * 3;
    assert_eq!(s.parameters, 2 * per_block);

    let path = dir.path().join("m.doppel");
    model.save(&path)?;
    let metadata = TrainedModel::read_metadata(&path)?;
    let info = metadata.base.as_ref().ok_or_else(|| Error::Data("no base recorded".into()))?;
    assert_eq!(info.name, "tiny-llama");
    assert!(info.checksum.starts_with("sha256:") && info.checksum.len() == 7 + 64);
    assert_eq!(metadata.config.model.kind, ModelKind::Lora);
    // Loaded onto the recorded base: the same adapters, the same logits.
    let loaded = TrainedModel::load_on(&path, &Device::Cpu)?;
    assert_eq!(adapters(&loaded)?, adapters(&model)?);
    let ids = Tensor::from_vec((0..24u32).collect::<Vec<_>>(), (2, 12), &Device::Cpu)?;
    let logits = |m: &TrainedModel| -> Result<Vec<f32>> {
        let lora = m.lora_model().ok_or_else(|| Error::Data("not LoRA".into()))?;
        Ok(lora.llama().forward(&ids)?.flatten_all()?.to_vec1::<f32>()?)
    };
    assert_eq!(logits(&loaded)?, logits(&model)?);
    // The adapters moved the model away from its base.
    let plain = doppel_core::llama::Llama::load(&base, &Device::Cpu)?;
    let base_logits = plain.forward(&ids)?.flatten_all()?.to_vec1::<f32>()?;
    assert_ne!(base_logits, logits(&model)?);

    // Generation: records decoded inside the schema's shape parse by construction.
    let options = GenerateOptions { rows: 40, batch_size: 16, ..GenerateOptions::default() };
    let rows = generated(&loaded, &options)?;
    assert_eq!(rows.len(), 40);
    let schema = loaded.schema();
    let workclass = schema.columns.iter().position(|c| c.name == "workclass");
    let workclass = workclass.ok_or_else(|| Error::Data("no workclass".into()))?;
    let age = schema.columns.iter().position(|c| c.name == "age").unwrap_or(0);
    let seen: std::collections::HashSet<&str> =
        (0..table.num_rows()).filter_map(|r| table.cell(r, workclass)).collect();
    let marker = schema.columns[workclass].missing_marker.clone().unwrap_or_default();
    let rare = &loaded.metadata().config.tokenizer.rare_token;
    for row in &rows {
        assert_eq!(row.len(), schema.columns.len());
        let w = row[workclass].as_str();
        assert!(seen.contains(w) || w == marker || w == rare, "workclass {w:?}");
        assert!(
            row[age].is_empty() || row[age] == "?" || row[age].parse::<i64>().is_ok(),
            "{row:?}"
        );
    }
    eprintln!("first generated row: {:?}", rows[0]);
    let again = generated(&loaded, &options)?;
    assert_eq!(again, rows, "the same seed, the same rows");

    // Another base (other weights, same shape and tokenizer) is refused, naming the checksum.
    let other = dir.path().join("other");
    write_tiny_base(&other, &table, 12)?;
    let error = TrainedModel::load_with_base(&path, &Device::Cpu, Some(&other)).err();
    let error = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("checksum") && error.contains("tiny-llama"), "{error}");
    // The same weights with another tokenizer are refused too, naming tokenizer.json.
    let retokenized = dir.path().join("retokenized");
    write_tiny_base(&retokenized, &adult(120)?, 11)?;
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(base.join(file), retokenized.join(file))
            .map_err(|e| Error::io(&retokenized, e))?;
    }
    let error = TrainedModel::load_with_base(&path, &Device::Cpu, Some(&retokenized)).err();
    let error = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("tokenizer.json") && error.contains("checksum"), "{error}");
    // An LSTM's operations say what a LoRA model cannot do yet.
    let error = loaded.network().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("LoRA model on 'tiny-llama'"), "{error}");
    Ok(())
}

#[test]
fn a_tokenizers_token_bytes_spell_its_texts() -> Result<()> {
    let table = adult(60)?;
    let dir = tempdir()?;
    write_tiny_base(dir.path(), &table, 1)?;
    let tokenizer = BaseTokenizer::load(dir.path())?;
    let bytes = tokenizer.token_bytes();
    assert_eq!(bytes.len(), tokenizer.vocab_size());
    for text in ["{\"age\":39,\"workclass\":\" State-gov\"}\n", "héllo wörld ünïcode"] {
        let ids = tokenizer.encode(text)?;
        let spelled: Vec<u8> = ids
            .iter()
            .flat_map(|&i| bytes[i as usize].as_deref().unwrap_or_default().to_vec())
            .collect();
        assert_eq!(String::from_utf8_lossy(&spelled), text, "{ids:?}");
    }
    Ok(())
}

#[test]
fn dp_lora_training_keeps_a_ledger_the_file_verifies() -> Result<()> {
    let table = adult(200)?;
    let dir = tempdir()?;
    let base = dir.path().join("base");
    write_tiny_base(&base, &table, 11)?;
    let mut config = lora_config(&base);
    config.privacy.dp = true;
    config.privacy.epsilon = Some(8.0);
    config.privacy.deterministic_noise = true;
    config.training.max_epochs = Some(2);
    let model = train(&table, &config)?;
    let s = &model.metadata().summary;
    let privacy = s.privacy.as_ref().ok_or_else(|| Error::Data("no privacy report".into()))?;
    eprintln!("DP LoRA: epsilon {} after {} steps", privacy.epsilon, s.steps);
    assert!(privacy.epsilon <= 8.0 + 1e-9 && privacy.epsilon > 1.0, "{}", privacy.epsilon);
    // Under DP the summary holds no facts about the rows outside the ledger.
    assert_eq!((s.rows, s.training_rows), (0, 0));
    assert!(s.train_loss.is_empty() && s.validation_loss.is_empty());
    assert_eq!(s.tokens_per_row, 100, "the public bound, not the records' mean length");
    let path = dir.path().join("dp.doppel");
    model.save(&path)?;
    let loaded = TrainedModel::load_on(&path, &Device::Cpu)?;
    assert_eq!(adapters(&loaded)?, adapters(&model)?);
    assert!(loaded.metadata().summary.privacy.is_some());
    Ok(())
}

#[test]
fn lora_settings_are_checked_and_a_missing_base_is_named() -> Result<()> {
    let table = adult(50)?;
    let mut config = TrainConfig::default();
    config.model.lora = Some(LoraConfig::default());
    let error = config.validate().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("model.lora is set but model.kind is \"lstm\""), "{error}");
    config.model.kind = ModelKind::Lora;
    let error = train(&table, &config).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("--base-model DIR"), "{error}");
    config.model.base_model = Some("/nonexistent/base".into());
    let error = train(&table, &config).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("/nonexistent/base") && error.contains("config.json"), "{error}");
    config.model.lora = Some(LoraConfig { max_record_tokens: 0, ..LoraConfig::default() });
    let error = config.validate().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("model.lora.max_record_tokens"), "{error}");
    let toml = "[model]\nkind = \"lora\"\nbase_model = \"b\"\n[model.lora]\nrank = 4\ntargets = [\"q\", \"v\"]\n";
    let parsed = TrainConfig::from_toml(toml)?;
    let lora = parsed.model.lora.ok_or_else(|| Error::Data("no [model.lora]".into()))?;
    assert_eq!((lora.rank, lora.targets.len()), (4, 2));
    Ok(())
}

/// The rows of a seeded generation (one per seed row) written to CSV and read back (`None`:
/// an empty cell), by the model's column order.
fn seeded(model: &TrainedModel, seed: Seed, dir: &Path) -> Result<Vec<Vec<Option<String>>>> {
    let path = dir.join("seeded.csv");
    let options = GenerateOptions { batch_size: 8, ..GenerateOptions::default() };
    generate_seeded_to_file(model, &options, Some(seed), &path, None, &mut |_| {})?;
    let table = read_table(&path, &ReadOptions::default())?;
    Ok((0..table.num_rows())
        .map(|r| (0..table.num_columns()).map(|c| table.cell(r, c).map(String::from)).collect())
        .collect())
}

#[test]
fn steered_lora_records_keep_conditions_and_seeds_exactly() -> Result<()> {
    // Adult's columns and an identifier (regenerated, unless a seed gives it).
    let adult = adult(200)?;
    let mut names: Vec<String> = adult.column_names().iter().map(|s| s.to_string()).collect();
    let mut columns: Vec<Vec<Option<String>>> = (0..names.len())
        .map(|c| (0..200).map(|r| adult.cell(r, c).map(String::from)).collect())
        .collect();
    names.push("id".into());
    columns.push((0..200).map(|r| Some(format!("P-{:05}", 7 * r + 3))).collect());
    let table = Table::from_columns(names, columns)?;
    let dir = tempdir()?;
    let base = dir.path().join("base");
    write_tiny_base(&base, &table, 11)?;
    let mut config = lora_config(&base);
    config.training.max_epochs = Some(3);
    // The base held in bf16 (as `auto` holds it on a GPU): training, merging and generation
    // run in that format, the adapters in f32.
    if let Some(lora) = config.model.lora.as_mut() {
        lora.precision = Precision::Bf16;
    }
    let model = train(&table, &config)?;
    let lora = model.lora_model().ok_or_else(|| Error::Data("not a LoRA model".into()))?;
    assert_eq!(lora.llama().dtype(), candle_core::DType::BF16);
    // Trained on records with some columns first (the order steered records take): recorded.
    assert_eq!(model.metadata().config.training.random_order_share, Some(0.5));
    let col = |name: &str| model.schema().columns.iter().position(|c| c.name == name);
    let [age, workclass, sex, id] =
        ["age", "workclass", "sex", "id"].map(|n| col(n).unwrap_or(usize::MAX));
    let id_kind = format!("{:?}", model.schema().columns[id].kind);
    assert!(id_kind.starts_with("Identifier"), "{id_kind}");

    // Conditions: every row keeps them (by the grammar, not by drawing and rejecting).
    let conditions = "sex = Female and age >= 45 and workclass in (Private, 'Local-gov')";
    let options = GenerateOptions {
        rows: 24,
        batch_size: 12,
        conditions: conditions.into(),
        ..GenerateOptions::default()
    };
    let rows = generated(&model, &options)?;
    assert_eq!(rows.len(), 24);
    for row in &rows {
        assert_eq!(row[sex], "Female", "{row:?}");
        assert!(row[age].parse::<i64>().is_ok_and(|a| a >= 45), "{row:?}");
        assert!(["Private", "Local-gov"].contains(&row[workclass].as_str()), "{row:?}");
    }
    // An unconditioned control does not keep them (so the test can fail).
    let free = generated(&model, &GenerateOptions { conditions: String::new(), ..options })?;
    assert!(free
        .iter()
        .any(|row| row[sex] != "Female" || row[age].parse().is_ok_and(|a: i64| a < 45)));

    // Seeds: given cells come out as given (a value outside the domain too), empty ones are
    // generated; imputation fills missing cells and never changes the others.
    let given = [
        [Some("Female"), Some("39"), Some("SEED-A")],
        [Some("Male"), Some(""), None],
        [None, Some("57"), Some("777")],
        [Some("Unknown-sex"), Some("18"), None],
        [None, None, None],
    ];
    let columns = (0..3).map(|c| given.iter().map(|r| r[c].map(String::from)).collect()).collect();
    let seed = Table::from_columns(vec!["sex".into(), "age".into(), "id".into()], columns)?;
    let out = seeded(&model, Seed { table: seed, fill_missing: false }, dir.path())?;
    assert_eq!(out.len(), given.len());
    for (row, cells) in out.iter().zip(&given) {
        assert!(row[id].as_deref().is_some_and(|v| !v.is_empty()), "{row:?}");
        for (c, cell) in [sex, age, id].into_iter().zip(cells) {
            if let Some(text) = cell.filter(|t| !t.is_empty()) {
                assert_eq!(row[c].as_deref(), Some(text), "{row:?}");
            }
        }
    }
    let names: Vec<String> = model.schema().columns.iter().map(|c| c.name.clone()).collect();
    let holes: Vec<Vec<Option<String>>> = (0..names.len())
        .map(|c| {
            (0..12)
                .map(|r| (r % 3 != c % 3).then(|| table.cell(r, c).map(String::from)).flatten())
                .collect()
        })
        .collect();
    let seed = Table::from_columns(names, holes.clone())?;
    let path = dir.path().join("imputed.csv");
    let options = GenerateOptions { batch_size: 8, ..GenerateOptions::default() };
    doppel_core::impute_to_file(
        &model,
        &options,
        Seed { table: seed, fill_missing: true },
        1,
        &path,
        None,
        &mut |_| {},
    )?;
    let imputed = read_table(&path, &ReadOptions::default())?;
    assert_eq!(imputed.num_rows(), 12);
    for (c, column) in holes.iter().enumerate() {
        for (r, cell) in column.iter().enumerate() {
            match cell {
                Some(known) => assert_eq!(imputed.cell(r, c), Some(known.as_str())),
                None => assert!(imputed.cell(r, c).is_some_and(|t| !t.is_empty() && t != "?")),
            }
        }
    }

    // What a LoRA model cannot be steered by yet is refused before generating, in words.
    let two = GenerateOptions {
        rows: 10,
        rebalance: "sex=Female:0.5;workclass=Private:0.5".into(),
        ..GenerateOptions::default()
    };
    let error = generated(&model, &two).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("needs the LSTM"), "{error}");
    Ok(())
}

#[test]
fn constraints_a_lora_model_cannot_keep_are_refused_before_training() -> Result<()> {
    let rows = 60;
    let names = ["day", "a", "b", "colour"].map(String::from).to_vec();
    let columns = vec![
        (0..rows).map(|r| Some(format!("2024-01-{:02}", 1 + r % 28))).collect(),
        (0..rows).map(|r| Some(format!("{}", r % 9))).collect(),
        (0..rows).map(|r| Some(format!("{}", 10 + r % 7))).collect(),
        (0..rows).map(|r| Some(["red", "blue"][r % 2].to_string())).collect(),
    ];
    let table = Table::from_columns(names, columns)?;
    let dir = tempdir()?;
    write_tiny_base(dir.path(), &table, 2)?;
    for (constraint, why) in [
        ("day >= 2024-01-05", "a condition on dates"),
        ("day = 2024-01-05", "a condition on dates"),
        ("a <= b", "an order between columns"),
    ] {
        let mut config = lora_config(dir.path());
        config.constraints = vec![constraint.into()];
        let error = train(&table, &config).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains(why) && error.contains(constraint), "{error}");
    }
    // What it can keep trains.
    let mut config = lora_config(dir.path());
    config.constraints = vec!["a >= 2 and colour = red".into()];
    config.training.max_epochs = Some(1);
    let model = train(&table, &config)?;
    let rows = generated(&model, &GenerateOptions { rows: 6, ..GenerateOptions::default() })?;
    assert!(rows.iter().all(|r| r[3] == "red" && r[1].parse::<u32>().is_ok_and(|a| a >= 2)));
    Ok(())
}
