//! The whole report: every metric of the crate on one (real, synthetic, holdout) triple, the
//! quality and privacy scores, and the model's own privacy statement.
//!
//! [`build_report`] is the one entry point shared by the CLI, the C ABI and the browser. Its
//! output, [`Report`], serialises to the JSON format `doppel-report` version [`VERSION`]; the
//! fields and the score definitions are documented in `docs/report.md`.

use serde::{Deserialize, Serialize};

use crate::correlation::{correlations, Correlations};
use crate::discriminator::{discriminator, Discriminator};
use crate::error::{Error, Result};
use crate::fidelity::{fidelity, FidelityOptions, FidelityReport};
use crate::frame::{Frame, Kind, Schema, SkippedColumn};
use crate::privacy::{privacy, Privacy, PrivacyOptions};
use crate::sample::Rng;
use crate::score::{left_out, scores, ScoreInputs, Scores};
use crate::structure::{structure, Structure};
use crate::summary::{summaries, ColumnSummary};
use crate::table::Table;
use crate::utility::{utility, Utility};
use crate::validity::{validity, Validity, DEFAULT_PLACEHOLDER};

/// The report format's name, the `format` field of the JSON.
pub const FORMAT: &str = "doppel-report";

/// The report format's version; it changes whenever a field is renamed or removed, or its
/// meaning changes (new fields may appear within a version).
pub const VERSION: u32 = 1;

/// Fewest rows a table must have for the report.
pub const MIN_ROWS: usize = 2;

/// What to compute and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportOptions {
    /// Binning of the accuracy metrics, missing-value tokens and columns to leave out.
    pub fidelity: FidelityOptions,
    /// Column to predict for the utility metrics (needs a holdout table).
    pub target: Option<String>,
    /// Columns an attacker is assumed to know (for attribute inference).
    pub quasi_identifiers: Vec<String>,
    /// Columns an attacker tries to infer; empty means every other kept column.
    pub sensitive: Vec<String>,
    /// Seed of every sample the metrics draw (rows, folds, triples): same seed, same report.
    /// It replaces `fidelity.seed`.
    pub seed: u64,
    /// Most rows per table used by the distance-based privacy metrics.
    pub max_distance_rows: usize,
    /// The model's privacy statement, shown as stated (e.g. from `doppel inspect --json`).
    pub model: Option<ModelPrivacy>,
    /// Cell texts that stand for no value (default `["_RARE_"]`, the engine's rare-value
    /// token): synthetic cells equal to one are invalid (see [`crate::validity`]), unless the
    /// real column holds that text itself.
    pub placeholders: Vec<String>,
    /// How the synthetic rows were steered, shown on the page (no metric reads it).
    pub steering: Steering,
}

/// How the synthetic rows were steered: the model's constraints and the generation's
/// conditions, rebalancing and fairness, as written (`doppel generate`'s flags). A steered
/// table differs from the real one by design: the page says so next to the scores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Steering {
    /// The model's constraints (its configuration's `constraints`).
    pub constraints: Vec<String>,
    /// The generation's conditions (`--where`).
    #[serde(rename = "where")]
    pub conditions: String,
    /// The generation's rebalancing (`--rebalance`).
    pub rebalance: String,
    /// The generation's fairness (`--fair`).
    pub fair: String,
}

impl Steering {
    /// The steering in one sentence; `None` when nothing steered the rows.
    pub fn summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        let quoted = |s: &str| format!("\u{201c}{}\u{201d}", s.trim());
        if !self.conditions.trim().is_empty() {
            parts.push(format!("conditions {}", quoted(&self.conditions)));
        }
        if !self.rebalance.trim().is_empty() {
            parts.push(format!("rebalancing {}", quoted(&self.rebalance)));
        }
        if !self.fair.trim().is_empty() {
            parts.push(format!("fairness {}", quoted(&self.fair)));
        }
        let steered = !parts.is_empty();
        if !self.constraints.is_empty() {
            let list: Vec<String> = self.constraints.iter().map(|c| quoted(c)).collect();
            parts.push(format!("the model's constraints {}", list.join(", ")));
        }
        if parts.is_empty() {
            return None;
        }
        let mut text = format!("Generated with {}.", parts.join("; "));
        if steered {
            text.push_str(
                " Steered rows differ from the real table by design: compare them with the real \
                 rows that meet the same conditions, or read the scores with that in mind.",
            );
        }
        Some(text)
    }
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            fidelity: FidelityOptions::default(),
            target: None,
            quasi_identifiers: Vec::new(),
            sensitive: Vec::new(),
            seed: 0,
            max_distance_rows: 5000,
            model: None,
            placeholders: vec![DEFAULT_PLACEHOLDER.to_string()],
            steering: Steering::default(),
        }
    }
}

