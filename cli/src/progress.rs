//! Progress of training and generation on standard error. On a terminal it is an indicatif bar
//! with the time left; elsewhere (a pipe, a log file, CI, a service) indicatif draws nothing, so
//! plain lines take its place: no ANSI codes, no carriage returns, at most one every
//! [`LINE_INTERVAL`] (and one at the end of each epoch), each with the time left.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use doppel_core::config::TrainingConfig;
use doppel_core::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// Least time between two plain progress lines: often enough to show a run is alive, rarely
/// enough for a log to stay readable.
const LINE_INTERVAL: Duration = Duration::from_secs(10);

/// Runs forecast to end sooner than this get no up-front estimate: their progress lines say it.
const ESTIMATE_FROM: Duration = Duration::from_secs(60);

/// Where progress goes.
enum Display {
    /// An indicatif bar on a terminal.
    Bar(ProgressBar),
    /// Plain lines; the time of the last one.
    Lines(Instant),
}

impl Display {
    /// A bar with `template` when standard error is a terminal, plain lines otherwise.
    fn new(template: &str) -> Display {
        if !std::io::stderr().is_terminal() {
            return Display::Lines(Instant::now());
        }
        let bar = ProgressBar::new(0);
        // The templates are constants of this file, so they parse; a bad one shows no bar
        // rather than failing the run.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Display::Bar(bar)
    }

    /// Prints `line` (above the bar on a terminal).
    fn println(&mut self, line: &str) {
        match self {
            Display::Bar(bar) => bar.println(line),
            Display::Lines(last) => {
                eprintln!("{line}");
                *last = Instant::now();
            }
        }
    }

    /// Whether a plain line is due (never for a bar, which redraws itself).
    fn line_due(&self) -> bool {
        matches!(self, Display::Lines(last) if last.elapsed() >= LINE_INTERVAL)
    }

