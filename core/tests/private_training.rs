//! DP training end to end on small tables: the reported guarantee, what the tokenizer may keep,
//! subject-level units, and the settings DP refuses.

use std::sync::atomic::AtomicBool;

use doppel_core::config::{Delta, KindName};
use doppel_core::{
    accountant, generate, train, AccountantKind, ColumnKind, GaussianEvent, GenerateOptions,
    Result, Table, TrainConfig,
};

/// `n` rows: a common category with a few values, one unique category value ("singular") in
/// row 0, a number, and a subject id shared by 4 consecutive rows.
fn table(n: usize) -> Result<Table> {
    let names = ["kind", "rare", "amount", "customer"].map(String::from).to_vec();
    let kind = (0..n).map(|i| Some(["red", "green", "blue"][i % 3].to_string())).collect();
    let rare =
        (0..n).map(|i| Some(if i == 0 { "singular" } else { "plain" }.to_string())).collect();
    let amount = (0..n).map(|i| Some(((i * 37) % 90 + 10).to_string())).collect();
    let customer = (0..n).map(|i| Some(format!("c{}", i / 4))).collect();
    Table::from_columns(names, vec![kind, rare, amount, customer])
}

fn dp_config(epsilon: f64) -> TrainConfig {
    let mut c = TrainConfig::default();
    c.model.hidden_size = 16;
    c.model.embedding_dim = 8;
    c.training.max_epochs = Some(2);
    c.training.batch_size = Some(100);
    c.privacy.dp = true;
    c.privacy.epsilon = Some(epsilon);
    c.privacy.delta = Delta::Value(1e-5);
    c.privacy.deterministic_noise = true;
    c
}

fn generated(model: &doppel_core::TrainedModel, rows: usize) -> Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    let options = GenerateOptions { rows, ..GenerateOptions::default() };
    generate(
        model,
        &options,
        &mut |b| {
            out.extend(b);
            Ok(())
        },
        &mut |_| {},
    )?;
    Ok(out)
}

#[test]
fn dp_training_reports_a_guarantee_within_the_target() -> Result<()> {
    let data = table(2000)?;
    let mut config = dp_config(3.0);
    config.columns.entry("customer".into()).or_default().kind = Some(KindName::Identifier);
    let model = train(&data, &config, &mut |_| {}, &AtomicBool::new(false))?;
    let p = model.metadata().summary.privacy.clone().expect("a DP model has a privacy report");
    assert!(p.epsilon <= 3.0 && p.epsilon > 2.5, "epsilon {}", p.epsilon);
    assert!(p.epsilon <= p.rdp_epsilon, "PRV {} above RDP {}", p.epsilon, p.rdp_epsilon);
    // The unit count is noisy (schema release: std 8 * sqrt(3 * 4 + 1) = 29): the plan
    // follows it, never the exact 2,000.
    assert_eq!(p.unit.as_str(), "row");
    assert!(p.units.abs_diff(2000) < 200, "{} units", p.units);
    assert!((p.sampling_rate - 100.0 / p.units as f64).abs() < 1e-12);
    assert_eq!(p.steps, 2 * p.units.div_ceil(100));
    assert_eq!(p.accountant, AccountantKind::Prv);
    // The schema and statistics releases are composed in, before the DP-SGD steps, at the
    // noise that spends 3 % and 15 % of the budget: a Gaussian mechanism spending epsilon 3 at
    // delta 1e-5 needs sigma 1.39059 (the analytic Gaussian mechanism, Balle and Wang 2018,
    // solved in Python), so sigma 1.39059 / sqrt(0.03) = 8.0286 and / sqrt(0.15) = 3.5905.
    assert_eq!(p.events.len(), 3);
    for (prior, want) in p.events[..2].iter().zip([8.0286, 3.5905]) {
        assert_eq!((prior.sampling_rate, prior.steps), (1.0, 1));
        assert!((prior.noise_multiplier / want - 1.0).abs() < 0.005, "{prior:?}");
    }
    // The model's configuration records the noise it used.
    let stored = &model.metadata().config.privacy;
    let used = (Some(p.events[0].noise_multiplier), Some(p.events[1].noise_multiplier));
    assert_eq!((stored.schema_noise, stored.statistics_noise), used);
    assert_eq!(p.events[2].steps, p.steps as u64);
    // No exact row count and no loss in the model file.
    let s = &model.metadata().summary;
    assert_eq!((s.rows, s.training_rows, s.train_loss.len()), (0, 0, 0));
    // A value held by one row never enters the vocabulary, so it is never generated.
    let rows = generated(&model, 2000)?;
    assert!(rows.iter().all(|r| r[1] != "singular"));
    assert!(rows.iter().any(|r| r[0] == "red"));
    Ok(())
}

