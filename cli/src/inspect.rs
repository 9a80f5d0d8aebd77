//! `doppel inspect`: a short, human-readable summary of a model file (`--json` prints
//! everything the file states instead).

use std::fmt::Write;
use std::path::Path;

use doppel_core::schema::IdShape;
use doppel_core::ColumnKind;
use doppel_core::ModelMetadata;

/// The summary `doppel inspect` prints without `--json`: the file, each column with its kind,
/// what training did, and the differential-privacy guarantee (or that there is none).
pub fn summary(path: &Path, metadata: &ModelMetadata) -> String {
    let columns = &metadata.tokenizer.schema().columns;
    let s = &metadata.summary;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "model     {}: {} version {}, written by doppel {}",
        path.display(),
        metadata.format,
        metadata.format_version,
        metadata.doppel_version
    );
    let _ = writeln!(out, "network   {}", network(metadata));
    let _ = writeln!(out, "columns   {}", columns.len());
    let width = columns.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
    let derived = metadata.tokenizer.derived();
    for (c, column) in columns.iter().enumerate() {
        let missing = match &column.missing_marker {
            Some(marker) => format!(", missing values written {marker:?}"),
            None => String::new(),
        };
        let computed = match derived.iter().find(|(d, _)| *d == c) {
            Some((_, relation)) => format!(", derived: = {relation}"),
            None => String::new(),
        };
        let _ =
            writeln!(out, "  {:<width$}  {}{missing}{computed}", column.name, kind(&column.kind));
    }
    // Under DP the model holds no exact row count, only the noisy count of privacy units.
    let data = match &s.privacy {
        Some(p) => format!("about {} privacy units (a noisy count)", p.units),
        None => format!("{} rows", s.training_rows),
    };
    let bound = if s.time_bound {
        format!(", {} planned epochs cut to fit the time budget", s.planned_epochs)
    } else {
        String::new()
    };
    let falling = if s.still_improving { ", validation loss still falling" } else { "" };
    let falling = format!("{bound}{falling}");
    let _ = writeln!(
        out,
        "training  {} epochs ({}{falling}; best epoch {}) on {data}, {} tokens per row, {} \
         parameters",
        s.epochs, s.stop_reason, s.best_epoch, s.tokens_per_row, s.parameters
    );
    match &s.privacy {
        None => {
            let _ = writeln!(out, "privacy   none: trained without differential privacy");
        }
        Some(p) => {
            let epsilon = if p.epsilon.is_finite() {
                format!("epsilon {:.4}", p.epsilon)
            } else {
                "no finite epsilon (no guarantee)".to_owned()
            };
            let _ = writeln!(
                out,
                "privacy   {epsilon} at delta {:.3e} ({} accountant), unit: {}; noise multiplier \
                 {:.4}, {} steps at sampling rate {:.5}",
                p.delta, p.accountant, p.unit, p.noise_multiplier, p.steps, p.sampling_rate
            );
            // Loading checked the statement against its ledger; say what the ledger gives.
            let events: Vec<String> = p
                .events
                .iter()
                .map(|e| {
                    format!("{} x (q {}, sigma {})", e.steps, e.sampling_rate, e.noise_multiplier)
                })
                .collect();
            let spent = doppel_core::accountant::epsilon(
                p.accountant,
                &p.events,
                p.delta - p.selection_delta,
            );
            let recomputed = match spent {
                Ok(s) if s.epsilon.is_finite() => format!("epsilon {:.4}", s.epsilon),
                Ok(_) => "no finite epsilon".to_owned(),
                Err(e) => format!("cannot be recomputed ({e})"),
            };
            let _ = writeln!(
                out,
                "ledger    {}: {recomputed} recomputed by the {} accountant",
                events.join(", "),
                p.accountant
            );
            if p.deterministic_noise {
                let _ = writeln!(
                    out,
                    "          WARNING: deterministic_noise was on: the noise is replayable from \
                     the seed, so this guarantee does not hold"
                );
            }
            for warning in &p.warnings {
                let _ = writeln!(out, "          warning: {warning}");
            }
        }
    }
    let _ = writeln!(
        out,
        "details   doppel inspect --model {} --json (schema, tokenizer, configuration, losses)",
        path.display()
    );
    out
}

/// The model's kind and size: the LSTM's sizes, or the LoRA adapters and their base (its
/// name, the checksum loading checks, its shape).
fn network(metadata: &ModelMetadata) -> String {
    let m = &metadata.config.model;
    let Some(base) = &metadata.base else {
        return format!(
            "LSTM, {} layer(s) of {} units, embeddings of {}{}",
            m.layers,
            m.hidden_size,
            m.embedding_dim,
            if m.has_context() { ", with the record's context sum" } else { "" }
        );
    };
    let lora = m.lora.clone().unwrap_or_default();
    let targets: Vec<String> = lora
        .targets
        .iter()
        .map(|t| serde_json::to_value(t).ok().and_then(|v| v.as_str().map(String::from)))
        .map(Option::unwrap_or_default)
        .collect();
    let shape = base.llama_config().map_or_else(
        |e| format!("(unreadable: {e})"),
        |c| format!("{} layers, hidden {}, vocabulary {}", c.layers, c.hidden_size, c.vocab_size),
    );
    format!(
        "LoRA adapters of rank {} (alpha {}, dropout {}) on {}, records up to {} tokens\n          \
         base '{}' ({shape}), weights {}",
        lora.rank,
        lora.alpha,
        lora.dropout,
        targets.join(", "),
        lora.max_record_tokens,
        base.name,
        base.checksum
    )
}

/// A column's kind with what pins it down (decimals, date format, identifier shape).
fn kind(kind: &ColumnKind) -> String {
    match kind {
        ColumnKind::Integer => "integer".into(),
        ColumnKind::Float { decimals } => format!("float, {decimals} decimals"),
        ColumnKind::Boolean => "boolean".into(),
        ColumnKind::Categorical => "categorical".into(),
        ColumnKind::Datetime { format } => format!("datetime {format}"),
        ColumnKind::Text => "text".into(),
        ColumnKind::Identifier { shape: IdShape::Sequence { start } } => {
            format!("identifier, a sequence from {start}")
        }
        ColumnKind::Identifier { shape: IdShape::Template { template } } => {
            format!("identifier, template {template}")
        }
        ColumnKind::Identifier { shape: IdShape::Shapes { shapes } } => {
            let templates: Vec<&str> = shapes.iter().map(|s| s.template.as_str()).collect();
            format!("identifier, shapes {}", templates.join(" "))
        }
    }
}