/// The differential-privacy guarantee a model states about itself. Field names follow the
/// `summary.privacy` object of `doppel inspect --json` (a [`doppel_table::PrivacyReport`]),
/// whose five fields read here can be copied from it; in code, `From<&PrivacyReport>` builds
/// one.
///
/// A statement is checked where it is read (JSON, and [`build_report`] for values built in
/// code): epsilon a number `>= 0` or `"inf"` (no finite bound: no guarantee), delta in
/// `[0, 1)`, the accountant `prv` or `rdp`, the unit not empty. JSON has no infinity, so an
/// infinite epsilon is written and read as the string `"inf"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StatedPrivacy")]
pub struct ModelPrivacy {
    /// Epsilon of the (epsilon, delta)-DP guarantee; `+∞` when the model states no finite
    /// bound.
    #[serde(serialize_with = "write_epsilon")]
    pub epsilon: f64,
    /// Delta of the guarantee.
    pub delta: f64,
    /// The accountant that computed epsilon (`prv` or `rdp`).
    #[serde(default)]
    pub accountant: Option<String>,
    /// What one protected unit is: `row`, or the column identifying a subject.
    #[serde(default)]
    pub unit: Option<String>,
    /// True when the noise came from a fixed seed: then there is no guarantee.
    #[serde(default)]
    pub deterministic_noise: bool,
}

/// The statement a model file carries (`summary.privacy`), as the report shows it.
impl From<&doppel_table::PrivacyReport> for ModelPrivacy {
    fn from(statement: &doppel_table::PrivacyReport) -> Self {
        ModelPrivacy {
            epsilon: statement.epsilon,
            delta: statement.delta,
            accountant: Some(statement.accountant.to_string()),
            unit: Some(statement.unit.clone()),
            deterministic_noise: statement.deterministic_noise,
        }
    }
}

/// [`ModelPrivacy`] as read, before its values are checked. Epsilon and delta are read as
/// any JSON value so that a wrong one is named in the error.
#[derive(Deserialize)]
struct StatedPrivacy {
    epsilon: serde_json::Value,
    delta: serde_json::Value,
    #[serde(default)]
    accountant: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    deterministic_noise: bool,
}

impl TryFrom<StatedPrivacy> for ModelPrivacy {
    type Error = String;

    fn try_from(s: StatedPrivacy) -> std::result::Result<Self, String> {
        let epsilon = match &s.epsilon {
            serde_json::Value::String(t) if t == INFINITE_EPSILON => f64::INFINITY,
            v => v.as_f64().unwrap_or(f64::NAN),
        };
        // A delta that is not a number is NaN here, which the range check refuses.
        let delta = s.delta.as_f64().unwrap_or(f64::NAN);
        let m = ModelPrivacy {
            epsilon,
            delta,
            accountant: s.accountant,
            unit: s.unit,
            deterministic_noise: s.deterministic_noise,
        };
        match m.problem() {
            None => Ok(m),
            // Name the value as written (a NaN above may stand for a string or a null).
            Some((field @ "model.epsilon", problem)) => {
                Err(format!("{field} {problem}, got {}", s.epsilon))
            }
            Some((field @ "model.delta", problem)) => {
                Err(format!("{field} {problem}, got {}", s.delta))
            }
            Some((field, problem)) => Err(format!("{field} {problem}")),
        }
    }
}

/// The JSON spelling of an infinite epsilon (the same as doppel-core's model files).
pub const INFINITE_EPSILON: &str = "inf";

/// Writes an epsilon: a number, or `"inf"` for `+∞` (JSON has no infinity; serde_json would
/// write `null`). NaN is refused.
fn write_epsilon<S: serde::Serializer>(
    epsilon: &f64,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    if epsilon.is_finite() {
        s.serialize_f64(*epsilon)
    } else if *epsilon == f64::INFINITY {
        s.serialize_str(INFINITE_EPSILON)
    } else {
        Err(serde::ser::Error::custom(format!("model.epsilon cannot be {epsilon}")))
    }
}

impl ModelPrivacy {
    /// What is wrong with the statement, if anything: the field and the problem.
    fn problem(&self) -> Option<(&'static str, String)> {
        if self.epsilon.is_nan() || self.epsilon < 0.0 {
            let problem = "must be a number >= 0, or \"inf\" for no guarantee";
            return Some(("model.epsilon", problem.into()));
        }
        if !(0.0..1.0).contains(&self.delta) {
            return Some(("model.delta", "must be in [0, 1)".into()));
        }
        if let Some(a) = self.accountant.as_deref().filter(|a| !["prv", "rdp"].contains(a)) {
            return Some(("model.accountant", format!("must be \"prv\" or \"rdp\", got {a:?}")));
        }
        if self.unit.as_deref().is_some_and(|u| u.trim().is_empty()) {
            return Some(("model.unit", "must name the privacy unit (\"row\" or a column)".into()));
        }
        None
    }

