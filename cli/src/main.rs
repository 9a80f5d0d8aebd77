//! `doppel`: learn a private table and generate a synthetic twin of it.

mod exit;
mod inspect;
mod privacy;
mod progress;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use clap::{Parser, Subcommand};
use doppel_core::config::{Delta, PrivacyConfig};
use doppel_core::filter::PrivacyFilter;
use doppel_core::generate::{
    generate_filtered_to_file, generate_seeded_to_file, impute_to_file, GenerateOptions, Sampling,
};
use doppel_core::ingest::{
    check_delimiter, delimiter_name, detect_delimiter, in_file, read_table, Format, ReadOptions,
};
use doppel_core::output::refuse_output_over_inputs;
use doppel_core::steer::Seed;
use doppel_core::{train, AccountantKind, DeviceChoice, TrainConfig, TrainedModel};
use exit::CliError;
use progress::{GenerationProgress, TrainingProgress};

#[derive(Parser)]
#[command(
    name = "doppel",
    version,
    about = "Learn a private table and generate a synthetic twin of it",
    after_help = exit::HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model on a CSV, Parquet or Arrow IPC file.
    Train(TrainArgs),
    /// Generate synthetic rows from a trained model.
    Generate(GenerateArgs),
    /// Fill the missing cells of a table with draws from the model given each row's known
    /// cells (known cells are never changed).
    Impute(ImputeArgs),
    /// Print a short summary of a model: its columns, training and privacy guarantee.
    Inspect {
        /// The model file.
        #[arg(long)]
        model: PathBuf,
        /// Print everything the model file states as JSON instead: the schema, tokenizer,
        /// configuration and training summary, with the guarantee up front (`epsilon`, `delta`).
        #[arg(long)]
        json: bool,
    },
    /// The quality and privacy report of a synthetic table (terminal, JSON, HTML).
    Report(report::ReportArgs),
    /// Train, generate and report in one go (on the bundled Adult data by default).
    Run {
        /// The training data.
        #[arg(long, default_value = "data/adult.csv")]
        input: PathBuf,
        /// Format of --input, whatever its extension (default: from the extension).
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Where to write the model.
        #[arg(long, default_value = "model.doppel")]
        model: PathBuf,
        /// Where to write the synthetic data.
        #[arg(long, default_value = "synthetic.csv")]
        output: PathBuf,
        /// Rows to generate (default: as many as the model was trained on).
        #[arg(long)]
        rows: Option<usize>,
        /// Share of the input's rows kept out of training (drawn with the seed), so that the
        /// report can measure privacy against real rows the model never saw; 0 trains on all.
        #[arg(long, default_value_t = 0.2)]
        holdout_share: f64,
        /// Training configuration (TOML or JSON).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed for training and generation.
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the report as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Where to write the report as a self-contained HTML page.
        #[arg(long, default_value = "report.html")]
        html: PathBuf,
        /// Where to train and generate: auto, cpu or cuda (default: the configuration's
        /// training.device, auto).
        #[arg(long, value_parser = parse_device)]
        device: Option<DeviceChoice>,
        #[command(flatten)]
        privacy: PrivacyArgs,
    },
    /// Differential-privacy accounting: epsilon spent, or the noise a budget needs.
    Privacy(privacy::PrivacyArgs),
}

/// A table format named on the command line (`--format`).
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    /// Delimited text (RFC 4180 CSV; the delimiter is detected or given with --delimiter).
    Csv,
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC (file or stream format).
    Arrow,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Format {
        match format {
            FormatArg::Csv => Format::Csv,
            FormatArg::Parquet => Format::Parquet,
            FormatArg::Arrow => Format::ArrowIpc,
        }
    }
}

/// An error reading an input, as the CLI prints it: an unknown extension also says how to
/// name the format.
pub fn input_error(error: doppel_core::Error) -> CliError {
    format_error(error, "input")
}

/// `error` as the CLI prints it; an unknown extension of the `which` file (`input`, `output`)
/// also says how to name its format.
fn format_error(error: doppel_core::Error, which: &str) -> CliError {
    match error {
        doppel_core::Error::UnknownFormat { .. } => CliError::new(
            exit::USAGE,
            format!("{error}; or give the {which}'s format with --format csv|parquet|arrow"),
        ),
        other => other.into(),
    }
}

