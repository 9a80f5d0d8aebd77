//! [`TrainedModel`]: a trained model and everything needed to generate from it, saved as one
//! safetensors file whose header metadata (key `doppel`) holds the format version, schema,
//! tokenizer, configuration and training summary as JSON.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::device::DeviceChoice;
use crate::dp::PrivacyReport;
use crate::error::{Error, Result};
use crate::llama::{Base, BaseInfo, LoraModel};
use crate::model::LstmModel;
use crate::output::write_atomic;
use crate::schema::Schema;
use crate::tokenizer::Tokenizer;
use crate::validate;
use safetensors::SafeTensors;

/// Written into every model file; a file with another name is refused.
pub const FORMAT_NAME: &str = "doppel-model";
/// Bumped on any incompatible change of the model file. Version 2 (settings recorded since
/// version 1: the weight average, the random-order share) generates with layer 0's input
/// projection folded into lookup tables, as training computes it (faster, rounded differently
/// in the last bits); files of version 1 still load and generate the rows they always did.
/// Version 3 may hold the context sum (`model.context`: the tensor
/// `context_embedding.weight`), which a reader of version 2 would ignore.
pub const FORMAT_VERSION: u32 = 3;
/// The first format version whose files generate with the folded input projection.
pub(crate) const FOLDED_INPUT_VERSION: u32 = 2;
/// The oldest model file format this doppel reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
const METADATA_KEY: &str = "doppel";

/// What training did. Holds only deterministic figures, so the same seed gives the same file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Records after missing-value policies were applied.
    pub rows: usize,
    /// Records trained on.
    pub training_rows: usize,
    /// Records held out for validation.
    pub validation_rows: usize,
    /// Tokens per record.
    pub tokens_per_row: usize,
    /// Scalar parameters of the model.
    pub parameters: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Optimizer steps taken.
    pub steps: usize,
    /// The epoch whose weights were kept (1-based).
    pub best_epoch: usize,
    /// Mean training loss (nats per token) of each epoch.
    pub train_loss: Vec<f64>,
    /// Validation loss (nats per token) after each epoch; empty without a validation split.
    pub validation_loss: Vec<f64>,
    /// Why training ended: `early_stopping`, `max_epochs`, `max_epsilon` or `time_limit`.
    pub stop_reason: String,
    /// Whether training stopped at `max_epochs` while the validation loss was still falling
    /// (the last epoch was the best, and [`TrainingSummary::recent_validation_change`] fell by
    /// more than 0.1 %): more epochs would likely give a better model. False without a
    /// validation split, under DP, and in files written before this field existed.
    #[serde(default)]
    pub still_improving: bool,
    /// Epochs planned before the first step (the data's or the configuration's choice).
    /// 0 in files written before this field existed.
    #[serde(default)]
    pub planned_epochs: usize,
    /// Whether the time budget (`training.max_training_seconds`, or its default for plain
    /// training) shortened the plan: the pace of the first epoch said the planned epochs would
    /// not fit it. False in files written before this field existed.
    #[serde(default)]
    pub time_bound: bool,
    /// The differential-privacy guarantee, when trained with DP.
    #[serde(default)]
    pub privacy: Option<PrivacyReport>,
}

/// Epochs back from the last one over which the trend of the validation loss is judged.
const TREND_EPOCHS: usize = 2;

impl TrainingSummary {
    /// How the validation loss moved over the last epochs: `(epochs, first, last)`, the loss
    /// `epochs` epochs before the last one (2, or 1 when only two epochs were measured) and the
    /// last one's. None with fewer than two validation losses.
    pub fn recent_validation_change(&self) -> Option<(usize, f64, f64)> {
        let losses = &self.validation_loss;
        let epochs = TREND_EPOCHS.min(losses.len().checked_sub(1)?);
        let last = losses.len() - 1;
        (epochs > 0).then(|| (epochs, losses[last - epochs], losses[last]))
    }
}

/// The JSON stored in the model file's header.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Version of doppel that wrote the file.
    pub doppel_version: String,
    /// The configuration training ran with.
    pub config: TrainConfig,
    /// The tokenizer (which includes the schema).
    pub tokenizer: Tokenizer,
    /// What training did.
    pub summary: TrainingSummary,
    /// A LoRA model's base: its name, weights' checksum and shape (absent for the LSTM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseInfo>,
}

/// A trained model, ready to generate.
pub struct TrainedModel {
    metadata: ModelMetadata,
    model: Network,
}

/// The trained network: the LSTM, or a pretrained decoder with LoRA adapters.
enum Network {
    Lstm(Box<LstmModel>),
    Lora(Box<LoraModel>),
}

impl TrainedModel {
    /// Bundles a trained network with its metadata.
    pub fn new(
        config: TrainConfig,
        tokenizer: Tokenizer,
        summary: TrainingSummary,
        model: LstmModel,
    ) -> Self {
        let metadata = metadata(config, tokenizer, summary, None);
        TrainedModel { metadata, model: Network::Lstm(Box::new(model)) }
    }