    fn clear(&self) {
        if let Display::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// The pace of a run since a starting point: work per second, and the time left.
struct Pace {
    since: Instant,
    from: f64,
}

impl Pace {
    fn new(done: f64) -> Pace {
        Pace { since: Instant::now(), from: done }
    }

    /// Work per second since the start (None before any time or work has passed).
    fn per_second(&self, done: f64) -> Option<f64> {
        let seconds = self.since.elapsed().as_secs_f64();
        (seconds > 0.0 && done > self.from).then(|| (done - self.from) / seconds)
    }

    /// The time left to reach `total` at this pace.
    fn eta(&self, done: f64, total: f64) -> Option<Duration> {
        eta(self.since.elapsed(), done - self.from, total - self.from)
    }
}

/// The time left after `done` of `total` units of work took `elapsed`, at the same pace; None
/// before any work is done.
pub fn eta(elapsed: Duration, done: f64, total: f64) -> Option<Duration> {
    if done <= 0.0 || !done.is_finite() || !total.is_finite() {
        return None;
    }
    let left = (total - done).max(0.0) * elapsed.as_secs_f64() / done;
    Duration::try_from_secs_f64(left).ok()
}

/// A duration as people read it: `42s`, `3m05s`, `1h02m` (rounded to the second, or to the
/// minute from an hour on).
pub fn duration_text(duration: Duration) -> String {
    let seconds = duration.as_secs_f64().round() as u64;
    if seconds < 60 {
        return format!("{seconds}s");
    }
    if seconds < 3600 {
        return format!("{}m{:02}s", seconds / 60, seconds % 60);
    }
    let minutes = (seconds + 30) / 60;
    format!("{}h{:02}m", minutes / 60, minutes % 60)
}

/// A count with thousands separators: `2,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A rate with as many digits as help: `2,345`, `12.3`, `0.52`.
fn rate_text(per_second: f64) -> String {
    if per_second >= 100.0 {
        thousands(per_second.round() as u64)
    } else if per_second >= 10.0 {
        format!("{per_second:.1}")
    } else {
        format!("{per_second:.2}")
    }
}

/// `ETA 2m48s`, or `ETA unknown` before the pace is known.
fn eta_text(eta: Option<Duration>) -> String {
    eta.map_or_else(|| "ETA unknown".to_owned(), |e| format!("ETA {}", duration_text(e)))
}

/// Whether `p` is an epoch's last step: the last of a full epoch, or one after which training
/// measured the validation loss or epsilon (a shorter last epoch under DP, or the time budget).
fn ends_epoch(p: &Progress) -> bool {
    p.step == p.steps_per_epoch || p.validation_loss.is_some() || p.epsilon.is_some()
}

/// What a training progress line shows besides the step.
pub struct TrainingFigures {
    /// The epoch's mean training loss so far (None under DP, whose losses stay out of logs).
    pub loss: Option<f64>,
    /// `2,345 tokens/s` (or steps under DP); None before the pace is known.
    pub rate: Option<String>,
    /// Since training started.
    pub elapsed: Duration,
    /// The time left, when known.
    pub eta: Option<Duration>,
}

/// One progress line of training, e.g. `epoch 3/20, step 120/400 (30%), train loss 1.2340,
/// val loss 1.2560, 2,345 tokens/s, elapsed 1m12s, ETA 2m48s`. The validation loss and
/// epsilon appear at the end of an epoch, when training measures them.
pub fn training_line(p: &Progress, figures: &TrainingFigures) -> String {
    let percent = 100 * p.step / p.steps_per_epoch.max(1);
    let mut parts = vec![
        format!("epoch {}/{}", p.epoch, p.max_epochs),
        format!("step {}/{} ({percent}%)", p.step, p.steps_per_epoch),
    ];
    parts.extend(figures.loss.map(|l| format!("train loss {l:.4}")));
    parts.extend(p.validation_loss.map(|v| format!("val loss {v:.4}")));
    parts.extend(p.epsilon.map(|e| format!("epsilon {e:.3}")));
    parts.extend(figures.rate.clone());
    parts.push(format!("elapsed {}", duration_text(figures.elapsed)));
    parts.push(eta_text(figures.eta));
    parts.join(", ")
}

/// Reports training progress: a bar on a terminal, plain lines elsewhere, and once the pace is
/// known an estimate of the whole run.
pub struct TrainingProgress {
    display: Display,
    /// Under DP: no losses and no token counts (facts about the private rows) are shown.
    private: bool,
    /// Whether early stopping may end training before its last epoch.
    early_stopping: bool,
    /// The time budget (`training.max_training_seconds` or its default), if any, and whether
    /// it is the default.
    budget: Option<Duration>,
    default_budget: bool,
    /// Whether the time budget's shortening of the plan was told.
    told_bound: bool,
    started: Instant,
    /// The pace in steps and in tokens, measured from the end of the first step (so that
    /// setting up and warming up do not count).
    steps: Option<Pace>,
    tokens: Option<Pace>,
    /// The epoch's summed step losses and step count.
    epoch_loss: (f64, usize),
    estimated: bool,
}

impl TrainingProgress {
    /// Progress of training with `config`; its clock starts now.
    pub fn new(config: &TrainingConfig, private: bool) -> TrainingProgress {
        TrainingProgress {
            display: Display::new("{prefix} [{bar:30}] {pos}/{len} {msg}"),
            private,
            early_stopping: !private && config.validation_split > 0.0,
            budget: config.time_budget(private),
            default_budget: config.max_training_seconds.is_none(),
            told_bound: false,
            started: Instant::now(),
            steps: None,
            tokens: None,
            epoch_loss: (0.0, 0),
            estimated: false,
        }
    }

    /// Takes the progress of one step.
    pub fn update(&mut self, p: &Progress) {
        if p.step == 1 {
            self.epoch_loss = (0.0, 0);
        }
        self.epoch_loss = (self.epoch_loss.0 + p.loss, self.epoch_loss.1 + 1);
        if p.time_bound && !self.told_bound {
            self.told_bound = true;
            let line =
                budget_line(self.budget, self.default_budget, p.max_epochs, p.planned_epochs);
            self.display.println(&line);
        }
        let done = ((p.epoch - 1) * p.steps_per_epoch + p.step) as f64;
        let line = ends_epoch(p) || self.display.line_due();
        let (Some(steps), Some(tokens)) = (&self.steps, &self.tokens) else {
            self.steps = Some(Pace::new(done));
            self.tokens = Some(Pace::new(p.tokens as f64));
            return self.show(p, line, None, None);
        };
        // The time left for every epoch, and as the time budget may shorten it.
        let planned = steps.eta(done, p.total_steps as f64);
        let eta = planned.map(|eta| match self.budget {
            Some(budget) => eta.min(budget.saturating_sub(self.elapsed())),
            None => eta,
        });
        let rate = if self.private {
            steps.per_second(done).map(|r| format!("{} steps/s", rate_text(r)))
        } else {
            tokens.per_second(p.tokens as f64).map(|r| format!("{} tokens/s", rate_text(r)))
        };
        if let Some(planned) = planned.filter(|_| line && !self.estimated) {
            self.estimated = true;
            self.estimate(p, planned, rate.as_deref());
        }
        self.show(p, line, eta, rate);
    }

    /// Shows step `p` on the bar, and as a `line` at the end of an epoch or when one is due.
    fn show(&mut self, p: &Progress, line: bool, eta: Option<Duration>, rate: Option<String>) {
        let loss = (!self.private).then(|| self.epoch_loss.0 / self.epoch_loss.1.max(1) as f64);
        let figures = TrainingFigures { loss, rate, elapsed: self.elapsed(), eta };
        if let Display::Bar(bar) = &self.display {
            bar.set_length(p.steps_per_epoch as u64);
            bar.set_position(p.step as u64);
            bar.set_prefix(format!("epoch {}/{}", p.epoch, p.max_epochs));
            let loss = loss.map(|l| format!("train loss {l:.4}, ")).unwrap_or_default();
            let times = format!("elapsed {}, {}", duration_text(figures.elapsed), eta_text(eta));
            bar.set_message(format!("{loss}{times}"));
        }
        if line {
            self.display.println(&training_line(p, &figures));
        }
    }

    /// Prints what every epoch together should take at the pace so far (`planned` is the time
    /// left for them), and what bounds it; a run about to end gets no estimate.
    fn estimate(&mut self, p: &Progress, planned: Duration, rate: Option<&str>) {
        let total = self.elapsed() + planned;
        if total >= ESTIMATE_FROM {
            let line = estimate_line(total, p.max_epochs, rate, self.early_stopping, self.budget);
            self.display.println(&line);
        }
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.display.clear();
    }
}

/// The up-front estimate of a run of `total` for every epoch: `estimated training time: up to
/// 14m05s for 20 epochs at 2,345 tokens/s ...`, naming what can end it sooner and the keys
/// that bound it (or the time budget, when it stops the run sooner).
pub fn estimate_line(
    total: Duration,
    max_epochs: usize,
    rate: Option<&str>,
    early_stopping: bool,
    budget: Option<Duration>,
) -> String {
    let rate = rate.map(|r| format!(" at {r}")).unwrap_or_default();
    let sooner = if early_stopping { " (early stopping may end it sooner)" } else { "" };
    let bound = match budget {
        Some(b) if b < total => format!(
            "training.max_training_seconds = {} stops it at {}",
            b.as_secs(),
            duration_text(b)
        ),
        _ => "--epochs (training.max_epochs) and training.max_training_seconds bound it".into(),
    };
    format!(
        "estimated training time: up to {} for {max_epochs} epochs{rate}{sooner}; {bound}",
        duration_text(total)
    )
}

/// What the time budget did to the plan: `the time budget of 1h00m (training.max_training_seconds,
/// default 3600) fits 12 of the 154 planned epochs at this pace ...`.
pub fn budget_line(
    budget: Option<Duration>,
    default: bool,
    epochs: usize,
    planned: usize,
) -> String {
    let budget = budget.unwrap_or_default();
    let key = if default {
        format!("training.max_training_seconds, default {}", budget.as_secs())
    } else {
        "training.max_training_seconds".to_string()
    };
    format!(
        "the time budget of {} ({key}) fits {epochs} of the {planned} planned epochs at this \
         pace: training plans {epochs}, its learning rate decaying to fit; set \
         training.max_training_seconds = 0 for no bound",
        duration_text(budget)
    )
}

/// Reports generation progress: a bar on a terminal, plain lines elsewhere.
pub struct GenerationProgress {
    display: Display,
    rows: usize,
    pace: Pace,
}

impl GenerationProgress {
    /// Progress of generating `rows` rows; its clock starts now.
    pub fn new(rows: usize) -> GenerationProgress {
        let display = Display::new("generating [{bar:30}] {pos}/{len} rows ({elapsed}, ETA {eta})");
        if let Display::Bar(bar) = &display {
            bar.set_length(rows as u64);
        }
        GenerationProgress { display, rows, pace: Pace::new(0.0) }
    }

    /// Takes the number of rows generated so far.
    pub fn update(&mut self, done: usize) {
        if let Display::Bar(bar) = &self.display {
            return bar.set_position(done as u64);
        }
        if self.display.line_due() {
            let line = generation_line(
                done,
                self.rows,
                self.pace.per_second(done as f64),
                self.pace.since.elapsed(),
                self.pace.eta(done as f64, self.rows as f64),
            );
            self.display.println(&line);
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.display.clear();
    }
}

/// One progress line of generation: `generated 12,000/100,000 rows (12%), 2,345 rows/s,
/// elapsed 5s, ETA 38s`.
pub fn generation_line(
    done: usize,
    rows: usize,
    per_second: Option<f64>,
    elapsed: Duration,
    eta: Option<Duration>,
) -> String {
    let percent = 100 * done / rows.max(1);
    let rate = per_second.map(|r| format!(", {} rows/s", rate_text(r))).unwrap_or_default();
    format!(
        "generated {}/{} rows ({percent}%){rate}, elapsed {}, {}",
        thousands(done as u64),
        thousands(rows as u64),
        duration_text(elapsed),
        eta_text(eta)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_seconds_minutes_or_hours() {
        let text = |s: f64| duration_text(Duration::from_secs_f64(s));
        assert_eq!(text(0.0), "0s");
        assert_eq!(text(42.4), "42s");
        assert_eq!(text(59.6), "1m00s");
        assert_eq!(text(185.0), "3m05s");
        assert_eq!(text(3599.0), "59m59s");
        assert_eq!(text(3600.0 + 2.0 * 60.0 + 10.0), "1h02m");
        // From an hour on, rounded to the minute.
        assert_eq!(text(3600.0 + 2.0 * 60.0 + 40.0), "1h03m");
        assert_eq!(text(73.0 * 60.0), "1h13m");
    }

    #[test]
    fn the_eta_extrapolates_the_pace_so_far() {
        let secs = |s: u64| Duration::from_secs(s);
        // A tenth of the work in 30 s: nine tenths left take 270 s.
        assert_eq!(eta(secs(30), 10.0, 100.0), Some(secs(270)));
        assert_eq!(eta(secs(30), 100.0, 100.0), Some(secs(0)));
        assert_eq!(eta(secs(30), 0.0, 100.0), None);
        assert_eq!(eta(secs(72), 120.0, 400.0).map(duration_text).as_deref(), Some("2m48s"));
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2345), "2,345");
        assert_eq!(thousands(337_000), "337,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(rate_text(2345.4), "2,345");
        assert_eq!(rate_text(12.34), "12.3");
        assert_eq!(rate_text(0.523), "0.52");
    }

    fn progress(step: usize, validation_loss: Option<f64>, epsilon: Option<f64>) -> Progress {
        Progress {
            epoch: 3,
            max_epochs: 20,
            step,
            steps_per_epoch: 400,
            total_steps: 8000,
            time_bound: false,
            planned_epochs: 20,
            tokens: 0,
            loss: 9.0,
            validation_loss,
            epsilon,
        }
    }

    #[test]
    fn a_training_line_shows_step_losses_pace_and_eta() {
        let figures = TrainingFigures {
            loss: Some(1.234),
            rate: Some("2,345 tokens/s".into()),
            elapsed: Duration::from_secs(72),
            eta: Some(Duration::from_secs(168)),
        };
        assert_eq!(
            training_line(&progress(120, None, None), &figures),
            "epoch 3/20, step 120/400 (30%), train loss 1.2340, 2,345 tokens/s, elapsed \
             1m12s, ETA 2m48s"
        );
        assert_eq!(
            training_line(&progress(400, Some(1.256), None), &figures),
            "epoch 3/20, step 400/400 (100%), train loss 1.2340, val loss 1.2560, 2,345 \
             tokens/s, elapsed 1m12s, ETA 2m48s"
        );
    }

    #[test]
    fn a_private_training_line_shows_epsilon_and_no_loss() {
        let figures = TrainingFigures {
            loss: None,
            rate: Some("0.52 steps/s".into()),
            elapsed: Duration::from_secs(5),
            eta: None,
        };
        let line = training_line(&progress(400, None, Some(1.5)), &figures);
        assert_eq!(
            line,
            "epoch 3/20, step 400/400 (100%), epsilon 1.500, 0.52 steps/s, elapsed 5s, ETA \
             unknown"
        );
    }

    #[test]
    fn the_estimate_names_the_bounds_and_a_budget_that_stops_the_run() {
        let line =
            estimate_line(Duration::from_secs(73 * 60), 20, Some("2,300 tokens/s"), true, None);
        assert_eq!(
            line,
            "estimated training time: up to 1h13m for 20 epochs at 2,300 tokens/s (early \
             stopping may end it sooner); --epochs (training.max_epochs) and \
             training.max_training_seconds bound it"
        );
        let budget = Some(Duration::from_secs(600));
        let line = estimate_line(Duration::from_secs(900), 5, None, false, budget);
        assert_eq!(
            line,
            "estimated training time: up to 15m00s for 5 epochs; \
             training.max_training_seconds = 600 stops it at 10m00s"
        );
        // A budget the run does not reach is no stop.
        let line = estimate_line(Duration::from_secs(500), 5, None, false, budget);
        assert!(line.ends_with("max_training_seconds bound it"), "{line}");
    }

    #[test]
    fn the_budget_line_names_the_key_its_default_and_the_epochs() {
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(
            budget_line(hour, true, 12, 154),
            "the time budget of 1h00m (training.max_training_seconds, default 3600) fits 12 of \
             the 154 planned epochs at this pace: training plans 12, its learning rate decaying \
             to fit; set training.max_training_seconds = 0 for no bound"
        );
        assert!(budget_line(hour, false, 3, 20).contains("(training.max_training_seconds) fits 3"));
    }

    #[test]
    fn a_generation_line_shows_rows_pace_and_eta() {
        let line = generation_line(
            12_000,
            100_000,
            Some(2345.0),
            Duration::from_secs(5),
            Some(Duration::from_secs(38)),
        );
        assert_eq!(line, "generated 12,000/100,000 rows (12%), 2,345 rows/s, elapsed 5s, ETA 38s");
    }
}
