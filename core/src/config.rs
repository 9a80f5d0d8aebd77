//! Training configuration: what the CLI's `--config` file (TOML or JSON) and the library API accept.
//!
//! Every field has a default, so an empty file is a valid configuration. Unknown keys are refused
//! with a message naming them, and so is an array anywhere but in a list (see
//! [`refuse_positional_arrays`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::accountant::AccountantKind;
use crate::device::DeviceChoice;
use crate::error::{Error, Result};
use crate::limits::Limits;

/// How a column is interpreted. Inference picks one per column; [`ColumnConfig::kind`] overrides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KindName {
    /// Whole numbers.
    Integer,
    /// Decimal numbers (the source's number of decimals is kept).
    Float,
    /// Two-valued columns such as `true`/`false` or `yes`/`no`.
    Boolean,
    /// A value from a set of labels.
    Categorical,
    /// Dates or date-times (the source's format is kept).
    Datetime,
    /// Free text, learned as subword tokens.
    Text,
    /// Unique per row; not learned, regenerated as synthetic identifiers of the same shape.
    Identifier,
}

/// What to do with a column's missing values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Learn a missing value like any other value, and generate it at the same rate.
    #[default]
    Keep,
    /// Replace missing values by the column's mean (numbers and dates; the mode otherwise).
    Mean,
    /// Replace missing values by the column's most frequent value.
    Mode,
    /// Drop rows where this column is missing.
    Drop,
}

/// Per-column settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnConfig {
    /// Overrides the inferred kind.
    pub kind: Option<KindName>,
    /// How missing values are handled.
    pub missing: MissingPolicy,
    /// Float columns (needs `kind = "float"`): digits written after the decimal point, instead
    /// of the most the source shows.
    pub decimals: Option<u32>,
    /// Datetime columns (needs `kind = "datetime"`): the chrono format of the values, e.g.
    /// `"%Y-%m-%d"`, instead of the inferred one.
    pub format: Option<String>,
    /// How a missing value is written in CSV output (e.g. `"NA"`, `"?"` or `""`), instead of the
    /// most frequent missing text of the source.
    pub missing_marker: Option<String>,
    /// Identifier columns (needs `kind = "identifier"`): the template synthetic identifiers are
    /// made from (`9` a digit, `A` an upper-case letter, `a` a lower-case letter, `x` a hex digit,
    /// `\` keeps the next character), e.g. `"C-99999"`.
    pub template: Option<String>,
}

/// Largest `decimals` a float column may declare (the finest resolution doppel writes).
pub const MAX_DECIMALS: u32 = 12;

impl ColumnConfig {
    /// Checks that each pinned format fits the column's declared kind, naming the key at fault.
    pub fn validate(&self, name: &str) -> Result<()> {
        let key = |k: &str| format!("columns.{name:?}.{k}");
        let needs = |k: &str, kind: KindName| -> Result<()> {
            if self.kind == Some(kind) {
                return Ok(());
            }
            let kind = serde_json::to_string(&kind).unwrap_or_default();
            Err(Error::Config(format!("{} needs kind = {kind} for that column", key(k))))
        };
        if let Some(d) = self.decimals {
            needs("decimals", KindName::Float)?;
            if d > MAX_DECIMALS {
                return Err(Error::Config(format!(
                    "{} is {d}; at most {MAX_DECIMALS} are supported",
                    key("decimals")
                )));
            }
        }
        if let Some(format) = &self.format {
            needs("format", KindName::Datetime)?;
            crate::schema::check_datetime_format(format)
                .map_err(|why| Error::Config(format!("{}: {why}", key("format"))))?;
        }
        if let Some(template) = &self.template {
            needs("template", KindName::Identifier)?;
            crate::schema::check_template(template)
                .map_err(|why| Error::Config(format!("{}: {why}", key("template"))))?;
        }
        if let Some(marker) = &self.missing_marker {
            if marker.len() > 64 || marker.contains(['\n', '\r']) {
                return Err(Error::Config(format!(
                    "{} must be one line of at most 64 bytes",
                    key("missing_marker")
                )));
            }
        }
        Ok(())
    }
}

/// Which of the engine's two models a configuration trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// doppel's own LSTM over field-aware tokens, trained from scratch (the default).
    #[default]
    Lstm,
    /// LoRA adapters on a pretrained Llama-family decoder read from `model.base_model`, trained
    /// on each record written as JSON (see [`crate::llama`]).
    Lora,
}

impl ModelKind {
    fn is_lstm(&self) -> bool {
        *self == ModelKind::Lstm
    }
}

