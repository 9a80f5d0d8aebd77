//! LoRA training and DP-SGD step throughput on the CPU for a 135M-parameter Llama
//! configuration (SmolLM2-135M's shape) with random weights (BENCHMARKS.md, issue 16):
//!
//!     cargo run --release -p doppel-core --example lora_speed -- [batch] [positions] [steps]
//!
//! It writes the checkpoint to a temporary directory, adds rank-16 adapters on every
//! projection, and times plain steps (loss, backward) and DP steps (per-record clipped
//! gradients) after one warm-up step each.

use std::time::Instant;

use candle_core::{Device, Tensor};
use doppel_core::llama::{write_random, Llama, LoraConfig};
use doppel_core::Result;

mod shared;

fn main() -> Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (batch, positions, steps) = (
        args.first().copied().unwrap_or(4),
        args.get(1).copied().unwrap_or(128),
        args.get(2).copied().unwrap_or(3),
    );
    let config = shared::smollm2_135m_shape();
    let dir = tempfile::tempdir().map_err(|e| doppel_core::Error::io("tempdir", e))?;
    write_random(dir.path(), &config, 1, 0.02)?;
    let mut model = Llama::load(dir.path(), &Device::Cpu)?;
    let params: usize =
        config.weight_shapes().iter().map(|(_, s)| s.iter().product::<usize>()).sum();
    model.add_lora(&LoraConfig::default(), 2)?;
    let adapter: usize = model.adapters().iter().map(|(_, v)| v.elem_count()).sum();
    println!("base {params} parameters, adapters {adapter} (rank 16, every projection)");
    let ids: Vec<u32> = (0..batch * positions).map(|i| (i * 7919 % 49_152) as u32).collect();
    let ids = Tensor::from_vec(ids, (batch, positions), &Device::Cpu)?;
    let mask = Tensor::ones((batch, positions), candle_core::DType::F32, &Device::Cpu)?;
    let tokens = (batch * positions * steps) as f64;
    for dp in [false, true] {
        for step in 0..=steps {
            if step == 1 {
                let start = Instant::now();
                for _ in 0..steps {
                    run(&model, &ids, &mask, dp)?;
                }
                let s = start.elapsed().as_secs_f64();
                println!(
                    "{}: {:.0} tokens/s ({batch} x {positions} per step, {:.2} s/step)",
                    if dp { "DP (clipped per record)" } else { "plain" },
                    tokens / s,
                    s / steps as f64
                );
                break;
            }
            run(&model, &ids, &mask, dp)?;
        }
    }
    let start = Instant::now();
    let _ = model.forward(&ids)?;
    println!(
        "forward only: {:.0} tokens/s",
        (batch * positions) as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run(model: &Llama, ids: &Tensor, mask: &Tensor, dp: bool) -> Result<()> {
    if dp {
        model.clipped_gradients(ids, mask, 1.0)?;
    } else {
        model.loss(ids, mask, None)?.backward()?;
    }
    Ok(())
}