    /// Checks the statement (see the type's documentation).
    ///
    /// Errors: [`Error::BadOption`] naming the field (`model.epsilon`, `model.delta`, ...).
    pub fn check(&self) -> Result<()> {
        match self.problem() {
            None => Ok(()),
            Some((option, problem)) => {
                let value = match option {
                    "model.epsilon" => format!(", got {}", self.epsilon),
                    "model.delta" => format!(", got {}", self.delta),
                    _ => String::new(),
                };
                Err(Error::BadOption { option: option.into(), problem: problem + &value })
            }
        }
    }

    /// The guarantee in one sentence.
    pub fn statement(&self) -> String {
        if self.deterministic_noise {
            return "The model was trained with seeded (test) noise: it states no guarantee."
                .into();
        }
        if self.epsilon.is_infinite() {
            return "The model states no differential-privacy guarantee: its accountant found \
                    no finite epsilon (too little noise for the sampling rate and steps)."
                .into();
        }
        let unit = match self.unit.as_deref() {
            None | Some("row") => "one training row".to_string(),
            Some(column) => format!("all rows of one subject (column '{column}')"),
        };
        let accountant = self.accountant.as_deref().unwrap_or("its").to_uppercase();
        format!(
            "The model is ({:.3}, {:.1e})-differentially private for {unit}, as computed by \
             the {accountant} accountant during training: adding or removing {unit} changes \
             the probability of any output by a factor of at most e^{:.3} (plus {:.1e}).",
            self.epsilon, self.delta, self.epsilon, self.delta
        )
    }
}

/// The sizes of the compared tables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sizes {
    /// Rows of the real (training) table.
    pub real_rows: usize,
    /// Rows of the synthetic table.
    pub synthetic_rows: usize,
    /// Rows of the holdout table, if one was given.
    pub holdout_rows: Option<usize>,
    /// Columns of the real table.
    pub columns: usize,
    /// Columns kept for the metrics, text columns included (the others are listed in
    /// [`Report::skipped`]).
    pub compared_columns: usize,
    /// Of those, text columns: compared by length, words and characters, by the validity
    /// checks and in the privacy distances, but not by the frame metrics (correlations,
    /// principal components, the discriminator, utility).
    #[serde(default)]
    pub text_columns: usize,
}

/// Every metric of a synthetic table, with its scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] of the format.
    pub version: u32,
    /// The options the report was computed with.
    pub options: ReportOptions,
    /// Table sizes.
    pub tables: Sizes,
    /// Columns left out, and why.
    pub skipped: Vec<SkippedColumn>,
    /// The quality and privacy scores.
    pub scores: Scores,
    /// Univariate, bivariate and trivariate accuracy, with per-column bins.
    pub fidelity: FidelityReport,
    /// Invalid synthetic cells and constant columns, per column.
    pub validity: Validity,
    /// Per-column summaries of the real and synthetic tables.
    pub columns: Vec<ColumnSummary>,
    /// Correlation matrices and their difference.
    pub correlations: Correlations,
    /// Principal-component structure; `None` with too few features.
    pub structure: Option<Structure>,
    /// How well a classifier tells real from synthetic rows; `None` with too few rows.
    pub discriminator: Option<Discriminator>,
    /// Train-synthetic-test-real utility; `None` without a target and a holdout.
    pub utility: Option<Utility>,
    /// Copies, distances, membership and attribute inference.
    pub privacy: Privacy,
    /// The model's differential-privacy guarantee, as stated by the model.
    pub model: Option<ModelPrivacy>,
    /// Things the reader should know: skipped columns, metrics left out and why.
    pub warnings: Vec<String>,
}

