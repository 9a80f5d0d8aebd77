//! `doppel report`: the quality and privacy report of a synthetic table, as text on the
//! terminal, JSON and a self-contained HTML page.

use std::path::{Path, PathBuf};
use std::time::Instant;

use doppel_core::config::from_json_object;
use doppel_core::ingest::{
    check_delimiter, delimiter_name, detect_delimiter, read_capped, read_table, Format, ReadOptions,
};
use doppel_core::limits::MAX_CONFIG_FILE_BYTES;
use doppel_core::output::write_atomic;
use doppel_core::{ColumnKind, TrainedModel};
use doppel_report::report::{build_report, ModelPrivacy, Report, ReportOptions};
use doppel_report::Table;
use indicatif::{ProgressBar, ProgressStyle};

use crate::exit::CliError;
use crate::{input_error, CliResult, FormatArg};

/// Flags of `doppel report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// The real table the model was trained on (.csv, .tsv, .txt, .parquet, .pq, .arrow,
    /// .arrows, .ipc, .feather; another extension needs --format).
    #[arg(long)]
    pub real: PathBuf,
    /// The synthetic table.
    #[arg(long)]
    pub synthetic: PathBuf,
    /// Real rows NOT used in training: needed for utility and the privacy score.
    #[arg(long)]
    pub holdout: Option<PathBuf>,
    /// Column to predict for the utility metrics (train on synthetic, test on holdout).
    #[arg(long)]
    pub target: Option<String>,
    /// Columns an attacker may know, comma-separated (for attribute inference).
    #[arg(long, value_delimiter = ',')]
    pub quasi_identifiers: Vec<String>,
    /// Columns an attacker tries to infer, comma-separated (default: all the others).
    #[arg(long, value_delimiter = ',')]
    pub sensitive: Vec<String>,
    /// The model that generated the synthetic table: its privacy guarantee and its
    /// constraints are shown.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The conditions the synthetic rows were generated with (`generate --where`), shown on
    /// the page next to the scores (repeat or join with `and`).
    #[arg(long = "where", value_name = "CONDITION")]
    pub conditions: Vec<String>,
    /// The rebalancing the synthetic rows were generated with (`generate --rebalance`), shown.
    #[arg(long, value_name = "COLUMN=VALUE:SHARE")]
    pub rebalance: Vec<String>,
    /// The fairness the synthetic rows were generated with (`generate --fair`), shown.
    #[arg(long, value_name = "target=COLUMN sensitive=COLUMN")]
    pub fair: Option<String>,
    /// Report options (the `ReportOptions` fields of docs/report.md), as inline JSON (an
    /// argument starting with `{`, e.g. '{"placeholders": ["_RARE_", "N/A"]}') or the path of a
    /// JSON file; flags override them.
    #[arg(long, value_name = "JSON|FILE")]
    pub options: Option<String>,
    /// Seed for the report's samples (rows, folds, triples).
    #[arg(long)]
    pub seed: Option<u64>,
    /// CSV field delimiter of the input tables (default: detected in each CSV file among
    /// , ; tab | from its first lines).
    #[arg(long)]
    pub delimiter: Option<char>,
    /// Format of every input table, whatever their extensions (default: from each extension).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Where to write the report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where to write the report as a self-contained HTML page.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

