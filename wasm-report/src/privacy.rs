//! Privacy: how much a synthetic table gives away about the real rows it was trained on.
//!
//! The inputs are [`Frame`]s encoded against one [`Schema`]: `training` (the real rows the
//! generator saw), `synthetic`, and optionally `holdout` (real rows from the same source that
//! the generator did not see). The holdout is the yardstick: a generator that learned the
//! distribution, not the rows, makes data no closer to the training rows than to the holdout
//! rows (Platzer & Reutterer 2021, "Holdout-based fidelity and privacy assessment of mixed-type
//! synthetic data").
//!
//! # Exact copies ([`ExactCopies`])
//!
//! `synthetic_share`: the share of **all** synthetic rows identical to some training row, every
//! kept column equal, text columns included (numbers by bit pattern with -0.0 read as 0.0;
//! texts character for character; missing equals missing).
//! `holdout_share`: the same for holdout rows, the baseline of how often two independent real
//! rows coincide (Adult has duplicate rows, so it is not 0). A row whose kept cells are all
//! missing holds no value of anyone and is never counted as a copy.
//!
//! # Text copies ([`TextCopies`])
//!
//! Per text column, the share of the synthetic column's present texts equal to some training
//! text, and the same share for the holdout's texts as the baseline. Free text often names
//! people, so a copied text leaks even when the rest of its row is resampled and the row is no
//! exact copy.
//!
//! # Rows with no value
//!
//! A synthetic row whose kept cells are all missing reveals nothing about any record, yet in
//! the distance below (missing equals missing) it sits next to the training rows with the most
//! missing cells: a table of such rows would look like a copy of those rows. These rows are
//! left out of the distance metrics and the attacks (counted in
//! [`SampledRows::synthetic_all_missing`]); the samples below are drawn from the others.
//!
//! # Distance
//!
//! The distance between rows `a` and `b` is the mean over the kept columns of
//! - numeric: `|F(a) - F(b)|`, where `F(x)` is the training column's empirical CDF, the share of
//!   present training values `<= x` (so each column counts in ranks, in `[0, 1]`);
//! - categorical: 0 if the levels are equal, else 1;
//! - text: the share of the `SLOTS` = 16 MinHash slots of the two texts' character-trigram sets
//!   that differ, an unbiased estimate of `1 -` their Jaccard similarity (exactly 0 for equal
//!   texts; see `minhash.rs`), so that a copied text counts like a matching category and an
//!   unrelated one like a mismatch;
//! - any kind: 0 if both cells are missing, 1 if only one is.
//!
//! It is Gower's (1971) distance with ranks in place of range scaling, and lies in `[0, 1]`.
//! Columns left out of the report (row numbers, columns the options skip) are left out here.
//!
//! # Samples ([`SampledRows`])
//!
//! Distances use samples drawn without replacement from `rng`, in this order: `m` training rows,
//! `m` holdout rows, then `a = min(ATTACKER_ROWS_FACTOR * max_rows, |synthetic|)` synthetic
//! rows (the attacker's synthetic data, searched by the membership and attribute attacks), and
//! among those `s = min(max_rows, a)` (the DCR's queries), where
//! `m = min(max_rows, |training|, |holdout|)` (equal sizes, so that a synthetic row that is
//! equally close to both sets is closer to training half the time) or, without a holdout,
//! `m = min(max_rows, |training|)`. Note the consequence: when `|training| > m`, even a synthetic
//! table that copies the training table scores a DCR share of only about `0.5 + 0.5 m/|training|`
//! and a membership AUC of about `0.5 + 0.5 a/|synthetic|`: exact copies catch that case.
//!
//! # Distance to closest record ([`Dcr`])
//!
//! For each sampled synthetic row, the distance to its nearest sampled training row
//! (summarised in `training` by mean and quantiles, see [`Distribution`]) and to its nearest
//! sampled holdout row (`holdout`). `share_closer_to_training` is the share of synthetic rows
//! strictly closer to training than to holdout, ties counting one half: 0.5 is ideal, 1 means
//! every row sits on top of a training row. `histogram` counts both distance lists in
//! [`HISTOGRAM_BINS`] shared bins for the report's chart.
//!
//! # Nearest-neighbour distance ratio (`nndr`)
//!
//! For each sampled synthetic row, `d1 / d2` with `d1 <= d2` the distances to its nearest and
//! second-nearest sampled training rows, and `0` when `d2 = 0` (the row copies a record that
//! occurs twice: still a copy). Values near 0 single out one training record; needs two
//! training rows.
//!
//! # Membership inference ([`MembershipInference`])
//!
//! The attacker holds the `a` sampled synthetic rows and scores a real row by minus its distance to
//! the nearest of them (closer means "member"; Hilprecht, Härterich & Bernau 2019). Members are
//! the `m` sampled training rows, non-members the `m` sampled holdout rows; `auc` is the
//! area under the ROC curve of that score ([`roc_auc`]): 0.5 means no leak, 1 a perfect attack.
//!
//! # Attribute inference ([`AttributeInference`])
//!
//! With declared quasi-identifiers (QIs), the attacker knows a real row's QIs and looks up the
//! synthetic row (of the `a` sampled) nearest to it by the distance restricted to the QI columns (ties: the
//! first in table order), and guesses that row's value of a sensitive column. A guess succeeds
//! when it equals the true value (missing equals missing); for a numeric column, when both
//! fall in the same real-decile bin: cut points `sorted[ceil(k n / 10) - 1]` of the present
//! training values for `k = 1..10`, without repeats, bin `i` holding `(cut[i-1], cut[i]]`, and
//! missing a bin of its own. Per sensitive column (QIs excluded; an empty `sensitive` list means
//! every other kept column): `training_success` over the sampled training rows,
//! `holdout_success` over the sampled holdout rows, `baseline` the success of always guessing
//! the training column's most common value (bin, missing included; ties: the smallest code) on
//! the sampled training rows, and `risk = max(0, training_success - max(holdout_success,
//! baseline))`, the success the attack owes to the training rows themselves rather than to
//! what any real row or the marginal would tell (after Giomi et al. 2023, "A unified framework
//! for quantifying privacy risk in synthetic data", Anonymeter).
//!
//! # Speed
//!
//! Cells are turned once into `f32` coordinates whose per-coordinate distance is
//! `min(|a - b|, cap)`: ranks for numbers (missing -2), level codes for categories (missing
//! -1), since distinct integer codes differ by at least 1, both with cap 1; a text column
//! becomes `SLOTS` coordinates, its MinHash slots (23-bit integers) divided by `SLOTS`, with
//! cap `1 / SLOTS` (missing -1), so that its slots together weigh as one column. A text's
//! signature is computed once per distinct text met in the samples (one splitmix64 and
//! `SLOTS` multiply-add-shift-minimum steps per character). A query row meets the candidate rows
//! sixteen at a time, stored column by column so that each column is a few vector operations
//! across the sixteen, and with the columns ordered by how often two random training rows
//! differ, the search for nearest rows abandons the sixteen after every second column once all
//! their partial sums reach the best (or second-best) distance found so far (early
//! abandoning, as in Rakthanmanon et al. 2012, the UCR suite). Level codes are exact in `f32`
//! below 2^24 levels.
//!
//! Work: a pair of rows costs 4 FLOPs per coordinate compared (subtract, absolute value,
//! minimum, add), so a text column costs as much as `SLOTS` = 16 other columns where the
//! search does not abandon the pair first. With `m = s = 5000` and `a = 20000` the searches
//! meet 50M pairs for the DCR (synthetic against training and holdout), 200M for membership
//! (real against synthetic) and 200M for attribute inference (real against synthetic, QI
//! columns only): on Adult's 15 columns at most 27 GFLOP (each text column adds at most 16
//! GFLOP to the first two), but most groups are abandoned after 2 to 4 columns (about 8
//! instructions per pair, counted with callgrind on x86-64). Signatures cost about
//! `(10 + 4 SLOTS)` = 74 integer operations per character of each distinct sampled text: 30,000
//! texts of 200 characters, 0.44 G.
//!
//! # JSON
//!
//! ```text
//! { "exact_copies": { "synthetic_copies", "synthetic_share", "holdout_copies", "holdout_share" },
//!   "text_copies": [{ "column", "synthetic_share", "holdout_share" }],
//!   "sampled": { "training", "holdout", "synthetic" },
//!   "dcr": { "training": D, "holdout": D, "share_closer_to_training",
//!            "histogram": { "edges", "training", "holdout" } },
//!   "nndr": D,
//!   "membership": { "auc", "members", "non_members" },
//!   "attribute_inference": { "quasi_identifiers": [name],
//!     "columns": [{ "column", "kind", "training_success", "holdout_success", "baseline", "risk" }] } }
//! D = { "mean", "q05", "q25", "q50", "q75", "q95" }
//! ```
//!
//! Every share, distance and AUC is in `[0, 1]`; what cannot be computed is `null`.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::{Frame, Kind, Schema, Values, MISSING};
use crate::learn::roc_auc;
use crate::minhash::{signature, SLOTS};
use crate::sample::{sample_indices, Rng};

/// The default [`PrivacyOptions::max_rows`].
pub const DEFAULT_MAX_ROWS: usize = 5000;

/// Bins of [`DcrHistogram`].
pub const HISTOGRAM_BINS: usize = 20;

