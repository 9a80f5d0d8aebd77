//! Writes a tiny random Llama with a tokenizer trained on a table, in the Hugging Face layout:
//! the base model the host-language tests (C, C++, Java, Go) train LoRA adapters on, since
//! nothing is downloaded.
//!
//!     cargo run --release -p doppel-core --example tiny_base -- DIR TABLE.csv

use std::path::Path;

use doppel_core::ingest::{read_table, ReadOptions};
use doppel_core::{Error, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, table] = args.as_slice() else {
        return Err(Error::Config("usage: tiny_base DIR TABLE.csv".into()));
    };
    let table = read_table(Path::new(table), &ReadOptions::default())?;
    doppel_core::llama::write_tiny_base(Path::new(dir), &table, 7)?;
    println!("wrote a tiny Llama base to {dir}");
    Ok(())
}