/// Which model and how large. The sizes (`embedding_dim`, `hidden_size`, `layers`, `dropout`,
/// `context`) are the LSTM's; `base_model` and `lora` are the LoRA model's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `lstm` (the default) or `lora`. Not written into an LSTM's model file.
    #[serde(skip_serializing_if = "ModelKind::is_lstm")]
    pub kind: ModelKind,
    /// With `kind = "lora"`: the local Hugging Face directory of the pretrained model
    /// (`config.json`, `*.safetensors`, `tokenizer.json`; CLI: `--base-model DIR`). Nothing is
    /// downloaded. The model file records it, with the base's name and a checksum of its
    /// weights that loading checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_model: Option<std::path::PathBuf>,
    /// With `kind = "lora"`: the adapters (`[model.lora]`; unset, [`crate::llama::LoraConfig`]'s
    /// defaults, recorded in the model file as used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lora: Option<crate::llama::LoraConfig>,
    /// Size of the token and field embeddings.
    pub embedding_dim: usize,
    /// LSTM hidden size.
    pub hidden_size: usize,
    /// Number of stacked LSTM layers.
    pub layers: usize,
    /// Dropout probability on the LSTM outputs during training. Unset: [`DEFAULT_DROPOUT`], or
    /// none under DP (its noise already regularises; see [`crate::dp_defaults`]).
    pub dropout: Option<f32>,
    /// Whether each position's input also holds the sum of a second embedding of every token
    /// of the record so far (a bag of the record), so that a column generated early is in
    /// view however far back it is (the conditionals of steered generation need that; see
    /// [`crate::steer`]). Unset: [`DEFAULT_CONTEXT`] for a new model (recorded in its file);
    /// a model file without it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<bool>,
}

/// Whether a new model has the context sum when `model.context` is unset: yes. On Adult at seed
/// 1 it raised overall accuracy from 0.9851 to 0.9869 in the table's order and seeded
/// generation's pair accuracy from 0.947 to 0.960 with random orders (BENCHMARKS.md, issue 15).
pub const DEFAULT_CONTEXT: bool = true;

/// The dropout probability when `model.dropout` is unset (plain training).
pub const DEFAULT_DROPOUT: f32 = 0.1;

impl ModelConfig {
    /// The dropout probability: as set, or [`DEFAULT_DROPOUT`].
    pub fn dropout(&self) -> f32 {
        self.dropout.unwrap_or(DEFAULT_DROPOUT)
    }

    /// Whether the model has the context sum (see [`ModelConfig::context`]): as recorded, and
    /// none when unset (a file from before it).
    pub fn has_context(&self) -> bool {
        self.context.unwrap_or(false)
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            kind: ModelKind::Lstm,
            base_model: None,
            lora: None,
            embedding_dim: 64,
            hidden_size: 128,
            layers: 1,
            dropout: None,
            context: None,
        }
    }
}

/// The optimizer applied to the gradients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerName {
    /// Adam (Kingma and Ba 2015).
    #[default]
    Adam,
    /// RMSProp (Tieleman and Hinton 2012).
    Rmsprop,
}

/// How training runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// The optimizer.
    pub optimizer: OptimizerName,
    /// Learning rate (the peak of the cosine schedule). Unset: [`DEFAULT_LEARNING_RATE`], or
    /// under DP the choice of [`crate::dp_defaults`] from the number of privacy units.
    pub learning_rate: Option<f64>,
    /// Records per mini-batch (under DP, the expected batch of Poisson sampling). Unset:
    /// [`DEFAULT_BATCH_SIZE`], or under DP the choice of [`crate::dp_defaults`].
    pub batch_size: Option<usize>,
    /// Upper bound on passes over the training records. Unset (the default), it comes from the
    /// data: [`DEFAULT_EPOCHS`], or more for a small table, enough for [`AUTO_MIN_STEPS`]
    /// optimizer steps (at most [`AUTO_MAX_EPOCHS`]; early stopping usually ends it sooner).
    /// Under DP, unset means [`crate::dp_defaults::EPOCHS`].
    pub max_epochs: Option<usize>,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
    /// Share of records held out to measure validation loss (0 disables early stopping).
    pub validation_split: f64,
    /// Seed for every random choice (split, initialisation, shuffling, dropout).
    pub seed: u64,
    /// Upper bound on training wall time, in seconds; 0 = no bound. Unset: plain training is
    /// bounded by [`DEFAULT_TIME_BUDGET`] and plans its epochs to fit it (see
    /// [`TrainingConfig::time_budget`]); DP training, whose steps the privacy plan fixes, by
    /// nothing.
    pub max_training_seconds: Option<u64>,
    /// Where training computes: `auto` (a CUDA GPU when this build has CUDA and one is
    /// present, else the CPU), `cpu` or `cuda`. Not written into the model file when `auto`.
    #[serde(skip_serializing_if = "DeviceChoice::is_auto")]
    pub device: DeviceChoice,
    /// Share of training steps that present the columns in a random order (the rest use the
    /// table's order, which unconditional generation follows), so the model learns the
    /// conditionals that generation with conditions on any columns needs (see
    /// [`crate::order`]). Unset: [`DEFAULT_RANDOM_ORDER_SHARE`]; training records the share it
    /// used, and a model file without one was trained in the table's order only.
    pub random_order_share: Option<f64>,
}

/// Share of training steps on a random column order when `training.random_order_share` is
/// unset: half. With the context sum (the default model), on Adult at seed 1: overall accuracy
/// 0.9850 against the table's order's 0.9869, discriminator AUC 0.516 against 0.504, and seeded
/// generation's (seeded, generated) pair accuracy 0.960 against 0.939 (BENCHMARKS.md, issue 15).
pub const DEFAULT_RANDOM_ORDER_SHARE: f64 = 0.5;

