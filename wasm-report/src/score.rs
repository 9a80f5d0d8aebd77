//! The quality and privacy scores: 0-100 summaries of the metrics, with plain-language grades.
//!
//! **Quality** is 100 times the mean of the available components, each in `[0, 1]` with 1 best:
//! - *accuracy*: the mean of univariate, bivariate and (when computed) trivariate accuracy;
//! - *correlations*: `1 - mean |real - synthetic|` over the correlation matrices' pairs;
//! - *structure*: the principal-component similarity;
//! - *indistinguishability*: `1 - 2 max(0, AUC - 0.5)` of the real-vs-synthetic
//!   discriminator (SDMetrics' detection score; an AUC of 0.5 means a classifier cannot tell
//!   the tables apart, and one below 0.5 is chance too);
//! - *utility* (with a target and a holdout): `min(1, TSTR / TRTR)`, the synthetic-trained
//!   model's holdout score over the real-trained model's;
//! - *validity*: the mean over compared columns of `1 - ` the share of synthetic cells that are
//!   invalid (a placeholder, a value outside the real domain, a fractional value in an integer
//!   column, a format never seen in the real column), a column constant in the synthetic table
//!   but not in the real one counting 0 (see [`crate::validity`]).
//!
//! **Privacy** needs a holdout table (real rows the model never saw), because every component
//! compares how close synthetic rows come to training rows with how close they come to rows
//! the model never saw. It is 100 times the *smallest* component (the weakest link):
//! - *copies*: `1 - 10 max(0, c_s - c_h)`, clamped, where `c_s` is the share of synthetic rows
//!   identical to a training row and `c_h` the same share for holdout rows (copies beyond what
//!   fresh real data shows; 10% excess copies scores 0);
//! - *text copies* (with text columns): `1 - 10 max(0, t_s - t_h)`, clamped, for the largest
//!   excess over the text columns of `t_s`, the share of synthetic texts equal to a training
//!   text, over `t_h`, the same share for holdout texts (free text often names people: a
//!   copied text leaks even when the rest of its row does not);
//! - *closest records*: `1 - 2 max(0, s - 0.5)` for the DCR share `s` (the share of synthetic
//!   rows closer to a training row than to any holdout row; 0.5 is what fresh data gives);
//! - *membership*: `1 - 2 max(0, AUC - 0.5)` for the distance-based membership attack;
//! - *attributes* (with quasi-identifiers): `1 - r` for the largest attribute-inference risk
//!   `r` over the sensitive columns.

use serde::{Deserialize, Serialize};

/// The metric values the scores are computed from; `None` where a metric was not computed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreInputs {
    /// Univariate, bivariate and trivariate accuracy (those computed).
    pub accuracies: Vec<f64>,
    /// Mean absolute difference of the correlation matrices.
    pub correlation_difference: f64,
    /// Principal-component similarity in `[0, 1]`.
    pub structure_similarity: Option<f64>,
    /// Cross-validated AUC of the real-vs-synthetic discriminator.
    pub discriminator_auc: Option<f64>,
    /// TSTR over TRTR.
    pub utility_ratio: Option<f64>,
    /// Mean column validity (see [`crate::validity`]).
    pub validity: Option<f64>,
    /// Share of synthetic rows identical to a training row.
    pub synthetic_copies: f64,
    /// Share of holdout rows identical to a training row.
    pub holdout_copies: Option<f64>,
    /// The largest `synthetic share - holdout share` of texts equal to a training text, over
    /// the text columns where both are known.
    pub text_copy_excess: Option<f64>,
    /// Share of synthetic rows closer to training than to holdout rows.
    pub dcr_share: Option<f64>,
    /// Membership-inference AUC.
    pub membership_auc: Option<f64>,
    /// Largest attribute-inference risk over the sensitive columns.
    pub attribute_risk: Option<f64>,
}

/// One part of a score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// Short name: `accuracy`, `correlations`, `structure`, `indistinguishability`,
    /// `utility`, `validity`, `copies`, `text copies`, `closest records`, `membership`,
    /// `attributes`.
    pub name: String,
    /// The component in `[0, 1]`, 1 best.
    pub value: f64,
    /// How it was computed, in words.
    pub explanation: String,
}

/// A 0-100 score with its grade and parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// 0-100, 100 best.
    pub value: f64,
    /// One word: `excellent`, `good`, `fair`, `poor` or `very poor` (quality); `strong`,
    /// `moderate`, `weak` or `poor` (privacy).
    pub grade: String,
    /// What the grade means, in a sentence.
    pub meaning: String,
    /// The components it was computed from.
    pub components: Vec<Component>,
}

/// Both scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// How faithful and useful the synthetic data is.
    pub quality: Score,
    /// How little the synthetic data reveals about the training rows; `None` without a
    /// holdout table.
    pub privacy: Option<Score>,
}