#[derive(clap::Args)]
struct TrainArgs {
    /// The training data: .csv, .tsv, .txt or no extension (CSV), .parquet, .pq, .arrow,
    /// .arrows, .ipc, .feather; another extension needs --format.
    #[arg(long)]
    input: PathBuf,
    /// Format of --input, whatever its extension (default: from the extension).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Where to write the model.
    #[arg(long)]
    model: PathBuf,
    /// Training configuration (TOML or JSON); flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed for every random choice.
    #[arg(long)]
    seed: Option<u64>,
    /// Upper bound on epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// CSV field delimiter (default: detected among , ; tab | from the first lines).
    #[arg(long)]
    delimiter: Option<char>,
    /// Where to train: auto (a CUDA GPU in a build with CUDA, when one is present), cpu or
    /// cuda (default: the configuration's training.device, auto).
    #[arg(long, value_parser = parse_device)]
    device: Option<DeviceChoice>,
    /// Train LoRA adapters on this pretrained Llama-family model (a local Hugging Face
    /// directory: config.json, *.safetensors, tokenizer.json) instead of doppel's LSTM; sets
    /// model.kind = "lora" and model.base_model. Nothing is downloaded.
    #[arg(long, value_name = "DIR")]
    base_model: Option<PathBuf>,
    #[command(flatten)]
    privacy: PrivacyArgs,
}

/// `--device auto|cpu|cuda`.
fn parse_device(text: &str) -> Result<DeviceChoice, String> {
    text.parse().map_err(|e: doppel_core::Error| e.to_string())
}

/// Differential-privacy flags of `train` and `run` (they override the config file's [privacy]).
#[derive(clap::Args, Default)]
struct PrivacyArgs {
    /// Train with differential privacy (DP-SGD); needs --epsilon or --noise-multiplier.
    #[arg(long)]
    dp: bool,
    /// Target epsilon; the noise is calibrated to meet it.
    #[arg(long)]
    epsilon: Option<f64>,
    /// Delta of the guarantee: a number, or "auto" (1/n^1.2 for n privacy units).
    #[arg(long)]
    delta: Option<String>,
    /// Noise multiplier (instead of --epsilon); epsilon is then reported.
    #[arg(long)]
    noise_multiplier: Option<f64>,
    /// Clip norm of each privacy unit's gradient.
    #[arg(long)]
    max_grad_norm: Option<f64>,
    /// Privacy accountant: prv (tight, numerical) or rdp (Rényi DP).
    #[arg(long, value_parser = ["prv", "rdp"])]
    accountant: Option<String>,
    /// Stop training before epsilon would exceed this.
    #[arg(long)]
    max_epsilon: Option<f64>,
    /// Column identifying a subject: all its rows form one privacy unit (default: each row).
    #[arg(long)]
    privacy_unit: Option<String>,
}