/// Epochs when `training.max_epochs` is unset, at the least.
pub const DEFAULT_EPOCHS: usize = 20;
/// The learning rate when `training.learning_rate` is unset (plain training).
pub const DEFAULT_LEARNING_RATE: f64 = 3e-3;
/// The batch size when `training.batch_size` is unset (plain training).
pub const DEFAULT_BATCH_SIZE: usize = 256;
/// Fewest optimizer steps unset `training.max_epochs` plans: 20 epochs of a 3,000-row table at
/// batch 256 are 260 steps, and such a model stopped with its validation loss still falling
/// (credit scoring: discriminator AUC 0.86 at 20 epochs, 0.70 when early stopping ended it at
/// 33).
pub const AUTO_MIN_STEPS: usize = 2_000;
/// Most epochs unset `training.max_epochs` plans.
pub const AUTO_MAX_EPOCHS: usize = 200;
/// The wall-time bound of plain training when `training.max_training_seconds` is unset: one
/// hour. When the pace of the first steps says the planned epochs would take longer, training
/// plans only the epochs that fit, so its learning-rate schedule still runs to its end (a run
/// cut off mid-schedule keeps a high learning rate).
pub const DEFAULT_TIME_BUDGET: u64 = 3_600;

impl TrainingConfig {
    /// The learning rate: as set, or [`DEFAULT_LEARNING_RATE`].
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate.unwrap_or(DEFAULT_LEARNING_RATE)
    }

    /// The batch size: as set, or [`DEFAULT_BATCH_SIZE`].
    pub fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
    }

    /// The wall-time bound of training: as set (`0` = none), or unset [`DEFAULT_TIME_BUDGET`]
    /// for plain training and none under DP (`private`).
    pub fn time_budget(&self, private: bool) -> Option<std::time::Duration> {
        let seconds = match self.max_training_seconds {
            Some(seconds) => seconds,
            None if private => 0,
            None => DEFAULT_TIME_BUDGET,
        };
        (seconds > 0).then(|| std::time::Duration::from_secs(seconds))
    }

    /// The epochs to plan for plain training with `steps_per_epoch` steps in an epoch.
    pub fn epochs_for(&self, steps_per_epoch: usize) -> usize {
        self.max_epochs.unwrap_or_else(|| {
            AUTO_MIN_STEPS.div_ceil(steps_per_epoch.max(1)).clamp(DEFAULT_EPOCHS, AUTO_MAX_EPOCHS)
        })
    }
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            optimizer: OptimizerName::Adam,
            learning_rate: None,
            batch_size: None,
            max_epochs: None,
            patience: 3,
            validation_split: 0.1,
            seed: 42,
            max_training_seconds: None,
            device: DeviceChoice::Auto,
            random_order_share: None,
        }
    }
}

/// How records become tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizerConfig {
    /// Categories (and exact numeric values) seen fewer times than this are never emitted verbatim:
    /// they fall into a protected bucket (categories) or a numeric range (numbers).
    pub rare_category_threshold: usize,
    /// The text written for the protected bucket of rare categories.
    pub rare_token: String,
    /// Upper bound on quantile bins per numeric column.
    pub numeric_bins: usize,
    /// Positions within a numeric bin (the second token of a number).
    pub bin_positions: usize,
    /// A numeric value gets its own exact token when it holds at least this share of the rows.
    pub exact_value_share: f64,
    /// Most tokens of each text column's learned subword vocabulary. Merges stop sooner when no
    /// pair of tokens occurs `rare_category_threshold` times: a token is a string the text
    /// holds often, never a rare word.
    pub subword_vocab_size: usize,
    /// Upper bound on subword tokens per text cell (longer cells are cut).
    pub max_text_tokens: usize,
    /// Numeric ranges are protected like rare categories: a numeric (or date) column generates
    /// values between its `outlier_rows`-th smallest and `outlier_rows`-th largest source
    /// values, so no single extreme value is stored or reproduced (1 keeps the exact minimum
    /// and maximum). Values beyond are learned as the range's ends.
    pub outlier_rows: usize,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            rare_category_threshold: 10,
            rare_token: "_RARE_".into(),
            numeric_bins: 32,
            bin_positions: 16,
            exact_value_share: 0.005,
            subword_vocab_size: 2048,
            max_text_tokens: 48,
            outlier_rows: 10,
        }
    }
}

/// The `delta` of (epsilon, delta)-DP: a number, or `auto`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Delta {
    /// `min(1 / n^1.2, 1 / (10 n))` for `n` privacy units (rows, or subjects with a privacy
    /// unit; under DP a noisy count): well below `1/n`, as (epsilon, delta)-DP is only
    /// meaningful when delta is much smaller than one unit's share of the data.
    #[default]
    Auto,
    /// A fixed delta in (0, 1).
    Value(f64),
}

impl Delta {
    /// The delta for `units` privacy units.
    pub fn resolve(self, units: usize) -> f64 {
        let n = units.max(2) as f64;
        match self {
            Delta::Auto => n.powf(-1.2).min(0.1 / n),
            Delta::Value(d) => d,
        }
    }

    /// Checks `delta` against `units` privacy units: an error above `1/n` (the mechanism that
    /// publishes one random unit's record outright meets delta = 1/n), a warning above
    /// `1/(10 n)`.
    pub fn check(delta: f64, units: usize) -> Result<Option<String>> {
        let n = units.max(1) as f64;
        if delta > 1.0 / n {
            return Err(Error::Config(format!(
                "privacy.delta {delta:e} is above 1/n = {:.3e} for about {units} privacy units: \
                 releasing one unit's whole record at random would meet that guarantee, so it \
                 protects no one. Set privacy.delta at most 1/(10 n) = {:.3e}, or \"auto\"",
                1.0 / n,
                0.1 / n
            )));
        }
        Ok((delta > 0.1 / n).then(|| {
            format!(
                "privacy.delta {delta:e} is above 1/(10 n) = {:.3e} for about {units} privacy \
                 units: each unit's record may leak with a probability that is not small next \
                 to its share of the data; consider privacy.delta = \"auto\" or a smaller value",
                0.1 / n
            )
        }))
    }
}