/// Computes the report. `progress(stage, fraction)` is called before each stage with a label
/// and the share of the work done so far (0 to 1), and once more with `("done", 1.0)`.
///
/// Errors: a table with fewer than [`MIN_ROWS`] rows, columns that differ between the tables,
/// an option naming a column that is not there (or a text column where only a numeric, date
/// or categorical one will do), or no column left to compare. Cell contents are never an
/// error: the real table decides each column's kind from all its rows, and a synthetic cell
/// the kind cannot read is counted as invalid (see [`crate::validity`]).
pub fn build_report(
    real: &Table,
    synthetic: &Table,
    holdout: Option<&Table>,
    options: &ReportOptions,
    progress: &mut dyn FnMut(&str, f64),
) -> Result<Report> {
    let tables = [("real", Some(real)), ("synthetic", Some(synthetic)), ("holdout", holdout)];
    for (role, table) in tables {
        if let Some(t) = table.filter(|t| t.num_rows() < MIN_ROWS) {
            let rows = t.num_rows();
            return Err(Error::TooFewRows { table: role.into(), rows, needed: MIN_ROWS });
        }
    }
    if let Some(model) = &options.model {
        model.check()?;
    }
    progress("reading the tables", 0.0);
    // One seed for the whole report: it also draws the fidelity's column triples.
    let fid = &FidelityOptions { seed: options.seed, ..options.fidelity.clone() };
    let mut schema = Schema::infer(real, &fid.missing_tokens, &fid.skip_columns)?;
    let real_frame = schema.encode(real, "real")?;
    let synthetic_frame = schema.encode(synthetic, "synthetic")?;
    let holdout_frame = holdout.map(|h| schema.encode(h, "holdout")).transpose()?;
    if schema.columns.is_empty() && schema.texts.is_empty() {
        let reasons: Vec<String> =
            schema.skipped.iter().map(|s| format!("'{}': {}", s.name, s.reason)).collect();
        return Err(Error::NothingToCompare { reasons: reasons.join("; ") });
    }
    let target = options.target.as_deref().map(|t| column(&schema, "target", t)).transpose()?;
    let quasi = columns(&schema, "quasi_identifiers", &options.quasi_identifiers)?;
    // Empty means every column but the quasi-identifiers; privacy() applies that default.
    let sensitive = columns(&schema, "sensitive", &options.sensitive)?;
    let privacy_options =
        PrivacyOptions { max_rows: options.max_distance_rows, quasi_identifiers: quasi, sensitive };
    // PrivacyOptions::check names its own field; the user set `max_distance_rows`.
    if options.max_distance_rows == 0 {
        let problem = "must be at least 1 (default 5000)".to_string();
        return Err(Error::BadOption { option: "max_distance_rows".into(), problem });
    }
    privacy_options.check(&schema)?;
    let mut warnings: Vec<String> = schema
        .skipped
        .iter()
        .map(|s| format!("column '{}' is left out of the report: {}", s.name, s.reason))
        .collect();
    warnings.extend(schema.texts.iter().map(|t| {
        format!(
            "column '{}' is free text: compared by length, words and characters, and in the \
             privacy distances; correlations, principal components, the discriminator and \
             utility leave it out",
            t.name
        )
    }));
    if let Some(frame) = &holdout_frame {
        warnings.extend(unreadable_warnings(&schema, frame, "holdout"));
    }
    let mut rng = Rng::new(options.seed, 0);

    progress("accuracy", 0.05);
    let fidelity = fidelity(real, synthetic, fid)?;
    let validity = validity(&schema, real, synthetic, &options.placeholders);
    warnings.extend(validity_warnings(&validity));
    let columns = summaries(&schema, &real_frame, &synthetic_frame);
    progress("correlations", 0.15);
    let correlations = correlations(&schema, &real_frame, &synthetic_frame);
    progress("principal components", 0.2);
    let structure = structure(&schema, &real_frame, &synthetic_frame, &mut rng);
    progress("discriminator", 0.25);
    let discriminator = discriminator(&schema, &real_frame, &synthetic_frame, &mut rng);
    progress("utility", 0.45);
    let utility = match (target, &holdout_frame) {
        // A target the tables cannot support (too few labelled rows, one real class) costs
        // the utility section, not the report: poor synthetic data is when it is needed most.
        (Some(t), Some(h)) => {
            match utility(&schema, &real_frame, &synthetic_frame, h, t, &mut rng) {
                Ok(u) => Some(u),
                Err(e) => {
                    warnings.push(format!("utility is left out: {e}"));
                    None
                }
            }
        }
        (Some(_), None) => {
            warnings.push("utility needs a holdout table (real rows not used in training)".into());
            None
        }
        _ => None,
    };
    progress("privacy", 0.6);
    let privacy = privacy(
        &schema,
        &real_frame,
        &synthetic_frame,
        holdout_frame.as_ref(),
        &privacy_options,
        &mut rng,
    );
    let empty_rows = privacy.sampled.synthetic_all_missing;
    if empty_rows > 0 {
        warnings.push(format!(
            "{empty_rows} of {} synthetic rows have every compared cell missing: they copy no \
             training row and are left out of the distance metrics and attacks",
            synthetic.num_rows()
        ));
    }
    if holdout.is_none() {
        warnings.push(
            "no holdout table: the privacy score, the distance-to-closest-record share and \
             the membership-inference test need real rows that were not used in training"
                .into(),
        );
    }
    let inputs = score_inputs(
        &fidelity,
        &correlations,
        structure.as_ref(),
        discriminator.as_ref(),
        utility.as_ref(),
        &validity,
        &privacy,
    );
    warnings.extend(left_out(&inputs));
    let scores = scores(&inputs);
    progress("done", 1.0);
    Ok(Report {
        format: FORMAT.into(),
        version: VERSION,
        options: options.clone(),
        tables: Sizes {
            real_rows: real.num_rows(),
            synthetic_rows: synthetic.num_rows(),
            holdout_rows: holdout.map(Table::num_rows),
            columns: real.names().len(),
            compared_columns: schema.columns.len() + schema.texts.len(),
            text_columns: schema.texts.len(),
        },
        skipped: schema.skipped.clone(),
        scores,
        fidelity,
        validity,
        columns,
        correlations,
        structure,
        discriminator,
        utility,
        privacy,
        model: options.model.clone(),
        warnings,
    })
}