impl PrivacyArgs {
    /// Applies the flags that were given on top of `config`.
    fn apply(&self, config: &mut PrivacyConfig) -> CliResult<()> {
        config.dp |= self.dp;
        if let Some(d) = &self.delta {
            config.delta = match d.as_str() {
                "auto" => Delta::Auto,
                text => Delta::Value(
                    text.parse()
                        .map_err(|_| format!("--delta must be a number or auto, got {text}"))?,
                ),
            };
        }
        if let Some(a) = &self.accountant {
            config.accountant = if a == "rdp" { AccountantKind::Rdp } else { AccountantKind::Prv };
        }
        let set = |slot: &mut Option<f64>, v: Option<f64>| {
            if v.is_some() {
                *slot = v;
            }
        };
        set(&mut config.epsilon, self.epsilon);
        set(&mut config.noise_multiplier, self.noise_multiplier);
        set(&mut config.max_epsilon, self.max_epsilon);
        if let Some(c) = self.max_grad_norm {
            config.max_grad_norm = c;
        }
        if let Some(u) = &self.privacy_unit {
            config.privacy_unit = Some(u.clone());
        }
        Ok(())
    }
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// Rows to generate (with --seed-data: one per seed row unless given).
    #[arg(long, required_unless_present = "seed_data")]
    rows: Option<usize>,
    /// A condition every row satisfies, such as "age >= 60", "sex = Female" or
    /// "workclass in (Private, State-gov)"; several are joined with `and` (in one flag or
    /// repeated). Operators: = != < <= > >= in (…) not in (…); quote names or values with
    /// spaces. The other columns follow the model's distribution given the conditions.
    #[arg(long = "where", value_name = "CONDITION")]
    conditions: Vec<String>,
    /// Shares of a categorical column's values in the output, such as "sex=Female:0.5" or
    /// "race=Black:0.2,Asian-Pac-Islander:0.1" (repeat for several columns); the other values
    /// share the rest as the model does, and every other column follows its distribution given
    /// the rebalanced ones.
    #[arg(long, value_name = "COLUMN=VALUE:SHARE")]
    rebalance: Vec<String>,
    /// Fairness, such as "target=income sensitive=sex": the target's distribution is made the
    /// same for every value of the sensitive column (statistical parity); the other columns
    /// follow their distribution given both.
    #[arg(long, value_name = "target=COLUMN sensitive=COLUMN")]
    fair: Option<String>,
    /// A table (CSV, Parquet or Arrow IPC) of seed rows: one row is generated per seed row,
    /// with the seed's cells exactly as given and its empty (or null) cells generated given
    /// them. Its columns are matched to the model's by name; columns it lacks are generated.
    #[arg(long, value_name = "FILE")]
    seed_data: Option<PathBuf>,
    /// Output file; the format follows the extension (.csv, .tsv, .txt, .parquet, .pq, .arrow,
    /// .arrows, .ipc, .feather; another one needs --format); a path without one, such as `-`
    /// (standard output), is CSV. A symbolic link's target is replaced; a character device or
    /// FIFO is written through.
    #[arg(long)]
    output: PathBuf,
    /// Seed of the generation.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Sampling temperature (1 = the learned distribution).
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Sample only among the k most likely tokens (0 = all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Sample only among the most likely tokens holding this much probability (1 = all).
    #[arg(long, default_value_t = 1.0)]
    top_p: f64,
    /// Where to generate: auto (a CUDA GPU in a build with CUDA, when one is present), cpu or
    /// cuda.
    #[arg(long, value_parser = parse_device, default_value = "auto")]
    device: DeviceChoice,
    /// Format of --output, whatever its extension (default: from the extension).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// A LoRA model's base model directory, when not where training read it (the model file
    /// records its checksum: another base is refused).
    #[arg(long, value_name = "DIR")]
    base_model: Option<PathBuf>,
    /// Privacy filter: the training table (CSV, Parquet or Arrow IPC); generated rows
    /// within --filter-distance of one of its rows are dropped and replaced, and the count
    /// of dropped rows is printed. Not for DP models (the filter reads the private rows),
    /// nor with --seed-data.
    #[arg(long, value_name = "FILE", conflicts_with = "seed_data")]
    filter_against: Option<PathBuf>,
    /// The privacy filter's distance: the mean over columns of a per-cell distance in [0, 1]
    /// (numbers and dates: the difference over the column's range; others: 0 equal, 1 not).
    /// 0 drops exact copies only.
    #[arg(long, default_value_t = 0.0, requires = "filter_against")]
    filter_distance: f64,
}

#[derive(clap::Args)]
struct ImputeArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// The table whose missing cells (empty, null, or a missing-value token such as `?`) are
    /// filled; its columns are matched to the model's by name.
    #[arg(long)]
    input: PathBuf,
    /// Output file: the input's rows with their missing cells filled (format as for
    /// `generate --output`).
    #[arg(long)]
    output: PathBuf,
    /// Seed of the draws.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Draws per missing cell: 1 fills each with one draw from the model given the row's known
    /// cells (the imputed table keeps the data's spread); more fill each with their typical
    /// value (the median of a number's draws, else the most frequent draw: a category, a text,
    /// a date), closer to the truth on average.
    #[arg(long, default_value_t = 1)]
    draws: usize,
    /// Where to run: auto, cpu or cuda.
    #[arg(long, value_parser = parse_device, default_value = "auto")]
    device: DeviceChoice,
    /// Format of --output, whatever its extension (default: from the extension).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
}

type CliResult<T> = Result<T, CliError>;