impl Serialize for Delta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Delta::Auto => s.serialize_str("auto"),
            Delta::Value(d) => s.serialize_f64(*d),
        }
    }
}

impl<'de> Deserialize<'de> for Delta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(v) => Ok(Delta::Value(v)),
            Repr::Text(t) if t == "auto" => Ok(Delta::Auto),
            Repr::Text(t) => t.parse().map(Delta::Value).map_err(|_| {
                serde::de::Error::custom(format!("delta must be a number or \"auto\", got \"{t}\""))
            }),
        }
    }
}

/// Differential privacy: DP-SGD training with an accountant (see the README's privacy section).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Train with DP-SGD. Off by default.
    pub dp: bool,
    /// Target epsilon: the noise multiplier is calibrated to meet it over the planned steps.
    /// Set this or `noise_multiplier`, not both.
    pub epsilon: Option<f64>,
    /// Noise standard deviation as a multiple of `max_grad_norm`; epsilon is then reported.
    pub noise_multiplier: Option<f64>,
    /// The delta of (epsilon, delta)-DP (`auto` = min(1/n^1.2, 1/(10 n)) for n privacy units;
    /// above 1/n is refused, above 1/(10 n) warned about).
    pub delta: Delta,
    /// Each unit's gradient is clipped to this L2 norm (over all parameters together).
    pub max_grad_norm: f64,
    /// `prv` (tight numerical accountant) or `rdp` (Rényi DP).
    pub accountant: AccountantKind,
    /// Training stops before the step that would take epsilon past this.
    pub max_epsilon: Option<f64>,
    /// A column whose value identifies a subject (e.g. a customer id): all rows sharing it form
    /// one privacy unit. Without it, each row is a unit: a person with several rows is then
    /// protected only as far as each row is.
    pub privacy_unit: Option<String>,
    /// Draw sampling and noise from `training.seed` instead of the operating system's secure
    /// random source. For tests and benchmarks only: anyone who knows the seed (it is stored
    /// in the model) can replay the noise, which voids the guarantee.
    pub deterministic_noise: bool,
    /// Noise multiplier of the one Gaussian release of the tokenizer's statistics (category
    /// counts, numeric histograms, missing counts), composed into epsilon. Unset: the noise
    /// that spends [`crate::dp_defaults::STATISTICS_SHARE`] of the budget (see [`crate::dp_defaults`]).
    pub statistics_noise: Option<f64>,
    /// Noise multiplier of the one Gaussian release of the schema's votes (each column's kind,
    /// decimals, date format and missing marker, and the number of privacy units; see
    /// `private_schema`), composed into epsilon. Declared columns still vote (their
    /// votes are simply not used). Unset: the noise that spends [`crate::dp_defaults::SCHEMA_SHARE`]
    /// of the budget.
    pub schema_noise: Option<f64>,
    /// With a `privacy_unit`: the most rows of one subject a DP-SGD step uses. A subject with
    /// more takes part in each step where it is sampled with this many of its rows, drawn at
    /// random inside the mechanism; the guarantee still covers all of its rows (its clipped
    /// gradient is bounded whatever rows it uses). Bounds each step's memory and time.
    pub max_rows_per_unit: usize,
    /// The decay of the exponential moving average of the weights DP training writes as the
    /// model (post-processing of the DP-SGD iterates, free in privacy); 0 writes the last
    /// step's weights. Unset: the rule of [`crate::dp_defaults::weight_average_decay`].
    pub weight_average_decay: Option<f64>,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            dp: false,
            epsilon: None,
            noise_multiplier: None,
            delta: Delta::Auto,
            max_grad_norm: 1.0,
            accountant: AccountantKind::Prv,
            max_epsilon: None,
            privacy_unit: None,
            deterministic_noise: false,
            statistics_noise: None,
            schema_noise: None,
            max_rows_per_unit: 32,
            weight_average_decay: None,
        }
    }
}