/// One sentence per column with invalid synthetic cells, naming the first, and one per
/// constant column.
fn validity_warnings(validity: &Validity) -> Vec<String> {
    let mut warnings = Vec::new();
    for c in &validity.columns {
        if let Some(first) = &c.first_invalid {
            warnings.push(format!(
                "column '{}': {} synthetic cell(s) ({:.2}%) are invalid, the first in row {}: \
                 '{}' ({})",
                c.name,
                c.invalid,
                100.0 * c.invalid_share,
                first.row,
                first.value,
                first.reason
            ));
        }
        if c.constant {
            warnings.push(format!(
                "column '{}' is constant in the synthetic table but not in the real one: its \
                 validity is 0",
                c.name
            ));
        }
    }
    warnings
}

/// One sentence per column of `frame` with cells its kind could not read (read as missing).
fn unreadable_warnings(schema: &Schema, frame: &Frame, role: &str) -> Vec<String> {
    let columns = schema.columns.iter().zip(&frame.unreadable);
    columns
        .filter(|(_, &count)| count > 0)
        .map(|(spec, count)| {
            let what = if spec.kind == Kind::Datetime { "dates" } else { "numbers" };
            format!(
                "column '{}' of the {role} table has {count} cell(s) that are not {what}, as \
                 every real value is: they are read as missing",
                spec.name
            )
        })
        .collect()
}

/// The schema index of a named column, or an error naming the option and the choices.
fn column(schema: &Schema, option: &str, name: &str) -> Result<usize> {
    schema.position(name).ok_or_else(|| {
        let skipped = schema.skipped.iter().find(|s| s.name == name);
        let text = schema.texts.iter().any(|t| t.name == name);
        let problem = match skipped {
            Some(s) => format!("column '{name}' is left out of the report: {}", s.reason),
            None if text => format!(
                "column '{name}' is free text; only numeric, date and categorical columns can \
                 be used here"
            ),
            None => {
                let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
                format!("no column '{name}'; the columns are {}", names.join(", "))
            }
        };
        Error::BadOption { option: option.into(), problem }
    })
}

fn columns(schema: &Schema, option: &str, names: &[String]) -> Result<Vec<usize>> {
    names.iter().map(|n| column(schema, option, n)).collect()
}