/// Keeps the memory of freed tensors for reuse instead of handing it back to the kernel after
/// every step. glibc's allocator serves a tensor of a few MB by mmap or from a thread's arena and
/// returns it on free (munmap, or madvise when the arena's top is trimmed); the next step's tensor
/// of the same size then faults every page in again. Generating 30,000 Adult rows took 921,132
/// page faults and 2.87 s; with a fixed 32 MiB mmap threshold (which also stops glibc from moving
/// it) and a 256 MiB trim threshold, 5,896 faults and 1.91 s, and a training epoch 14 % less time
/// for 10 % more peak memory (BENCHMARKS.md). Only the CLI does this: a library must leave its
/// host's allocator settings alone. `GLIBC_TUNABLES` naming malloc settings takes precedence.
fn keep_freed_tensor_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tuned = std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc."));
        if !tuned {
            // SAFETY: mallopt only sets allocator parameters; it is called before any thread
            // starts, and a refusal (return 0) leaves the defaults, which are correct too.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
            }
        }
    }
}

fn main() -> ExitCode {
    // candle's element-wise thread pool serialises concurrent callers, and doppel already runs
    // batch shards and generation batches in parallel: one candle thread per caller is fastest
    // (7 s vs 16 s per Adult epoch on 2 cores; see BENCHMARKS.md).
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    restore_default_sigpipe();
    keep_freed_tensor_memory();
    remove_temporary_files_on_signals();
    let last_panic = report_panics_only_when_they_escape();
    match std::panic::catch_unwind(|| run(Cli::parse())) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("error: {}", error.message);
            ExitCode::from(error.code)
        }
        Err(_) => {
            let what = last_panic.lock().map(|m| m.clone()).unwrap_or_default();
            eprintln!("error: internal error (a bug in doppel; please report it): {what}");
            doppel_core::output::remove_temporary_files();
            ExitCode::from(101)
        }
    }
}

/// Rust starts programs with SIGPIPE ignored, so printing into a closed pipe (`doppel inspect
/// --json | head`) fails and `println!` panics. A command-line tool ends quietly there instead,
/// killed by SIGPIPE as `cat` is. Files are never written through standard output's pipe except
/// with `--output -`, which then stops the same way.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to the default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Replaces the default panic hook, which prints every panic, also one the library catches
/// and turns into an error (a third-party decoder failing on a corrupt file is reported as
/// "not a readable ... file", not as a crash). The hook only records the message and where; the
/// caller prints it if the panic escapes. Panics reach the main thread: rayon re-raises a
/// worker's panic in the thread that waits for it.
fn report_panics_only_when_they_escape() -> std::sync::Arc<std::sync::Mutex<String>> {
    let last = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let record = last.clone();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut last) = record.lock() {
            // With RUST_BACKTRACE set, as the default hook would show it.
            let trace = std::backtrace::Backtrace::capture();
            *last = match trace.status() {
                std::backtrace::BacktraceStatus::Captured => format!("{info}\n{trace}"),
                _ => info.to_string(),
            };
        }
    }));
    last
}

/// On SIGINT, SIGTERM and SIGHUP (the terminal closed), removes the temporary files of
/// unfinished outputs and exits with 128 + the signal (130, 143, 129), as a shell reports a
/// process killed by it. The library installs
/// no handler (it runs inside other people's processes); the CLI owns its process.
fn remove_temporary_files_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        // Without the handler a signal still ends the process; the next run removes what it
        // leaves (see doppel_core::output).
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            doppel_core::output::remove_temporary_files();
            std::process::exit(128 + signal);
        }
    });
}

/// Fails when one of `outputs` is the same file as one of `inputs` (also through links).
fn refuse_overwriting(outputs: &[&Path], inputs: &[&Path]) -> CliResult<()> {
    for output in outputs {
        refuse_output_over_inputs(output, inputs).map_err(CliError::from)?;
    }
    Ok(())
}

fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Train(args) => {
            let config_path = args.config.as_deref();
            let inputs: Vec<&Path> =
                [Some(args.input.as_path()), config_path].into_iter().flatten().collect();
            refuse_overwriting(&[&args.model], &inputs)?;
            let mut config = load_config(
                config_path,
                args.seed,
                args.epochs,
                args.delimiter,
                &args.privacy,
                args.base_model,
            )?;
            config.training.device = args.device.unwrap_or(config.training.device);
            let input = Input { path: &args.input, format: args.format.map(Format::from) };
            train_command(&input, &args.model, &mut config, 0.0).map(drop)
        }
        Command::Generate(args) => {
            let options = GenerateOptions {
                rows: args.rows.unwrap_or(0),
                seed: args.seed,
                sampling: Sampling {
                    temperature: args.temperature,
                    top_k: args.top_k,
                    top_p: args.top_p,
                },
                conditions: args.conditions.join(" and "),
                rebalance: args.rebalance.join(";"),
                fair: args.fair.unwrap_or_default(),
                ..GenerateOptions::default()
            };
            let output = Output { path: &args.output, format: args.format.map(Format::from) };
            let sources = Sources {
                seed: args.seed_data.as_deref().map(|path| SeedFile { path, impute: false }),
                filter: args.filter_against.as_deref().map(|p| (p, args.filter_distance)),
            };
            let load = Load { device: args.device, base: args.base_model.as_deref() };
            generate_command(&args.model, &options, sources, &output, load, args.rows, 1)
        }
        Command::Impute(args) => {
            let options = GenerateOptions { seed: args.seed, ..GenerateOptions::default() };
            let output = Output { path: &args.output, format: args.format.map(Format::from) };
            let seed = Some(SeedFile { path: &args.input, impute: true });
            let sources = Sources { seed, filter: None };
            let draws = args.draws;
            let load = Load { device: args.device, base: None };
            generate_command(&args.model, &options, sources, &output, load, None, draws)
        }
        Command::Inspect { model: path, json } => {
            // Inspect writes nothing but standard output.
            let metadata = TrainedModel::read_metadata(&path).map_err(CliError::from)?;
            if !json {
                print!("{}", inspect::summary(&path, &metadata));
                return Ok(());
            }
            let mut value = serde_json::to_value(&metadata).map_err(CliError::from)?;
            // The guarantee up front, as the (verified) statement serialises it: `epsilon` is
            // null for a model trained without DP, "inf" for no finite bound.
            let privacy = value.pointer("/summary/privacy").cloned().unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object
                    .insert("epsilon".into(), privacy.get("epsilon").cloned().unwrap_or_default());
                object.insert("delta".into(), privacy.get("delta").cloned().unwrap_or_default());
            }
            let text = serde_json::to_string_pretty(&value).map_err(CliError::from)?;
            println!("{text}");
            Ok(())
        }
        Command::Report(args) => report::run(&args),
        Command::Run {
            input,
            format,
            model,
            output,
            rows,
            holdout_share,
            config,
            seed,
            json,
            html,
            device,
            privacy,
        } => {
            let inputs: Vec<&Path> =
                [Some(input.as_path()), config.as_deref()].into_iter().flatten().collect();
            let mut reports: Vec<&Path> = vec![&html];
            reports.extend(json.as_deref());
            // Every output against every input, and the later stages' outputs against the
            // earlier stages' (checked again before each stage, once they exist).
            let check = || -> CliResult<()> {
                refuse_overwriting(&[&model, &output], &inputs)?;
                refuse_overwriting(&[&output], &[&model])?;
                refuse_overwriting(&reports, &inputs)?;
                refuse_overwriting(&reports, &[&model, &output])
            };
            check()?;
            // Before the training, not after it: an output named with an unknown extension.
            Format::of_path(&output).map_err(CliError::from)?;
            let mut config = load_config(config.as_deref(), seed, None, None, &privacy, None)?;
            config.training.device = device.unwrap_or(config.training.device);
            let source = Input { path: &input, format: format.map(Format::from) };
            let split = train_command(&source, &model, &mut config, holdout_share)?;
            check()?;
            let options = GenerateOptions {
                rows: rows.unwrap_or(split.training.num_rows()),
                seed: config.training.seed,
                ..GenerateOptions::default()
            };
            let out = Output { path: &output, format: None };
            generate_command(
                &model,
                &options,
                Sources { seed: None, filter: None },
                &out,
                Load { device: config.training.device, base: None },
                None,
                1,
            )?;
            check()?;
            let outputs = report::Outputs { json: json.as_deref(), html: Some(&html) };
            let mut report_options = doppel_report::ReportOptions::default();
            report::apply_model(&model, &mut report_options)?;
            let real = split.training.to_text_table();
            let holdout = split.holdout.as_ref().map(doppel_core::Table::to_text_table);
            // The synthetic CSV was written with the training data's delimiter.
            let delimiter = config.delimiter.map_or(Ok(b','), |d| check_delimiter(d, "delimiter"));
            let delimiter = Some(delimiter.map_err(CliError::from)?);
            let synthetic = report::load(&output, delimiter, None)?;
            let label = format!("{} and {}", input.display(), output.display());
            report::report_tables(
                &real,
                &synthetic,
                holdout.as_ref(),
                &label,
                &report_options,
                &outputs,
            )
        }
        Command::Privacy(args) => privacy::run(args),
    }
}