impl PrivacyConfig {
    /// Checks the settings, naming the key at fault.
    pub fn validate(&self) -> Result<()> {
        let positive = |v: Option<f64>| v.is_none_or(|v| v > 0.0 && v.is_finite());
        let set = [
            ("privacy.epsilon", self.epsilon.is_some()),
            ("privacy.noise_multiplier", self.noise_multiplier.is_some()),
            ("privacy.max_epsilon", self.max_epsilon.is_some()),
            ("privacy.privacy_unit", self.privacy_unit.is_some()),
            ("privacy.weight_average_decay", self.weight_average_decay.is_some()),
        ];
        if !self.dp {
            if let Some((key, _)) = set.iter().find(|(_, on)| *on) {
                return Err(Error::Config(format!(
                    "{key} is set but DP is off: add `dp = true` to [privacy] (CLI: --dp)"
                )));
            }
            return Ok(());
        }
        let checks: [(bool, &str); 10] = [
            (positive(self.statistics_noise), "privacy.statistics_noise must be > 0"),
            (
                self.weight_average_decay.is_none_or(|d| (0.0..1.0).contains(&d)),
                "privacy.weight_average_decay must be at least 0 and below 1",
            ),
            (self.max_rows_per_unit > 0, "privacy.max_rows_per_unit must be > 0"),
            (positive(self.schema_noise), "privacy.schema_noise must be > 0"),
            (
                self.epsilon.is_some() != self.noise_multiplier.is_some(),
                "with privacy.dp, set exactly one of privacy.epsilon (a target) or \
                 privacy.noise_multiplier (CLI: --epsilon or --noise-multiplier)",
            ),
            (positive(self.epsilon), "privacy.epsilon must be > 0"),
            (positive(self.noise_multiplier), "privacy.noise_multiplier must be > 0"),
            (positive(self.max_epsilon), "privacy.max_epsilon must be > 0"),
            (
                self.max_grad_norm > 0.0 && self.max_grad_norm.is_finite(),
                "privacy.max_grad_norm must be > 0",
            ),
            (
                match self.delta {
                    Delta::Auto => true,
                    Delta::Value(d) => d > 0.0 && d < 1.0,
                },
                "privacy.delta must be in (0, 1) or \"auto\"",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, message)) => Err(Error::Config((*message).to_string())),
            None => Ok(()),
        }
    }
}

/// Everything `doppel train` can be told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Field delimiter of CSV input; absent (`None`), it is detected from the file's first
    /// lines among `,` `;` tab `|` (the CLI says which it used, and stores it in the model so
    /// that generated CSV uses it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// Cell texts read as missing values (compared after trimming spaces).
    pub missing_tokens: Vec<String>,
    /// Per-column settings, by column name.
    pub columns: BTreeMap<String, ColumnConfig>,
    /// Tokenization settings.
    pub tokenizer: TokenizerConfig,
    /// Model size.
    pub model: ModelConfig,
    /// Training settings.
    pub training: TrainingConfig,
    /// Differential privacy.
    pub privacy: PrivacyConfig,
    /// Resource limits (see [`Limits`]).
    pub limits: Limits,
    /// Rules every generated row keeps, written as conditions (see
    /// [`crate::steer::parse_conditions`]): ranges (`age >= 18`), allowed values
    /// (`workclass in (Private, State-gov)`), regular expressions a category matches whole
    /// (`code matches '[A-Z]{2}[0-9]+'`) and orders between number or date columns
    /// (`start_date <= end_date`). Enforced while decoding, never by dropping rows; one that
    /// no generated row can keep is an error before generation. A range, value or pattern
    /// also rules out a missing value (as a `--where` condition does); an order holds where
    /// both cells are present. Declared by the user, so public: the privacy ledger does not
    /// pay for them.
    pub constraints: Vec<String>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            delimiter: None,
            missing_tokens: doppel_table::missing::default_missing_tokens(),
            columns: BTreeMap::new(),
            tokenizer: TokenizerConfig::default(),
            model: ModelConfig::default(),
            training: TrainingConfig::default(),
            privacy: PrivacyConfig::default(),
            limits: Limits::default(),
            constraints: Vec::new(),
        }
    }
}

/// What schema inference reads of a configuration: the per-column settings and the missing
/// tokens (see [`TrainConfig::schema_settings`]), so that the stage can be called and tested
/// without a whole training configuration.
#[derive(Clone, Copy, Debug)]
pub struct SchemaSettings<'a> {
    /// Per-column settings (kinds, formats, missing policies), by column name.
    pub columns: &'a BTreeMap<String, ColumnConfig>,
    /// Cell texts read as missing values.
    pub missing_tokens: &'a [String],
}

/// What the tokenizer reads of a configuration: its section, the vocabulary limits and the
/// missing tokens (see [`TrainConfig::tokenizer_settings`]).
#[derive(Clone, Copy, Debug)]
pub struct TokenizerSettings<'a> {
    /// The `[tokenizer]` section.
    pub tokenizer: &'a TokenizerConfig,
    /// The limits on categories and vocabulary.
    pub limits: &'a Limits,
    /// Cell texts read as missing values.
    pub missing_tokens: &'a [String],
    /// Whether a text column learns a subword vocabulary from the data: the LSTM writes text
    /// with it; a LoRA model writes text with its base's tokenizer, so its text columns learn
    /// none (and under DP release nothing).
    pub text_vocabulary: bool,
}

