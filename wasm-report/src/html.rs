//! The report as one self-contained HTML5 page: inline CSS and inline SVG charts, no script to
//! run, nothing fetched from anywhere (a Content-Security-Policy of `default-src 'none'` says so
//! to the browser), and the same bytes for the same report (no dates, no hash-map order).
//!
//! The report's JSON is embedded as `<script type="application/json" id="report-json">`, a data
//! block the browser never executes; every `<` in it is written `\u003c`, so no text from the
//! data can close the element (or open a comment) early. All other text from the data (column
//! names, category values, notes) goes through [`escape`].
//!
//! Stable hooks for tests: `section#scores[data-quality][data-privacy]`, one
//! `tr[data-column][data-validity]` per compared column in `section#validity`, one
//! `figure.column[data-column]` with one `svg.bars` per compared column, one `svg.heatmap` with
//! `n^2` `rect.cell` per correlation matrix, and `svg.scatter` / `svg.histogram` for the
//! structure and distance charts.

use std::fmt::Write as _;

use crate::correlation::Correlations;
use crate::discriminator::ColumnShare;
use crate::fidelity::{BinShare, ColumnFidelity, ColumnKind, FidelityReport};
use crate::frame::Kind;
use crate::kinds::format_seconds;
use crate::privacy::{AttributeInference, Dcr, DcrHistogram, Distribution, Privacy};
use crate::report::Report;
use crate::score::Score;
use crate::summary::{ColumnSummary, Summary};
use crate::utility::{Scores as UtilityScores, Task};
use crate::validity::Validity;

/// Appends formatted text to a `String`; writing to a `String` cannot fail.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {
        $out.write_fmt(format_args!($($arg)*)).expect("writing to a String cannot fail")
    };
}

/// Longest label drawn in a chart before it is cut (the full text is in its tooltip).
const LABEL_CHARS: usize = 14;

/// The page's style. Series colours live only here, as classes: `r` real, `s` synthetic, `h`
/// holdout (blue, orange, green).
const CSS: &str = "\
:root{color-scheme:light}\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a202c;\
background:#fff;max-width:1240px;margin:0 auto;padding:0 16px 48px}\
h1{margin:16px 0 4px}h2{border-bottom:2px solid #e2e8f0;padding-bottom:4px;margin-top:32px}\
nav a{margin-right:12px}.explain{color:#4a5568;margin:4px 0 10px}\
.cards{display:flex;flex-wrap:wrap;gap:16px}\
.card{flex:1 1 460px;border:1px solid #cbd5e0;border-radius:8px;padding:12px 16px}\
.card h3{margin:0}.big{font-size:40px;font-weight:700;margin:0}\
.big small{font-size:16px;color:#718096}.grade{font-weight:700;text-transform:capitalize}\
.g1{color:#276749}.g2{color:#2f855a}.g3{color:#b7791f}.g4{color:#c53030}.g0{color:#718096}\
.meter{display:inline-block;width:72px;height:8px;background:#e2e8f0;border-radius:4px;\
vertical-align:middle;overflow:hidden}\
.meter>span{display:block;height:100%;background:#4a5568}\
.warnings{border:2px solid #d69e2e;background:#fffbea;border-radius:6px;padding:6px 16px;\
margin:16px 0}\
.statement{border-left:4px solid #4a5568;padding:4px 12px;background:#f7fafc}\
table{border-collapse:collapse;margin:6px 0}\
td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #edf2f7;vertical-align:top}\
th{font-weight:600}td:first-child,th:first-child,td.text{text-align:left}\
.columns{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:16px}\
figure{margin:0}\
figure.column{border:1px solid #e2e8f0;border-radius:6px;padding:8px;overflow-x:auto}\
figcaption{margin-bottom:4px}\
.body{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:flex-start}\
.summary td{white-space:nowrap}.kind{color:#718096}\
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}\
.charts>figure{overflow-x:auto}svg{max-width:100%;height:auto}\
svg text{font-size:10px;fill:#4a5568}.r{fill:#2b6cb0}.s{fill:#dd6b20}.h{fill:#38a169}\
.line{fill:none;stroke:#dd6b20;stroke-width:2}.axis{stroke:#a0aec0;stroke-width:1}\
.cell:hover,.bar:hover{stroke:#1a202c;stroke-width:1}";

/// Renders `report` as a complete HTML5 document.
pub fn render_html(report: &Report) -> String {
    let mut out = String::with_capacity(256 * 1024);
    out.push_str(&head());
    out.push_str("<body>\n");
    out.push_str(&header(report));
    out.push_str(&scores_section(report));
    out.push_str(&validity_section(&report.validity));
    out.push_str(&fidelity_section(&report.fidelity, &report.columns));
    out.push_str(&correlations_section(&report.correlations));
    out.push_str(&structure_section(report));
    out.push_str(&discriminator_section(report));
    out.push_str(&utility_section(report));
    out.push_str(&privacy_section(&report.privacy, report.tables.holdout_rows.is_some()));
    out.push_str(&embedded_json(report));
    out.push_str("</body>\n</html>\n");
    out
}

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

/// `text` safe inside HTML text and quoted attribute values: `& < > " '` become entities, and
/// control characters other than tab and newline (invalid in HTML) become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `text`, ending in an ellipsis when cut (before escaping).
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('\u{2026}');
    cut
}

/// A number with at most 4 significant digits (all integer digits up to 1e9), trailing zeros
/// dropped; scientific notation outside `[0.001, 1e9)`; `n/a` when not finite.
fn num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    if a == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e9).contains(&a) {
        return format!("{x:.3e}");
    }
    // Decimals that leave 4 significant digits: 3 - floor(log10 |x|).
    let decimals = (3.0 - libm::log10(a).floor()).clamp(0.0, 6.0) as usize;
    let text = format!("{x:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" {
        "0".into()
    } else {
        text
    }
}

/// A share as a percentage with one decimal (`<0.1%` for tiny non-zero shares), as HTML text.
fn pct(x: f64) -> String {
    if !x.is_finite() {
        "n/a".into()
    } else if x > 0.0 && x < 0.0005 {
        "&lt;0.1%".into()
    } else {
        format!("{:.1}%", 100.0 * x)
    }
}

/// A number in `[0, 1]` (a distance, a ratio) with 3 decimals, so that columns line up.
fn fixed(x: f64) -> String {
    format!("{x:.3}")
}

/// `f` of the value, or `n/a`.
fn opt(x: Option<f64>, f: fn(f64) -> String) -> String {
    x.map_or_else(|| "n/a".into(), f)
}

/// A paragraph saying what good looks like.
fn explain(text: &str) -> String {
    format!("<p class=\"explain\">{text}</p>\n")
}

// ---------------------------------------------------------------------------------------------
// Page frame: head, header, scores, embedded JSON
// ---------------------------------------------------------------------------------------------

fn head() -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"doppel-report\">\n\
         <title>Synthetic data report</title>\n<style>{CSS}</style>\n</head>\n"
    )
}

fn header(r: &Report) -> String {
    let t = &r.tables;
    let holdout = t.holdout_rows.map_or_else(|| "none".to_string(), |n| n.to_string());
    let mut out = String::new();
    put!(
        out,
        "<header id=\"summary\" data-real-rows=\"{}\" data-synthetic-rows=\"{}\">\n\
         <h1>Synthetic data report</h1>\n<p class=\"explain\">{} format version {}: how \
         faithful the synthetic table is to the real (training) table, and how much it \
         reveals about the training rows.</p>\n<table class=\"sizes\">\
         <tr><th>Real (training) rows</th><td>{}</td></tr>\
         <tr><th>Synthetic rows</th><td>{}</td></tr>\
         <tr><th>Holdout rows</th><td>{holdout}</td></tr>\
         <tr><th>Columns compared</th><td>{} of {}</td></tr>",
        t.real_rows,
        t.synthetic_rows,
        escape(&r.format),
        r.version,
        t.real_rows,
        t.synthetic_rows,
        t.compared_columns,
        t.columns
    );
    if let Some(target) = &r.options.target {
        put!(out, "<tr><th>Utility target</th><td>{}</td></tr>", escape(target));
    }
    put!(out, "<tr><th>Seed</th><td>{}</td></tr></table>\n", r.options.seed);
    out.push_str(
        "<nav><a href=\"#scores\">Scores</a><a href=\"#validity\">Validity</a>\
         <a href=\"#fidelity\">Fidelity</a>\
         <a href=\"#correlations\">Correlations</a><a href=\"#structure\">Structure</a>\
         <a href=\"#discriminator\">Discriminator</a><a href=\"#utility\">Utility</a>\
         <a href=\"#privacy\">Privacy</a></nav>\n</header>\n",
    );
    out
}