/// Quantile bins of a numeric sensitive column (deciles).
const SENSITIVE_BINS: usize = 10;

/// Coordinate of a missing number: at least 2 from every rank in `[0, 1]`.
const MISSING_RANK: f32 = -2.0;

/// Coordinate of a missing level: at least 1 from every code `>= 0`.
const MISSING_CODE: f32 = -1.0;

/// Which rows and columns the privacy metrics use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrivacyOptions {
    /// Rows sampled per table for the distance metrics (default [`DEFAULT_MAX_ROWS`]).
    pub max_rows: usize,
    /// Schema column indices an attacker is assumed to know; attribute inference runs only
    /// when there is at least one.
    pub quasi_identifiers: Vec<usize>,
    /// Schema column indices to infer; empty means every kept column that is not a QI.
    pub sensitive: Vec<usize>,
}

impl Default for PrivacyOptions {
    fn default() -> Self {
        PrivacyOptions {
            max_rows: DEFAULT_MAX_ROWS,
            quasi_identifiers: Vec::new(),
            sensitive: Vec::new(),
        }
    }
}

impl PrivacyOptions {
    /// Checks the options against `schema`: `max_rows >= 1`, column indices in range, and no
    /// column both a QI and sensitive. [`privacy`] itself ignores indices out of range.
    pub fn check(&self, schema: &Schema) -> Result<()> {
        let bad = |option: &str, problem: String| {
            Err(Error::BadOption { option: option.into(), problem })
        };
        if self.max_rows == 0 {
            return bad("max_rows", "must be at least 1".into());
        }
        let columns = schema.columns.len();
        for (option, list) in
            [("quasi_identifiers", &self.quasi_identifiers), ("sensitive", &self.sensitive)]
        {
            if let Some(c) = list.iter().find(|&&c| c >= columns) {
                return bad(option, format!("column {c} does not exist; there are {columns}"));
            }
        }
        if let Some(c) = self.sensitive.iter().find(|c| self.quasi_identifiers.contains(c)) {
            let name = &schema.columns[*c].name;
            return bad("sensitive", format!("column '{name}' is also a quasi-identifier"));
        }
        Ok(())
    }
}

/// The privacy metrics (see the module documentation for each definition).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Privacy {
    /// Rows copied from the training table.
    pub exact_copies: ExactCopies,
    /// Per text column, texts copied from the training table.
    #[serde(default)]
    pub text_copies: Vec<TextCopies>,
    /// Rows sampled for the distance metrics.
    pub sampled: SampledRows,
    /// Distances to the closest record; `None` without training or synthetic rows or columns.
    pub dcr: Option<Dcr>,
    /// Nearest-neighbour distance ratios; `None` with fewer than two sampled training rows.
    pub nndr: Option<Distribution>,
    /// The distance-based membership attack; `None` without a holdout.
    pub membership: Option<MembershipInference>,
    /// The nearest-row attribute attack; `None` without quasi-identifiers.
    pub attribute_inference: Option<AttributeInference>,
}

/// Rows identical to a training row, over all rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactCopies {
    /// Synthetic rows identical to some training row.
    pub synthetic_copies: usize,
    /// `synthetic_copies` over all synthetic rows; `None` without synthetic rows.
    pub synthetic_share: Option<f64>,
    /// Holdout rows identical to some training row; `None` without a holdout.
    pub holdout_copies: Option<usize>,
    /// `holdout_copies` over all holdout rows; `None` without a holdout.
    pub holdout_share: Option<f64>,
}

/// Texts of one text column that equal a training text, over its present cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextCopies {
    /// Column name.
    pub column: String,
    /// Share of the synthetic column's present texts equal to some training text; `None`
    /// when every synthetic text is missing.
    pub synthetic_share: Option<f64>,
    /// The same share for the holdout's texts (the baseline: real texts repeat too); `None`
    /// without a holdout or without a present holdout text.
    pub holdout_share: Option<f64>,
}

/// Sample sizes behind the distance metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampledRows {
    /// Training rows (`m`).
    pub training: usize,
    /// Holdout rows (`m`, or 0 without a holdout).
    pub holdout: usize,
    /// Synthetic rows whose closest records are measured (`s`).
    pub synthetic: usize,
    /// Synthetic rows the membership and attribute attacks search (`a`).
    #[serde(default)]
    pub synthetic_searched: usize,
    /// Synthetic rows left out of the distance metrics because every kept cell is missing.
    #[serde(default)]
    pub synthetic_all_missing: usize,
}

/// The attacks search this many times `max_rows` synthetic rows: an attacker holds all the
/// synthetic data, and a small sample would hide a memorised row from them.
pub const ATTACKER_ROWS_FACTOR: usize = 4;

/// Mean and quantiles of a list of values; quantiles interpolate linearly between order
/// statistics (Hyndman & Fan 1996, type 7, numpy's default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Arithmetic mean.
    pub mean: f64,
    /// 5th percentile.
    pub q05: f64,
    /// 25th percentile.
    pub q25: f64,
    /// Median.
    pub q50: f64,
    /// 75th percentile.
    pub q75: f64,
    /// 95th percentile.
    pub q95: f64,
}

/// Distances from sampled synthetic rows to their closest sampled real rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dcr {
    /// Distance to the nearest training row.
    pub training: Distribution,
    /// Distance to the nearest holdout row; `None` without a holdout.
    pub holdout: Option<Distribution>,
    /// Share of synthetic rows strictly closer to training than to holdout, ties as one half
    /// (0.5 ideal); `None` without a holdout.
    pub share_closer_to_training: Option<f64>,
    /// Both distance lists binned for a chart.
    pub histogram: DcrHistogram,
}

/// Counts of the two DCR lists in [`HISTOGRAM_BINS`] equal bins over `[0, largest distance]`
/// (`[0, 1]` when every distance is 0). Bin `i` holds `[edges[i], edges[i+1])`, the last bin
/// also its upper edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DcrHistogram {
    /// `HISTOGRAM_BINS + 1` increasing edges.
    pub edges: Vec<f64>,
    /// Synthetic rows per bin by distance to training.
    pub training: Vec<usize>,
    /// Synthetic rows per bin by distance to holdout; `None` without a holdout.
    pub holdout: Option<Vec<usize>>,
}

/// The distance-based membership inference attack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MembershipInference {
    /// ROC AUC of telling members from non-members (0.5 = no leak).
    pub auc: f64,
    /// Members scored (sampled training rows).
    pub members: usize,
    /// Non-members scored (sampled holdout rows).
    pub non_members: usize,
}

/// The nearest-row attribute inference attack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributeInference {
    /// Names of the quasi-identifier columns.
    pub quasi_identifiers: Vec<String>,
    /// One result per sensitive column, in schema order.
    pub columns: Vec<AttributeRisk>,
}

/// Attribute inference on one sensitive column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributeRisk {
    /// Column name.
    pub column: String,
    /// Its kind; numeric columns are judged by real-decile bin.
    pub kind: Kind,
    /// Share of sampled training rows guessed right.
    pub training_success: f64,
    /// Share of sampled holdout rows guessed right; `None` without a holdout.
    pub holdout_success: Option<f64>,
    /// Share of sampled training rows equal to the training's most common value (bin).
    pub baseline: f64,
    /// `max(0, training_success - max(holdout_success, baseline))`.
    pub risk: f64,
}

/// Computes every privacy metric (see the module documentation). `holdout` with no rows counts
/// as no holdout; QI and sensitive indices out of range are ignored (see
/// [`PrivacyOptions::check`]).
pub fn privacy(
    schema: &Schema,
    training: &Frame,
    synthetic: &Frame,
    holdout: Option<&Frame>,
    options: &PrivacyOptions,
    rng: &mut Rng,
) -> Privacy {
    let holdout = holdout.filter(|h| h.rows > 0);
    let exact_copies = exact_copies(training, synthetic, holdout);
    let text_copies = text_copies(schema, synthetic, holdout);
    let max_rows = options.max_rows;
    let m = holdout.map_or(training.rows, |h| h.rows.min(training.rows)).min(max_rows);
    let train_rows = sample_indices(training.rows, m, rng);
    let hold_rows = holdout.map(|h| sample_indices(h.rows, m, rng));
    // Rows with a value (see "Rows with no value"); with none missing, the draws are the same
    // as from all rows.
    let informative: Vec<usize> =
        (0..synthetic.rows).filter(|&r| !all_missing(synthetic, r)).collect();
    let searched = (ATTACKER_ROWS_FACTOR * max_rows).min(informative.len());
    let attacker_rows: Vec<usize> = sample_indices(informative.len(), searched, rng)
        .into_iter()
        .map(|i| informative[i])
        .collect();
    let synth_rows: Vec<usize> = sample_indices(attacker_rows.len(), max_rows, rng)
        .into_iter()
        .map(|i| attacker_rows[i])
        .collect();
    let sampled = SampledRows {
        training: train_rows.len(),
        holdout: hold_rows.as_ref().map_or(0, Vec::len),
        synthetic: synth_rows.len(),
        synthetic_searched: attacker_rows.len(),
        synthetic_all_missing: synthetic.rows - informative.len(),
    };
    let mut result = Privacy {
        exact_copies,
        text_copies,
        sampled,
        dcr: None,
        nndr: None,
        membership: None,
        attribute_inference: None,
    };
    let compared = training.columns.len() + training.texts.len();
    if compared == 0 || train_rows.is_empty() || synth_rows.is_empty() {
        return result;
    }
    let mut coder = Coder::new(schema, training);
    let training = Sample::new(&mut coder, training, train_rows);
    let queries = Sample::new(&mut coder, synthetic, synth_rows);
    let attacker = Sample::new(&mut coder, synthetic, attacker_rows);
    let holdout = holdout.zip(hold_rows).map(|(h, rows)| Sample::new(&mut coder, h, rows));
    let order = mismatch_order(&training.coords, &coder.caps);
    let space = Space { order: &order, caps: &coder.caps, compared };
    distance_metrics(&mut result, &training, holdout.as_ref(), &queries, &attacker, &space);
    let qis: Vec<usize> =
        order.iter().copied().filter(|c| options.quasi_identifiers.contains(c)).collect();
    if !qis.is_empty() {
        let (t, s) = (training.rows(&qis, &coder.caps), attacker.rows(&qis, &coder.caps));
        let h = holdout.as_ref().map(|h| h.rows(&qis, &coder.caps));
        result.attribute_inference = Some(attribute_inference(schema, &t, h.as_ref(), &s, options));
    }
    result
}