fn load_config(
    path: Option<&Path>,
    seed: Option<u64>,
    epochs: Option<usize>,
    delimiter: Option<char>,
    privacy: &PrivacyArgs,
    base_model: Option<PathBuf>,
) -> CliResult<TrainConfig> {
    let mut config = match path {
        Some(p) => TrainConfig::from_file(p).map_err(CliError::from)?,
        None => TrainConfig::default(),
    };
    if let Some(seed) = seed {
        config.training.seed = seed;
    }
    if let Some(epochs) = epochs {
        config.training.max_epochs = Some(epochs);
    }
    if let Some(d) = delimiter {
        check_delimiter(d, "--delimiter").map_err(CliError::from)?;
        config.delimiter = Some(d);
    }
    privacy.apply(&mut config.privacy)?;
    if let Some(base) = base_model {
        config.model.kind = doppel_core::config::ModelKind::Lora;
        config.model.base_model = Some(base);
    }
    config.validate().map_err(CliError::from)?;
    Ok(config)
}

/// Trains and saves a model; returns the number of input rows.
/// The rows a model was trained on, and those kept out of training.
struct Split {
    training: doppel_core::Table,
    holdout: Option<doppel_core::Table>,
}

/// Splits off a seeded random `share` of the rows as a holdout (none when `share` is 0).
fn split_holdout(table: doppel_core::Table, share: f64, seed: u64) -> CliResult<Split> {
    if !(0.0..1.0).contains(&share) {
        return Err(format!("--holdout-share must be in [0, 1), got {share}").into());
    }
    let n = table.num_rows();
    let held = (share * n as f64).round() as usize;
    if held == 0 {
        return Ok(Split { training: table, holdout: None });
    }
    let mut order: Vec<usize> = (0..n).collect();
    // The same rows for a seed in every version (see `stable_shuffle`).
    doppel_table::rng::stable_shuffle(&mut order, seed);
    let (mut holdout, mut training) = (order[..held].to_vec(), order[held..].to_vec());
    holdout.sort_unstable();
    training.sort_unstable();
    Ok(Split { training: table.take_rows(&training), holdout: Some(table.take_rows(&holdout)) })
}

/// A table to read: its path, and its format when given with `--format`.
struct Input<'a> {
    path: &'a Path,
    format: Option<Format>,
}

/// Reads `input`, trains on it (less a holdout of `holdout_share`) and saves the model. A CSV
/// delimiter the configuration lacks is detected, said, and recorded in `config` (and so in
/// the model, whose generated CSV then uses it).
fn train_command(
    source: &Input,
    model_path: &Path,
    config: &mut TrainConfig,
    holdout_share: f64,
) -> CliResult<Split> {
    let started = Instant::now();
    let input = source.path;
    let format = Format::resolve(input, source.format).map_err(input_error)?;
    if config.delimiter.is_none() && format == Format::Csv {
        let detected = detect_delimiter(input).map_err(CliError::from)?;
        eprintln!(
            "delimiter: {} (detected from the first lines of {}; --delimiter sets another)",
            delimiter_name(detected),
            input.display()
        );
        config.delimiter = Some(char::from(detected));
    }
    let config = &*config;
    let options = ReadOptions { format: Some(format), ..ReadOptions::from_config(config) };
    let table = read_table(input, &options).map_err(input_error)?;
    eprintln!(
        "read {} rows x {} columns from {}",
        table.num_rows(),
        table.num_columns(),
        input.display()
    );
    let split = split_holdout(table, holdout_share, config.training.seed)?;
    if let Some(holdout) = &split.holdout {
        eprintln!(
            "kept {} rows out of training as a holdout for the report (--holdout-share 0 to train on all)",
            holdout.num_rows()
        );
    }
    let table = &split.training;
    let cancel = AtomicBool::new(false);
    let mut progress = TrainingProgress::new(&config.training, config.privacy.dp);
    // Training knows the table, not its file: its data errors are named after the file here.
    let model = train(table, config, &mut |p| progress.update(p), &cancel)
        .map_err(|e| CliError::from(in_file(input, e)))?;
    progress.finish();
    model.save(model_path).map_err(CliError::from)?;
    let s = &model.metadata().summary;
    let seconds = started.elapsed().as_secs_f64();
    // Under DP the model holds no exact row count; the input's is known here.
    let rows = if s.privacy.is_some() { table.num_rows() } else { s.training_rows };
    eprintln!(
        "trained {} epochs ({}; best epoch {}) on {} rows, {} tokens/row, {} parameters in {seconds:.1} s ({:.0} tokens/s, {})",
        s.epochs,
        s.stop_reason,
        s.best_epoch,
        rows,
        s.tokens_per_row,
        s.parameters,
        (s.epochs * rows * s.tokens_per_row) as f64 / seconds,
        doppel_core::device::name(model.device())
    );
    if let Some(p) = &s.privacy {
        print_guarantee(p);
    }
    if let Some(warning) = still_falling_warning(s) {
        eprintln!("warning: {warning}");
    }
    eprintln!(
        "model written to {}; next: doppel generate --model {} --rows N --output synthetic.csv",
        model_path.display(),
        model_path.display()
    );
    Ok(split)
}

