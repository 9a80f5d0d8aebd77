//! Validation of a model file before anything is built from it: a model file is untrusted
//! input (it may come from anyone, and doppel runs inside other people's processes), so every
//! size, codec and number in it is checked, and every tensor compared with the shape the
//! metadata implies, before anything is allocated from the metadata's sizes.
//!
//! Which limits apply: the larger of the file's own `[limits]` and the defaults. Raising the
//! limits in a file cannot make loading allocate more than the file holds: every model size
//! (hidden size, embedding size, layers, vocabulary) is also a tensor shape, compared here with
//! the shapes in the safetensors header, and safetensors checks that those shapes are backed by
//! the file's bytes (which the reader caps). Counts that are not tensor shapes (categories,
//! fields, text slots) are entries of the file's JSON. So a model trained with raised limits
//! still loads, and a forged file fails on its tensors however its limits read.

use std::collections::HashSet;

use safetensors::{Dtype, SafeTensors};

use crate::artifact::ModelMetadata;
use crate::error::Error;
use crate::limits::Limits;
use crate::model::LstmModel;

/// A reason a model file is unusable (becomes [`Error::Model`] with the file's path).
pub(crate) type Problem = String;

/// The limits a model file is checked against: for each, the larger of the file's and the
/// default (see the module documentation for why that is safe).
pub(crate) fn load_limits(file: &Limits) -> Limits {
    let d = Limits::default();
    Limits {
        max_columns: file.max_columns.max(d.max_columns),
        max_rows: file.max_rows.max(d.max_rows),
        max_field_bytes: file.max_field_bytes.max(d.max_field_bytes),
        max_table_bytes: file.max_table_bytes.max(d.max_table_bytes),
        max_categories: file.max_categories.max(d.max_categories),
        max_vocabulary: file.max_vocabulary.max(d.max_vocabulary),
        max_hidden_size: file.max_hidden_size.max(d.max_hidden_size),
        max_embedding_dim: file.max_embedding_dim.max(d.max_embedding_dim),
        max_layers: file.max_layers.max(d.max_layers),
        max_numeric_bins: file.max_numeric_bins.max(d.max_numeric_bins),
        max_bin_positions: file.max_bin_positions.max(d.max_bin_positions),
    }
}

/// Checks the metadata: the configuration (sizes within the limits), the schema and tokenizer
/// (every codec consistent with its column and fields) and the training summary (finite).
pub(crate) fn check_metadata(metadata: &ModelMetadata) -> Result<(), Problem> {
    let mut config = metadata.config.clone();
    config.limits = load_limits(&metadata.config.limits);
    config.validate().map_err(|e| match e {
        Error::Config(message) => format!("its configuration: {message}"),
        other => format!("its configuration: {other}"),
    })?;
    metadata.tokenizer.check(&config.limits)?;
    let lora = config.model.kind == crate::config::ModelKind::Lora;
    match &metadata.base {
        Some(base) if lora => {
            base.llama_config().map_err(|e| e.to_string())?;
        }
        None if !lora => {}
        Some(_) => return Err("a base model recorded for an LSTM".into()),
        None => return Err("a LoRA model without its base model's record".into()),
    }
    let summary = &metadata.summary;
    let losses =
        [("train_loss", &summary.train_loss), ("validation_loss", &summary.validation_loss)];
    for (key, values) in losses {
        if let Some((epoch, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(format!("summary.{key} of epoch {} is {v}, not finite", epoch + 1));
        }
    }
    Ok(())
}

/// Checks that `tensors` are exactly the network the (checked) metadata describes: every
/// parameter present with the expected shape, dtype F32 and finite values, and nothing else.
/// Reads the tensors in place (views on the file's bytes): nothing is copied.
pub(crate) fn check_tensors(
    tensors: &SafeTensors,
    metadata: &ModelMetadata,
) -> Result<(), Problem> {
    if let Some(base) = &metadata.base {
        return check_adapters(tensors, metadata, base);
    }
    let model = &metadata.config.model;
    let tokenizer = &metadata.tokenizer;
    // The parameter list grows with `layers`: compare its length with the file's first.
    // (The context sum, when the model has it, is one more.)
    let extra = 4 + usize::from(model.has_context());
    let expected_count = model.layers.checked_mul(4).and_then(|n| n.checked_add(extra));
    if expected_count != Some(tensors.len()) {
        return Err(format!(
            "the file holds {} tensors, but a model of {} layer(s) has {}",
            tensors.len(),
            model.layers,
            expected_count.map_or_else(|| "more".to_string(), |n| n.to_string())
        ));
    }
    let shapes =
        LstmModel::parameter_shapes(model, tokenizer.fields().len(), tokenizer.vocab_size())
            .map_err(|e| e.to_string())?;
    check_shapes(tensors, &shapes)
}

/// A LoRA model's tensors: exactly the adapters its recorded base and `model.lora` give.
fn check_adapters(
    tensors: &SafeTensors,
    metadata: &ModelMetadata,
    base: &crate::llama::BaseInfo,
) -> Result<(), Problem> {
    let config = base.llama_config().map_err(|e| e.to_string())?;
    let lora = metadata.config.model.lora.clone().unwrap_or_default();
    let shapes = crate::llama::adapter_shapes(&config, &lora);
    if shapes.len() != tensors.len() {
        return Err(format!(
            "the file holds {} tensors, but adapters of its base and settings are {}",
            tensors.len(),
            shapes.len()
        ));
    }
    check_shapes(tensors, &shapes)
}

/// Every tensor of `shapes` present, f32 of that shape with finite values, and nothing else.
fn check_shapes(tensors: &SafeTensors, shapes: &[(String, Vec<usize>)]) -> Result<(), Problem> {
    for (name, shape) in shapes {
        let view = tensors.tensor(name).map_err(|_| format!("tensor '{name}' is missing"))?;
        if view.dtype() != Dtype::F32 {
            return Err(format!("tensor '{name}' has dtype {:?}, expected F32", view.dtype()));
        }
        if view.shape() != shape.as_slice() {
            return Err(format!(
                "tensor '{name}' has shape {:?}, but the metadata makes {shape:?}",
                view.shape()
            ));
        }
        let values =
            view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if let Some((i, v)) = values.enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(format!(
                "tensor '{name}' holds {v} at index {i}, a value that is not finite"
            ));
        }
    }
    // As many tensors as expected, all of them expected: so none is left over.
    let names: HashSet<&str> = shapes.iter().map(|(name, _)| name.as_str()).collect();
    if let Some(extra) = tensors.names().into_iter().find(|n| !names.contains(n)) {
        return Err(format!("unexpected tensor '{extra}'"));
    }
    Ok(())
}