    /// Bundles trained LoRA adapters on their base with the metadata.
    pub(crate) fn lora(
        config: TrainConfig,
        tokenizer: Tokenizer,
        summary: TrainingSummary,
        base: BaseInfo,
        model: LoraModel,
    ) -> Self {
        let metadata = metadata(config, tokenizer, summary, Some(base));
        TrainedModel { metadata, model: Network::Lora(Box::new(model)) }
    }

    /// The metadata (configuration, tokenizer, training summary).
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// The schema of the training table.
    pub fn schema(&self) -> &Schema {
        self.metadata.tokenizer.schema()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.metadata.tokenizer
    }

    /// The LSTM network; for a LoRA model an error saying so (the LSTM's steered generation,
    /// imputation and filters need the LSTM).
    pub fn network(&self) -> Result<&LstmModel> {
        match &self.model {
            Network::Lstm(model) => Ok(model),
            Network::Lora(_) => Err(Error::Config(format!(
                "this is a LoRA model on '{}', where this needs an LSTM model",
                self.metadata.base.as_ref().map_or("?", |b| b.name.as_str())
            ))),
        }
    }

    /// The LoRA model (`None` for an LSTM).
    pub fn lora_model(&self) -> Option<&LoraModel> {
        match &self.model {
            Network::Lora(model) => Some(model),
            Network::Lstm(_) => None,
        }
    }

    /// The device the network computes on.
    pub fn device(&self) -> &Device {
        match &self.model {
            Network::Lstm(model) => model.device(),
            Network::Lora(model) => model.llama().device(),
        }
    }

    /// The same model with its network on `device` (a copy of the weights when it moves). A
    /// LoRA model stays where its base was loaded: load it onto the device instead.
    pub fn to_device(self, device: &Device) -> Result<TrainedModel> {
        if self.device().same_device(device) {
            return Ok(self);
        }
        match self.model {
            Network::Lstm(model) => {
                let model = Network::Lstm(Box::new(model.to_device(device)?));
                Ok(TrainedModel { metadata: self.metadata, model })
            }
            Network::Lora(_) => Err(Error::Config(
                "a LoRA model computes where its base was loaded: load it onto that device".into(),
            )),
        }
    }

    /// The model file's bytes. They are checked the way [`TrainedModel::from_bytes`] checks a
    /// file, so a model that could not be read back is never returned (nor saved).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let unusable = |message: String| {
            Error::Data(format!("refusing to write a model that could not be read back: {message}"))
        };
        validate::check_metadata(&self.metadata).map_err(unusable)?;
        let json = serde_json::to_string(&self.metadata)
            .map_err(|e| Error::Data(format!("cannot serialise model metadata: {e}")))?;
        let tensors: Vec<(String, candle_core::Tensor)> = match &self.model {
            Network::Lstm(model) => model
                .params()
                .iter()
                .map(|(name, var)| (name.to_string(), var.as_tensor().clone()))
                .collect(),
            Network::Lora(model) => model.tensors(),
        };
        let info = HashMap::from([(METADATA_KEY.to_string(), json)]);
        let bytes = safetensors::tensor::serialize(tensors, Some(info))
            .map_err(|e| Error::Data(format!("cannot serialise model tensors: {e}")))?;
        // Read back what was written: the JSON round trip and every tensor's shape and values.
        let (metadata, tensors) = parse(&bytes).map_err(unusable)?;
        validate::check_tensors(&tensors, &metadata).map_err(unusable)?;
        Ok(bytes)
    }

    /// Writes the model file (through a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    /// Reads a model file onto the device [`DeviceChoice::Auto`] selects.
    pub fn load(path: &Path) -> Result<TrainedModel> {
        Self::load_on(path, &crate::device::select(DeviceChoice::Auto)?)
    }

    /// Reads a model file onto `device` (where its generation then runs). A LoRA model's base
    /// is read from the directory its file records.
    pub fn load_on(path: &Path, device: &Device) -> Result<TrainedModel> {
        Self::load_with_base(path, device, None)
    }

    /// [`TrainedModel::load_on`], a LoRA model's base read from `base` (the directory its file
    /// records when `None`); an LSTM's file ignores it.
    pub fn load_with_base(
        path: &Path,
        device: &Device,
        base: Option<&Path>,
    ) -> Result<TrainedModel> {
        let bytes = read_file(path)?;
        TrainedModel::from_bytes_with_base(&bytes, path, device, base)
    }

    /// A model file's checked metadata, without building its network (nor reading a LoRA
    /// model's base): what `doppel inspect` and the report show. The tensors are checked as
    /// loading checks them.
    pub fn read_metadata(path: &Path) -> Result<ModelMetadata> {
        let bytes = read_file(path)?;
        let (metadata, _) = checked(&bytes, path)?;
        Ok(metadata)
    }

    /// Reads a model from its file bytes; `path` only names the source in errors.
    ///
    /// The whole file is validated before the network is built: the configuration's sizes
    /// within the limits, every codec consistent with its column and fields, every tensor
    /// present with the shape the metadata implies and finite values. Anything wrong is one
    /// [`Error::Model`] naming it.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<TrainedModel> {
        Self::from_bytes_on(bytes, path, &crate::device::select(DeviceChoice::Auto)?)
    }

    /// [`TrainedModel::from_bytes`] onto `device`.
    pub fn from_bytes_on(bytes: &[u8], path: &Path, device: &Device) -> Result<TrainedModel> {
        Self::from_bytes_with_base(bytes, path, device, None)
    }

    /// [`TrainedModel::from_bytes_on`], a LoRA model's base read from `base` (the directory
    /// its file records when `None`).
    pub fn from_bytes_with_base(
        bytes: &[u8],
        path: &Path,
        device: &Device,
        base: Option<&Path>,
    ) -> Result<TrainedModel> {
        let bad = |message: String| Error::Model { path: path.to_path_buf(), message };
        let (metadata, tensors) = checked(bytes, path)?;
        let mut loaded = HashMap::new();
        for (name, view) in tensors.tensors() {
            let tensor = candle_core::safetensors::Load::load(&view, device)
                .map_err(|e| bad(format!("corrupt tensor '{name}' ({e})")))?;
            loaded.insert(name, tensor);
        }
        let m = &metadata.config.model;
        if let Some(info) = &metadata.base {
            let dir = base.or(m.base_model.as_deref()).ok_or_else(|| {
                bad("a LoRA model whose base directory is unknown: pass --base-model DIR".into())
            })?;
            let lora = m.lora.clone().unwrap_or_default();
            let base = Base::load_dir(dir, device, lora.precision)?;
            let model = LoraModel::attach(base, info, &lora, &loaded)?;
            return Ok(TrainedModel { metadata, model: Network::Lora(Box::new(model)) });
        }
        let t = &metadata.tokenizer;
        let model = LstmModel::from_tensors(m, t.fields(), t.vocab_size(), &loaded, device)
            .map_err(|e| bad(e.to_string()))?;
        Ok(TrainedModel { metadata, model: Network::Lstm(Box::new(model)) })
    }
}