fn component(name: &str, value: f64, explanation: String) -> Component {
    Component { name: name.into(), value: value.clamp(0.0, 1.0), explanation }
}

/// Adds a component unless its value is not a finite number (a metric that could not be
/// computed, e.g. over values near the f64 limits): a NaN score is never shown; [`left_out`]
/// names what was dropped.
fn push(parts: &mut Vec<Component>, name: &str, value: f64, explanation: impl FnOnce() -> String) {
    if value.is_finite() {
        parts.push(component(name, value, explanation()));
    }
}

/// 100 times the mean of the components' values (0 without any).
fn mean_value(parts: &[Component]) -> f64 {
    if parts.is_empty() {
        return 0.0;
    }
    100.0 * parts.iter().map(|p| p.value).sum::<f64>() / parts.len() as f64
}

/// The score components left out because their metric is not a finite number, each with the
/// reason, for the report's warnings.
pub fn left_out(x: &ScoreInputs) -> Vec<String> {
    let optional = [
        ("structure", x.structure_similarity),
        ("indistinguishability", x.discriminator_auc),
        ("utility", x.utility_ratio),
        ("validity", x.validity),
        ("copies", x.holdout_copies.map(|h| x.synthetic_copies - h)),
        ("text copies", x.text_copy_excess),
        ("closest records", x.dcr_share),
        ("membership", x.membership_auc),
        ("attributes", x.attribute_risk),
    ];
    let mut names: Vec<&str> = Vec::new();
    if x.accuracies.iter().any(|a| !a.is_finite()) {
        names.push("accuracy");
    }
    if !x.correlation_difference.is_finite() {
        names.push("correlations");
    }
    names.extend(
        optional.iter().filter(|(_, v)| v.is_some_and(|v| !v.is_finite())).map(|(n, _)| *n),
    );
    names
        .into_iter()
        .map(|n| {
            format!(
                "the {n} component is left out of the scores: its metric is not a finite number \
                 (values too close to the limits of floating point)"
            )
        })
        .collect()
}

/// Computes both scores (see the module documentation for the definitions).
pub fn scores(inputs: &ScoreInputs) -> Scores {
    Scores { quality: quality(inputs), privacy: privacy(inputs) }
}

fn quality(x: &ScoreInputs) -> Score {
    let mut parts = Vec::new();
    if !x.accuracies.is_empty() {
        let mean = x.accuracies.iter().sum::<f64>() / x.accuracies.len() as f64;
        let why = "mean of the univariate, bivariate and trivariate accuracies (1 - TVD)";
        push(&mut parts, "accuracy", mean, || why.into());
    }
    let d = x.correlation_difference;
    let why = || format!("1 - mean absolute correlation difference ({d:.3})");
    push(&mut parts, "correlations", 1.0 - d, why);
    if let Some(s) = x.structure_similarity {
        let why = "similarity of the variance the real principal components explain";
        push(&mut parts, "structure", s, || why.into());
    }
    if let Some(auc) = x.discriminator_auc {
        let why =
            || format!("1 - 2 max(0, AUC - 0.5) for a real-vs-synthetic classifier (AUC {auc:.3})");
        push(&mut parts, "indistinguishability", 1.0 - 2.0 * (auc - 0.5).max(0.0), why);
    }
    if let Some(r) = x.utility_ratio {
        let why = || format!("TSTR / TRTR, capped at 1 ({r:.3})");
        push(&mut parts, "utility", r.min(1.0), why);
    }
    if let Some(v) = x.validity {
        let why = || {
            format!(
                "mean over columns of 1 - the share of invalid synthetic cells (placeholders, \
                 values outside the real domain, fractions in integer columns, formats the real \
                 column never has); a column constant only in the synthetic table counts 0 \
                 ({v:.3})"
            )
        };
        push(&mut parts, "validity", v, why);
    }
    let value = mean_value(&parts);
    let (grade, meaning) = match value {
        v if v >= 90.0 => ("excellent", "hard to tell from the real data in every measure"),
        v if v >= 80.0 => ("good", "close to the real data; fine for most analyses"),
        v if v >= 65.0 => ("fair", "the main patterns hold; check the weak components"),
        v if v >= 50.0 => ("poor", "noticeably different from the real data"),
        _ => ("very poor", "little resemblance to the real data"),
    };
    Score { value, grade: grade.into(), meaning: meaning.into(), components: parts }
}