fn scores_section(r: &Report) -> String {
    let privacy =
        r.scores.privacy.as_ref().map_or_else(|| "none".into(), |p| format!("{:.2}", p.value));
    let mut out = format!(
        "<section id=\"scores\" data-quality=\"{:.2}\" data-privacy=\"{privacy}\">\n\
         <h2>Scores</h2>\n\
         <div class=\"cards\">\n",
        r.scores.quality.value
    );
    out.push_str(&score_card("quality", "Quality", Some(&r.scores.quality)));
    out.push_str(&score_card("privacy", "Privacy", r.scores.privacy.as_ref()));
    out.push_str("</div>\n");
    if let Some(model) = &r.model {
        put!(
            out,
            "<p class=\"statement\" id=\"model-privacy\">{}</p>\n",
            escape(&model.statement())
        );
    }
    if let Some(steering) = r.options.steering.summary() {
        put!(out, "<p class=\"statement\" id=\"model-steering\">{}</p>\n", escape(&steering));
    }
    out.push_str(&warnings(&r.warnings));
    out.push_str("</section>\n");
    out
}

/// CSS class of a grade word: 1 best to 4 worst.
fn grade_class(grade: &str) -> &'static str {
    match grade {
        "excellent" | "strong" => "g1",
        "good" | "moderate" => "g2",
        "fair" | "weak" => "g3",
        _ => "g4",
    }
}

/// One score: value, grade, meaning and a row per component. Without a score (privacy without
/// a holdout) the card says what it needs.
fn score_card(id: &str, title: &str, score: Option<&Score>) -> String {
    let Some(s) = score else {
        return format!(
            "<article class=\"card\" id=\"{id}-score\" data-grade=\"none\"><h3>{title}</h3>\
             <p class=\"big g0\">n/a</p><p class=\"grade g0\">needs a holdout</p>\
             <p>Privacy is measured against real rows the model never saw: give a holdout \
             table to compute it.</p></article>\n"
        );
    };
    let grade = escape(&s.grade);
    let mut out = format!(
        "<article class=\"card\" id=\"{id}-score\" data-grade=\"{grade}\"><h3>{title}</h3>\
         <p class=\"big {class}\">{:.0}<small>/100</small></p>\
         <p><span class=\"grade {class}\">{grade}</span>: {}.</p>\n<table class=\"components\">",
        s.value,
        escape(&s.meaning),
        class = grade_class(&s.grade),
    );
    for c in &s.components {
        let width = (100.0 * c.value).clamp(0.0, 100.0);
        put!(
            out,
            "<tr data-component=\"{name}\"><td>{name}</td><td><span class=\"meter\">\
             <span style=\"width:{width:.0}%\"></span></span></td><td>{:.3}</td>\
             <td class=\"text\">{}</td></tr>",
            c.value,
            escape(&c.explanation),
            name = escape(&c.name),
        );
    }
    out.push_str("</table></article>\n");
    out
}

fn warnings(list: &[String]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut out = String::from("<div class=\"warnings\" id=\"warnings\"><h3>Warnings</h3><ul>");
    for w in list {
        put!(out, "<li>{}</li>", escape(w));
    }
    out.push_str("</ul></div>\n");
    out
}

/// The report as JSON in a data block. `<` only occurs inside JSON strings, where `\u003c` is
/// the same character to a JSON parser and cannot end the element (`</script`) or start a
/// comment (`<!--`) to the HTML parser.
fn embedded_json(r: &Report) -> String {
    let json = serde_json::to_string(r).unwrap_or_else(|_| "null".into());
    format!(
        "<script type=\"application/json\" id=\"report-json\">{}</script>\n",
        json.replace('<', "\\u003c")
    )
}

// ---------------------------------------------------------------------------------------------
// Validity
// ---------------------------------------------------------------------------------------------

/// One row per column: its validity, the invalid cells by reason, the first one, the checks.
fn validity_section(v: &Validity) -> String {
    let mut out =
        format!("<section id=\"validity\" data-mean=\"{:.4}\">\n<h2>Validity</h2>\n", v.mean);
    out.push_str(&explain(
        "The share of synthetic cells each real column could not hold: a placeholder, a value \
         outside the real domain (range, levels, dates), a fraction in an integer column, a \
         format (shape, clock time) the real column never has. Each invalid cell counts once. \
         A column constant in the synthetic table but not in the real one scores 0. Good: \
         100% in every column.",
    ));
    out.push_str(
        "<table class=\"validity\"><tr><th>column</th><th>kind</th><th>validity</th>\
         <th>invalid</th><th>placeholder</th><th>outside domain</th><th>fractional</th>\
         <th>broken format</th><th>constant</th><th>first invalid cell</th><th>checks</th></tr>",
    );
    for c in &v.columns {
        let first = c.first_invalid.as_ref().map_or_else(String::new, |f| {
            format!("row {}: <q>{}</q> ({})", f.row, escape(&f.value), escape(&f.reason))
        });
        put!(
            out,
            "<tr data-column=\"{}\" data-validity=\"{:.4}\"><td>{}</td><td class=\"text\">{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"text\">{first}</td><td class=\"text\">{}</td></tr>",
            escape(&c.name),
            c.validity,
            escape(&c.name),
            kind_name(c.kind),
            pct(c.validity),
            pct(c.invalid_share),
            c.placeholders,
            c.out_of_domain,
            c.fractional,
            c.broken_format,
            if c.constant { "yes" } else { "no" },
            escape(&c.checks.join("; "))
        );
    }
    out.push_str("</table>\n</section>\n");
    out
}

/// A column kind in words.
fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Numeric => "numeric",
        Kind::Categorical => "categorical",
        Kind::Datetime => "datetime",
        Kind::Text => "text",
    }
}

// ---------------------------------------------------------------------------------------------
// Fidelity
// ---------------------------------------------------------------------------------------------

