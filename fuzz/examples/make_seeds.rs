//! Writes the seed corpus under `fuzz/corpus/<target>/` (run from `fuzz/`:
//! `cargo run --release --example make_seeds`). Tiny inputs only: the corpus is
//! committed and each file stays a few KB. The model seeds are trained here on 30 rows of
//! `tests/data/adult_small.csv` (and a small mixed table) with a tiny network.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use doppel_core::ingest::{read_csv, ReadOptions};
use doppel_core::{train, TrainConfig};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn put(target: &str, name: &str, bytes: &[u8]) {
    fs::write(corpus(target).join(name), bytes).unwrap();
}

fn adult_lines(n: usize) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/adult_small.csv");
    let text = fs::read_to_string(path).unwrap();
    text.lines().take(n).map(|l| format!("{l}\n")).collect()
}

const MIXED: &str = "id,when,amount,flag,city,note\n\
1001,2024-01-03,12.5,true,Paris,first order\n\
1002,2024-01-04,7.25,false,Lyon,\n\
1003,2024-02-11,,true,Paris,\"quoted, with comma\"\n\
1004,2024-02-12,100,false,Nice,NA\n\
1005,2024-03-01,-3.5e2,true,Lyon,late\n\
1006,2024-03-02,0.0,true,Paris,?\n\
1007,2024-03-09,42,false,Nice,again\n\
1008,2024-04-15,1e-3,true,Lyon,short\n\
1009,2024-04-16,3.14,false,Paris,\"multi\nline\"\n\
1010,2024-05-01,2.71,true,Nice,end\n\
1011,2024-05-02,9,false,Lyon,x\n\
1012,2024-05-03,10,true,Paris,y\n";

fn tiny_config() -> TrainConfig {
    let mut config = TrainConfig::default();
    config.model.embedding_dim = 4;
    config.model.hidden_size = 8;
    config.training.max_epochs = Some(1);
    config.training.batch_size = Some(8);
    config.tokenizer.rare_category_threshold = 1;
    config
}

fn model(csv: &str, config: &TrainConfig) -> Vec<u8> {
    let table = read_csv(csv.as_bytes(), Path::new("seed.csv"), &ReadOptions::default()).unwrap();
    let model = train(&table, config, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    model.to_bytes().unwrap()
}

fn batch() -> RecordBatch {
    let n = 20;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("day", DataType::Date32, true),
        Field::new("city", DataType::Utf8, true),
    ]));
    let cities = ["Paris", "Lyon", "Nice"];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..n)),
        Arc::new(Float64Array::from_iter((0..n).map(|i| (i % 7 != 3).then_some(i as f64 * 1.5)))),
        Arc::new(BooleanArray::from_iter((0..n).map(|i| (i % 5 != 0).then_some(i % 2 == 0)))),
        Arc::new(Date32Array::from_iter((0..n).map(|i| Some(19_000 + i as i32)))),
        Arc::new(StringArray::from_iter((0..n).map(|i| {
            (i % 6 != 5).then_some(cities[i as usize % cities.len()])
        }))),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

fn main() {
    let adult20 = adult_lines(21);
    let adult31 = adult_lines(31);

    // model_load, ffi_buffers: real model files (a few KB) and broken ones.
    let mut config = tiny_config();
    let adult_model = model(&adult31, &config);
    config.training.seed = 7;
    let mixed_model = model(MIXED, &config);
    for target in ["model_load", "ffi_buffers"] {
        put(target, "adult30.doppel", &adult_model);
        put(target, "mixed.doppel", &mixed_model);
        put(target, "truncated.doppel", &adult_model[..adult_model.len() / 2]);
        put(target, "empty", b"");
    }
    eprintln!("model seeds: {} and {} bytes", adult_model.len(), mixed_model.len());

    // csv_ingest and report_csv: CSV text in the delimiters the reader detects.
    for target in ["csv_ingest", "report_csv"] {
        put(target, "adult20.csv", adult20.as_bytes());
        put(target, "mixed.csv", MIXED.as_bytes());
        put(target, "header_only.csv", b"a,b,c\n");
        put(target, "crlf_bom.csv", b"\xef\xbb\xbfx,y\r\n1,2\r\n3,4\r\n");
        put(target, "ragged.csv", b"a,b\n1\n2,3,4\n");
    }
    put("csv_ingest", "semicolon.csv", adult20.replace(',', ";").as_bytes());
    put("csv_ingest", "tab.tsv", adult20.replace(',', "\t").as_bytes());
    put("csv_ingest", "pipe.csv", MIXED.replace(',', "|").as_bytes());
    put("csv_ingest", "unbalanced_quote.csv", b"a,b\n\"1,2\n3,4\n");

    // config_parse and ffi_buffers: configurations in TOML and JSON.
    let toml = "delimiter = \",\"\nmissing_tokens = [\"\", \"NA\"]\n\n[columns.age]\nkind = \"integer\"\nmissing = \"mean\"\n\n[columns.city]\nkind = \"categorical\"\n\n[tokenizer]\nrare_category_threshold = 10\n\n[model]\nembedding_dim = 64\nhidden_size = 128\nlayers = 1\ndropout = 0.1\n\n[training]\noptimizer = \"adam\"\nlearning_rate = 0.003\nbatch_size = 256\nmax_epochs = 30\npatience = 3\nvalidation_split = 0.1\nseed = 42\n\n[privacy]\ndp = true\nepsilon = 2.5\ndelta = \"auto\"\nmax_grad_norm = 1.0\n\n[limits]\nmax_rows = 1000\nmax_columns = 50\n";
    put("config_parse", "full.toml", toml.as_bytes());
    put("config_parse", "empty.toml", b"");
    put("config_parse", "dp_noise.toml", b"[privacy]\ndp = true\nnoise_multiplier = 1.1\ndelta = 1e-6\n");
    let default_json = serde_json::to_string_pretty(&TrainConfig::default()).unwrap();
    let full: TrainConfig = toml::from_str(toml).unwrap();
    let full_json = serde_json::to_string(&full).unwrap();
    for target in ["config_parse", "ffi_buffers"] {
        put(target, "default.json", default_json.as_bytes());
        put(target, "full.json", full_json.as_bytes());
        put(target, "partial.json", br#"{"model": {"hidden_size": 16}, "training": {"max_epochs": 2}}"#);
        put(target, "bad_type.json", br#"{"training": {"batch_size": "big"}}"#);
    }

    // arrow_ingest: 20 rows as Parquet and as Arrow IPC (file and stream formats).
    let batch = batch();
    let mut parquet = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut parquet, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    put("arrow_ingest", "rows20.parquet", &parquet);
    let mut file = Vec::new();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut file, &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    put("arrow_ingest", "rows20.arrow", &file);
    let mut stream = Vec::new();
    let mut writer =
        arrow_ipc::writer::StreamWriter::try_new(&mut stream, &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    put("arrow_ingest", "rows20.arrows", &stream);
    eprintln!("arrow seeds: parquet {} B, ipc file {} B, stream {} B", parquet.len(), file.len(), stream.len());
}
