//! `doppel privacy`: differential-privacy accounting for DP training and noisy releases.
//!
//! Each subcommand prints one JSON line on stdout. Arguments the accountant rejects (out of
//! range, or a budget no noise level can meet) are usage errors: a message on stderr and exit
//! code 2, as clap does for malformed flags. An epsilon with no finite bound (too little noise)
//! is printed as `"epsilon":"inf"` (JSON has no infinity), with a line on stderr saying that
//! there is no guarantee and why.

use clap::builder::PossibleValuesParser;
use clap::error::ErrorKind;
use clap::{Args, Subcommand};
use doppel_core::accountant::{self, AccountantKind, GaussianEvent};
use doppel_table::Error;

use crate::exit::CliError;
use crate::CliResult;

/// Arguments of `doppel privacy`.
#[derive(Args)]
pub struct PrivacyArgs {
    #[command(subcommand)]
    command: PrivacyCommand,
}

#[derive(Subcommand)]
enum PrivacyCommand {
    /// Epsilon spent by `steps` steps of the Poisson-subsampled Gaussian mechanism.
    Epsilon {
        /// Probability that each record takes part in a step, in (0, 1] (1: no subsampling).
        #[arg(long)]
        sampling_rate: f64,
        /// Noise standard deviation divided by the L2 sensitivity (clipping norm).
        #[arg(long)]
        noise_multiplier: f64,
        /// Number of steps.
        #[arg(long)]
        steps: u64,
        /// Target delta, in (0, 1).
        #[arg(long)]
        delta: f64,
        /// Accountant: prv (tight, numerical, with an error bound) or rdp (Rényi DP).
        #[arg(long, default_value = "prv", value_parser = accountants())]
        accountant: String,
    },
    /// Smallest noise multiplier for which `steps` steps spend at most `epsilon`.
    Noise {
        /// The epsilon budget.
        #[arg(long)]
        epsilon: f64,
        /// Target delta, in (0, 1).
        #[arg(long)]
        delta: f64,
        /// Probability that each record takes part in a step, in (0, 1] (1: no subsampling).
        #[arg(long)]
        sampling_rate: f64,
        /// Number of steps.
        #[arg(long)]
        steps: u64,
        /// Accountant: prv (tight, numerical, with an error bound) or rdp (Rényi DP).
        #[arg(long, default_value = "prv", value_parser = accountants())]
        accountant: String,
    },
}

/// Runs `doppel privacy`. Invalid arguments exit with code 2; other failures are returned.
pub fn run(args: PrivacyArgs) -> CliResult<()> {
    let line = match args.command {
        PrivacyCommand::Epsilon { sampling_rate, noise_multiplier, steps, delta, accountant } => {
            let kind = parse_kind(&accountant)?;
            let event = GaussianEvent { sampling_rate, noise_multiplier, steps };
            let spent = accountant::epsilon(kind, &[event], delta).map_err(usage)?;
            if spent.is_unbounded() {
                eprintln!(
                    "warning: no differential-privacy guarantee: the {kind} accountant finds no \
                     finite epsilon at delta {}: noise multiplier {} is too small for sampling \
                     rate {} over {steps} steps; raise the noise multiplier",
                    number(delta),
                    number(noise_multiplier),
                    number(sampling_rate)
                );
            }
            // Keys: epsilon ("inf" when unbounded), order, accountant, delta, error_bound.
            serde_json::to_value(&spent).map_err(CliError::from)?
        }
        PrivacyCommand::Noise { epsilon, delta, sampling_rate, steps, accountant } => {
            let kind = parse_kind(&accountant)?;
            let calibration =
                accountant::noise_for(kind, epsilon, delta, sampling_rate, steps).map_err(usage)?;
            // A calibrated epsilon meets the finite target, so it is a plain number.
            serde_json::to_value(&calibration).map_err(CliError::from)?
        }
    };
    println!("{line}");
    Ok(())
}

/// A number for a message: plain where that is short, in exponent form otherwise (Rust's
/// `{}` writes 1e-200 with 200 digits).
fn number(x: f64) -> String {
    if x == 0.0 || (1e-4..1e6).contains(&x.abs()) {
        x.to_string()
    } else {
        format!("{x:e}")
    }
}

/// The accountant names clap accepts.
fn accountants() -> PossibleValuesParser {
    PossibleValuesParser::new(["prv", "rdp"])
}

fn parse_kind(name: &str) -> CliResult<AccountantKind> {
    name.parse::<AccountantKind>().map_err(|e| CliError::from(doppel_core::Error::from(e)))
}

/// A rejected argument is a usage error: clap prints it and exits with code 2. Any other
/// error goes back to `main` (exit code 1).
fn usage(err: Error) -> String {
    match err {
        Error::Argument(message) => {
            clap::Error::raw(ErrorKind::ValueValidation, format!("{message}\n")).exit()
        }
        other => other.to_string(),
    }
}