/// Sampled rows of one table and their coordinates.
struct Sample<'a> {
    frame: &'a Frame,
    rows: Vec<usize>,
    /// One vector per schema column.
    coords: Vec<Vec<f32>>,
}

impl<'a> Sample<'a> {
    fn new(coder: &mut Coder, frame: &'a Frame, rows: Vec<usize>) -> Sample<'a> {
        Sample { frame, coords: coder.code(frame, &rows), rows }
    }

    /// The sampled rows as searchable points over the coordinates `order`.
    fn rows(&self, order: &[usize], caps: &[f32]) -> Rows<'_> {
        let points = Points::gather(&self.coords, order, caps);
        Rows { frame: self.frame, rows: &self.rows, points }
    }
}

/// The coordinates compared, in the order they are summed, with each one's cap (see
/// [`Coder`]), and how many columns they stand for (the distance's divisor).
struct Space<'a> {
    order: &'a [usize],
    caps: &'a [f32],
    compared: usize,
}

/// Fills in the DCR and NNDR results (for the `queries` rows) and the membership result (the
/// attacker searching `attacker`), with coordinates compared as `space` says.
fn distance_metrics(
    result: &mut Privacy,
    training: &Sample,
    holdout: Option<&Sample>,
    queries: &Sample,
    attacker: &Sample,
    space: &Space,
) {
    let gather = |s: &Sample| Points::gather(&s.coords, space.order, space.caps);
    let (training, queries, attacker) = (gather(training), gather(queries), gather(attacker));
    let holdout = holdout.map(gather);
    let (dcr, nndr) = closest_records(&queries, &training, holdout.as_ref(), space.compared);
    result.dcr = Some(dcr);
    result.nndr = nndr;
    result.membership = holdout.as_ref().and_then(|h| membership(&attacker, &training, h));
}

// ---------------------------------------------------------------------------------------------
// Exact copies

/// A cell as 64 bits that are equal exactly when the cells are: numbers by bit pattern (-0.0
/// as 0.0, every NaN as one NaN), level codes as they are.
fn cell_key(values: &Values, row: usize) -> u64 {
    match values {
        Values::Numeric(v) if v[row].is_nan() => f64::NAN.to_bits(),
        Values::Numeric(v) if v[row] == 0.0 => 0.0f64.to_bits(),
        Values::Numeric(v) => v[row].to_bits(),
        Values::Categorical(v) => u64::from(v[row]),
    }
}

/// A row as the keys of its cells, text codes included (equal codes are equal texts).
fn row_key(frame: &Frame, row: usize) -> Vec<u64> {
    let texts = frame.texts.iter().map(|t| u64::from(t[row]));
    frame.columns.iter().map(|v| cell_key(v, row)).chain(texts).collect()
}

/// Counts every row of `frame` identical to one in `known`, but for rows with no value.
fn copies(known: &HashSet<Vec<u64>>, frame: &Frame) -> usize {
    (0..frame.rows)
        .filter(|&r| !all_missing(frame, r) && known.contains(&row_key(frame, r)))
        .count()
}

/// Whether every kept cell of `row` is missing (the row holds no value of anyone).
fn all_missing(frame: &Frame, row: usize) -> bool {
    frame.columns.iter().all(|values| match values {
        Values::Numeric(v) => v[row].is_nan(),
        Values::Categorical(v) => v[row] == MISSING,
    }) && frame.texts.iter().all(|t| t[row] == MISSING)
}

fn exact_copies(training: &Frame, synthetic: &Frame, holdout: Option<&Frame>) -> ExactCopies {
    let known: HashSet<Vec<u64>> = (0..training.rows).map(|r| row_key(training, r)).collect();
    let share = |count: usize, rows: usize| (rows > 0).then(|| count as f64 / rows as f64);
    let synthetic_copies = copies(&known, synthetic);
    let holdout_copies = holdout.map(|h| copies(&known, h));
    ExactCopies {
        synthetic_copies,
        synthetic_share: share(synthetic_copies, synthetic.rows),
        holdout_copies,
        holdout_share: holdout.zip(holdout_copies).and_then(|(h, c)| share(c, h.rows)),
    }
}