/// What to do when training stopped at `max_epochs` (its epoch count then) while the
/// validation loss still fell.
fn still_falling_warning(s: &doppel_core::TrainingSummary) -> Option<String> {
    let (epochs, first, last) = s.recent_validation_change().filter(|_| s.still_improving)?;
    let over =
        if epochs == 1 { "the last epoch".to_owned() } else { format!("the last {epochs} epochs") };
    if s.time_bound {
        return Some(format!(
            "training stopped after the {} epochs that fit the time budget while the validation \
             loss was still falling ({first:.4} -> {last:.4} over {over}); raise \
             training.max_training_seconds (0 = no bound) for a better model",
            s.epochs
        ));
    }
    Some(format!(
        "training stopped at max_epochs = {} while the validation loss was still falling \
         ({first:.4} -> {last:.4} over {over}); raise training.max_epochs (--epochs) for a \
         better model",
        s.epochs
    ))
}

/// The DP guarantee in the CLI's last lines of `train`.
fn print_guarantee(p: &doppel_core::dp::PrivacyReport) {
    let bound =
        p.error_bound.map(|e| format!(" (accountant error bound {e:.2e})")).unwrap_or_default();
    eprintln!(
        "differential privacy: epsilon {:.4} at delta {:.3e} by {}{bound}; RDP epsilon {:.4} (order {})",
        p.epsilon,
        p.delta,
        p.accountant,
        p.rdp_epsilon,
        p.order.map(|o| o.to_string()).unwrap_or_else(|| "-".into())
    );
    eprintln!(
        "  noise multiplier {:.4}, clip norm {}, sampling rate {:.5}, {} steps, unit: {} (about {} units, a noisy count)",
        p.noise_multiplier, p.max_grad_norm, p.sampling_rate, p.steps, p.unit, p.units
    );
    for warning in &p.warnings {
        eprintln!("  warning: {warning}");
    }
    if p.deterministic_noise {
        eprintln!("  WARNING: deterministic_noise is on: the noise is replayable from the seed, so this guarantee does not hold");
    }
}

/// A table of seed rows for a steered generation, or a table to impute.
struct SeedFile<'a> {
    path: &'a Path,
    /// Imputation: missing-value tokens are filled too, not kept.
    impute: bool,
}

/// The tables a generation reads besides the model: seed rows, or the privacy filter's
/// training table and distance.
struct Sources<'a> {
    seed: Option<SeedFile<'a>>,
    filter: Option<(&'a Path, f64)>,
}

/// An output file and its format, if given.
struct Output<'a> {
    path: &'a Path,
    format: Option<Format>,
}

/// Where a model file is loaded: its device, and a LoRA model's base directory when not the
/// one its file records.
struct Load<'a> {
    device: DeviceChoice,
    base: Option<&'a Path>,
}