/// The metadata of a model file written now.
fn metadata(
    config: TrainConfig,
    tokenizer: Tokenizer,
    summary: TrainingSummary,
    base: Option<BaseInfo>,
) -> ModelMetadata {
    ModelMetadata {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        doppel_version: env!("CARGO_PKG_VERSION").into(),
        config,
        tokenizer,
        summary,
        base,
    }
}

/// A model file's bytes, capped, and only from a regular file: `--model /dev/zero` must not
/// read forever.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    crate::ingest::read_capped(
        path,
        crate::limits::MAX_MODEL_FILE_BYTES,
        "a model file",
        "MAX_MODEL_FILE_BYTES",
    )
}

/// The file's metadata and tensor views, all checked (the privacy statement against its
/// ledger, the tensors against the metadata).
fn checked<'a>(bytes: &'a [u8], path: &Path) -> Result<(ModelMetadata, SafeTensors<'a>)> {
    let bad = |message: String| Error::Model { path: path.to_path_buf(), message };
    let (metadata, tensors) = parse(bytes).map_err(bad)?;
    crate::dp::verify_statement(metadata.summary.privacy.as_ref(), &metadata.config.privacy)
        .map_err(|e| bad(e.to_string()))?;
    validate::check_tensors(&tensors, &metadata).map_err(bad)?;
    Ok((metadata, tensors))
}

/// Parses model file bytes into checked metadata (see [`validate::check_metadata`]) and views
/// of the tensors, which are not checked yet; the error is the problem, without the path.
fn parse(bytes: &[u8]) -> std::result::Result<(ModelMetadata, SafeTensors<'_>), String> {
    let tensors = SafeTensors::deserialize(bytes)
        .map_err(|e| format!("not a safetensors file or truncated ({e})"))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| format!("not a safetensors file or truncated ({e})"))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(METADATA_KEY))
        .ok_or_else(|| "a safetensors file without doppel metadata".to_string())?;
    let probe: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("corrupt metadata ({e})"))?;
    if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
        return Err("metadata does not name the doppel model format".into());
    }
    let version = probe.get("format_version").and_then(|v| v.as_u64()).unwrap_or(0);
    if !(u64::from(OLDEST_FORMAT_VERSION)..=u64::from(FORMAT_VERSION)).contains(&version) {
        return Err(format!(
            "format version {version}, but this doppel reads versions \
             {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}; retrain the model or use the doppel \
             version that wrote it"
        ));
    }
    let metadata: ModelMetadata =
        serde_json::from_value(probe).map_err(|e| format!("corrupt metadata ({e})"))?;
    validate::check_metadata(&metadata)?;
    Ok((metadata, tensors))
}