/// Per text column, the share of present texts that occur in the training table: those whose
/// code is one of the schema's real levels, which come first.
fn text_copies(schema: &Schema, synthetic: &Frame, holdout: Option<&Frame>) -> Vec<TextCopies> {
    let share = |frame: &Frame, t: usize| -> Option<f64> {
        let codes = frame.texts.get(t)?;
        let present = codes.iter().filter(|&&c| c != MISSING).count();
        let real = schema.texts[t].real_levels;
        let copied = codes.iter().filter(|&&c| c != MISSING && (c as usize) < real).count();
        (present > 0).then(|| copied as f64 / present as f64)
    };
    let texts = schema.texts.iter().enumerate();
    texts
        .map(|(t, spec)| TextCopies {
            column: spec.name.clone(),
            synthetic_share: share(synthetic, t),
            holdout_share: holdout.and_then(|h| share(h, t)),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Coordinates

/// How one column's cells become coordinates.
enum Axis {
    /// Numbers: the rank `F(x)` among these sorted, present training values.
    Rank(Vec<f64>),
    /// Level codes as they are.
    Code,
    /// Text column `t` of the schema: [`SLOTS`] coordinates, its MinHash slots.
    Text(usize),
}

/// Turns cells into coordinates (see "Speed" in the module documentation): one per numeric or
/// categorical column, then [`SLOTS`] per text column, each text coordinate with the cap
/// `1 / SLOTS` so that a text column adds at most 1 to a distance, as any other does.
struct Coder<'a> {
    schema: &'a Schema,
    axes: Vec<Axis>,
    /// The largest gap of each coordinate.
    caps: Vec<f32>,
    /// Per text column, the scaled slots of each text code met so far (computed once).
    signatures: Vec<HashMap<u32, [f32; SLOTS]>>,
}

impl<'a> Coder<'a> {
    fn new(schema: &'a Schema, training: &Frame) -> Coder<'a> {
        let mut axes: Vec<Axis> = training
            .columns
            .iter()
            .map(|values| match values {
                Values::Numeric(v) => {
                    let mut present: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
                    present.sort_unstable_by(f64::total_cmp);
                    Axis::Rank(present)
                }
                Values::Categorical(_) => Axis::Code,
            })
            .collect();
        let texts = training.texts.len().min(schema.texts.len());
        let mut caps = vec![1.0; axes.len()];
        caps.resize(axes.len() + texts * SLOTS, 1.0 / SLOTS as f32);
        axes.extend((0..texts).map(Axis::Text));
        Coder { schema, axes, caps, signatures: vec![HashMap::new(); texts] }
    }

    /// The coordinates of `rows` of `frame`, one vector per coordinate. A column whose kind
    /// differs from the training column's (a frame from another schema) reads as missing.
    fn code(&mut self, frame: &Frame, rows: &[usize]) -> Vec<Vec<f32>> {
        let mut coords = Vec::with_capacity(self.caps.len());
        for (c, axis) in self.axes.iter().enumerate() {
            let values = frame.columns.get(c);
            match (axis, values) {
                (Axis::Rank(sorted), Some(Values::Numeric(v))) => {
                    let n = sorted.len().max(1) as f64;
                    let rank = |x: f64| (sorted.partition_point(|&t| t <= x) as f64 / n) as f32;
                    coords.push(
                        rows.iter()
                            .map(|&r| if v[r].is_nan() { MISSING_RANK } else { rank(v[r]) })
                            .collect(),
                    );
                }
                (Axis::Code, Some(Values::Categorical(v))) => coords.push(
                    rows.iter()
                        .map(|&r| if v[r] == MISSING { MISSING_CODE } else { v[r] as f32 })
                        .collect(),
                ),
                (Axis::Rank(_), _) => coords.push(vec![MISSING_RANK; rows.len()]),
                (Axis::Code, _) => coords.push(vec![MISSING_CODE; rows.len()]),
                (Axis::Text(t), _) => {
                    let codes = frame.texts.get(*t);
                    let levels = &self.schema.texts[*t].levels;
                    let cache = &mut self.signatures[*t];
                    let mut slots: Vec<Vec<f32>> =
                        (0..SLOTS).map(|_| Vec::with_capacity(rows.len())).collect();
                    for &r in rows {
                        let code = codes.map_or(MISSING, |v| v[r]);
                        let scaled = match levels.get(code as usize) {
                            None => [MISSING_CODE; SLOTS],
                            Some(text) => *cache.entry(code).or_insert_with(|| {
                                signature(text).map(|h| h as f32 / SLOTS as f32)
                            }),
                        };
                        slots.iter_mut().zip(scaled).for_each(|(s, x)| s.push(x));
                    }
                    coords.extend(slots);
                }
            }
        }
        coords
    }
}

/// One coordinate's distance between two points: `min(|a - b|, cap)`.
#[inline(always)]
fn gap(a: f32, b: f32, cap: f32) -> f32 {
    lesser((a - b).abs(), cap)
}

/// The lesser of two non-negative numbers (never NaN here). On wasm32, non-negative floats
/// order as their bit patterns, and the integer minimum is one vector instruction
/// (`i32x4.min_u`) where LLVM splits a float compare-and-select into lanes and `f32::min` is
/// a call; elsewhere the compare-and-select compiles to `minps`.
#[inline(always)]
fn lesser(x: f32, y: f32) -> f32 {
    if cfg!(target_arch = "wasm32") {
        f32::from_bits(x.to_bits().min(y.to_bits()))
    } else if x < y {
        x
    } else {
        y
    }
}

/// Coordinate indices ordered by the mean distance between training rows `i` and `i + m/2`
/// (mod `m`), largest first, so that early abandoning sees the columns that differ most first.
fn mismatch_order(training: &[Vec<f32>], caps: &[f32]) -> Vec<usize> {
    let spread: Vec<f64> = training
        .iter()
        .zip(caps)
        .map(|(x, &cap)| {
            let m = x.len();
            let sum: f64 = (0..m).map(|i| f64::from(gap(x[i], x[(i + m / 2) % m], cap))).sum();
            sum / m.max(1) as f64
        })
        .collect();
    let mut order: Vec<usize> = (0..training.len()).collect();
    order.sort_by(|&a, &b| spread[b].total_cmp(&spread[a]));
    order
}

/// Rows of coordinates, twice: row by row (as queries) and in groups of [`GROUP`] rows stored
/// column by column (as candidates), so that one query meets a group's column in one vector
/// operation. The last group is padded with far-away rows, never reported.
struct Points {
    columns: usize,
    rows: usize,
    /// Each column's cap (its largest gap), in column order.
    caps: Vec<f32>,
    /// `rows x columns`, row-major.
    data: Vec<f32>,
    /// `ceil(rows / GROUP) x columns x GROUP`.
    groups: Vec<f32>,
}

impl Points {
    /// The rows of column-major `coords`, keeping the columns `order` in that order, with
    /// the caps `caps[c]` of each column `c`.
    fn gather(coords: &[Vec<f32>], order: &[usize], caps: &[f32]) -> Points {
        let rows = order.first().map_or(0, |&c| coords[c].len());
        let columns = order.len();
        let mut data = vec![0.0f32; rows * columns];
        let mut groups = vec![PADDING; rows.div_ceil(GROUP) * columns * GROUP];
        for (k, &c) in order.iter().enumerate() {
            for (i, &x) in coords[c].iter().enumerate() {
                data[i * columns + k] = x;
                groups[(i / GROUP * columns + k) * GROUP + i % GROUP] = x;
            }
        }
        let caps = order.iter().map(|&c| caps[c]).collect();
        Points { columns, rows, caps, data, groups }
    }

    /// The rows as queries (`columns > 0`).
    fn iter(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.columns)
    }

    /// Calls `visit(row, distance)` in row order for every row of a group whose distances
    /// to `query` may fall below `bound()`; rows of a group found entirely at or beyond the
    /// bound after some columns are skipped. `visit` returns
    /// whether to stop.
    #[inline(always)]
    fn scan(
        &self,
        query: &[f32],
        mut bound: impl FnMut() -> f32,
        mut visit: impl FnMut(usize, f32) -> bool,
    ) {
        for (g, group) in self.groups.chunks_exact(self.columns * GROUP).enumerate() {
            let Some(sums) = group_sums(query, group, &self.caps, bound()) else { continue };
            let real = (self.rows - g * GROUP).min(GROUP);
            for (l, &d) in sums[..real].iter().enumerate() {
                if visit(g * GROUP + l, d) {
                    return;
                }
            }
        }
    }
}

/// Rows compared with a query at once (four 4-wide vectors, which keep the vector units busy).
const GROUP: usize = 16;

/// Columns summed between two checks of the bound.
const CHECK: usize = 2;

/// Coordinate of the rows padding the last group: at least 1 from every other coordinate.
const PADDING: f32 = 1e30;

/// The summed distances from `query` to a group's [`GROUP`] rows, column by column in one
/// order for every pair (so equal distances tie exactly), each column's gap capped by its
/// entry of `caps`; `None` as soon as, after a multiple of [`CHECK`] columns, every partial
/// sum is at least `bound`. FLOPs: 4 per column and row.
#[inline(always)]
fn group_sums(query: &[f32], group: &[f32], caps: &[f32], bound: f32) -> Option<[f32; GROUP]> {
    let mut sums = [0.0f32; GROUP];
    let columns = query.iter().zip(group.chunks_exact(GROUP)).zip(caps);
    for (k, ((&q, column), &cap)) in columns.enumerate() {
        for (s, &x) in sums.iter_mut().zip(column) {
            *s += gap(q, x, cap);
        }
        if k % CHECK == CHECK - 1 && smallest(&sums) >= bound {
            return None;
        }
    }
    Some(sums)
}

/// The smallest of a group's (non-negative) sums, as a tree of lane-wise minima that
/// vectorises.
#[inline(always)]
fn smallest(sums: &[f32; GROUP]) -> f32 {
    let mut m = *sums;
    let mut width = GROUP;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            m[i] = lesser(m[i], m[i + width]);
        }
    }
    m[0]
}

/// The summed distance from `query` to its nearest row of `set`, and that row (the first on
/// ties); `(inf, 0)` for an empty set.
fn nearest(query: &[f32], set: &Points) -> (f32, usize) {
    let (mut best, mut index) = (f32::INFINITY, 0);
    let best_cell = std::cell::Cell::new(best);
    set.scan(
        query,
        || best_cell.get(),
        |j, d| {
            if d < best {
                (best, index) = (d, j);
                best_cell.set(d);
            }
            best == 0.0
        },
    );
    (best, index)
}

/// The summed distances from `query` to its nearest and second-nearest rows of `set`
/// (infinite where `set` has too few rows).
fn nearest_two(query: &[f32], set: &Points) -> (f32, f32) {
    let (mut first, mut second) = (f32::INFINITY, f32::INFINITY);
    let second_cell = std::cell::Cell::new(second);
    set.scan(
        query,
        || second_cell.get(),
        |_, d| {
            if d < first {
                (first, second) = (d, first);
            } else if d < second {
                second = d;
            }
            second_cell.set(second);
            second == 0.0
        },
    );
    (first, second)
}

// ---------------------------------------------------------------------------------------------
// Distance to closest record, NNDR, membership

/// Type-7 quantile of sorted, non-empty values.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Mean and quantiles; `None` for no values.
fn distribution(values: &[f64]) -> Option<Distribution> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let q = |p| quantile(&sorted, p);
    Some(Distribution {
        mean: values.iter().sum::<f64>() / values.len() as f64,
        q05: q(0.05),
        q25: q(0.25),
        q50: q(0.5),
        q75: q(0.75),
        q95: q(0.95),
    })
}

/// Counts non-negative `values` into [`HISTOGRAM_BINS`] bins of width `upper / bins`.
fn counts(values: &[f64], upper: f64) -> Vec<usize> {
    let mut counts = vec![0; HISTOGRAM_BINS];
    for &x in values {
        counts[((x / upper * HISTOGRAM_BINS as f64) as usize).min(HISTOGRAM_BINS - 1)] += 1;
    }
    counts
}

fn histogram(training: &[f64], holdout: Option<&[f64]>) -> DcrHistogram {
    let largest = training.iter().chain(holdout.unwrap_or_default()).fold(0.0f64, |a, &b| a.max(b));
    let upper = if largest > 0.0 { largest } else { 1.0 };
    DcrHistogram {
        edges: (0..=HISTOGRAM_BINS).map(|i| upper * i as f64 / HISTOGRAM_BINS as f64).collect(),
        training: counts(training, upper),
        holdout: holdout.map(|h| counts(h, upper)),
    }
}