/// Runs `doppel report`.
pub fn run(args: &ReportArgs) -> CliResult<()> {
    let mut options = match args.options.as_deref() {
        Some(given) => report_options(given)?,
        None => ReportOptions::default(),
    };
    if let Some(target) = &args.target {
        options.target = Some(target.clone());
    }
    if !args.quasi_identifiers.is_empty() {
        options.quasi_identifiers = args.quasi_identifiers.clone();
    }
    if !args.sensitive.is_empty() {
        options.sensitive = args.sensitive.clone();
    }
    if let Some(seed) = args.seed {
        options.seed = seed;
    }
    if !args.conditions.is_empty() {
        options.steering.conditions = args.conditions.join(" and ");
    }
    if !args.rebalance.is_empty() {
        options.steering.rebalance = args.rebalance.join(";");
    }
    if let Some(fair) = &args.fair {
        options.steering.fair = fair.clone();
    }
    let delimiter = args
        .delimiter
        .map(|d| check_delimiter(d, "--delimiter"))
        .transpose()
        .map_err(CliError::from)?;
    // Every output against every input (also through links): `--json` = `--real` would
    // overwrite the real table.
    let options_file = args.options.as_deref().filter(|o| !is_inline(o)).map(Path::new);
    let inputs: Vec<&Path> =
        [Some(args.real.as_path()), Some(&args.synthetic), args.holdout.as_deref()]
            .into_iter()
            .chain([args.model.as_deref(), options_file])
            .flatten()
            .collect();
    let written: Vec<&Path> =
        [args.json.as_deref(), args.html.as_deref()].into_iter().flatten().collect();
    for output in &written {
        doppel_core::output::refuse_output_over_inputs(output, &inputs).map_err(CliError::from)?;
    }
    if let Some(path) = &args.model {
        apply_model(path, &mut options)?;
        if options.model.is_none() {
            eprintln!("note: {} was trained without differential privacy", path.display());
        }
    }
    let tables = Inputs {
        real: &args.real,
        synthetic: &args.synthetic,
        holdout: args.holdout.as_deref(),
        delimiter,
        format: args.format.map(Format::from),
    };
    let outputs = Outputs { json: args.json.as_deref(), html: args.html.as_deref() };
    report(&tables, &options, &outputs)
}

/// Whether an `--options` argument is inline JSON rather than a path: it starts with `{`
/// (after whitespace), which no options file name sensibly does.
fn is_inline(options: &str) -> bool {
    options.trim_start().starts_with('{')
}

/// The report options of `--options`: inline JSON, or the JSON file at that path. A bad value
/// is a usage error (exit 2) naming the key at fault, as a bad configuration is.
fn report_options(given: &str) -> CliResult<ReportOptions> {
    let (text, source) = if is_inline(given) {
        (given.to_string(), "--options".to_string())
    } else {
        let path = Path::new(given);
        let bytes =
            read_capped(path, MAX_CONFIG_FILE_BYTES, "an options file", "MAX_CONFIG_FILE_BYTES")
                .map_err(CliError::from)?;
        (String::from_utf8(bytes).map_err(|e| at(path, e))?, path.display().to_string())
    };
    from_json_object(&text).map_err(|e| CliError::new(crate::exit::USAGE, format!("{source}: {e}")))
}

/// The files the report compares.
pub struct Inputs<'a> {
    /// The real table the model was trained on.
    pub real: &'a Path,
    /// The synthetic table.
    pub synthetic: &'a Path,
    /// Real rows not used in training.
    pub holdout: Option<&'a Path>,
    /// CSV field delimiter; `None` detects it in each CSV file.
    pub delimiter: Option<u8>,
    /// The tables' format; `None` takes each one's from its extension.
    pub format: Option<Format>,
}

/// Where the report goes besides the terminal.
pub struct Outputs<'a> {
    /// JSON file.
    pub json: Option<&'a Path>,
    /// HTML file.
    pub html: Option<&'a Path>,
}

/// Builds the report, prints its summary and writes the requested files.
pub fn report(inputs: &Inputs, options: &ReportOptions, outputs: &Outputs) -> CliResult<()> {
    let load = |path: &Path| load(path, inputs.delimiter, inputs.format);
    let real_table = load(inputs.real)?;
    let synthetic_table = load(inputs.synthetic)?;
    let holdout_table = inputs.holdout.map(load).transpose()?;
    let files = [Some(inputs.real), Some(inputs.synthetic), inputs.holdout].into_iter().flatten();
    let names: Vec<String> = files.map(|p| p.display().to_string()).collect();
    let label = names.join(", ");
    report_tables(&real_table, &synthetic_table, holdout_table.as_ref(), &label, options, outputs)
}