/// Collects the figures the scores are computed from.
fn score_inputs(
    fidelity: &FidelityReport,
    correlations: &Correlations,
    structure: Option<&Structure>,
    discriminator: Option<&Discriminator>,
    utility: Option<&Utility>,
    validity: &Validity,
    privacy: &Privacy,
) -> ScoreInputs {
    let accuracies = [Some(fidelity.univariate), fidelity.bivariate, fidelity.trivariate];
    ScoreInputs {
        accuracies: accuracies.into_iter().flatten().collect(),
        correlation_difference: correlations.mean_abs_difference,
        structure_similarity: structure.map(|s| s.similarity),
        discriminator_auc: discriminator.map(|d| d.auc),
        utility_ratio: utility.and_then(|u| u.ratio.auc.or(u.ratio.r2).or(u.ratio.accuracy)),
        validity: (!validity.columns.is_empty()).then_some(validity.mean),
        synthetic_copies: privacy.exact_copies.synthetic_share.unwrap_or(0.0),
        holdout_copies: privacy.exact_copies.holdout_share,
        text_copy_excess: privacy
            .text_copies
            .iter()
            .filter_map(|t| Some(t.synthetic_share? - t.holdout_share?))
            .max_by(f64::total_cmp),
        dcr_share: privacy.dcr.as_ref().and_then(|d| d.share_closer_to_training),
        membership_auc: privacy.membership.as_ref().map(|m| m.auc),
        attribute_risk: privacy
            .attribute_inference
            .as_ref()
            .and_then(|a| a.columns.iter().map(|c| c.risk).max_by(f64::total_cmp)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` rows of a small mixed table, shifted by `offset` so that tables differ.
    fn rows(n: usize, offset: usize) -> Table {
        let rows = (offset..offset + n)
            .map(|i| {
                let age = 20 + (i * 7) % 45;
                let job = ["clerk", "nurse", "farmer"][i % 3];
                let paid = if age > 40 { "high" } else { "low" };
                vec![age.to_string(), job.to_string(), paid.to_string()]
            })
            .collect();
        Table::new(vec!["age".into(), "job".into(), "paid".into()], rows).expect("table")
    }

    /// `table` with one more column, `name`, whose row `i` is `cell(i)`.
    fn with_column(table: &Table, name: &str, cell: impl Fn(usize) -> String) -> Table {
        let mut names = table.names().to_vec();
        names.push(name.into());
        let rows = table.rows().iter().enumerate().map(|(i, r)| {
            let mut row = r.clone();
            row.push(cell(i));
            row
        });
        Table::new(names, rows.collect()).expect("table")
    }

    /// `n` texts of 6 to 12 random words of 3 to 8 letters: free text, two draws of which
    /// share few character trigrams.
    fn free_text(n: usize, rng: &mut Rng) -> Vec<String> {
        let word = |rng: &mut Rng| -> String {
            (0..3 + rng.below(6)).map(|_| char::from(b'a' + rng.below(26) as u8)).collect()
        };
        (0..n)
            .map(|_| (0..6 + rng.below(7)).map(|_| word(rng)).collect::<Vec<_>>().join(" "))
            .collect()
    }

    #[test]
    fn copied_training_texts_cost_privacy() -> Result<()> {
        let mut rng = Rng::new(21, 0);
        let texts = free_text(1800, &mut rng);
        let table =
            |base: Table, notes: &[String]| with_column(&base, "note", |i| notes[i].clone());
        let real = table(rows(600, 0), &texts[..600]);
        let holdout = table(rows(600, 900), &texts[600..1200]);
        // The other columns resampled (another stretch of the same source); the texts copied
        // from random training rows, or fresh.
        let copied: Vec<String> = (0..600).map(|_| texts[rng.below(600)].clone()).collect();
        let build = |synthetic: &Table| {
            build_report(&real, synthetic, Some(&holdout), &Default::default(), &mut |_, _| {})
        };
        let copy = build(&table(rows(600, 2000), &copied))?;
        let fresh = build(&table(rows(600, 2000), &texts[1200..]))?;
        assert_eq!(copy.tables.text_columns, 1);
        let note = "column 'note' is free text: compared by length, words and characters, and in \
                    the privacy distances; correlations, principal components, the discriminator \
                    and utility leave it out";
        assert!(copy.warnings.iter().any(|w| w == note), "{:?}", copy.warnings);
        let shares = |r: &Report| {
            let t = &r.privacy.text_copies[0];
            (t.column.clone(), t.synthetic_share, t.holdout_share)
        };
        assert_eq!(shares(&copy), ("note".into(), Some(1.0), Some(0.0)));
        assert_eq!(shares(&fresh), ("note".into(), Some(0.0), Some(0.0)));
        // A copied text brings its training row closer whenever the rest of the row does not
        // push it away (same job and income class, a near age).
        let dcr = |r: &Report| {
            r.privacy.dcr.as_ref().and_then(|d| d.share_closer_to_training).expect("DCR share")
        };
        let (copy_dcr, fresh_dcr) = (dcr(&copy), dcr(&fresh));
        assert!(copy_dcr > fresh_dcr + 0.05, "DCR share {copy_dcr} (copies) vs {fresh_dcr}");
        let auc = |r: &Report| r.privacy.membership.as_ref().expect("membership").auc;
        assert!(auc(&copy) > auc(&fresh) + 0.05, "AUC {} vs {}", auc(&copy), auc(&fresh));
        let privacy = |r: &Report| r.scores.privacy.as_ref().expect("privacy score").value;
        let (copy_score, fresh_score) = (privacy(&copy), privacy(&fresh));
        assert!(copy_score < 10.0 && fresh_score > 70.0, "{copy_score} vs {fresh_score}");
        Ok(())
    }

    #[test]
    fn cell_contents_never_abort_the_report() -> Result<()> {
        // A ZIP column of plain numbers but for row 1,285's ZIP+4: categorical, not an error.
        let zip = |i: usize| (98000 + i % 50).to_string();
        let real = with_column(&rows(1500, 0), "zip", |i| {
            if i == 1284 {
                "98112-4729".into()
            } else {
                zip(i)
            }
        });
        let synthetic = with_column(&rows(300, 500), "zip", zip);
        let report = build_report(&real, &synthetic, None, &Default::default(), &mut |_, _| {})?;
        let kind = report.columns.iter().find(|c| c.name == "zip").map(|c| c.kind);
        assert_eq!(kind, Some(Kind::Categorical));
        // Words in a numeric column of the synthetic or holdout table are read as missing.
        let real = with_column(&rows(300, 0), "zip", zip);
        let words = |i: usize| if i % 10 == 0 { "unknown".to_string() } else { zip(i) };
        let synthetic = with_column(&rows(300, 500), "zip", words);
        let holdout = with_column(&rows(100, 900), "zip", words);
        let report =
            build_report(&real, &synthetic, Some(&holdout), &Default::default(), &mut |_, _| {})?;
        let kind = report.columns.iter().find(|c| c.name == "zip").map(|c| c.kind);
        assert_eq!(kind, Some(Kind::Numeric));
        let warning = "column 'zip' of the holdout table has 10 cell(s) that are not numbers";
        assert!(report.warnings.iter().any(|w| w.starts_with(warning)), "{:?}", report.warnings);
        Ok(())
    }

    #[test]
    fn progress_rises_to_done_and_defaults_fill_in() -> Result<()> {
        let (real, synthetic, holdout) = (rows(200, 0), rows(200, 500), rows(80, 900));
        let options = ReportOptions {
            target: Some("paid".into()),
            quasi_identifiers: vec!["age".into()],
            ..Default::default()
        };
        let mut seen: Vec<(String, f64)> = Vec::new();
        let report = build_report(&real, &synthetic, Some(&holdout), &options, &mut |s, f| {
            seen.push((s.to_string(), f))
        })?;
        assert!(seen.windows(2).all(|w| w[0].1 <= w[1].1), "{seen:?}");
        assert_eq!(seen.last().map(|s| (s.0.as_str(), s.1)), Some(("done", 1.0)));
        // Sensitive columns default to every column that is not a quasi-identifier.
        let attributes = report.privacy.attribute_inference.as_ref().expect("attributes");
        let columns: Vec<&str> = attributes.columns.iter().map(|c| c.column.as_str()).collect();
        assert_eq!(columns, ["job", "paid"]);
        assert!(report.utility.is_some() && report.scores.privacy.is_some());
        assert_eq!((report.format.as_str(), report.version), (FORMAT, VERSION));
        Ok(())
    }

    #[test]
    fn options_naming_bad_columns_are_errors() {
        let (real, synthetic) = (rows(50, 0), rows(50, 100));
        let both = ReportOptions {
            quasi_identifiers: vec!["age".into()],
            sensitive: vec!["age".into()],
            ..Default::default()
        };
        let message =
            build_report(&real, &synthetic, None, &both, &mut |_, _| {}).unwrap_err().to_string();
        assert!(message.contains("'age' is also a quasi-identifier"), "{message}");
        let none = ReportOptions { max_distance_rows: 0, ..Default::default() };
        let message =
            build_report(&real, &synthetic, None, &none, &mut |_, _| {}).unwrap_err().to_string();
        assert!(message.contains("max_distance_rows: must be at least 1"), "{message}");
        let unknown = ReportOptions { target: Some("wage".into()), ..Default::default() };
        let message = build_report(&real, &synthetic, None, &unknown, &mut |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(message.contains("no column 'wage'; the columns are age, job, paid"), "{message}");
        // Without a holdout: no privacy score, utility is left out with a warning.
        let target = ReportOptions { target: Some("paid".into()), ..Default::default() };
        let report = build_report(&real, &synthetic, None, &target, &mut |_, _| {}).unwrap();
        assert!(report.scores.privacy.is_none() && report.utility.is_none());
        assert!(report.warnings.iter().any(|w| w.contains("utility needs a holdout")));
    }

    #[test]
    fn stated_guarantees_are_checked_where_they_are_read() {
        for (json, needle) in [
            (r#"{"epsilon": -1, "delta": 5}"#, "model.epsilon must be"),
            (r#"{"epsilon": 1, "delta": 5}"#, "model.delta must be in [0, 1)"),
            (r#"{"epsilon": 1, "delta": -0.1}"#, "model.delta must be in [0, 1)"),
            (r#"{"epsilon": 1, "delta": 1}"#, "model.delta must be in [0, 1)"),
            (r#"{"epsilon": "nan", "delta": 1e-5}"#, "model.epsilon must be"),
            (r#"{"epsilon": "-inf", "delta": 1e-5}"#, "model.epsilon must be"),
            (r#"{"epsilon": null, "delta": 1e-5}"#, "model.epsilon must be"),
            (r#"{"epsilon": 1, "delta": 1e-5, "accountant": "moments"}"#, "model.accountant"),
            (r#"{"epsilon": 1, "delta": 1e-5, "unit": ""}"#, "model.unit"),
        ] {
            let message = match serde_json::from_str::<ModelPrivacy>(json) {
                Ok(m) => panic!("{json} accepted as {m:?}"),
                Err(e) => e.to_string(),
            };
            assert!(message.contains(needle), "{json}: {message}");
            // The same check holds inside the options (the browser's and the CLI's path).
            let options = format!(r#"{{"model": {json}}}"#);
            let message = match serde_json::from_str::<ReportOptions>(&options) {
                Ok(o) => panic!("{options} accepted as {o:?}"),
                Err(e) => e.to_string(),
            };
            assert!(message.contains(needle), "{options}: {message}");
        }
        // "inf" is no guarantee, read and written as such; finite values round-trip.
        let m: ModelPrivacy =
            serde_json::from_str(r#"{"epsilon": "inf", "delta": 1e-5, "accountant": "rdp"}"#)
                .expect("inf");
        assert_eq!(m.epsilon, f64::INFINITY);
        assert!(m.statement().contains("no differential-privacy guarantee"), "{}", m.statement());
        let json = serde_json::to_string(&m).expect("serialise");
        assert!(json.contains(r#""epsilon":"inf""#), "{json}");
        assert_eq!(serde_json::from_str::<ModelPrivacy>(&json).expect("back"), m);
        let m: ModelPrivacy =
            serde_json::from_str(r#"{"epsilon": 0.1, "delta": 0}"#).expect("pure DP");
        let back: ModelPrivacy =
            serde_json::from_str(&serde_json::to_string(&m).expect("json")).expect("back");
        assert_eq!(back.epsilon.to_bits(), 0.1f64.to_bits());
    }

    /// A table with a numeric column at the ends of the f64 range.
    fn huge(n: usize, offset: usize) -> Table {
        let rows = (offset..offset + n)
            .map(|i| {
                let x = match i % 4 {
                    0 => "1e308",
                    1 => "-1e308",
                    2 => "1.7976931348623157e308",
                    _ => "0",
                };
                let job = ["clerk", "nurse", "farmer"][i % 3];
                vec![x.to_string(), job.to_string(), (i % 7).to_string()]
            })
            .collect();
        Table::new(vec!["x".into(), "job".into(), "k".into()], rows).expect("table")
    }

    #[test]
    fn values_near_the_f64_limits_keep_every_figure_finite() -> Result<()> {
        let (real, synthetic, holdout) = (huge(200, 0), huge(200, 3), huge(80, 1));
        let options = ReportOptions { target: Some("job".into()), ..Default::default() };
        let report = build_report(&real, &synthetic, Some(&holdout), &options, &mut |_, _| {})?;
        let privacy = report.scores.privacy.as_ref().expect("privacy score");
        for score in [&report.scores.quality, privacy] {
            assert!(score.value.is_finite(), "{score:?}");
            for part in &score.components {
                assert!(part.value.is_finite(), "{part:?}");
                assert!(!part.explanation.contains("NaN"), "{part:?}");
            }
        }
        // No NaN anywhere: serde_json writes a non-finite number as null.
        let json = serde_json::to_string(&report).expect("json");
        let value: serde_json::Value = serde_json::from_str(&json).expect("value");
        assert!(value["scores"]["quality"]["value"].is_f64(), "{}", value["scores"]);
        // "NaN" is also one of the default missing-value tokens, listed in the page's JSON.
        let html = crate::html::render_html(&report).replace("\"NaN\"", "");
        let at = html.find("NaN").map(|i| &html[i.saturating_sub(300)..(i + 50).min(html.len())]);
        assert_eq!(at, None, "NaN in the HTML page");
        Ok(())
    }

    #[test]
    fn an_all_missing_synthetic_table_does_not_copy_training_rows() -> Result<()> {
        // Some training rows miss two of their three cells; the holdout rows miss none. An
        // all-missing synthetic row then sits "closer" to those training rows (missing equals
        // missing) than to any holdout row, although it reveals nothing about them.
        let mut real = rows(200, 0).rows().to_vec();
        for row in real.iter_mut().step_by(10) {
            row[0].clear();
            row[1].clear();
        }
        let real = Table::new(rows(1, 0).names().to_vec(), real)?;
        let holdout = rows(80, 900);
        let empty = vec![vec![String::new(); 3]; 200];
        let synthetic = Table::new(real.names().to_vec(), empty)?;
        let report =
            build_report(&real, &synthetic, Some(&holdout), &Default::default(), &mut |_, _| {})?;
        assert_eq!(report.privacy.exact_copies.synthetic_copies, 0);
        let privacy = report.scores.privacy.as_ref().expect("privacy score");
        assert!(!privacy.meaning.contains("reproduces training rows"), "{privacy:?}");
        Ok(())
    }

    #[test]
    fn a_target_the_synthetic_table_cannot_support_costs_only_utility() -> Result<()> {
        let (real, holdout) = (rows(200, 0), rows(80, 900));
        // Every synthetic 'paid' value is one the real table never has.
        let names = real.names().to_vec();
        let odd: Vec<Vec<String>> = rows(200, 500)
            .rows()
            .iter()
            .map(|r| vec![r[0].clone(), r[1].clone(), "unknown".into()])
            .collect();
        let synthetic = Table::new(names, odd)?;
        let options = ReportOptions { target: Some("paid".into()), ..Default::default() };
        let report = build_report(&real, &synthetic, Some(&holdout), &options, &mut |_, _| {})?;
        assert!(report.utility.is_none());
        assert!(
            report.warnings.iter().any(|w| w.starts_with("utility is left out")),
            "{:?}",
            report.warnings
        );
        assert!(report.scores.privacy.is_some());
        Ok(())
    }
}