/// DCR and NNDR of every row of `synth` against `training` and `holdout`; distances are sums
/// over `columns` columns (a text column's slots together count as one) until divided here.
fn closest_records(
    synth: &Points,
    training: &Points,
    holdout: Option<&Points>,
    columns: usize,
) -> (Dcr, Option<Distribution>) {
    let scale = 1.0 / columns as f64;
    let tie = tie_tolerance(synth.columns);
    let (mut to_training, mut to_holdout, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut closer = 0.0;
    for query in synth.iter() {
        let (d1, d2) = nearest_two(query, training);
        to_training.push(f64::from(d1) * scale);
        if training.rows >= 2 {
            ratios.push(if d2 == 0.0 { 0.0 } else { f64::from(d1) / f64::from(d2) });
        }
        if let Some(h) = holdout {
            let (dh, _) = nearest(query, h);
            to_holdout.push(f64::from(dh) * scale);
            closer += if (d1 - dh).abs() <= tie {
                0.5
            } else if d1 < dh {
                1.0
            } else {
                0.0
            };
        }
    }
    let holdout_list = holdout.map(|_| to_holdout.as_slice());
    let dcr = Dcr {
        training: distribution(&to_training).expect("at least one synthetic row"),
        holdout: holdout_list.and_then(distribution),
        share_closer_to_training: holdout.map(|_| closer / synth.rows as f64),
        histogram: histogram(&to_training, holdout_list),
    };
    (dcr, distribution(&ratios))
}

/// Distances (sums over `columns`) closer than this are equal: two rows at the same true
/// distance through different per-column gaps can round apart in `f32` by a few units in the
/// last place of each addition (found by a float64 brute-force cross-check).
fn tie_tolerance(columns: usize) -> f32 {
    4.0 * columns as f32 * f32::EPSILON
}

/// The membership attack: score = minus the distance to the nearest synthetic row, on a grid
/// of [`tie_tolerance`] so that distances equal but for rounding tie in the AUC.
fn membership(synth: &Points, training: &Points, holdout: &Points) -> Option<MembershipInference> {
    let grid = f64::from(tie_tolerance(training.columns));
    let score = |row: &[f32]| -(f64::from(nearest(row, synth).0) / grid).round();
    let scores: Vec<f64> = training.iter().chain(holdout.iter()).map(score).collect();
    let labels: Vec<bool> = (0..scores.len()).map(|i| i < training.rows).collect();
    Some(MembershipInference {
        auc: roc_auc(&scores, &labels)?,
        members: training.rows,
        non_members: holdout.rows,
    })
}

// ---------------------------------------------------------------------------------------------
// Attribute inference

/// Sampled rows of one table as points over some of its columns.
struct Rows<'a> {
    frame: &'a Frame,
    rows: &'a [usize],
    points: Points,
}

/// What counts as guessing a sensitive cell right: equal labels.
enum Labeler {
    /// Numbers: the real-decile bin below these cuts (missing `u32::MAX`).
    Bins(Vec<f64>),
    /// Level codes ([`MISSING`] included).
    Codes,
}

impl Labeler {
    fn new(training: &Values) -> Labeler {
        match training {
            Values::Numeric(v) => {
                let mut sorted: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
                sorted.sort_unstable_by(f64::total_cmp);
                let n = sorted.len();
                // Inverse-CDF deciles sorted[ceil(k n / 10) - 1], as in the fidelity bins.
                let mut cuts: Vec<f64> = (1..SENSITIVE_BINS)
                    .filter(|_| n > 0)
                    .map(|k| sorted[(k * n).div_ceil(SENSITIVE_BINS) - 1])
                    .collect();
                cuts.dedup();
                Labeler::Bins(cuts)
            }
            Values::Categorical(_) => Labeler::Codes,
        }
    }

    /// The label of `values[row]`; a kind other than the training column's reads as missing.
    fn label(&self, values: &Values, row: usize) -> u32 {
        match (self, values) {
            (Labeler::Bins(_), Values::Numeric(v)) if v[row].is_nan() => MISSING,
            (Labeler::Bins(cuts), Values::Numeric(v)) => {
                cuts.partition_point(|&c| c < v[row]) as u32
            }
            (Labeler::Codes, Values::Categorical(v)) => v[row],
            _ => MISSING,
        }
    }