/// The model is the moving average of the DP-SGD iterates: other weights than the last step's,
/// the same guarantee (post-processing), and the decay the rule chose recorded in the model.
#[test]
fn the_model_is_the_weight_average_at_no_privacy_cost() -> Result<()> {
    let data = table(2000)?;
    let weights = |m: &doppel_core::TrainedModel| -> Result<Vec<f32>> {
        let mut all = Vec::new();
        for (_, v) in m.network()?.params().iter() {
            all.extend(v.as_tensor().flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(all)
    };
    let averaged = train(&data, &dp_config(3.0), &mut |_| {}, &AtomicBool::new(false))?;
    let mut last_config = dp_config(3.0);
    last_config.privacy.weight_average_decay = Some(0.0);
    let last = train(&data, &last_config, &mut |_| {}, &AtomicBool::new(false))?;
    let (p, q) = (averaged.metadata(), last.metadata());
    let (pp, qp) = (p.summary.privacy.as_ref().unwrap(), q.summary.privacy.as_ref().unwrap());
    assert_eq!((pp.epsilon, pp.steps), (qp.epsilon, qp.steps));
    let decay = doppel_core::dp_defaults::weight_average_decay(pp.steps);
    assert!(decay > 0.5, "{} steps give decay {decay}", pp.steps);
    assert_eq!(p.config.privacy.weight_average_decay, Some(decay));
    assert_eq!(q.config.privacy.weight_average_decay, Some(0.0));
    let (a, b) = (weights(&averaged)?, weights(&last)?);
    let moved = a.iter().zip(&b).filter(|(x, y)| (*x - *y).abs() > 1e-6).count();
    assert!(moved > a.len() / 2, "{moved} of {} weights differ", a.len());
    Ok(())
}

#[test]
fn subjects_are_the_unit_when_a_privacy_unit_is_set() -> Result<()> {
    let data = table(2000)?;
    let mut config = dp_config(3.0);
    config.privacy.privacy_unit = Some("customer".into());
    let model = train(&data, &config, &mut |_| {}, &AtomicBool::new(false))?;
    let p = model.metadata().summary.privacy.clone().expect("privacy report");
    assert_eq!(p.unit.as_str(), "customer");
    // About 500 subjects (a noisy count), expected batch 100: q about 0.2, 5 steps per epoch.
    assert!(p.units.abs_diff(500) < 200, "{} units", p.units);
    assert!((p.sampling_rate - (100.0 / p.units as f64).min(1.0)).abs() < 1e-12);
    assert_eq!(p.steps, 2 * p.units.div_ceil(100));
    // The subject column is never learned: it became an identifier, regenerated per row.
    let kind = &model.metadata().tokenizer.schema().columns[3].kind;
    assert!(matches!(kind, ColumnKind::Identifier { .. }), "{kind:?}");
    assert!(model.metadata().tokenizer.fields().iter().all(|f| f.column != 3));
    Ok(())
}

#[test]
fn max_epsilon_stops_training_early() -> Result<()> {
    let data = table(2000)?;
    let mut config = dp_config(3.0);
    config.privacy.epsilon = None;
    config.privacy.noise_multiplier = Some(1.5);
    config.privacy.accountant = AccountantKind::Rdp;
    // A cap halfway between the epsilon of 1 and of all 40 planned steps (q = 0.05), with the
    // schema and statistics releases composed in; 10 % of delta goes to partition selection.
    // (The plan's q follows the noisy unit count; the cap is checked with the model's own q.)
    let spent = |q: f64, steps: u64| -> Result<f64> {
        let release = GaussianEvent { sampling_rate: 1.0, noise_multiplier: 10.0, steps: 1 };
        let sgd = GaussianEvent { sampling_rate: q, noise_multiplier: 1.5, steps };
        Ok(accountant::epsilon(AccountantKind::Rdp, &[release, release, sgd], 0.9e-5)?.epsilon)
    };
    let cap = 0.5 * (spent(0.05, 1)? + spent(0.05, 40)?);
    config.privacy.max_epsilon = Some(cap);
    let model = train(&data, &config, &mut |_| {}, &AtomicBool::new(false))?;
    let s = &model.metadata().summary;
    let p = s.privacy.as_ref().expect("privacy report");
    assert_eq!(s.stop_reason, "max_epsilon");
    assert!(p.steps > 1 && p.steps < 40, "{} steps", p.steps);
    let q = p.sampling_rate;
    assert!(p.epsilon <= cap && spent(q, p.steps as u64 + 1)? > cap, "{} vs {cap}", p.epsilon);
    Ok(())
}

#[test]
fn dp_refuses_unaccounted_statistics() -> Result<()> {
    let data = table(200)?;
    let mut text = dp_config(2.0);
    text.columns.entry("rare".into()).or_default().kind = Some(KindName::Text);
    let mut mean = dp_config(2.0);
    mean.columns.entry("amount".into()).or_default().missing =
        doppel_core::config::MissingPolicy::Mean;
    let mut unit = dp_config(2.0);
    unit.privacy.privacy_unit = Some("nope".into());
    for (config, expected) in [(text, "free text"), (mean, "missing = mean/mode"), (unit, "'nope'")]
    {
        let err = train(&data, &config, &mut |_| {}, &AtomicBool::new(false))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(expected), "{expected}: {err}");
    }
    Ok(())
}

/// One subject with 100 of 2,000 rows trains (the per-unit norms take memory linear in the
/// batch: a Gram matrix padded to the largest subject once asked for 2 GB at 5,000 rows). That
/// each step uses at most `max_rows_per_unit` of its rows is `train::tests::
/// a_sampled_unit_takes_part_with_at_most_cap_of_its_rows`.
#[test]
fn a_subject_with_many_rows_trains_with_its_rows_capped() -> Result<()> {
    let names = ["kind", "amount", "customer"].map(String::from).to_vec();
    let n = 2000;
    let kind = (0..n).map(|i| Some(["red", "green", "blue"][i % 3].to_string())).collect();
    let amount = (0..n).map(|i| Some(((i * 37) % 90 + 10).to_string())).collect();
    // Rows 0..100 belong to one customer; every other customer has 2 rows.
    let customer =
        (0..n).map(|i| Some(if i < 100 { "big".into() } else { format!("c{}", i / 2) })).collect();
    let data = Table::from_columns(names, vec![kind, amount, customer])?;
    let mut config = dp_config(3.0);
    config.privacy.privacy_unit = Some("customer".into());
    config.privacy.max_rows_per_unit = 8;
    let model = train(&data, &config, &mut |_| {}, &AtomicBool::new(false))?;
    let p = model.metadata().summary.privacy.clone().expect("privacy report");
    assert!(p.units.abs_diff(951) < 200, "{} units", p.units);
    assert!(generated(&model, 100)?.iter().any(|r| r[0] == "red"));
    let err = TrainConfig::from_json(
        r#"{"privacy": {"dp": true, "epsilon": 1, "max_rows_per_unit": 0}}"#,
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("privacy.max_rows_per_unit"), "{err}");
    Ok(())
}

/// Stopped by the time limit mid-run, the ledger holds exactly the DP-SGD steps that ran: the
/// statement's steps and last event are the summary's steps, and the file verifies on load.
#[test]
fn a_run_stopped_by_the_time_limit_accounts_for_the_steps_that_ran() -> Result<()> {
    let mut config = dp_config(3.0);
    config.privacy.epsilon = None;
    config.privacy.noise_multiplier = Some(1.0);
    config.privacy.accountant = AccountantKind::Rdp;
    config.training.max_epochs = Some(5000);
    config.training.max_training_seconds = Some(1);
    let model = train(&table(400)?, &config, &mut |_| {}, &AtomicBool::new(false))?;
    let s = &model.metadata().summary;
    let p = s.privacy.clone().expect("a DP model has a privacy report");
    assert_eq!(s.stop_reason, "time_limit");
    assert!(s.steps > 0 && s.steps < 5000 * p.units.div_ceil(100), "{} steps", s.steps);
    assert_eq!(p.steps, s.steps);
    assert_eq!(p.events.last().map(|e| e.steps), Some(s.steps as u64));
    let bytes = model.to_bytes()?;
    doppel_core::TrainedModel::from_bytes(&bytes, std::path::Path::new("stopped.doppel"))?;
    Ok(())
}