fn privacy(x: &ScoreInputs) -> Option<Score> {
    let holdout_copies = x.holdout_copies?;
    let excess = (x.synthetic_copies - holdout_copies).max(0.0);
    let why = format!(
        "1 - 10 x copies beyond the holdout baseline ({:.4} synthetic vs {:.4} holdout rows \
         identical to a training row)",
        x.synthetic_copies, holdout_copies
    );
    let mut parts = Vec::new();
    push(&mut parts, "copies", 1.0 - 10.0 * excess, || why);
    if let Some(t) = x.text_copy_excess {
        let why = || {
            format!(
                "1 - 10 x the largest excess, over text columns, of synthetic texts equal to a \
                 training text beyond the holdout's share ({t:.4})"
            )
        };
        push(&mut parts, "text copies", 1.0 - 10.0 * t.max(0.0), why);
    }
    if let Some(s) = x.dcr_share {
        let why = || format!("1 - 2 max(0, DCR share - 0.5) (share {s:.3}; 0.5 is ideal)");
        push(&mut parts, "closest records", 1.0 - 2.0 * (s - 0.5).max(0.0), why);
    }
    if let Some(auc) = x.membership_auc {
        let why = || format!("1 - 2 max(0, AUC - 0.5) of a distance membership attack ({auc:.3})");
        push(&mut parts, "membership", 1.0 - 2.0 * (auc - 0.5).max(0.0), why);
    }
    if let Some(r) = x.attribute_risk {
        let why = || format!("1 - the largest attribute-inference risk ({r:.3})");
        push(&mut parts, "attributes", 1.0 - r, why);
    }
    let value = 100.0 * parts.iter().map(|p| p.value).fold(1.0, f64::min);
    let (grade, meaning) = match value {
        v if v >= 90.0 => ("strong", "no sign that synthetic rows reveal the training rows"),
        v if v >= 75.0 => {
            ("moderate", "some synthetic rows sit closer to training rows than fresh data would")
        }
        v if v >= 50.0 => ("weak", "the synthetic data shows clear traces of the training rows"),
        _ => ("poor", "the synthetic data reproduces training rows; do not share it"),
    };
    Some(Score { value, grade: grade.into(), meaning: meaning.into(), components: parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_is_the_mean_of_its_components() {
        let inputs = ScoreInputs {
            accuracies: vec![0.98, 0.94, 0.90],
            correlation_difference: 0.04,
            structure_similarity: Some(0.9),
            discriminator_auc: Some(0.7),
            utility_ratio: Some(1.05),
            validity: Some(0.88),
            ..Default::default()
        };
        let q = scores(&inputs).quality;
        // accuracy 0.94, correlations 0.96, structure 0.9, indistinguishability 1 - 0.4 = 0.6,
        // utility min(1, 1.05) = 1, validity 0.88: mean 5.28 / 6 = 0.88 -> 88, "good".
        assert!((q.value - 88.0).abs() < 1e-9, "{q:?}");
        assert_eq!(q.grade, "good");
        assert_eq!(q.components.len(), 6);
        assert_eq!(q.components[5].name, "validity");
        // Invalid cells lower the score: validity 0.28 takes 0.1 off the mean of six.
        let invalid = ScoreInputs { validity: Some(0.28), ..inputs.clone() };
        assert!((scores(&invalid).quality.value - 78.0).abs() < 1e-9);
        assert_eq!(scores(&inputs).privacy, None);
    }

    #[test]
    fn privacy_is_the_weakest_component() {
        let inputs = ScoreInputs {
            synthetic_copies: 0.012,
            holdout_copies: Some(0.002),
            dcr_share: Some(0.53),
            membership_auc: Some(0.45),
            attribute_risk: Some(0.02),
            ..Default::default()
        };
        let p = scores(&inputs).privacy.unwrap();
        // copies 1 - 10 x 0.010 = 0.9; DCR 1 - 0.06 = 0.94; membership 1 (AUC below 0.5);
        // attributes 0.98: the minimum is 0.9 -> 90, "strong".
        let values: Vec<f64> = p.components.iter().map(|c| c.value).collect();
        let expected = [0.9, 0.94, 1.0, 0.98];
        assert!(values.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-9), "{values:?}");
        assert!((p.value - 90.0).abs() < 1e-9);
        assert_eq!(p.grade, "strong");
        let leaky = ScoreInputs { dcr_share: Some(0.95), ..inputs.clone() };
        let p = scores(&leaky).privacy.unwrap();
        // 1 - 2 x 0.45 = 0.1 -> 10, "poor".
        assert!((p.value - 10.0).abs() < 1e-9 && p.grade == "poor", "{p:?}");
        // Texts copied 5 points beyond the holdout's share: 1 - 10 x 0.05 = 0.5 -> 50.
        let texts = ScoreInputs { text_copy_excess: Some(0.05), ..inputs };
        let p = scores(&texts).privacy.unwrap();
        assert!((p.value - 50.0).abs() < 1e-9, "{p:?}");
        assert_eq!(p.components[1].name, "text copies");
    }
}