    /// The most common label of a column (ties: the smallest).
    fn mode(&self, values: &Values) -> u32 {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for row in 0..values.len() {
            *counts.entry(self.label(values, row)).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map_or(MISSING, |(l, _)| l)
    }
}

/// For each row of `reals`, the frame row of its QI-nearest synthetic row (the first on ties).
fn guesses(reals: &Rows, synthetic: &Rows) -> Vec<usize> {
    reals.points.iter().map(|q| synthetic.rows[nearest(q, &synthetic.points).1]).collect()
}

/// The share of `reals` whose column `s` carries the label of their guessed synthetic row.
fn success(labeler: &Labeler, s: usize, reals: &Rows, synthetic: &Frame, guesses: &[usize]) -> f64 {
    let hits = reals
        .rows
        .iter()
        .zip(guesses)
        .filter(|&(&r, &g)| {
            labeler.label(&reals.frame.columns[s], r) == labeler.label(&synthetic.columns[s], g)
        })
        .count();
    hits as f64 / reals.rows.len().max(1) as f64
}

/// The sensitive columns: as listed (in range, not QIs), or every other column if none are.
fn sensitive_columns(options: &PrivacyOptions, columns: usize) -> Vec<usize> {
    let qi = |c: &usize| options.quasi_identifiers.contains(c);
    let mut list: Vec<usize> = if options.sensitive.is_empty() {
        (0..columns).filter(|c| !qi(c)).collect()
    } else {
        options.sensitive.iter().copied().filter(|c| *c < columns && !qi(c)).collect()
    };
    list.sort_unstable();
    list.dedup();
    list
}

fn attribute_inference(
    schema: &Schema,
    training: &Rows,
    holdout: Option<&Rows>,
    synthetic: &Rows,
    options: &PrivacyOptions,
) -> AttributeInference {
    // One QI search serves every sensitive column.
    let train_guesses = guesses(training, synthetic);
    let hold_guesses = holdout.map(|h| (h, guesses(h, synthetic)));
    let mut columns = Vec::new();
    for s in sensitive_columns(options, training.frame.columns.len()) {
        let values = &training.frame.columns[s];
        let labeler = Labeler::new(values);
        let mode = labeler.mode(values);
        let at_mode = training.rows.iter().filter(|&&r| labeler.label(values, r) == mode).count();
        let baseline = at_mode as f64 / training.rows.len().max(1) as f64;
        let training_success = success(&labeler, s, training, synthetic.frame, &train_guesses);
        let holdout_success =
            hold_guesses.as_ref().map(|(h, g)| success(&labeler, s, h, synthetic.frame, g));
        let reference = holdout_success.map_or(baseline, |h| h.max(baseline));
        columns.push(AttributeRisk {
            column: schema.columns.get(s).map_or_else(|| format!("#{s}"), |c| c.name.clone()),
            kind: schema.columns.get(s).map_or(Kind::Categorical, |c| c.kind),
            training_success,
            holdout_success,
            baseline,
            risk: (training_success - reference).max(0.0),
        });
    }
    let name =
        |&c: &usize| schema.columns.get(c).map_or_else(|| format!("#{c}"), |s| s.name.clone());
    let mut qis: Vec<usize> = options
        .quasi_identifiers
        .iter()
        .copied()
        .filter(|&c| c < training.frame.columns.len())
        .collect();
    qis.sort_unstable();
    qis.dedup();
    AttributeInference { quasi_identifiers: qis.iter().map(name).collect(), columns }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Table;

    const CLOSE: f64 = 1e-6;

    fn table(names: &[&str], rows: &[&[&str]]) -> Table {
        crate::literal_table(names, rows)
    }

    /// Encodes `training`, `synthetic` and `holdout` against the training table's schema.
    fn frames(training: &Table, synthetic: &Table, holdout: &Table) -> (Schema, [Frame; 3]) {
        let missing = ["", "?"].map(String::from);
        let mut schema = Schema::infer(training, &missing, &[]).expect("schema");
        let t = schema.encode(training, "real").expect("training");
        let s = schema.encode(synthetic, "synthetic").expect("synthetic");
        let h = schema.encode(holdout, "holdout").expect("holdout");
        (schema, [t, s, h])
    }

    /// The worked example of these tests. Training x = 1, 2, 2, 4 has CDF F(1) = 1/4,
    /// F(2) = F(3) = 3/4, F(4) = F(5) = 1, F(0) = 0, so as (rank, level):
    /// training T0 (.25,a) T1 (.75,a) T2 (.75,b) T3 (1,b);
    /// holdout   H0 (.25,b) H1 (.75,a) H2 (1,a) H3 (0,b);
    /// synthetic S0 (.75,a) S1 (1,b) S2 (1,a).
    fn example() -> (Schema, [Frame; 3]) {
        let training = table(&["x", "c"], &[&["1", "a"], &["2", "a"], &["2", "b"], &["4", "b"]]);
        let synthetic = table(&["x", "c"], &[&["2", "a"], &["4", "b"], &["5", "a"]]);
        let holdout = table(&["x", "c"], &[&["1", "b"], &["3", "a"], &["4", "a"], &["0", "b"]]);
        frames(&training, &synthetic, &holdout)
    }

    fn run(schema: &Schema, f: &[Frame; 3], holdout: bool, options: &PrivacyOptions) -> Privacy {
        let h = holdout.then_some(&f[2]);
        privacy(schema, &f[0], &f[1], h, options, &mut Rng::new(1, 0))
    }

    /// The distance between row `i` of `a` and row `j` of `b`, through the fast path.
    fn distance(schema: &Schema, training: &Frame, a: (&Frame, usize), b: (&Frame, usize)) -> f64 {
        let mut coder = Coder::new(schema, training);
        let order: Vec<usize> = (0..coder.caps.len()).collect();
        let pa = Points::gather(&coder.code(a.0, &[a.1]), &order, &coder.caps);
        let pb = Points::gather(&coder.code(b.0, &[b.1]), &order, &coder.caps);
        let compared = training.columns.len() + training.texts.len();
        f64::from(nearest(&pa.data, &pb).0) / compared as f64
    }

    #[test]
    fn distances_equal_but_for_rounding_tie() {
        // Two nearest rows at the same true distance through different rank gaps of a 400-row
        // training column, 1/400 + 46/400 + 1 + 1 = 8/400 + 3/400 + 36/400 + 1 + 1 = 2.1175
        // (such a tie showed up on Adult in a float64 brute-force cross-check), but the f32
        // sums are 2.1174998 and 2.1175 (found with numpy.float32).
        let a: f32 = [0.0025f32, 0.115, 1.0, 1.0].iter().sum();
        let b: f32 = [0.02f32, 0.0075, 0.09, 1.0, 1.0].iter().sum();
        assert_ne!(a, b, "the example must round apart, or it tests nothing");
        assert!((a - b).abs() <= tie_tolerance(5));
        // One rank step of a 30,000-row training column stays far above the tolerance.
        assert!(tie_tolerance(15) < 1.0 / 30_000.0 / 4.0);
    }
    #[test]
    fn mixed_distances_by_hand() {
        let (schema, [t, s, h]) = example();
        let distance = |t, a, b| distance(&schema, t, a, b);
        // T0 (.25,a) to T3 (1,b): (.75 + 1) / 2.
        assert!((distance(&t, (&t, 0), (&t, 3)) - 0.875).abs() < CLOSE);
        // H1 (3,a) sits on T1 (2,a) in ranks: distance 0, though not a copy.
        assert_eq!(distance(&t, (&h, 1), (&t, 1)), 0.0);
        // S2 (5,a) to T1 (.75,a): .25 / 2; H3 (0,b) to T0 (.25,a): (.25 + 1) / 2.
        assert!((distance(&t, (&s, 2), (&t, 1)) - 0.125).abs() < CLOSE);
        assert!((distance(&t, (&h, 3), (&t, 0)) - 0.625).abs() < CLOSE);
        // Missing against missing costs 0, against present 1: (?,?) vs (?,?) = 0,
        // (?,a) vs (3,a) = (1 + 0) / 2, (2,?) vs (2,b) = (0 + 1) / 2.
        let m = table(&["x", "c"], &[&["?", "?"], &["?", "a"], &["3", "a"], &["2", "?"]]);
        let (schema, [t, m, _]) = frames(
            &table(&["x", "c"], &[&["1", "a"], &["2", "a"], &["2", "b"], &["4", "b"]]),
            &m,
            &m,
        );
        let distance = |t, a, b| super::tests::distance(&schema, t, a, b);
        assert_eq!(distance(&t, (&m, 0), (&m, 0)), 0.0);
        assert!((distance(&t, (&m, 1), (&m, 2)) - 0.5).abs() < CLOSE);
        assert!((distance(&t, (&m, 3), (&t, 2)) - 0.5).abs() < CLOSE);
    }

    #[test]
    fn a_text_column_adds_its_share_of_differing_minhash_slots() {
        let notes: Vec<String> = (0..30).map(|i| format!("note {i} about the order")).collect();
        let rows: Vec<Vec<String>> =
            (0..30).map(|i| vec![(i % 4).to_string(), notes[i].clone()]).collect();
        let names = vec!["x".to_string(), "note".to_string()];
        let training = Table::new(names.clone(), rows).expect("table");
        let other = vec![vec!["0".into(), "a different text".into()], vec!["0".into(), "".into()]];
        let other = Table::new(names, other).expect("table");
        let (schema, [t, o, _]) = frames(&training, &other, &other);
        assert_eq!(schema.texts.len(), 1);
        // Row 0: x 0, note 0. The same row is at 0; another text at the same x adds the share
        // of slots whose hashes differ, and a missing text adds 1; the mean is over 2 columns.
        assert_eq!(distance(&schema, &t, (&t, 0), (&t, 0)), 0.0);
        let (a, b) = (signature(&notes[0]), signature("a different text"));
        let differing = a.iter().zip(&b).filter(|(p, q)| p != q).count() as f64 / SLOTS as f64;
        assert!(differing > 0.5, "{differing}");
        let d = distance(&schema, &t, (&o, 0), (&t, 0));
        assert!((d - differing / 2.0).abs() < CLOSE, "{d} vs {differing}");
        assert!((distance(&schema, &t, (&o, 1), (&t, 0)) - 0.5).abs() < CLOSE);
        // Exact copies compare the text too: (0, note 0) is a copy, (0, other) is not.
        let copy = Table::new(
            vec!["x".into(), "note".into()],
            vec![vec!["0".into(), notes[0].clone()], vec!["0".into(), "a different text".into()]],
        )
        .expect("table");
        let (_, [t, c, _]) = frames(&training, &copy, &copy);
        let copies = exact_copies(&t, &c, None);
        assert_eq!(copies.synthetic_copies, 1);
    }

    #[test]
    fn dcr_share_and_nndr_by_hand() {
        let (schema, f) = example();
        let p = run(&schema, &f, true, &PrivacyOptions::default());
        assert_eq!(
            p.sampled,
            SampledRows {
                training: 4,
                holdout: 4,
                synthetic: 3,
                synthetic_searched: 3,
                synthetic_all_missing: 0
            }
        );
        let dcr = p.dcr.expect("dcr");
        // Nearest training: S0 -> T1 at 0, S1 -> T3 at 0, S2 -> T1 at .125.
        // Sorted [0, 0, .125]: mean .125/3; q75 at h = 1.5 -> .0625; q95 at h = 1.9 -> .1125.
        let t = &dcr.training;
        assert!((t.mean - 0.125 / 3.0).abs() < CLOSE && t.q50 == 0.0, "{t:?}");
        assert!((t.q75 - 0.0625).abs() < CLOSE && (t.q95 - 0.1125).abs() < CLOSE, "{t:?}");
        // Nearest holdout: S0 -> H1 at 0, S1 -> H0 at .75/2, S2 -> H2 at 0.
        let h = dcr.holdout.expect("holdout");
        assert!((h.mean - 0.125).abs() < CLOSE && h.q50 == 0.0, "{h:?}");
        // S0 ties (1/2), S1 closer to training (1), S2 closer to holdout (0): 1.5 / 3.
        assert_eq!(dcr.share_closer_to_training, Some(0.5));
        // Upper edge .375: bins of .01875; .125 falls in bin 6, .375 in the last.
        let hist = &dcr.histogram;
        assert_eq!(hist.edges.len(), HISTOGRAM_BINS + 1);
        assert!((hist.edges[HISTOGRAM_BINS] - 0.375).abs() < CLOSE);
        assert_eq!((hist.training[0], hist.training[6]), (2, 1));
        let holdout_counts = hist.holdout.as_ref().expect("holdout counts");
        assert_eq!((holdout_counts[0], holdout_counts[HISTOGRAM_BINS - 1]), (2, 1));
        // NNDR: S0 0/.25 = 0, S1 0/.125 = 0, S2 .125/.375 = 1/3 (T0 second at .375).
        let nndr = p.nndr.expect("nndr");
        assert!((nndr.mean - 1.0 / 9.0).abs() < CLOSE && nndr.q50 == 0.0, "{nndr:?}");
        assert!((nndr.q95 - 0.9 / 3.0).abs() < CLOSE, "{nndr:?}");
        // A copy of a record that occurs twice: d1 = d2 = 0, whose ratio is defined as 0.
        // Training ranks (.5,a) (.5,a) (.75,b) (1,b); (3,a) = (.75,a) is .25 / 2 from both
        // (.5,a) rows: ratio 1. Ratios [0, 1]: q05 .05, mean .5, q95 .95.
        let training = table(&["x", "c"], &[&["1", "a"], &["1", "a"], &["2", "b"], &["4", "b"]]);
        let synthetic = table(&["x", "c"], &[&["1", "a"], &["3", "a"]]);
        let (schema, f) = frames(&training, &synthetic, &training);
        let nndr = run(&schema, &f, false, &PrivacyOptions::default()).nndr.expect("nndr");
        assert_eq!((nndr.q05, nndr.mean, nndr.q95), (0.05, 0.5, 0.95));
    }

    #[test]
    fn membership_auc_by_hand() {
        // Nearest synthetic: members T0 .25, T1 0, T2 .125, T3 0; non-members H0 .375, H1 0,
        // H2 0, H3 .5. Score = -distance; of the 16 member/non-member pairs, members win
        // 2 + (2 + 2 ties) + 2 + (2 + 2 ties) -> (8 + 4/2) / 16 = .625.
        let (schema, f) = example();
        let p = run(&schema, &f, true, &PrivacyOptions::default());
        let mia = p.membership.expect("membership");
        assert_eq!((mia.members, mia.non_members), (4, 4));
        assert!((mia.auc - 0.625).abs() < CLOSE, "{mia:?}");
        // Without a holdout: training distances and NNDR only.
        let p = run(&schema, &f, false, &PrivacyOptions::default());
        assert_eq!(
            p.sampled,
            SampledRows {
                training: 4,
                holdout: 0,
                synthetic: 3,
                synthetic_searched: 3,
                synthetic_all_missing: 0
            }
        );
        assert!(p.membership.is_none() && p.exact_copies.holdout_share.is_none());
        let dcr = p.dcr.expect("dcr");
        assert!(dcr.holdout.is_none() && dcr.share_closer_to_training.is_none());
        assert!(dcr.histogram.holdout.is_none() && p.nndr.is_some());
    }

    #[test]
    fn roc_auc_counts_ties_as_half() {
        // Matches sklearn.metrics.roc_auc_score([0, 0, 1, 1], [.1, .4, .35, .8]) = .75.
        assert_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), Some(0.75));
        // Positives {1, 2}, negatives {1, 3}: pairs (1,1) tie .5, (1,3) 0, (2,1) 1, (2,3) 0
        // -> 1.5 / 4.
        assert_eq!(roc_auc(&[1.0, 1.0, 2.0, 3.0], &[true, false, true, false]), Some(0.375));
        // All scores equal: every pair ties.
        assert_eq!(roc_auc(&[5.0; 6], &[true, false, true, false, false, true]), Some(0.5));
        assert_eq!(roc_auc(&[3.0, 2.0, 1.0], &[true, true, false]), Some(1.0));
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), None);
        assert_eq!(roc_auc(&[1.0, f64::NAN], &[true, false]), None);
        assert_eq!(roc_auc(&[1.0], &[true, false]), None);
    }

    #[test]
    fn exact_copies_compare_encoded_cells() {
        // S0 = T1 and S1 = T3 are copies; H1 (3,a) has T1's rank but is no copy.
        let (schema, f) = example();
        let c = run(&schema, &f, true, &PrivacyOptions::default()).exact_copies;
        assert_eq!((c.synthetic_copies, c.holdout_copies), (2, Some(0)));
        assert!((c.synthetic_share.expect("share") - 2.0 / 3.0).abs() < CLOSE);
        assert_eq!(c.holdout_share, Some(0.0));
        // -0 equals 0 and missing equals missing; 0.5 differs from 0.50001.
        let training =
            table(&["x", "c"], &[&["0", "?"], &["?", "a"], &["0.5", "a"], &["0.5", "b"]]);
        let synthetic =
            table(&["x", "c"], &[&["-0", ""], &["?", "a"], &["0.50001", "a"], &["?", "?"]]);
        let (schema, f) = frames(&training, &synthetic, &synthetic);
        let c = run(&schema, &f, true, &PrivacyOptions::default()).exact_copies;
        assert_eq!((c.synthetic_copies, c.synthetic_share), (2, Some(0.5)));
    }

    #[test]
    fn attribute_inference_by_hand() {
        let (schema, f) = example();
        // QI x, sensitive c (the default: every other column). Nearest synthetic by rank:
        // T0 .25 -> S0 a (true a), T1 .75 -> S0 a (a), T2 .75 -> S0 a (b, wrong),
        // T3 1 -> S1 b (b; S2 ties but comes later): 3/4. Holdout: H0 -> S0 a (b), H1 -> S0 a
        // (a), H2 -> S1 b (a), H3 -> S0 a (b): 1/4. Mode of c: a and b tie, a has the smaller
        // code -> baseline 2/4. Risk = 3/4 - max(1/4, 1/2).
        let options = PrivacyOptions { quasi_identifiers: vec![0], ..Default::default() };
        let attack = run(&schema, &f, true, &options).attribute_inference.expect("attack");
        assert_eq!(attack.quasi_identifiers, ["x"]);
        let c = &attack.columns[..];
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].column.as_str(), c[0].kind), ("c", Kind::Categorical));
        assert_eq!((c[0].training_success, c[0].holdout_success), (0.75, Some(0.25)));
        assert_eq!((c[0].baseline, c[0].risk), (0.5, 0.25));
        // QI c, sensitive x by decile bin: cuts sorted[ceil(4k/10) - 1] = 1,1,2,2,2,2,2,4,4
        // -> [1, 2, 4]. Bins T 0,1,1,2; S 1,2,3; H 0,2,2,0. Level a -> S0 (bin 1), b -> S1
        // (bin 2): T hits T1, T3 (2/4), H none; mode bin 1 -> baseline 2/4; risk 0.
        let options =
            PrivacyOptions { quasi_identifiers: vec![1], sensitive: vec![0], ..Default::default() };
        let attack = run(&schema, &f, true, &options).attribute_inference.expect("attack");
        let c = &attack.columns[0];
        assert_eq!((c.column.as_str(), c.kind), ("x", Kind::Numeric));
        assert_eq!((c.training_success, c.holdout_success, c.baseline), (0.5, Some(0.0), 0.5));
        assert_eq!(c.risk, 0.0);
        // Without QIs there is no attack.
        assert!(run(&schema, &f, true, &PrivacyOptions::default()).attribute_inference.is_none());
    }

    #[test]
    fn the_result_round_trips_through_json_and_empty_tables_give_none() -> Result<()> {
        let (schema, f) = example();
        let options = PrivacyOptions { quasi_identifiers: vec![0], ..Default::default() };
        let p = run(&schema, &f, true, &options);
        let json = serde_json::to_value(&p)
            .map_err(|e| Error::Table(doppel_table::Error::Argument(e.to_string())))?;
        assert_eq!(json["dcr"]["share_closer_to_training"], 0.5);
        assert_eq!(json["attribute_inference"]["columns"][0]["kind"], "categorical");
        let back: Privacy = serde_json::from_value(json)
            .map_err(|e| Error::Table(doppel_table::Error::Argument(e.to_string())))?;
        assert_eq!(back, p);
        // No synthetic rows: copies counted (0), no share, no distances.
        let empty = Frame {
            columns: vec![Values::Numeric(vec![]), Values::Categorical(vec![])],
            ..Frame::default()
        };
        let p = privacy(&schema, &f[0], &empty, Some(&f[2]), &options, &mut Rng::new(1, 0));
        assert_eq!((p.exact_copies.synthetic_copies, p.exact_copies.synthetic_share), (0, None));
        assert!(p.dcr.is_none() && p.membership.is_none() && p.attribute_inference.is_none());
        // An empty holdout counts as none.
        let p = privacy(&schema, &f[0], &f[1], Some(&empty), &options, &mut Rng::new(1, 0));
        assert!(p.exact_copies.holdout_share.is_none() && p.membership.is_none());
        Ok(())
    }

    #[test]
    fn options_are_checked_against_the_schema() {
        let (schema, _) = example();
        assert!(PrivacyOptions::default().check(&schema).is_ok());
        let bad = |o: PrivacyOptions| o.check(&schema).unwrap_err().to_string();
        let message = bad(PrivacyOptions { quasi_identifiers: vec![2], ..Default::default() });
        assert!(message.contains("quasi_identifiers") && message.contains("column 2"), "{message}");
        let both = PrivacyOptions { quasi_identifiers: vec![1], sensitive: vec![1], max_rows: 9 };
        assert!(bad(both).contains("'c' is also a quasi-identifier"));
        assert!(bad(PrivacyOptions { max_rows: 0, ..Default::default() }).contains("max_rows"));
    }

    /// Random rows of four continuous numbers, two small integers and four categories, with
    /// some cells missing: ten columns, so the bound is checked twice.
    fn random_rows(rng: &mut Rng, rows: usize) -> (Vec<String>, Vec<Vec<String>>) {
        let names = (0..10).map(|c| format!("c{c}")).collect();
        let mut cell = |c: usize| -> String {
            match c {
                _ if c % 3 == 1 && rng.below(20) == 0 => "?".into(),
                0..=3 => format!("{:.3}", rng.uniform() * 100.0),
                4 | 5 => rng.below(5).to_string(),
                _ => ["p", "q", "r", "s"][rng.below(4).min(rng.below(4))].into(),
            }
        };
        let data = (0..rows).map(|_| (0..10).map(&mut cell).collect()).collect();
        (names, data)
    }

    /// Training, synthetic and holdout frames of `rows[..n]`, `synthetic`, `rows[n..2n]`.
    fn split(
        names: &[String],
        rows: &[Vec<String>],
        n: usize,
        synthetic: &[Vec<String>],
    ) -> (Schema, [Frame; 3]) {
        let t = |r: &[Vec<String>]| Table::new(names.to_vec(), r.to_vec()).expect("table");
        frames(&t(&rows[..n]), &t(synthetic), &t(&rows[n..2 * n]))
    }

    #[test]
    fn copies_of_training_rows_leak_and_fresh_rows_do_not() {
        let mut rng = Rng::new(42, 0);
        let (names, rows) = random_rows(&mut rng, 1200);
        // A continuous QI singles rows out (coarse QIs make the first of many equal rows the
        // answer, which says little about the others).
        let options = PrivacyOptions { quasi_identifiers: vec![0, 6], ..Default::default() };
        // Synthetic = training: every synthetic row is at distance 0 from training and (with
        // continuous columns) from no holdout row; every member scores 0, non-members less.
        let (schema, f) = split(&names, &rows, 400, &rows[..400]);
        let p = run(&schema, &f, true, &options);
        assert_eq!(p.exact_copies.synthetic_share, Some(1.0));
        let dcr = p.dcr.expect("dcr");
        assert!(dcr.share_closer_to_training.expect("share") > 0.99, "{dcr:?}");
        assert_eq!(dcr.training.q95, 0.0);
        assert!(p.membership.expect("mia").auc > 0.99);
        let leak = p.attribute_inference.expect("attack");
        assert!(leak.columns.iter().all(|c| c.training_success > c.holdout_success.expect("h")));
        // Fresh rows from the same source: about as close to training as to holdout. With
        // 400 rows, the share's and the AUC's standard deviations are about .025.
        let (schema, f) = split(&names, &rows, 400, &rows[800..]);
        let p = run(&schema, &f, true, &options);
        assert_eq!(p.exact_copies.synthetic_share, Some(0.0));
        let share = p.dcr.expect("dcr").share_closer_to_training.expect("share");
        assert!((share - 0.5).abs() < 0.1, "{share}");
        let auc = p.membership.expect("mia").auc;
        assert!((auc - 0.5).abs() < 0.1, "{auc}");
        let fresh = p.attribute_inference.expect("attack");
        assert!(fresh.columns.iter().all(|c| c.risk < 0.1), "{fresh:?}");
        assert!(fresh.columns.iter().zip(&leak.columns).all(|(f, l)| f.risk <= l.risk));
    }

    /// Gower distance with rank-normalised numbers, written independently in f64 from frames.
    fn gower(training: &Frame, a: (&Frame, usize), b: (&Frame, usize)) -> f64 {
        let mut sum = 0.0;
        for (c, values) in training.columns.iter().enumerate() {
            sum += match (values, &a.0.columns[c], &b.0.columns[c]) {
                (Values::Numeric(t), Values::Numeric(x), Values::Numeric(y)) => {
                    let present = t.iter().filter(|v| !v.is_nan()).count() as f64;
                    let cdf = |v: f64| t.iter().filter(|&&w| w <= v).count() as f64 / present;
                    match (x[a.1].is_nan(), y[b.1].is_nan()) {
                        (true, true) => 0.0,
                        (false, false) => (cdf(x[a.1]) - cdf(y[b.1])).abs(),
                        _ => 1.0,
                    }
                }
                (_, Values::Categorical(x), Values::Categorical(y)) => f64::from(x[a.1] != y[b.1]),
                _ => unreachable!("one schema"),
            };
        }
        sum / training.columns.len() as f64
    }

    #[test]
    fn early_abandoning_matches_brute_force() {
        let mut rng = Rng::new(7, 0);
        let (names, rows) = random_rows(&mut rng, 450);
        // Synthetic: half copies of training rows, half fresh.
        let synthetic: Vec<Vec<String>> = rows[..75].iter().chain(&rows[300..]).cloned().collect();
        let (schema, [t, s, h]) = split(&names, &rows, 150, &synthetic);
        let p = privacy(&schema, &t, &s, Some(&h), &PrivacyOptions::default(), &mut Rng::new(1, 0));
        let nearest = |q: (&Frame, usize), set: &Frame| -> Vec<f64> {
            let mut d: Vec<f64> = (0..set.rows).map(|j| gower(&t, q, (set, j))).collect();
            d.sort_by(f64::total_cmp);
            d
        };
        let (mut to_t, mut to_h, mut ratios, mut closer) = (vec![], vec![], vec![], 0.0);
        for i in 0..s.rows {
            let (dt, dh) = (nearest((&s, i), &t), nearest((&s, i), &h));
            ratios.push(if dt[1] == 0.0 { 0.0 } else { dt[0] / dt[1] });
            closer += if (dt[0] - dh[0]).abs() < 1e-9 { 0.5 } else { f64::from(dt[0] < dh[0]) };
            to_t.push(dt[0]);
            to_h.push(dh[0]);
        }
        let same = |a: &Distribution, b: Distribution| {
            let pairs = [(a.mean, b.mean), (a.q05, b.q05), (a.q25, b.q25), (a.q50, b.q50)];
            let more = [(a.q75, b.q75), (a.q95, b.q95)];
            assert!(pairs.iter().chain(&more).all(|(x, y)| (x - y).abs() < 1e-5), "{a:?} {b:?}");
        };
        let dcr = p.dcr.expect("dcr");
        same(&dcr.training, distribution(&to_t).expect("t"));
        same(&dcr.holdout.expect("h"), distribution(&to_h).expect("h"));
        same(&p.nndr.expect("nndr"), distribution(&ratios).expect("r"));
        let share = dcr.share_closer_to_training.expect("share");
        assert!((share - closer / s.rows as f64).abs() < 1e-9, "{share}");
        // Membership: minus the distance to the nearest synthetic row.
        // Distances are rationals with denominators near 10 * 150^2; rounding to 1e-7 makes
        // equal ones tie as they do in the f32 sums.
        let score = |f: &Frame, i| -(nearest((f, i), &s)[0] * 1e7).round();
        let scores: Vec<f64> =
            (0..150).map(|i| score(&t, i)).chain((0..150).map(|i| score(&h, i))).collect();
        let labels: Vec<bool> = (0..300).map(|i| i < 150).collect();
        let auc = roc_auc(&scores, &labels).expect("auc");
        // A true tie may round apart in the f32 sums (0.1 + 0.2 against 0.3): allow a few of
        // the 22,500 pairs (one pair moves the AUC by 1 / 45,000).
        let fast = p.membership.expect("mia").auc;
        assert!((fast - auc).abs() < 1e-4, "{fast} {auc}");
    }

    #[test]
    fn samples_are_equal_sized_and_capped() {
        let mut rng = Rng::new(3, 0);
        let (names, rows) = random_rows(&mut rng, 700);
        let (schema, f) = split(&names, &rows, 300, &rows[600..]);
        let options = PrivacyOptions { max_rows: 50, ..Default::default() };
        let p = run(&schema, &f, true, &options);
        // The attacker searches all 100 synthetic rows (at most 4 x 50); 50 are DCR queries.
        let expected = SampledRows {
            training: 50,
            holdout: 50,
            synthetic: 50,
            synthetic_searched: 100,
            synthetic_all_missing: 0,
        };
        assert_eq!(p.sampled, expected);
        assert_eq!(p.membership.expect("mia").members, 50);
        let hist = p.dcr.expect("dcr").histogram;
        assert_eq!(hist.training.iter().sum::<usize>(), 50);
        // Holdout smaller than training: m = |holdout|.
        let h = Table::new(names.clone(), rows[300..340].to_vec()).expect("table");
        let t = Table::new(names.clone(), rows[..300].to_vec()).expect("table");
        let (schema, f) = frames(&t, &h, &h);
        let p = run(&schema, &f, true, &PrivacyOptions::default());
        assert_eq!(
            p.sampled,
            SampledRows {
                training: 40,
                holdout: 40,
                synthetic: 40,
                synthetic_searched: 40,
                synthetic_all_missing: 0
            }
        );
    }

    /// Times every metric on UCI Adult: `cargo test --release -p doppel-report --lib
    /// privacy::tests::adult_timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing on data/adult.csv"]
    fn adult_timing() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/adult.csv");
        let file = std::fs::File::open(path).expect("data/adult.csv");
        let real = Table::from_csv_reader(file, Some(b','), &Default::default()).expect("csv");
        let (names, rows) = (real.names().to_vec(), real.rows().to_vec());
        let mut rng = Rng::new(11, 0);
        // A stand-in generator: real rows with each cell swapped for another row's with
        // probability 0.3 (close to the real rows), or always (independent columns, far).
        let mut fake = |p: f64| -> Vec<Vec<String>> {
            let mut pick = |c: usize, r: &[String]| {
                if rng.uniform() < p {
                    rows[rng.below(rows.len())][c].clone()
                } else {
                    r[c].clone()
                }
            };
            (0..rows.len()).map(|i| (0..names.len()).map(|c| pick(c, &rows[i])).collect()).collect()
        };
        let (near, far) = (fake(0.3), fake(1.0));
        let t = |r: &[Vec<String>]| Table::new(names.clone(), r.to_vec()).expect("table");
        let n = rows.len() - 6500;
        for (label, synthetic) in [("near", near), ("far", far)] {
            let (schema, f) = frames(&t(&rows[..n]), &t(&synthetic), &t(&rows[n..]));
            let qi: Vec<usize> = ["age", "sex", "race", "education", "native-country"]
                .iter()
                .filter_map(|q| schema.position(q))
                .collect();
            let options = PrivacyOptions { quasi_identifiers: qi, ..Default::default() };
            let start = std::time::Instant::now();
            let p = run(&schema, &f, true, &options);
            let elapsed = start.elapsed();
            let dcr = p.dcr.as_ref().expect("dcr");
            println!(
                "{label}: {elapsed:.2?}; share {:?}, auc {:?}, dcr median {:.4}, copies {:?}",
                dcr.share_closer_to_training,
                p.membership.as_ref().map(|m| m.auc),
                dcr.training.q50,
                p.exact_copies.synthetic_share,
            );
            assert!(elapsed.as_secs_f64() < 4.0);
        }
    }
}