/// Builds the report from tables in memory; `label` names them in error messages.
pub fn report_tables(
    real_table: &Table,
    synthetic_table: &Table,
    holdout_table: Option<&Table>,
    label: &str,
    options: &ReportOptions,
    outputs: &Outputs,
) -> CliResult<()> {
    let started = Instant::now();
    let bar = ProgressBar::new(100).with_style(
        ProgressStyle::with_template("report {bar:30} {percent:>3}% {msg}")
            .map_err(CliError::from)?,
    );
    let mut progress = |stage: &str, fraction: f64| {
        bar.set_position((fraction * 100.0) as u64);
        bar.set_message(stage.to_string());
    };
    let built = build_report(real_table, synthetic_table, holdout_table, options, &mut progress);
    bar.finish_and_clear();
    let report = built.map_err(|e| {
        let error = CliError::from(e);
        CliError::new(error.code, format!("{error} (comparing {label})"))
    })?;
    print_summary(&report);
    if let Some(path) = outputs.json {
        let text = serde_json::to_string_pretty(&report).map_err(CliError::from)?;
        write_atomic(path, text.as_bytes()).map_err(CliError::from)?;
        eprintln!("report written to {}", path.display());
    }
    if let Some(path) = outputs.html {
        let page = doppel_report::html::render_html(&report);
        write_atomic(path, page.as_bytes()).map_err(CliError::from)?;
        eprintln!("report written to {} (open it in a browser)", path.display());
    }
    eprintln!("report took {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Bad data in the file at `path` (exit code 3).
fn at(path: &Path, error: impl std::fmt::Display) -> CliError {
    CliError::new(crate::exit::DATA, format!("{}: {error}", path.display()))
}

/// Reads a table for the report through doppel-core's reader (in `format`, or the one its
/// extension names; CSV split at `delimiter`, or at the one detected and said when `None`;
/// Parquet, Arrow IPC), within the default limits and refusing a file that is not regular,
/// with nulls as empty cells (a missing-value token).
pub fn load(path: &Path, delimiter: Option<u8>, format: Option<Format>) -> CliResult<Table> {
    let format = Format::resolve(path, format).map_err(input_error)?;
    let delimiter = match delimiter {
        None if format == Format::Csv => {
            let detected = detect_delimiter(path).map_err(CliError::from)?;
            eprintln!(
                "delimiter of {}: {} (detected; --delimiter sets another)",
                path.display(),
                delimiter_name(detected)
            );
            Some(detected)
        }
        other => other,
    };
    let options = ReadOptions { delimiter, format: Some(format), ..ReadOptions::default() };
    let table = read_table(path, &options).map_err(input_error)?;
    Ok(table.to_text_table())
}

/// What the report takes from the model file at `path`: its constraints (shown), the privacy
/// guarantee it states (if it was trained with DP), and its identifier columns, left out of
/// the metrics (with a note):
/// the model regenerates them in the source's shapes, never learning or copying their values,
/// so comparing them (synthetic ids start after the source's) would only show a discriminator
/// the ids.
pub fn apply_model(path: &Path, options: &mut ReportOptions) -> CliResult<()> {
    let metadata = TrainedModel::read_metadata(path).map_err(CliError::from)?;
    options.model = metadata.summary.privacy.as_ref().map(ModelPrivacy::from);
    // Declared by the user, so public: shown as written.
    options.steering.constraints = metadata.config.constraints.clone();
    for column in &metadata.tokenizer.schema().columns {
        if matches!(column.kind, ColumnKind::Identifier { .. })
            && !options.fidelity.skip_columns.contains(&column.name)
        {
            eprintln!(
                "note: column '{}' is an identifier the model regenerates (not learned): left \
                 out of the metrics",
                column.name
            );
            options.fidelity.skip_columns.push(column.name.clone());
        }
    }
    Ok(())
}

fn print_summary(report: &Report) {
    let quality = &report.scores.quality;
    println!(
        "quality score        {:.1} / 100 ({}: {})",
        quality.value, quality.grade, quality.meaning
    );
    match &report.scores.privacy {
        Some(p) => {
            println!("privacy score        {:.1} / 100 ({}: {})", p.value, p.grade, p.meaning)
        }
        None => println!("privacy score        needs --holdout (real rows not used in training)"),
    }
    let f = &report.fidelity;
    println!("univariate accuracy  {:.4}", f.univariate);
    if let Some(b) = f.bivariate {
        println!("bivariate accuracy   {b:.4}");
    }
    if let Some(t) = f.trivariate {
        println!("trivariate accuracy  {t:.4}");
    }
    println!("overall accuracy     {:.4}", f.overall);
    println!("correlation diff.    {:.4}", report.correlations.mean_abs_difference);
    for part in
        quality.components.iter().chain(report.scores.privacy.iter().flat_map(|p| &p.components))
    {
        println!("  {:<22} {:.3}  {}", part.name, part.value, part.explanation);
    }
    println!("exact-row share      {:.5}", f.exact_row_share);
    if let Some(model) = &report.model {
        println!("{}", model.statement());
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
}
