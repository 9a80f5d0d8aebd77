//! Generation from a LoRA model: records drawn as text, each parsed and checked against the
//! schema (every column once, no other key, numbers as numbers of the column's kind, a
//! category from the domain the model file records, a date in the column's format); an invalid
//! record is dropped and counted, and generation stops with an error when most records stay
//! invalid.

use std::collections::HashMap;

use super::text;
use super::{LoraModel, RecordGrammar};
use crate::error::{Error, Result};
use crate::generate::GenerateOptions;
use crate::rng::splitmix64;
use crate::schema::{self, ColumnKind};
use crate::steer::{Plan, RowPlan};
use crate::tokenizer::Tokenizer;

/// Records drawn in one batched decoding pass (its KV cache is this many sequences long).
const DRAWS_PER_PASS: usize = 64;
/// Generation stops when more than this share of the records of [`INVALID_PASSES`] passes in a
/// row is invalid (NeMo Safe Synthesizer's rule: 80 % for 3 batches): the model is not
/// writing the table's records, and more passes would not change that.
pub const INVALID_SHARE: f64 = 0.8;
/// See [`INVALID_SHARE`].
pub const INVALID_PASSES: usize = 3;

/// `n` rows of a LoRA model (cells in the schema's column order, `None` for a missing value),
/// for generation batch `batch` of `options`, steered by `plan` when there is one (each row's
/// record in the shape [`super::shape::row_shape`] gives it; a seed row's given cells come out
/// as the seed has them): records drawn [`DRAWS_PER_PASS`] at a time until each row has a
/// valid one, each row's identifiers regenerated from its index (a seeded one kept). Returns the rows and the
/// number of records dropped as invalid. The same options and batch, the same rows.
pub(crate) fn generate_rows(
    model: &LoraModel,
    tokenizer: &Tokenizer,
    max_tokens: usize,
    options: &GenerateOptions,
    plan: Option<&Plan>,
    batch: usize,
    n: usize,
) -> Result<(Vec<Vec<Option<String>>>, usize)> {
    let prompt = text::prompt(tokenizer.schema());
    let first_row = batch * options.batch_size;
    let plans = row_plans(tokenizer, plan, first_row, n)?;
    // Every row's shape before anything is drawn (an error names its column); their automata
    // a pass at a time (a seeded row's can be megabytes), shared through the model's cache.
    let shapes = plans
        .iter()
        .map(|row| match (plan, row) {
            (Some(plan), Some(row)) => super::shape::row_shape(tokenizer, plan, row).map(Some),
            _ => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;
    // One plan for every row when none is per row (no seed).
    let of = |r: usize| r.min(plans.len() - 1);
    let grammar_of = |shape: &Option<super::shape::Shape>| match shape {
        Some(shape) => model.shaped_grammar(tokenizer, shape),
        None => model.grammar(tokenizer),
    };
    // Without a seed every row shares one automaton: looked up once, not per row and pass.
    let shared = match shapes.as_slice() {
        [one] => Some(grammar_of(one)?),
        _ => None,
    };
    let mut rows: Vec<Option<Vec<Option<String>>>> = vec![None; n];
    let mut pending: Vec<usize> = (0..n).collect();
    let (mut dropped, mut failing) = (0, 0);
    let mut pass = 0u64;
    while !pending.is_empty() {
        let drawn: Vec<usize> = pending.iter().take(DRAWS_PER_PASS).copied().collect();
        let mut state = options.seed ^ (batch as u64).rotate_left(32) ^ pass;
        let seed = splitmix64(&mut state);
        let grammars = drawn
            .iter()
            .map(|&r| match &shared {
                Some(grammar) => Ok(grammar.clone()),
                None => grammar_of(&shapes[r])
                    .map_err(|e| Error::Data(format!("seed row {}: {e}", first_row + r + 1))),
            })
            .collect::<Result<Vec<_>>>()?;
        let grammars: Vec<&RecordGrammar> = grammars.iter().map(|g| &**g).collect();
        let texts = text::generate_records(
            model.llama(),
            model.tokenizer(),
            &prompt,
            drawn.len(),
            &options.sampling,
            max_tokens,
            seed,
            &grammars,
        )?;
        let mut invalid = 0;
        let mut last_problem = String::new();
        for (&r, record) in drawn.iter().zip(texts) {
            let known = plans[of(r)].as_ref().map(|p| p.known.as_slice());
            match parse_record(tokenizer, &record, known) {
                Ok(cells) => rows[r] = Some(cells),
                Err(problem) => {
                    invalid += 1;
                    last_problem = problem;
                }
            }
        }
        pending.retain(|&r| rows[r].is_none());
        dropped += invalid;
        let many = invalid as f64 > INVALID_SHARE * drawn.len() as f64;
        failing = if many { failing + 1 } else { 0 };
        if failing >= INVALID_PASSES {
            return Err(Error::Data(format!(
                "the LoRA model wrote invalid records ({dropped} dropped; the last: \
                 {last_problem}); over {:.0} % of each of {INVALID_PASSES} passes in a row: \
                 train longer, lower the sampling temperature, or raise \
                 model.lora.max_record_tokens",
                INVALID_SHARE * 100.0
            )));
        }
        pass += 1;
    }
    let mut rows: Vec<Vec<Option<String>>> = rows.into_iter().flatten().collect();
    for (i, row) in rows.iter_mut().enumerate() {
        let known = plans[of(i)].as_ref().map(|p| p.known.as_slice()).unwrap_or_default();
        for (c, (cell, column)) in row.iter_mut().zip(&tokenizer.schema().columns).enumerate() {
            if let ColumnKind::Identifier { shape } = &column.kind {
                // A seeded identifier is kept (a join key through imputation).
                *cell = match known.get(c) {
                    Some(Some(given)) => given.clone(),
                    _ => Some(schema::generate_identifier(shape, (first_row + i) as u64)),
                };
            }
        }
    }
    Ok((rows, dropped))
}

/// The plans of rows `first..first + n`: one per row with a seed, one for all without, `None`
/// (unsteered) without a plan. A balanced plan (rebalancing or fairness that selection does not
/// do) is refused in words.
fn row_plans(
    tokenizer: &Tokenizer,
    plan: Option<&Plan>,
    first: usize,
    n: usize,
) -> Result<Vec<Option<RowPlan>>> {
    let Some(plan) = plan else { return Ok(vec![None]) };
    if plan.is_balanced() {
        return Err(Error::Config(
            "a LoRA model rebalances one column at a time (or keeps one fairness), without a \
             seed, and by values it generates often enough: this rebalancing needs the LSTM"
                .into(),
        ));
    }
    let mut orders = HashMap::new();
    match plan.seed_rows() {
        None => Ok(vec![Some(plan.row(tokenizer, 0, &mut orders)?)]),
        Some(_) => {
            (first..first + n).map(|r| plan.row(tokenizer, r, &mut orders).map(Some)).collect()
        }
    }
}

/// One generated record's cells in the schema's column order (identifiers `None`, filled in
/// by the caller), or what makes it invalid.
pub(crate) fn parse_record(
    tokenizer: &Tokenizer,
    record: &str,
    known: Option<&[Option<Option<String>>]>,
) -> std::result::Result<Vec<Option<String>>, String> {
    // The end mark's token may carry text after it: the record is what comes before.
    let Some((body, _)) = record.split_once(text::RECORD_END) else {
        return Err("it did not end within model.lora.max_record_tokens".into());
    };
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(body).map_err(|e| format!("not a JSON object ({e})"))?;
    let schema = tokenizer.schema();
    let mut cells = Vec::with_capacity(schema.columns.len());
    for (c, column) in schema.columns.iter().enumerate() {
        if !text::in_record(&column.kind) {
            cells.push(None);
            continue;
        }
        let value = object.remove(&column.name).ok_or_else(|| format!("no '{}'", column.name))?;
        // A seeded cell comes out as the seed has it (its record wrote it as it is).
        if let Some(Some(given)) = known.and_then(|k| k.get(c)) {
            cells.push(given.clone());
            continue;
        }
        let cell = cell(tokenizer, c, &column.kind, value)
            .map_err(|problem| format!("'{}': {problem}", column.name))?;
        cells.push(cell);
    }
    if let Some(key) = object.keys().next() {
        return Err(format!("a key the table does not have: '{key}'"));
    }
    Ok(cells)
}

/// The cell text of `value` in column `c` of `kind` (`None` for null), or why it does not fit.
fn cell(
    tokenizer: &Tokenizer,
    c: usize,
    kind: &ColumnKind,
    value: serde_json::Value,
) -> std::result::Result<Option<String>, String> {
    use serde_json::Value;
    let text = match (kind, value) {
        (_, Value::Null) => return Ok(None),
        (ColumnKind::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        (ColumnKind::Float { decimals }, Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() => format!("{v:.*}", *decimals as usize),
            _ => return Err(format!("{n} is not a finite number")),
        },
        (ColumnKind::Integer | ColumnKind::Float { .. }, other) => {
            return Err(format!("{other} is not a number of the column's kind"))
        }
        (_, Value::String(s)) => s,
        (_, other) => return Err(format!("{other} is not text")),
    };
    if let Some((values, rare)) = tokenizer.categories(c) {
        if rare != Some(text.as_str()) && !values.contains(&text) {
            return Err(format!("'{text}' is not one of its categories"));
        }
    }
    if let ColumnKind::Datetime { format } = kind {
        if doppel_table::datetime::to_seconds(&text, format).is_none() {
            return Err(format!("'{text}' is not a date in the format '{format}'"));
        }
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::table::Table;

    /// A tokenizer of a table with an integer, a float, a category, a date and an identifier.
    fn tokenizer() -> crate::Result<Tokenizer> {
        let names = ["age", "score", "color", "day", "id"].map(String::from).to_vec();
        let rows = 40;
        let columns = vec![
            (0..rows).map(|r| Some(format!("{}", 20 + r % 30))).collect(),
            (0..rows).map(|r| Some(format!("{}.{}5", r % 9, r % 10))).collect(),
            (0..rows).map(|r| Some(["red", "blue", "green"][r % 3].to_string())).collect(),
            (0..rows).map(|r| Some(format!("2024-01-{:02}", 1 + r % 28))).collect(),
            (0..rows).map(|r| Some(format!("{}", 1000 + r))).collect(),
        ];
        let table = Table::from_columns(names, columns)?;
        let config = TrainConfig::default();
        let (table, schema) = schema::prepare(&table, &config.schema_settings())?;
        Tokenizer::fit(&table, &schema, &config.tokenizer_settings())
    }

    #[test]
    fn records_parse_against_the_schema_and_bad_ones_say_why() -> crate::Result<()> {
        let t = tokenizer()?;
        let kinds: Vec<String> =
            t.schema().columns.iter().map(|c| format!("{:?}", c.kind)).collect();
        assert!(kinds[4].starts_with("Identifier"), "{kinds:?}");
        let good = "{\"age\":31,\"score\":2.5,\"color\":\"blue\",\"day\":\"2024-01-03\"}\n";
        let cells = parse_record(&t, good, None).map_err(crate::Error::Data)?;
        let want = [Some("31"), Some("2.50"), Some("blue"), Some("2024-01-03"), None];
        assert_eq!(cells, want.map(|c| c.map(String::from)));
        // Text after the end mark is not the record's; null is a missing cell.
        let tail = "{\"age\":null,\"score\":1,\"color\":\"red\",\"day\":null}\n{\"a";
        assert_eq!(parse_record(&t, tail, None).map_err(crate::Error::Data)?[0], None);
        let bad = [
            ("{\"age\":31,\"score\":2.5,\"color\":\"blue\",\"day\":\"2024-01-03\"}", "did not end"),
            ("{\"age\":31,\"score\":2.5,\"color\":\"blue\"}\n", "no 'day'"),
            ("{\"age\":3.5,\"score\":2.5,\"color\":\"blue\",\"day\":null}\n", "'age': 3.5"),
            ("{\"age\":\"x\",\"score\":2.5,\"color\":\"blue\",\"day\":null}\n", "not a number"),
            ("{\"age\":1,\"score\":2.5,\"color\":\"pink\",\"day\":null}\n", "'pink' is not one"),
            ("{\"age\":1,\"score\":2.5,\"color\":\"red\",\"day\":\"03/01\"}\n", "not a date"),
            ("{\"age\":1,\"score\":2,\"color\":\"red\",\"day\":null,\"x\":1}\n", "'x'"),
            ("[1,2]\n", "not a JSON object"),
        ];
        for (record, expected) in bad {
            let problem = parse_record(&t, record, None).err().unwrap_or_default();
            assert!(problem.contains(expected), "{record}: {problem}");
        }
        Ok(())
    }
}