/// Generates into `output`: `options.rows` records, or one per row of `seed` (then `rows`, if
/// given, must be the seed's row count); an imputation takes the typical value of `draws`
/// draws per cell (see [`doppel_core::impute_to_file`]).
fn generate_command(
    model_path: &Path,
    options: &GenerateOptions,
    sources: Sources,
    output: &Output,
    load: Load,
    rows: Option<usize>,
    draws: usize,
) -> CliResult<()> {
    let Sources { seed, filter } = sources;
    let inputs: Vec<&Path> = std::iter::once(model_path)
        .chain(seed.as_ref().map(|s| s.path))
        .chain(filter.map(|(path, _)| path))
        .collect();
    refuse_overwriting(&[output.path], &inputs)?;
    // Before the model loads: an output named with an unknown extension.
    let format =
        Format::resolve(output.path, output.format).map_err(|e| format_error(e, "output"))?;
    let started = Instant::now();
    let device = doppel_core::device::select(load.device)?;
    let model = TrainedModel::load_with_base(model_path, &device, load.base)?;
    let seed = match seed {
        None => None,
        Some(seed) => Some(read_seed(&seed, &model, rows)?),
    };
    let steered = seed.is_some()
        || [&options.conditions, &options.rebalance, &options.fair]
            .iter()
            .any(|s| !s.trim().is_empty());
    if steered && !doppel_core::steer::learned_any_order(&model) {
        eprintln!(
            "note: this model learned the table's column order only, so the columns before a \
             conditioned or seeded one do not follow it; train with \
             training.random_order_share > 0 (see docs) for conditionals in any order"
        );
    }
    let filter = match filter {
        None => None,
        Some((path, distance)) => {
            // Before the private rows are read: a DP model refuses the filter.
            PrivacyFilter::check(&model, distance).map_err(CliError::from)?;
            let config = &model.metadata().config;
            let read = ReadOptions { format: None, ..ReadOptions::from_config(config) };
            let table = read_table(path, &read).map_err(input_error)?;
            let filter = PrivacyFilter::new(&model, &table, distance)
                .map_err(|e| CliError::from(doppel_core::ingest::in_file(path, e)))?;
            Some(filter)
        }
    };
    let planned = seed.as_ref().map_or(options.rows, |s| s.table.num_rows().saturating_mul(draws));
    let mut progress = GenerationProgress::new(planned);
    let on_progress = &mut |done| progress.update(done);
    if let Some(filter) = filter {
        let filtered = generate_filtered_to_file(
            &model,
            options,
            &filter,
            output.path,
            Some(format),
            on_progress,
        )
        .map_err(CliError::from)?;
        progress.finish();
        eprintln!(
            "wrote {} rows to {} in {:.1} s; the privacy filter dropped {} generated rows \
             within distance {} of a training row",
            filtered.rows,
            output.path.display(),
            started.elapsed().as_secs_f64(),
            filtered.dropped,
            filter_distance_text(filter.distance()),
        );
        return Ok(());
    }
    let rows = match seed {
        Some(seed) if seed.fill_missing => {
            impute_to_file(&model, options, seed, draws, output.path, Some(format), on_progress)
        }
        seed => {
            generate_seeded_to_file(&model, options, seed, output.path, Some(format), on_progress)
        }
    }
    .map_err(CliError::from)?;
    progress.finish();
    eprintln!(
        "wrote {rows} rows to {} in {:.1} s",
        output.path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A filter distance for messages: "0 (exact copies)" or the number.
fn filter_distance_text(distance: f64) -> String {
    if distance == 0.0 {
        "0 (exact copies)".into()
    } else {
        distance.to_string()
    }
}

/// Reads a seed (or to-be-imputed) table with the model's delimiter and limits; with `rows`,
/// checks that it has that many rows.
fn read_seed(seed: &SeedFile, model: &TrainedModel, rows: Option<usize>) -> CliResult<Seed> {
    let config = &model.metadata().config;
    let options = ReadOptions { format: None, ..ReadOptions::from_config(config) };
    let table = read_table(seed.path, &options).map_err(input_error)?;
    if let Some(rows) = rows.filter(|&r| r != table.num_rows()) {
        return Err(CliError::new(
            exit::USAGE,
            format!(
                "--rows {rows} but {} has {} seed rows (one row is generated per seed row: leave --rows out)",
                seed.path.display(),
                table.num_rows()
            ),
        ));
    }
    Ok(Seed { table, fill_missing: seed.impute })
}