fn fidelity_section(f: &FidelityReport, summaries: &[ColumnSummary]) -> String {
    let mut out = format!(
        "<section id=\"fidelity\" data-univariate=\"{:.4}\" data-overall=\"{:.4}\">\n\
         <h2>Fidelity</h2>\n",
        f.univariate, f.overall
    );
    out.push_str(&explain(
        "Accuracy is 1 minus the total variation distance between the real and the synthetic \
         distribution of binned values (bins chosen from the real column): 100% means the same \
         shares in every bin. Good: above 90%.",
    ));
    let trivariate = opt(f.trivariate, pct);
    put!(
        out,
        "<table class=\"accuracy\"><tr><th>Univariate (each column)</th><td>{}</td></tr>\
         <tr><th>Bivariate ({} column pairs)</th><td>{}</td></tr>\
         <tr><th>Trivariate ({} column triples)</th><td>{trivariate}</td></tr>\
         <tr><th>Overall (mean of uni- and bivariate)</th><td>{}</td></tr></table>\n",
        pct(f.univariate),
        f.pairs,
        opt(f.bivariate, pct),
        f.triples,
        pct(f.overall)
    );
    out.push_str("<div class=\"columns\">\n");
    let compared = f.columns.iter().filter(|c| c.kind != ColumnKind::Skipped);
    for (i, column) in compared.enumerate() {
        let summary = summaries.iter().find(|s| s.name == column.name);
        out.push_str(&column_figure(i, column, summary));
    }
    out.push_str("</div>\n");
    let skipped: Vec<&ColumnFidelity> =
        f.columns.iter().filter(|c| c.kind == ColumnKind::Skipped).collect();
    if !skipped.is_empty() {
        out.push_str("<h3>Columns left out</h3><ul id=\"skipped-columns\">");
        for c in skipped {
            let note = c.note.as_deref().unwrap_or("no reason given");
            put!(out, "<li><b>{}</b>: {}</li>", escape(&c.name), escape(note));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
    out
}

/// One compared column: its bar chart and its summaries side by side.
fn column_figure(index: usize, c: &ColumnFidelity, summary: Option<&ColumnSummary>) -> String {
    let name = escape(&c.name);
    let kind = match c.kind {
        ColumnKind::Numeric => "numeric",
        ColumnKind::Datetime => "datetime",
        ColumnKind::Text => "text",
        _ => "categorical",
    };
    let accuracy = c.accuracy.map_or_else(|| "none".into(), |a| format!("{a:.4}"));
    let mut out = format!(
        "<figure class=\"column\" id=\"column-{index}\" data-column=\"{name}\" \
         data-accuracy=\"{accuracy}\">\n<figcaption><b>{name}</b> <span class=\"kind\">{kind}\
         </span>, accuracy {}</figcaption>\n",
        opt(c.accuracy, pct)
    );
    out.push_str("<div class=\"body\">");
    out.push_str(&bar_chart("bars", &c.bins, "share of rows", &c.name));
    if let Some(s) = summary {
        out.push_str(&summary_table(s));
    }
    out.push_str("</div></figure>\n");
    out
}

/// A chart's legend from `(x, y)`: a swatch and a name per series `(name, CSS class)`.
fn legend(x: f64, y: f64, series: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut at = x;
    for (name, class) in series {
        put!(
            out,
            "<rect x=\"{at}\" y=\"{}\" width=\"10\" height=\"10\" class=\"{class}\"/>\
             <text x=\"{}\" y=\"{}\">{name}</text>",
            y - 9.0,
            at + 14.0,
            y
        );
        at += 14.0 + 7.0 * name.len() as f64 + 12.0;
    }
    out
}

/// The smallest "nice" upper bound (1, 2, 2.5 or 5 times a power of ten) at or above `x > 0`.
fn nice_ceiling(x: f64) -> f64 {
    if !(x > 0.0 && x.is_finite()) {
        return 1.0;
    }
    let power = libm::pow(10.0, libm::log10(x).floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().find(|s| s * power >= x * (1.0 - 1e-12));
    step.unwrap_or(10.0) * power
}

/// Y axis with a grid line and label at 0, half and full `top` of a plot spanning `x0..x1`
/// horizontally and `y0` (top) to `y1` (bottom).
fn y_axis(x0: f64, x1: f64, y0: f64, y1: f64, top: f64, label: fn(f64) -> String) -> String {
    let mut out = String::new();
    for k in 0..=2 {
        let y = y1 - (y1 - y0) * k as f64 / 2.0;
        put!(
            out,
            "<line class=\"axis\" x1=\"{x0}\" x2=\"{x1}\" y1=\"{y}\" y2=\"{y}\" \
             stroke-opacity=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            if k == 0 { 1.0 } else { 0.35 },
            x0 - 4.0,
            y + 3.0,
            label(top * k as f64 / 2.0)
        );
    }
    out
}

/// Grouped bars, real beside synthetic, one group per bin, with the bin labels turned 45
/// degrees and cut to [`LABEL_CHARS`] (the full label and both shares are in the tooltip).
/// `class` names the chart for styling and tests; `x_label` (user data) is escaped here.
fn bar_chart(class: &str, bins: &[BinShare], y_label: &str, x_label: &str) -> String {
    let (left, top, plot_h, bottom) = (48.0, 22.0, 130.0, 96.0);
    // Groups fill about 250 pixels, each between 24 and 48 wide; two bars and a gap in each.
    let group = (252.0 / bins.len().max(1) as f64).clamp(24.0, 48.0).floor();
    let bar = ((group - 6.0) / 2.0).floor();
    let width = (left + group * bins.len() as f64 + 12.0).max(200.0);
    let height = top + plot_h + bottom;
    let y1 = top + plot_h;
    let most = bins.iter().map(|b| b.real.max(b.synthetic)).fold(0.0, f64::max);
    let ceiling = nice_ceiling(most);
    let name = escape(x_label);
    let mut out = format!(
        "<svg class=\"{class}\" data-bins=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"{y_label} per bin of {name}, real and synthetic\">",
        bins.len()
    );
    out.push_str(&y_axis(left, width - 8.0, top, y1, ceiling, pct));
    for (i, b) in bins.iter().enumerate() {
        let x = left + group * i as f64 + 3.0;
        let label = escape(&b.label);
        put!(
            out,
            "<g class=\"bar\"><title>{label}: real {}, synthetic {}</title>",
            pct(b.real),
            pct(b.synthetic)
        );
        for (k, (share, class)) in [(b.real, "r"), (b.synthetic, "s")].into_iter().enumerate() {
            let h = (plot_h * share / ceiling).clamp(0.0, plot_h);
            put!(
                out,
                "<rect class=\"{class}\" x=\"{}\" y=\"{:.1}\" width=\"{bar}\" height=\"{h:.1}\"/>",
                x + bar * k as f64,
                y1 - h
            );
        }
        let (lx, ly) = (x + bar, y1 + 10.0);
        put!(
            out,
            "<text x=\"{lx}\" y=\"{ly}\" text-anchor=\"end\" transform=\"rotate(-45 {lx} {ly})\">\
             {}</text></g>",
            escape(&truncate(&b.label, LABEL_CHARS))
        );
    }
    put!(
        out,
        "<text x=\"12\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {})\">{y_label}\
         </text><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        (left + width) / 2.0,
        height - 4.0,
        escape(&truncate(x_label, 40))
    );
    out.push_str(&legend(left, 14.0, &[("real", "r"), ("synthetic", "s")]));
    out.push_str("</svg>\n");
    out
}

/// The label of quantile probability `p`.
fn quantile_label(p: f64) -> String {
    if p == 0.0 {
        "min".into()
    } else if p == 1.0 {
        "max".into()
    } else if p == 0.5 {
        "median".into()
    } else {
        format!("{}%", num(100.0 * p))
    }
}

/// Count, missing share, distinct values, then moments and quantiles (numbers) or the most
/// frequent values (categories), real beside synthetic.
fn summary_table(c: &ColumnSummary) -> String {
    let (r, s) = (&c.real, &c.synthetic);
    let mut out =
        String::from("<table class=\"summary\"><tr><th></th><th>real</th><th>synthetic</th></tr>");
    let mut row = |label: &str, a: String, b: String| {
        put!(out, "<tr><th>{label}</th><td>{a}</td><td>{b}</td></tr>");
    };
    row("rows", r.count.to_string(), s.count.to_string());
    row("missing", pct(r.missing_share), pct(s.missing_share));
    row("distinct", r.distinct.to_string(), s.distinct.to_string());
    match c.kind {
        Kind::Numeric | Kind::Datetime => {
            // Dates are shown as dates, their spread in days.
            let format = c.format.as_deref().filter(|_| c.kind == Kind::Datetime);
            let show = |x: Option<f64>| match (x, format) {
                (Some(x), Some(f)) => format_seconds(x, f),
                (x, _) => opt(x, num),
            };
            let spread = |x: Option<f64>| match (x, format) {
                (Some(x), Some(_)) => format!("{} days", num(x / 86_400.0)),
                (x, _) => opt(x, num),
            };
            row("mean", show(r.mean), show(s.mean));
            row("std", spread(r.std), spread(s.std));
            for (i, &(p, value)) in r.quantiles.iter().enumerate() {
                let other = s.quantiles.get(i).filter(|q| q.0 == p).map(|q| q.1);
                row(&quantile_label(p), show(Some(value)), show(other));
            }
        }
        Kind::Categorical | Kind::Text => {
            for i in 0..r.top.len().max(s.top.len()) {
                row(&format!("top {}", i + 1), top_entry(r, i), top_entry(s, i));
            }
        }
    }
    out.push_str("</table>\n");
    out
}

/// The `i`-th most frequent value of a summary with its share, or empty.
fn top_entry(s: &Summary, i: usize) -> String {
    s.top.get(i).map_or_else(String::new, |(value, share)| {
        let shown = escape(&truncate(value, 18));
        let share = pct(*share);
        format!(
            "<span title=\"{}\">{shown}</span> <span class=\"kind\">{share}</span>",
            escape(value)
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Correlations
// ---------------------------------------------------------------------------------------------

fn correlations_section(c: &Correlations) -> String {
    let mut out = format!(
        "<section id=\"correlations\" data-mean-abs-difference=\"{:.4}\" data-columns=\"{}\">\n\
         <h2>Correlations</h2>\n",
        c.mean_abs_difference,
        c.names.len()
    );
    out.push_str(&explain(
        "Association of each column pair: Pearson's r for two numeric columns (-1 to 1), \
         Cram\u{e9}r's V for two categorical columns and the correlation ratio for a mixed pair \
         (both 0 to 1). Good: the synthetic matrix looks like the real one, with a mean absolute \
         difference near 0 (below 0.05 is close).",
    ));
    put!(
        out,
        "<p>Mean absolute difference over {} pairs: <b>{}</b></p>\n",
        c.compared_pairs,
        num(c.mean_abs_difference)
    );
    if c.names.is_empty() {
        out.push_str("<p>No columns to correlate.</p>\n</section>\n");
        return out;
    }
    let difference = difference_matrix(&c.real, &c.synthetic);
    out.push_str("<div class=\"charts\">\n");
    out.push_str(&heatmap("real", "Real", &c.names, &c.real));
    out.push_str(&heatmap("synthetic", "Synthetic", &c.names, &c.synthetic));
    out.push_str(&heatmap("difference", "Synthetic minus real", &c.names, &difference));
    out.push_str(&colour_scale());
    out.push_str("</div>\n</section>\n");
    out
}

/// `synthetic - real` where both are defined.
fn difference_matrix(
    real: &[Vec<Option<f64>>],
    synthetic: &[Vec<Option<f64>>],
) -> Vec<Vec<Option<f64>>> {
    real.iter()
        .zip(synthetic)
        .map(|(r, s)| r.iter().zip(s).map(|(a, b)| Some((*b)? - (*a)?)).collect())
        .collect()
}

/// The diverging colour of `v` clamped to `[-1, 1]`: blue (-1) through light grey (0) to red
/// (+1), the end and middle colours of ColorBrewer's RdBu scheme, interpolated linearly in RGB.
fn diverging(v: f64) -> String {
    const NEGATIVE: [f64; 3] = [33.0, 102.0, 172.0];
    const MIDDLE: [f64; 3] = [247.0, 247.0, 247.0];
    const POSITIVE: [f64; 3] = [178.0, 24.0, 43.0];
    let v = if v.is_finite() { v.clamp(-1.0, 1.0) } else { 0.0 };
    let end = if v < 0.0 { NEGATIVE } else { POSITIVE };
    let t = v.abs();
    let c: Vec<u8> = (0..3).map(|k| (MIDDLE[k] + t * (end[k] - MIDDLE[k])).round() as u8).collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// An `n x n` matrix as coloured cells with the column names along the left and the top;
/// undefined cells are hatched grey. Every cell's tooltip names the pair and gives the value.
fn heatmap(id: &str, title: &str, names: &[String], m: &[Vec<Option<f64>>]) -> String {
    let n = names.len();
    let cell = (360.0 / n as f64).clamp(8.0, 26.0).floor();
    let margin = 100.0;
    // Room on the right for the last column's slanted label.
    let (width, height) = (margin + cell * n as f64 + 48.0, margin + cell * n as f64 + 8.0);
    let mut out = format!(
        "<figure><figcaption>{title}</figcaption><svg class=\"heatmap\" id=\"heatmap-{id}\" \
         data-cells=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"{title} associations\">\
         <defs><pattern id=\"hatch-{id}\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"4\" height=\"4\" fill=\"#e2e8f0\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"4\" stroke=\"#a0aec0\" stroke-width=\"1.5\"/>\
         </pattern></defs>",
        n * n
    );
    for (i, name) in names.iter().enumerate() {
        let label = escape(&truncate(name, LABEL_CHARS));
        let (x, y) = (margin - 4.0, margin + cell * (i as f64 + 0.5) + 3.0);
        let (tx, ty) = (margin + cell * (i as f64 + 0.5) + 3.0, margin - 4.0);
        put!(
            out,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"end\"><title>{full}</title>{label}</text>\
             <text x=\"{tx}\" y=\"{ty}\" transform=\"rotate(-60 {tx} {ty})\"><title>{full}</title>\
             {label}</text>",
            full = escape(name)
        );
    }
    for (i, row) in m.iter().enumerate().take(n) {
        for j in 0..n {
            let value = row.get(j).copied().flatten();
            let fill = value.map_or_else(|| format!("url(#hatch-{id})"), diverging);
            let shown = value.map_or_else(|| "undefined".into(), |v| format!("{v:.3}"));
            put!(
                out,
                "<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{cell}\" height=\"{cell}\" \
                 fill=\"{fill}\"><title>{} \u{d7} {}: {shown}</title></rect>",
                margin + cell * j as f64,
                margin + cell * i as f64,
                escape(&names[i]),
                escape(&names[j])
            );
        }
    }
    out.push_str("</svg></figure>\n");
    out
}

/// The legend of [`diverging`]: a gradient from -1 to 1, and the hatched "undefined" swatch.
fn colour_scale() -> String {
    let mut out = String::from(
        "<figure><figcaption>Scale</figcaption><svg class=\"scale\" \
         xmlns=\"http://www.w3.org/2000/svg\" width=\"170\" height=\"60\" viewBox=\"0 0 170 60\" \
         role=\"img\" aria-label=\"Colour scale from -1 to 1\">",
    );
    for k in 0..=20 {
        let v = -1.0 + k as f64 / 10.0;
        put!(
            out,
            "<rect x=\"{}\" y=\"6\" width=\"7\" height=\"14\" fill=\"{}\"/>",
            10 + 7 * k,
            diverging(v)
        );
    }
    out.push_str(
        "<text x=\"10\" y=\"32\">-1</text><text x=\"84\" y=\"32\">0</text>\
         <text x=\"150\" y=\"32\">1</text><rect x=\"10\" y=\"40\" width=\"12\" height=\"12\" \
         fill=\"#e2e8f0\" stroke=\"#a0aec0\"/><text x=\"26\" y=\"50\">undefined</text></svg>\
         </figure>\n",
    );
    out
}

// ---------------------------------------------------------------------------------------------
// Structure, discriminator, utility
// ---------------------------------------------------------------------------------------------

fn structure_section(r: &Report) -> String {
    let Some(s) = &r.structure else {
        return "<section id=\"structure\">\n<h2>Structure</h2>\n<p>Not computed (too few \
                features or rows).</p>\n</section>\n"
            .into();
    };
    let mut out = format!(
        "<section id=\"structure\" data-similarity=\"{:.4}\">\n<h2>Structure</h2>\n",
        s.similarity
    );
    out.push_str(&explain(
        "Principal components of the real table (standardised numbers, one-hot categories): \
         the share of variance each explains in the real table and, along the same \
         directions, in the synthetic table. Good: similar shares (similarity near 1) and \
         overlapping point clouds.",
    ));
    put!(
        out,
        "<table><tr><th>Components kept</th><td>{} of {} features</td></tr>\
         <tr><th>Real variance explained</th><td>{}</td></tr>\
         <tr><th>Synthetic variance explained</th><td>{}</td></tr>\
         <tr><th>Similarity</th><td>{}</td></tr></table>\n<div class=\"charts\">\n",
        s.components,
        s.features,
        pct(s.real_explained),
        pct(s.synthetic_explained),
        num(s.similarity)
    );
    let shares: Vec<BinShare> = s
        .real_shares
        .iter()
        .zip(&s.synthetic_shares)
        .enumerate()
        .map(|(i, (&real, &synthetic))| BinShare { label: format!("PC{}", i + 1), real, synthetic })
        .collect();
    out.push_str(&bar_chart("components", &shares, "share of variance", "principal component"));
    let pc = |i: usize| match s.real_shares.get(i) {
        Some(share) => format!("PC{} ({} of real variance)", i + 1, pct(*share)),
        None => format!("PC{}", i + 1),
    };
    let series = [("real", "r", s.real_points.as_slice()), ("synthetic", "s", &s.synthetic_points)];
    out.push_str(&scatter(&series, &pc(0), &pc(1)));
    out.push_str("</div>\n</section>\n");
    out
}

/// The bounds `(low, high)` of coordinate `k` over every point, widened by 5% on each side
/// (and to a unit range when all points agree).
fn bounds(series: &[(&str, &str, &[[f64; 2]])], k: usize) -> (f64, f64) {
    let values = series.iter().flat_map(|s| s.2.iter().map(move |p| p[k]));
    let (low, high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if low > high {
        return (-1.0, 1.0);
    }
    let pad = if high > low { 0.05 * (high - low) } else { 0.5 };
    (low - pad, high + pad)
}

/// Points of up to three series `(name, CSS class, points)` on shared axes, drawn half
/// transparent so that overlapping clouds stay visible.
fn scatter(series: &[(&str, &str, &[[f64; 2]])], x_label: &str, y_label: &str) -> String {
    let (left, top, plot) = (56.0, 22.0, 300.0);
    let (width, height) = (left + plot + 12.0, top + plot + 40.0);
    let (x_low, x_high) = bounds(series, 0);
    let (y_low, y_high) = bounds(series, 1);
    let x = |v: f64| left + plot * (v - x_low) / (x_high - x_low);
    let y = |v: f64| top + plot * (y_high - v) / (y_high - y_low);
    let mut out = format!(
        "<svg class=\"scatter\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"Rows projected on the first two principal components\">\
         <rect x=\"{left}\" y=\"{top}\" width=\"{plot}\" height=\"{plot}\" fill=\"none\" \
         class=\"axis\"/>"
    );
    for (name, class, points) in series {
        put!(
            out,
            "<g class=\"{class}\" fill-opacity=\"0.45\" data-points=\"{}\"><title>{name}</title>",
            points.len()
        );
        for p in points.iter().filter(|p| p[0].is_finite() && p[1].is_finite()) {
            put!(out, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\"/>", x(p[0]), y(p[1]));
        }
        out.push_str("</g>");
    }
    let bottom = top + plot;
    put!(
        out,
        "<text x=\"{left}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{top}\" \
         text-anchor=\"end\" dominant-baseline=\"hanging\">{}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{x_label}</text><text x=\"12\" \
         y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {})\">{y_label}</text>",
        bottom + 12.0,
        num(x_low),
        left + plot,
        bottom + 12.0,
        num(x_high),
        left - 4.0,
        bottom,
        num(y_low),
        left - 4.0,
        num(y_high),
        left + plot / 2.0,
        height - 6.0,
        top + plot / 2.0,
        top + plot / 2.0
    );
    let names: Vec<(&str, &str)> = series.iter().map(|s| (s.0, s.1)).collect();
    out.push_str(&legend(left, 14.0, &names));
    out.push_str("</svg>\n");
    out
}

fn discriminator_section(r: &Report) -> String {
    let Some(d) = &r.discriminator else {
        return "<section id=\"discriminator\">\n<h2>Discriminator</h2>\n<p>Not computed (too \
                few rows).</p>\n</section>\n"
            .into();
    };
    let mut out = format!(
        "<section id=\"discriminator\" data-auc=\"{:.4}\">\n<h2>Discriminator</h2>\n",
        d.auc
    );
    out.push_str(&explain(
        "A boosted-tree classifier is trained to tell synthetic rows from real ones; its \
         cross-validated ROC AUC says how often it succeeds. Good: an AUC near 0.5 (it cannot \
         tell them apart); 1 means every synthetic row gives itself away.",
    ));
    put!(
        out,
        "<table><tr><th>AUC</th><td>{:.3}</td></tr><tr><th>Detection score (1 - 2 max(0, \
         AUC - 0.5))</th><td>{:.3}</td></tr><tr><th>Accuracy at p = 0.5</th><td>{}</td></tr>\
         <tr><th>Rows per table, folds</th><td>{}, {}</td></tr></table>\n<div class=\"charts\">\n",
        d.auc,
        d.score,
        pct(d.accuracy),
        d.rows_per_class,
        d.folds
    );
    let roc: Vec<[f64; 2]> =
        d.roc.iter().map(|p| [p.false_positive_rate, p.true_positive_rate]).collect();
    out.push_str(&roc_chart(&roc));
    out.push_str(&importance_table(&d.importance));
    out.push_str("</div>\n</section>\n");
    out
}

/// A ROC curve from `(false positive rate, true positive rate)` points, with the diagonal of
/// a classifier that guesses.
fn roc_chart(points: &[[f64; 2]]) -> String {
    let (left, top, plot) = (44.0, 12.0, 200.0);
    let (width, height) = (left + plot + 12.0, top + plot + 36.0);
    let (x1, y1) = (left + plot, top + plot);
    let mut out = format!(
        "<svg class=\"roc\" data-points=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"ROC curve of the discriminator\"><rect class=\"axis\" x=\"{left}\" \
         y=\"{top}\" width=\"{plot}\" height=\"{plot}\" fill=\"none\"/><line class=\"axis\" \
         x1=\"{left}\" y1=\"{y1}\" x2=\"{x1}\" y2=\"{top}\" stroke-dasharray=\"4 3\"/>\
         <polyline class=\"line\" points=\"",
        points.len()
    );
    for p in points.iter().filter(|p| p[0].is_finite() && p[1].is_finite()) {
        put!(out, "{:.1},{:.1} ", left + plot * p[0], y1 - plot * p[1]);
    }
    put!(
        out,
        "\"/><text x=\"{left}\" y=\"{}\">0</text><text x=\"{x1}\" y=\"{}\" \
         text-anchor=\"end\">1</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">1</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">false positive rate</text>\
         <text x=\"12\" y=\"{}\" text-anchor=\"middle\" \
         transform=\"rotate(-90 12 {})\">true positive rate</text></svg>\n",
        y1 + 12.0,
        y1 + 12.0,
        left - 4.0,
        top + 8.0,
        left + plot / 2.0,
        height - 6.0,
        top + plot / 2.0,
        top + plot / 2.0
    );
    out
}

/// The columns that give synthetic rows away, with their share of the split gain.
fn importance_table(columns: &[ColumnShare]) -> String {
    let mut out = String::from(
        "<table class=\"importance\"><tr><th>column</th><th colspan=\"2\">share of the \
         classifier's split gain</th></tr>",
    );
    for c in columns {
        let width = (100.0 * c.share).clamp(0.0, 100.0);
        put!(
            out,
            "<tr data-column=\"{name}\"><td>{name}</td><td><span class=\"meter\"><span \
             style=\"width:{width:.0}%\"></span></span></td><td>{}</td></tr>",
            pct(c.share),
            name = escape(&c.name)
        );
    }
    out.push_str("</table>\n");
    out
}

fn utility_section(r: &Report) -> String {
    let Some(u) = &r.utility else {
        return "<section id=\"utility\">\n<h2>Utility</h2>\n<p>Not computed: it needs a target \
                column and a holdout table.</p>\n</section>\n"
            .into();
    };
    let task = match u.task {
        Task::Classification => "classification",
        Task::Regression => "regression",
    };
    let mut out = format!(
        "<section id=\"utility\" data-target=\"{}\" data-task=\"{task}\">\n<h2>Utility</h2>\n",
        escape(&u.target)
    );
    out.push_str(&explain(
        "Train synthetic, test real (TSTR): a model trained on the synthetic rows and one \
         trained on the real rows (TRTR) both predict the target of the holdout rows. Good: \
         TSTR close to TRTR, a ratio near 1; a TSTR near the baseline means the synthetic rows \
         taught the model nothing.",
    ));
    put!(
        out,
        "<p>Target <b>{}</b> ({task}); trained on {} synthetic and {} real rows, scored on {} \
         holdout rows.</p>\n",
        escape(&u.target),
        u.synthetic_rows,
        u.training_rows,
        u.holdout_rows
    );
    out.push_str(&utility_table(&u.tstr, &u.trtr, &u.ratio, u.baseline_accuracy));
    if let Some(note) = &u.note {
        put!(out, "<p class=\"explain\">{}</p>\n", escape(note));
    }
    out.push_str(
        "<table class=\"feature-importance\"><tr><th>feature</th><th>share of TSTR gain</th>\
         <th>share of TRTR gain</th></tr>",
    );
    for f in &u.importance {
        put!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&f.name),
            pct(f.tstr),
            pct(f.trtr)
        );
    }
    out.push_str("</table>\n</section>\n");
    out
}

/// TSTR, TRTR and their ratio for each score that applies, and the baseline accuracy.
fn utility_table(
    tstr: &UtilityScores,
    trtr: &UtilityScores,
    ratio: &UtilityScores,
    baseline: Option<f64>,
) -> String {
    let mut out = String::from(
        "<table class=\"tstr\"><tr><th>score</th><th>TSTR</th><th>TRTR</th><th>TSTR / TRTR</th>\
         </tr>",
    );
    let (t, r, q) = (tstr, trtr, ratio);
    let rows = [
        ("accuracy", t.accuracy, r.accuracy, q.accuracy),
        ("ROC AUC", t.auc, r.auc, q.auc),
        ("R\u{b2}", t.r2, r.r2, q.r2),
    ];
    for (name, t, r, q) in rows.into_iter().filter(|row| row.1.is_some() || row.2.is_some()) {
        put!(
            out,
            "<tr data-score=\"{name}\"><td>{name}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            opt(t, fixed),
            opt(r, fixed),
            opt(q, fixed)
        );
    }
    if let Some(b) = baseline {
        put!(
            out,
            "<tr><td>baseline accuracy (most frequent class)</td><td>{}</td><td></td><td></td>\
             </tr>",
            fixed(b)
        );
    }
    out.push_str("</table>\n");
    out
}

// ---------------------------------------------------------------------------------------------
// Privacy
// ---------------------------------------------------------------------------------------------

fn privacy_section(p: &Privacy, has_holdout: bool) -> String {
    let mut out = String::from("<section id=\"privacy\">\n<h2>Privacy</h2>\n");
    if !has_holdout {
        out.push_str(
            "<p class=\"warnings\">No holdout table: without real rows the model never saw \
             there is no baseline, so the closest-record share and the membership test are \
             missing and the other figures cannot be judged against fresh data.</p>\n",
        );
    }
    out.push_str(&exact_copies(p));
    out.push_str(&closest_records(p.dcr.as_ref()));
    out.push_str(&nndr(p.nndr.as_ref()));
    out.push_str(&membership(p));
    out.push_str(&attribute_inference(p.attribute_inference.as_ref()));
    put!(
        out,
        "<p class=\"explain\">Distances use samples of {} training, {} holdout and {} synthetic \
         rows.</p>\n</section>\n",
        p.sampled.training,
        p.sampled.holdout,
        p.sampled.synthetic
    );
    out
}

fn exact_copies(p: &Privacy) -> String {
    let c = &p.exact_copies;
    let holdout = c.holdout_copies.map_or_else(|| "n/a".into(), |n| n.to_string());
    let mut out = format!(
        "<h3 id=\"exact-copies\" data-synthetic-share=\"{}\">Exact copies</h3>\n",
        opt(c.synthetic_share, |x| format!("{x:.6}"))
    );
    out.push_str(&explain(
        "Rows identical to a training row in every compared column. Good: the synthetic share \
         is no higher than the holdout share (how often independent real rows coincide).",
    ));
    put!(
        out,
        "<table><tr><th></th><th>rows</th><th>share</th></tr>\
         <tr><th>Synthetic rows copying a training row</th><td>{}</td><td>{}</td></tr>\
         <tr><th>Holdout rows equal to a training row</th><td>{holdout}</td><td>{}</td></tr>\
         </table>\n",
        c.synthetic_copies,
        opt(c.synthetic_share, pct),
        opt(c.holdout_share, pct)
    );
    if !p.text_copies.is_empty() {
        out.push_str(&explain(
            "Texts equal to a training text, per text column: a copied text can name a person \
             even when the rest of its row is new. Good: the synthetic share is no higher than \
             the holdout share.",
        ));
        out.push_str(
            "<table id=\"text-copies\"><tr><th>text column</th><th>synthetic</th>\
             <th>holdout</th></tr>",
        );
        for t in &p.text_copies {
            put!(
                out,
                "<tr data-column=\"{}\"><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&t.column),
                escape(&t.column),
                opt(t.synthetic_share, pct),
                opt(t.holdout_share, pct)
            );
        }
        out.push_str("</table>\n");
    }
    out
}

/// A row of a distribution table: mean and quantiles.
fn distribution_row(label: &str, d: &Distribution) -> String {
    format!(
        "<tr><th>{label}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         </tr>",
        fixed(d.mean),
        fixed(d.q05),
        fixed(d.q25),
        fixed(d.q50),
        fixed(d.q75),
        fixed(d.q95)
    )
}

const DISTRIBUTION_HEAD: &str = "<tr><th></th><th>mean</th><th>5%</th><th>25%</th>\
                                 <th>median</th><th>75%</th><th>95%</th></tr>";

fn closest_records(dcr: Option<&Dcr>) -> String {
    let Some(d) = dcr else {
        return "<h3 id=\"dcr\">Distance to closest record</h3><p>Not computed (no rows or \
                columns to compare).</p>\n"
            .into();
    };
    let share = d.share_closer_to_training;
    let mut out = format!(
        "<h3 id=\"dcr\" data-share=\"{}\">Distance to closest record</h3>\n",
        opt(share, |x| format!("{x:.4}"))
    );
    out.push_str(&explain(
        "For each synthetic row, the distance (Gower-like, 0 to 1) to its nearest training \
         row and to its nearest holdout row. Good: the two distributions match and about 50% \
         of synthetic rows are closer to training than to holdout; a pile-up near 0 for \
         training only means copied or nearly copied rows.",
    ));
    put!(
        out,
        "<p>Share of synthetic rows closer to training than to holdout: <b>{}</b></p>\n<table>\
         {DISTRIBUTION_HEAD}{}",
        opt(share, pct),
        distribution_row("to training", &d.training)
    );
    if let Some(h) = &d.holdout {
        out.push_str(&distribution_row("to holdout", h));
    }
    out.push_str("</table>\n");
    out.push_str(&dcr_histogram(&d.histogram));
    out
}

fn dcr_histogram(h: &DcrHistogram) -> String {
    let mut series = vec![("to training", "r", h.training.as_slice())];
    if let Some(holdout) = &h.holdout {
        series.push(("to holdout", "h", holdout.as_slice()));
    }
    histogram(&h.edges, &series, "distance to the closest record", "synthetic rows")
}

/// Counts per bin of shared `edges` for up to three series `(name, CSS class, counts)`, side
/// by side within each bin, with x ticks at the first, middle and last edge.
fn histogram(
    edges: &[f64],
    series: &[(&str, &str, &[usize])],
    x_label: &str,
    y_label: &str,
) -> String {
    let bins = edges.len().saturating_sub(1);
    let (left, top, plot_w, plot_h) = (56.0, 22.0, 440.0, 150.0);
    let (width, height) = (left + plot_w + 12.0, top + plot_h + 44.0);
    let y1 = top + plot_h;
    let most = series.iter().flat_map(|s| s.2.iter()).copied().max().unwrap_or(0);
    let ceiling = nice_ceiling(most as f64);
    let group = plot_w / bins.max(1) as f64;
    let bar = (group - 2.0) / series.len().max(1) as f64;
    let mut out = format!(
        "<svg class=\"histogram\" data-bins=\"{bins}\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"Histogram of the {x_label}\">"
    );
    out.push_str(&y_axis(left, left + plot_w, top, y1, ceiling, num));
    for b in 0..bins {
        let x = left + group * b as f64 + 1.0;
        put!(out, "<g class=\"bar\"><title>[{}, {}):", num(edges[b]), num(edges[b + 1]));
        for (name, _, counts) in series {
            put!(out, " {name} {}", counts.get(b).copied().unwrap_or(0));
        }
        out.push_str("</title>");
        for (k, (_, class, counts)) in series.iter().enumerate() {
            let count = counts.get(b).copied().unwrap_or(0) as f64;
            let h = (plot_h * count / ceiling).clamp(0.0, plot_h);
            put!(
                out,
                "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" \
                 height=\"{h:.1}\"/>",
                x + bar * k as f64,
                y1 - h
            );
        }
        out.push_str("</g>");
    }
    for k in [0, bins / 2, bins] {
        let x = left + group * k as f64;
        let edge = edges.get(k).copied().unwrap_or(f64::NAN);
        put!(
            out,
            "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            y1 + 14.0,
            num(edge)
        );
    }
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{x_label}</text><text x=\"12\" y=\"{}\" \
         text-anchor=\"middle\" transform=\"rotate(-90 12 {})\">{y_label}</text>",
        left + plot_w / 2.0,
        height - 6.0,
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );
    let names: Vec<(&str, &str)> = series.iter().map(|s| (s.0, s.1)).collect();
    out.push_str(&legend(left, 14.0, &names));
    out.push_str("</svg>\n");
    out
}

fn nndr(d: Option<&Distribution>) -> String {
    let mut out = String::from("<h3 id=\"nndr\">Nearest-neighbour distance ratio</h3>\n");
    out.push_str(&explain(
        "For each synthetic row, the distance to its nearest training row over the distance to \
         its second nearest. Good: values well above 0; values near 0 mean a synthetic row sits \
         on one training record rather than among several.",
    ));
    match d {
        Some(d) => {
            put!(out, "<table>{DISTRIBUTION_HEAD}{}</table>\n", distribution_row("ratio", d))
        }
        None => out.push_str("<p>Not computed (needs two training rows).</p>\n"),
    }
    out
}

fn membership(p: &Privacy) -> String {
    let mut out = String::from("<h3 id=\"membership\">Membership inference</h3>\n");
    out.push_str(&explain(
        "An attacker holding the synthetic rows guesses that a real row was in the training \
         set when a synthetic row lies close to it. Good: an AUC near 0.5 (a coin flip); 1 \
         means the attack always tells training rows from holdout rows.",
    ));
    match &p.membership {
        Some(m) => put!(
            out,
            "<p data-auc=\"{:.4}\">AUC <b>{}</b> over {} training and {} holdout rows.</p>\n",
            m.auc,
            num(m.auc),
            m.members,
            m.non_members
        ),
        None => out.push_str("<p>Not computed (needs a holdout table).</p>\n"),
    }
    out
}

fn attribute_inference(a: Option<&AttributeInference>) -> String {
    let mut out = String::from("<h3 id=\"attribute-inference\">Attribute inference</h3>\n");
    out.push_str(&explain(
        "An attacker who knows a real row's quasi-identifiers looks up the nearest synthetic \
         row and guesses its sensitive value. Risk is the success on training rows beyond both \
         the holdout rows' success and always guessing the most common value. Good: risk near \
         0 for every column.",
    ));
    let Some(a) = a else {
        out.push_str("<p>Not computed (no quasi-identifiers were declared).</p>\n");
        return out;
    };
    let qis: Vec<String> = a.quasi_identifiers.iter().map(|q| escape(q)).collect();
    put!(
        out,
        "<p>Quasi-identifiers: {}</p>\n<table class=\"attributes\"><tr><th>column</th>\
         <th>success on training</th><th>on holdout</th><th>baseline</th><th>risk</th></tr>",
        qis.join(", ")
    );
    for c in &a.columns {
        put!(
            out,
            "<tr data-column=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.column),
            escape(&c.column),
            pct(c.training_success),
            opt(c.holdout_success, pct),
            pct(c.baseline),
            pct(c.risk)
        );
    }
    out.push_str("</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{build_report, ModelPrivacy, ReportOptions};
    use crate::table::Table;

    const HOSTILE: &str = "<b>\"x\"&'";
    const HOSTILE_ESCAPED: &str = "&lt;b&gt;&quot;x&quot;&amp;&#39;";
    /// A category value that would end the JSON block and run a script if written raw.
    const SCRIPT: &str = "</script><script>alert(1)</script>";

    /// A small table: a number, a category, and a category under a hostile name whose values
    /// include [`SCRIPT`]; `shift` changes the values so that the tables differ.
    fn table(rows: usize, shift: usize) -> Table {
        let names = ["age", "colour", HOSTILE].map(String::from).to_vec();
        let colours = ["red", "green", "blue"];
        let cells = (0..rows)
            .map(|i| {
                let k = i * 7 + shift;
                let odd = if k % 5 == 0 { SCRIPT } else { "plain" };
                vec![(20 + k % 50).to_string(), colours[k % 3].to_string(), odd.to_string()]
            })
            .collect();
        Table::new(names, cells).unwrap()
    }

    fn report(holdout: bool) -> Report {
        let (real, synthetic, hold) = (table(80, 0), table(80, 3), table(40, 1));
        let options = ReportOptions {
            quasi_identifiers: vec!["age".into()],
            target: Some("colour".into()),
            model: Some(ModelPrivacy {
                epsilon: 3.0,
                delta: 1e-5,
                accountant: Some("prv".into()),
                unit: None,
                deterministic_noise: false,
            }),
            ..ReportOptions::default()
        };
        let hold = holdout.then_some(&hold);
        build_report(&real, &synthetic, hold, &options, &mut |_, _| {}).unwrap()
    }

    /// The text between the first `start` and the next `end` after it.
    fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
        let from = html.find(start).unwrap_or_else(|| panic!("no {start}")) + start.len();
        let to = html[from..].find(end).unwrap_or_else(|| panic!("no {end} after {start}"));
        &html[from..from + to]
    }

    #[test]
    fn is_one_self_contained_document() {
        let html = render_html(&report(true));
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(html.ends_with("</body>\n</html>\n"));
        // The only address allowed is the SVG namespace, which browsers never fetch.
        let rest = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!rest.contains("http://") && !rest.contains("https://"));
        for tag in ["<link", "<img", "<iframe", "<object", "<embed", "@import", "src="] {
            assert!(!html.contains(tag), "{tag}");
        }
        // Exactly one script element, and it is the JSON data block.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script type=\"application/json\" id=\"report-json\">"));
        // Elements are closed as often as they are opened.
        for tag in ["section", "figure", "svg", "table", "g", "title", "text", "p", "ul"] {
            let (open, close) = (format!("<{tag}>"), format!("<{tag} "));
            let opened = html.matches(&open).count() + html.matches(&close).count();
            assert_eq!(opened, html.matches(&format!("</{tag}>")).count(), "{tag}");
        }
        // Every url() is a fragment inside the page (the hatch patterns).
        assert_eq!(html.matches("url(").count(), html.matches("url(#hatch-").count());
    }

    #[test]
    fn escapes_text_from_the_data() {
        let html = render_html(&report(true));
        assert!(!html.contains(HOSTILE), "raw hostile name");
        assert!(!html.contains("<script>alert"), "raw hostile value");
        assert!(html.contains(&format!("data-column=\"{HOSTILE_ESCAPED}\"")));
        assert_eq!(escape(HOSTILE), HOSTILE_ESCAPED);
        assert_eq!(escape("a\u{0}b\tc"), "a\u{FFFD}b\tc");
    }

    #[test]
    fn one_validity_row_per_compared_column() {
        let r = report(true);
        let html = render_html(&r);
        let section = between(&html, "<section id=\"validity\"", "</section>");
        assert_eq!(section.matches("<tr data-column=").count(), r.validity.columns.len());
        for c in &r.validity.columns {
            let hook =
                format!("data-column=\"{}\" data-validity=\"{:.4}\"", escape(&c.name), c.validity);
            assert!(section.contains(&hook), "{hook}");
        }
        assert!(html.contains("<a href=\"#validity\">Validity</a>"));
    }

    #[test]
    fn one_bar_chart_per_compared_column() {
        let r = report(true);
        let html = render_html(&r);
        let compared: Vec<String> = r
            .fidelity
            .columns
            .iter()
            .filter(|c| c.kind != ColumnKind::Skipped)
            .map(|c| escape(&c.name))
            .collect();
        assert_eq!(compared.len(), 3);
        assert_eq!(html.matches("<svg class=\"bars\"").count(), compared.len());
        let shown: Vec<&str> = html
            .split("<figure class=\"column\"")
            .skip(1)
            .map(|f| between(f, "data-column=\"", "\""))
            .collect();
        assert_eq!(shown, compared);
        // Each chart has one tooltip group per bin, with the full label in it.
        let figures = html.split("<figure class=\"column\"").skip(1);
        for (c, figure) in r.fidelity.columns.iter().zip(figures) {
            let figure = &figure[..figure.find("</figure>").unwrap()];
            assert_eq!(figure.matches("<g class=\"bar\">").count(), c.bins.len());
            let first = &c.bins[0];
            assert!(figure.contains(&format!(
                "<title>{}: real {}",
                escape(&first.label),
                pct(first.real)
            )));
        }
    }

    #[test]
    fn heatmaps_have_a_cell_per_pair() {
        let r = report(true);
        let html = render_html(&r);
        let n = r.correlations.names.len();
        assert_eq!(n, 3);
        for id in ["real", "synthetic", "difference"] {
            let svg = between(&html, &format!("id=\"heatmap-{id}\""), "</svg>");
            assert_eq!(svg.matches("class=\"cell\"").count(), n * n, "{id}");
        }
        // The diagonal of the real matrix is 1: red, and its tooltip names the pair.
        let real = between(&html, "id=\"heatmap-real\"", "</svg>");
        assert!(real.contains("fill=\"#b2182b\"><title>age \u{d7} age: 1.000</title>"));
    }

    #[test]
    fn is_deterministic() {
        let (a, b) = (report(true), report(true));
        assert_eq!(render_html(&a), render_html(&a));
        assert_eq!(render_html(&a), render_html(&b));
    }

    #[test]
    fn embedded_json_is_the_report() {
        for holdout in [true, false] {
            let r = report(holdout);
            let html = render_html(&r);
            let json = between(&html, "id=\"report-json\">", "</script>");
            let back: Report = serde_json::from_str(json).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn scores_and_statements_are_shown() {
        let r = report(true);
        let html = render_html(&r);
        let privacy = r.scores.privacy.as_ref().unwrap();
        let attrs = format!(
            "<section id=\"scores\" data-quality=\"{:.2}\" data-privacy=\"{:.2}\">",
            r.scores.quality.value, privacy.value
        );
        assert!(html.contains(&attrs), "{attrs}");
        for c in r.scores.quality.components.iter().chain(&privacy.components) {
            assert!(html.contains(&format!("<tr data-component=\"{}\">", c.name)));
        }
        assert!(html.contains("(3.000, 1.0e-5)-differentially private"));
        let without = render_html(&report(false));
        assert!(without.contains("data-privacy=\"none\""));
        assert!(without.contains("needs a holdout"));
        assert!(without.contains("<div class=\"warnings\" id=\"warnings\">"));
    }

    #[test]
    fn optional_sections_show_their_charts() {
        let r = report(true);
        let html = render_html(&r);
        let d = r.discriminator.as_ref().expect("80 rows per table are enough");
        let roc = between(&html, "<svg class=\"roc\"", "</svg>");
        assert!(roc.contains(&format!("data-points=\"{}\"", d.roc.len())));
        let importance = between(&html, "<table class=\"importance\">", "</table>");
        assert_eq!(importance.matches("<tr data-column=").count(), d.importance.len());
        let s = r.structure.as_ref().expect("3 columns give features");
        let scatter = between(&html, "<svg class=\"scatter\"", "</svg>");
        assert_eq!(
            scatter.matches("<circle").count(),
            s.real_points.len() + s.synthetic_points.len()
        );
        let components = between(&html, "<svg class=\"components\"", "</svg>");
        assert_eq!(components.matches("<g class=\"bar\">").count(), s.real_shares.len());
        let histogram = between(&html, "<svg class=\"histogram\"", "</svg>");
        let bins = r.privacy.dcr.as_ref().unwrap().histogram.training.len();
        assert_eq!(histogram.matches("<g class=\"bar\">").count(), bins);
        // Two series (training and holdout) per bin.
        assert_eq!(histogram.matches("<rect class=").count(), 2 * bins);
        let u = r.utility.as_ref().expect("a target and a holdout");
        let tstr = between(&html, "<table class=\"tstr\">", "</table>");
        let accuracy = format!(
            "<td>{:.3}</td><td>{:.3}</td>",
            u.tstr.accuracy.unwrap(),
            u.trtr.accuracy.unwrap()
        );
        assert!(tstr.contains(&accuracy), "{tstr}");
        assert!(!tstr.contains("R\u{b2}"), "no R^2 for a classification");
        let attributes = between(&html, "<table class=\"attributes\">", "</table>");
        assert!(attributes.contains("<tr data-column=\"colour\">"));
    }

    #[test]
    fn formats_numbers_by_hand() {
        // 4 significant digits, trailing zeros dropped.
        assert_eq!(num(39.0), "39");
        assert_eq!(num(0.123456), "0.1235");
        assert_eq!(num(-2.5), "-2.5");
        assert_eq!(num(9.99996), "10");
        assert_eq!(num(123456.7), "123457");
        assert_eq!(num(1484705.0), "1484705");
        assert_eq!(num(2.5e10), "2.500e10");
        assert_eq!(num(-0.00001), "-1.000e-5");
        assert_eq!(num(f64::NAN), "n/a");
        assert_eq!(pct(0.1234), "12.3%");
        assert_eq!(pct(0.0001), "&lt;0.1%");
        assert_eq!(pct(0.0), "0.0%");
        assert_eq!(quantile_label(0.05), "5%");
        assert_eq!(truncate("abcdefgh", 5), "abcd\u{2026}");
        assert_eq!(truncate("abc", 5), "abc");
    }

    #[test]
    fn scales_by_hand() {
        // RdBu ends and middle; 0.5 is halfway from (247, 247, 247) to (178, 24, 43):
        // (212.5, 135.5, 145) rounded half away from zero -> (213, 136, 145) = #d58891.
        assert_eq!(diverging(-1.0), "#2166ac");
        assert_eq!(diverging(0.0), "#f7f7f7");
        assert_eq!(diverging(1.0), "#b2182b");
        assert_eq!(diverging(0.5), "#d58891");
        assert_eq!(diverging(7.0), "#b2182b");
        // Nice ceilings: 1, 2, 2.5 or 5 times a power of ten.
        assert_eq!(nice_ceiling(0.37), 0.5);
        assert_eq!(nice_ceiling(0.21), 0.25);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(1234.0), 2000.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }

    /// Size and time on UCI Adult: `cargo test --release --lib html -- --ignored --nocapture`.
    /// The synthetic table is the training table with each column rotated by its own offset
    /// (same marginals, broken joints), written to /tmp/adult-report.html for a look.
    #[test]
    #[ignore]
    fn adult_report_size() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/adult.csv");
        let Ok(text) = std::fs::read_to_string(path) else {
            return eprintln!("{path} not found: skipped");
        };
        let all = Table::from_csv_str(&text, Some(b',')).unwrap();
        let (train, hold) = all.rows().split_at(all.num_rows() - 6500);
        let columns = all.names().len();
        let rotated = (0..train.len())
            .map(|i| (0..columns).map(|c| train[(i + 977 * c) % train.len()][c].clone()).collect())
            .collect();
        let table = |rows: Vec<Vec<String>>| Table::new(all.names().to_vec(), rows).unwrap();
        let (real, synthetic, holdout) =
            (table(train.to_vec()), table(rotated), table(hold.to_vec()));
        let options = ReportOptions {
            target: Some("income-per-year".into()),
            quasi_identifiers: ["age", "sex", "race"].map(String::from).to_vec(),
            ..ReportOptions::default()
        };
        let r = build_report(&real, &synthetic, Some(&holdout), &options, &mut |_, _| {}).unwrap();
        let start = std::time::Instant::now();
        let html = render_html(&r);
        let elapsed = start.elapsed();
        let json = serde_json::to_string(&r).unwrap().len();
        eprintln!("Adult: {} bytes of HTML ({json} of them JSON) in {elapsed:?}", html.len());
        std::fs::write("/tmp/adult-report.html", &html).unwrap();
        assert!(html.len() < 1_000_000);
    }
}