impl TrainConfig {
    /// The sections schema inference reads.
    pub fn schema_settings(&self) -> SchemaSettings<'_> {
        SchemaSettings { columns: &self.columns, missing_tokens: &self.missing_tokens }
    }

    /// The sections the tokenizer reads.
    pub fn tokenizer_settings(&self) -> TokenizerSettings<'_> {
        TokenizerSettings {
            tokenizer: &self.tokenizer,
            limits: &self.limits,
            missing_tokens: &self.missing_tokens,
            text_vocabulary: self.model.kind != ModelKind::Lora,
        }
    }

    /// Reads a configuration from a `.toml` or `.json` file.
    pub fn from_file(path: &Path) -> Result<TrainConfig> {
        // Capped: `--config /dev/zero` must not read forever (a device is refused outright).
        let bytes = crate::ingest::read_capped(
            path,
            crate::limits::MAX_CONFIG_FILE_BYTES,
            "a configuration file",
            "MAX_CONFIG_FILE_BYTES",
        )?;
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::Config(format!("{}: not UTF-8 text ({e})", path.display())))?;
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let config: TrainConfig =
            if is_json { TrainConfig::from_json(&text) } else { TrainConfig::from_toml(&text) }
                .map_err(|e| match e {
                    Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
                    other => other,
                })?;
        Ok(config)
    }

    /// Parses a configuration from TOML text; an error names the key at fault (see
    /// [`TrainConfig::from_json`]).
    pub fn from_toml(text: &str) -> Result<TrainConfig> {
        // A text that is no TOML at all gets toml's own message from the typed parse.
        if let Ok(value) = toml::from_str::<serde_json::Value>(text) {
            refuse_positional_arrays_shaped(&value, &TrainConfig::shape())
                .map_err(Error::Config)?;
        }
        toml::from_str(text).map_err(|e| Error::Config(e.to_string()))
    }

    /// Parses a configuration from JSON text; an error names the key at fault (a value of the
    /// wrong type as well as an unknown key, or an array where an object or a value belongs:
    /// see [`refuse_positional_arrays`]).
    pub fn from_json(text: &str) -> Result<TrainConfig> {
        let config: TrainConfig =
            from_json_object_shaped(text, &TrainConfig::shape()).map_err(Error::Config)?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration's shape for [`refuse_positional_arrays_shaped`]: the default with the
    /// optional `[model.lora]` section present, so that its `targets` list reads as a list.
    fn shape() -> serde_json::Value {
        let mut config = TrainConfig::default();
        config.model.lora = Some(crate::llama::LoraConfig::default());
        serde_json::to_value(config).unwrap_or_default()
    }

    /// Checks value ranges, naming the key at fault.
    pub fn validate(&self) -> Result<()> {
        let t = &self.training;
        let checks: [(bool, &str); 10] = [
            (
                t.random_order_share.is_none_or(|s| (0.0..=1.0).contains(&s)),
                "training.random_order_share must be in [0, 1]",
            ),
            (
                t.learning_rate.is_none_or(|r| r > 0.0 && r.is_finite()),
                "training.learning_rate must be > 0",
            ),
            (t.batch_size != Some(0), "training.batch_size must be > 0"),
            (t.max_epochs != Some(0), "training.max_epochs must be > 0"),
            (
                (0.0..0.5).contains(&t.validation_split),
                "training.validation_split must be in [0, 0.5)",
            ),
            (self.model.hidden_size > 0, "model.hidden_size must be > 0"),
            (self.model.embedding_dim > 0, "model.embedding_dim must be > 0"),
            (self.model.layers > 0, "model.layers must be > 0"),
            (
                self.model.dropout.is_none_or(|p| (0.0..1.0).contains(&p)),
                "model.dropout must be in [0, 1)",
            ),
            (
                self.tokenizer.numeric_bins > 0 && self.tokenizer.bin_positions > 0,
                "tokenizer.numeric_bins and tokenizer.bin_positions must be > 0",
            ),
        ];
        if let Some(d) = self.delimiter {
            crate::ingest::check_delimiter(d, "delimiter")?;
        }
        if let Some((_, message)) = checks.iter().find(|(ok, _)| !ok) {
            return Err(Error::Config((*message).to_string()));
        }
        for (name, column) in &self.columns {
            column.validate(name)?;
        }
        for (i, text) in self.constraints.iter().enumerate() {
            crate::steer::parse_conditions(text)
                .map_err(|e| Error::Config(format!("constraints[{i}]: {e}")))?;
        }
        self.limits.validate()?;
        // Model sizes: each one multiplies training and generation cost (and memory).
        let l = &self.limits;
        let sizes = [
            ("model.hidden_size", self.model.hidden_size, "max_hidden_size", l.max_hidden_size),
            (
                "model.embedding_dim",
                self.model.embedding_dim,
                "max_embedding_dim",
                l.max_embedding_dim,
            ),
            ("model.layers", self.model.layers, "max_layers", l.max_layers),
            (
                "tokenizer.numeric_bins",
                self.tokenizer.numeric_bins,
                "max_numeric_bins",
                l.max_numeric_bins,
            ),
            (
                "tokenizer.bin_positions",
                self.tokenizer.bin_positions,
                "max_bin_positions",
                l.max_bin_positions,
            ),
        ];
        if let Some(&(what, value, key, limit)) = sizes.iter().find(|s| s.1 > s.3) {
            return Err(Limits::exceeded(what, value, key, limit as u64));
        }
        self.check_model_kind()?;
        self.privacy.validate()?;
        if self.privacy.dp {
            self.refuse_unaccounted(None)?;
        }
        Ok(())
    }

    /// Refuses LoRA settings on an LSTM, and checks the adapters' settings.
    fn check_model_kind(&self) -> Result<()> {
        let m = &self.model;
        if m.kind == ModelKind::Lstm {
            let set =
                [("model.base_model", m.base_model.is_some()), ("model.lora", m.lora.is_some())];
            if let Some((key, _)) = set.iter().find(|(_, on)| *on) {
                return Err(Error::Config(format!(
                    "{key} is set but model.kind is \"lstm\": add `kind = \"lora\"` to [model]"
                )));
            }
        }
        if let Some(lora) = &m.lora {
            lora.validate()?;
        }
        Ok(())
    }

    /// The one place that refuses, under DP, what the privacy accountant cannot cover: a missing
    /// policy computing a statistic outside it (`mean`, `mode`) and, for the LSTM, free-text
    /// columns (their subword vocabulary is learned from the data and not released privately;
    /// a LoRA model writes text with its base's public tokenizer and learns none). Called on the
    /// configuration before training, and with the released `schema` once inference (which may
    /// find text) has run.
    pub(crate) fn refuse_unaccounted(&self, schema: Option<&crate::schema::Schema>) -> Result<()> {
        for (name, column) in &self.columns {
            if matches!(column.missing, MissingPolicy::Mean | MissingPolicy::Mode) {
                return Err(Error::Config(format!(
                    "columns.{name}.missing = mean/mode computes a statistic outside the privacy \
                     accountant; under DP use \"keep\" or \"drop\""
                )));
            }
        }
        let configured_text = self
            .columns
            .iter()
            .filter(|(_, c)| c.kind == Some(KindName::Text))
            .map(|(name, _)| name.as_str());
        let inferred_text = schema.into_iter().flat_map(|s| {
            s.columns
                .iter()
                .filter(|c| matches!(c.kind, crate::schema::ColumnKind::Text))
                .map(|c| c.name.as_str())
        });
        let lstm = self.model.kind != ModelKind::Lora;
        if let Some(name) = configured_text.chain(inferred_text).next().filter(|_| lstm) {
            return Err(Error::Config(format!(
                "column '{name}' is free text, which DP training of the LSTM does not cover yet: \
                 set its kind to categorical or identifier in [columns.\"{name}\"], drop it, or \
                 train a LoRA model (model.kind = \"lora\"), whose base's tokenizer writes text"
            )));
        }
        Ok(())
    }
}

pub use doppel_table::json::{
    from_json_object, from_json_object_shaped, refuse_positional_arrays,
    refuse_positional_arrays_shaped,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_toml_is_the_default() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "").map_err(|e| Error::io(&path, e))?;
        assert_eq!(TrainConfig::from_file(&path)?, TrainConfig::default());
        Ok(())
    }

    #[test]
    fn column_overrides_parse_from_toml() {
        let c: TrainConfig = toml::from_str(
            "[columns.age]\nkind = \"categorical\"\nmissing = \"drop\"\n[training]\nseed = 7\n",
        )
        .unwrap();
        assert_eq!(c.columns["age"].kind, Some(KindName::Categorical));
        assert_eq!(c.columns["age"].missing, MissingPolicy::Drop);
        assert_eq!(c.training.seed, 7);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = TrainConfig::from_json(r#"{"training": {"epochs": 3}}"#).unwrap_err();
        assert!(err.to_string().contains("epochs"), "{err}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_by_its_key() {
        let err = TrainConfig::from_json(r#"{"training": {"max_epochs": "two"}}"#).unwrap_err();
        // Unset epochs come from the data: at least 20, enough for 2,000 steps, at most 200.
        let t = TrainConfig::default().training;
        assert_eq!((t.epochs_for(92), t.epochs_for(13), t.epochs_for(1)), (22, 154, 200));
        assert_eq!(t.epochs_for(1000), 20);
        let set = TrainConfig::from_json(r#"{"training": {"max_epochs": 3}}"#).unwrap().training;
        assert_eq!(set.epochs_for(13), 3);
        assert!(err.to_string().contains(": training.max_epochs: invalid type"), "{err}");
        let err = TrainConfig::from_json(r#"{"model": {"layers": 2}} trailing"#).unwrap_err();
        assert!(err.to_string().contains("trailing characters"), "{err}");
    }

    #[test]
    fn an_array_for_a_section_or_the_whole_config_is_refused_naming_the_key() {
        // serde would have read these by position: optimizer "adam", learning rate 0.5; and
        // the delimiter ';'.
        for (json, key) in [
            (r#"{"training": ["adam", 0.5]}"#, "training: "),
            (r#"[";"]"#, "(top level): "),
            (r#"{"model": [64, 128, 1, 0.1]}"#, "model: "),
            (r#"{"limits": [1]}"#, "limits: "),
            (r#"{"columns": [{"kind": "integer"}]}"#, "columns: "),
            (r#"{"columns": {"age": ["integer"]}}"#, "columns.age: "),
            (r#"{"training": {"learning_rate": [0.5]}}"#, "training.learning_rate: "),
            (r#"{"privacy": {"delta": [1e-5]}}"#, "privacy.delta: "),
        ] {
            let err = TrainConfig::from_json(json).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                err.starts_with(&format!("invalid configuration: {key}an array")),
                "{json}: {err}"
            );
        }
    }

    #[test]
    fn lists_still_take_arrays() -> Result<()> {
        let c = TrainConfig::from_json(r#"{"missing_tokens": ["", "-"], "training": {}}"#)?;
        assert_eq!(c.missing_tokens, ["", "-"]);
        let c = TrainConfig::from_toml("missing_tokens = [\"?\"]\n[training]\nseed = 1\n")?;
        assert_eq!(c.missing_tokens, ["?"]);
        Ok(())
    }

    #[test]
    fn a_toml_array_for_a_section_is_refused_naming_the_key() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        for (text, key) in [
            ("training = [\"adam\", 0.5]\n", "training: "),
            ("[[model]]\nlayers = 2\n", "model: "),
            ("missing_tokens = [\"?\"]\n[columns]\nage = [\"integer\"]\n", "columns.age: "),
        ] {
            let path = dir.path().join("c.toml");
            std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
            let err = TrainConfig::from_file(&path).unwrap_err().to_string();
            assert!(err.contains(&format!("c.toml: {key}an array")), "{text}: {err}");
        }
        Ok(())
    }

    #[test]
    fn bad_value_is_named() {
        let err = TrainConfig::from_json(r#"{"training": {"batch_size": 0}}"#).unwrap_err();
        assert!(err.to_string().contains("training.batch_size"), "{err}");
    }

    #[test]
    fn delta_above_one_over_n_is_refused_and_above_a_tenth_of_it_warned() -> Result<()> {
        // delta = auto used to be 1/n^1.2: 0.435 for 2 units, 0.063 for 10.
        for n in [2, 10, 100, 32_561] {
            let auto = Delta::Auto.resolve(n);
            assert!(auto <= 0.1 / n as f64 && Delta::check(auto, n)?.is_none(), "{n}: {auto}");
        }
        let err = Delta::check(0.6, 2).map(|_| ()).map_err(|e| e.to_string());
        assert!(err.as_ref().is_err_and(|e| e.contains("above 1/n")), "{err:?}");
        assert!(Delta::check(0.435, 2)?.is_some_and(|w| w.contains("1/(10 n)")));
        let warning = Delta::check(1e-5, 32_561)?.unwrap_or_default();
        assert!(warning.contains("above 1/(10 n)"), "{warning}");
        assert!(Delta::check(1e-6, 32_561)?.is_none());
        Ok(())
    }

    #[test]
    fn privacy_settings_parse_and_validate() -> Result<()> {
        let c: TrainConfig = toml::from_str(
            "[privacy]\ndp = true\nepsilon = 2.5\ndelta = 1e-5\naccountant = \"rdp\"\n",
        )
        .map_err(|e| Error::Config(e.to_string()))?;
        c.validate()?;
        assert_eq!(c.privacy.delta, Delta::Value(1e-5));
        assert_eq!(c.privacy.accountant, AccountantKind::Rdp);
        let auto = TrainConfig::from_json(
            r#"{"privacy": {"dp": true, "noise_multiplier": 1.0, "delta": "auto"}}"#,
        )?;
        // 1 / 1000^1.2 = 10^-3.6 is above 1/(10 n) = 10^-4, which auto takes instead.
        assert!((auto.privacy.delta.resolve(1000) - 1e-4).abs() < 1e-15);
        // 1 / 10^6^1.2 = 10^-7.2 is below 1/(10 n) = 10^-7.
        assert!((auto.privacy.delta.resolve(1_000_000) - 10f64.powf(-7.2)).abs() < 1e-20);
        for (json, key) in [
            (r#"{"privacy": {"dp": true}}"#, "exactly one of privacy.epsilon"),
            (r#"{"privacy": {"dp": true, "epsilon": 1, "noise_multiplier": 1}}"#, "exactly one"),
            (r#"{"privacy": {"epsilon": 1}}"#, "privacy.epsilon is set but DP is off"),
            (r#"{"privacy": {"dp": true, "epsilon": 1, "delta": 1.5}}"#, "privacy.delta"),
            (r#"{"privacy": {"dp": true, "epsilon": -1}}"#, "privacy.epsilon must be > 0"),
            (
                r#"{"privacy": {"dp": true, "epsilon": 1, "weight_average_decay": 1}}"#,
                "privacy.weight_average_decay must be at least 0 and below 1",
            ),
            (r#"{"privacy": {"weight_average_decay": 0.9}}"#, "DP is off"),
            (r#"{"training": {"random_order_share": 1.5}}"#, "training.random_order_share"),
            (r#"{"privacy": {"dp": true, "epsilon": 1, "delta": "often"}}"#, "auto"),
        ] {
            let err = TrainConfig::from_json(json).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(key), "{json}: {err}");
        }
        Ok(())
    }
    #[test]
    fn the_delimiter_is_optional_and_old_files_still_load() -> Result<()> {
        // A model file written before detection existed holds "delimiter": ",".
        let c = TrainConfig::from_json(r#"{"delimiter": ","}"#)?;
        assert_eq!(c.delimiter, Some(','));
        let c = TrainConfig::from_json("{}")?;
        assert_eq!(c.delimiter, None);
        let json = serde_json::to_string(&TrainConfig::default())
            .map_err(|e| Error::Config(e.to_string()))?;
        assert!(!json.contains("delimiter"), "{json}");
        for bad in [r#""\"""#, r#""\n""#, r#""\r""#] {
            let err = TrainConfig::from_json(&format!(r#"{{"delimiter": {bad}}}"#)).unwrap_err();
            assert!(err.to_string().contains("must be a single ASCII character"), "{err}");
        }
        Ok(())
    }

    #[test]
    fn a_config_file_is_read_within_its_size_limit() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("big.toml");
        let padding = "#".repeat(crate::limits::MAX_CONFIG_FILE_BYTES as usize + 1);
        std::fs::write(&path, padding).map_err(|e| Error::io(&path, e))?;
        let err = TrainConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("big.toml") && err.contains("MAX_CONFIG_FILE_BYTES"), "{err}");
        #[cfg(unix)]
        {
            let err = TrainConfig::from_file(Path::new("/dev/zero")).unwrap_err().to_string();
            assert!(err.contains("/dev/zero") && err.contains("not a regular file"), "{err}");
        }
        Ok(())
    }
}
