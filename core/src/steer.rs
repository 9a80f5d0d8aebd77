//! Steered generation: conditions every generated row satisfies (`age >= 60 and sex = Female`)
//! and seed rows whose given cells come out exactly, the other cells drawn from the model's
//! distribution given them.
//!
//! Both work one way, with no rejection loop: the columns a row fixes or conditions on are
//! generated first (the model learned such orders, see [`crate::order`]), a fixed cell's tokens
//! are forced, and a condition bars the tokens that would break it (the categories it does not
//! name; a number's bins and within-bin positions outside its range, the value drawn within the
//! bin kept inside too). A condition nothing the model generates passes is an error before
//! generation starts.

use std::collections::HashMap;
use std::sync::Arc;

use crate::artifact::TrainedModel;
use crate::error::{Error, Result};
use crate::order::Orders;
use crate::schema::is_missing;
use crate::table::Table;
use crate::tokenizer::{Allowed, FieldRole, OrderRule, Test, Tokenizer};

/// One condition: a test of one column's value.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The column's name, as the training data's header has it.
    pub column: String,
    /// What its value must pass.
    pub test: Test,
}

/// Reads conditions written `column op value`, joined by `and`: `op` is one of `=` (or `==`),
/// `!=` (or `<>`), `<`, `<=`, `>`, `>=`, `in (v1, v2, …)` / `not in (…)`, or `matches 'regex'`
/// (or `~ 'regex'`: a category or free text whose whole text matches). A name or value with
/// spaces or operator characters is quoted (`"native country" = 'United States'`); the words
/// `and`, `in`, `not` and `matches` are read in any case. A comparison's value may name another
/// number or date column (`start <= end`): an order between the two (see [`OrderRule`]).
/// Empty text is no condition.
pub fn parse_conditions(text: &str) -> Result<Vec<Condition>> {
    let bad = |clause: &str, why: &str| {
        Error::Config(format!("cannot read the condition '{}': {why}", clause.trim()))
    };
    let mut out = Vec::new();
    for clause in split_outside_quotes(text, "and")? {
        if clause.trim().is_empty() {
            if text.trim().is_empty() {
                continue;
            }
            return Err(bad(text, "'and' needs a condition on each side"));
        }
        let (column, rest) = read_name(clause.trim()).map_err(|why| bad(&clause, &why))?;
        let rest = rest.trim_start();
        let lower = rest.to_ascii_lowercase();
        let list = |after: &str| -> Result<Vec<String>> {
            let inner = after
                .trim()
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| bad(&clause, "a list is written (v1, v2, …)"))?;
            let items = split_outside_quotes(inner, ",")?;
            items.iter().map(|v| unquote(v.trim()).map_err(|why| bad(&clause, &why))).collect()
        };
        let keyword = |word: &str| {
            lower.strip_prefix(word).filter(|r| r.starts_with([' ', '(']) || r.is_empty()).is_some()
        };
        let test = if keyword("matches") || rest.starts_with('~') {
            let after = rest.strip_prefix('~').unwrap_or_else(|| &rest[7..]);
            let pattern = unquote(after.trim()).map_err(|why| bad(&clause, &why))?;
            if after.trim().is_empty() {
                return Err(bad(&clause, "no regular expression after 'matches'"));
            }
            crate::tokenizer::whole_match(&pattern).map_err(|why| bad(&clause, &why))?;
            Test::Matches(pattern)
        } else if keyword("not") {
            let after = rest[3..].trim_start();
            if !after.to_ascii_lowercase().starts_with("in") {
                return Err(bad(&clause, "'not' is followed by 'in (…)'"));
            }
            Test::Values { values: list(&after[2..])?, negate: true }
        } else if keyword("in") {
            Test::Values { values: list(&rest[2..])?, negate: false }
        } else {
            let ops = ["==", "!=", "<>", "<=", ">=", "=", "<", ">"];
            let op = ops
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| bad(&clause, "expected = != < <= > >= in or not in"))?;
            let value = unquote(rest[op.len()..].trim()).map_err(|why| bad(&clause, &why))?;
            if value.is_empty() {
                return Err(bad(&clause, "no value after the operator"));
            }
            let bound = |inclusive| Some((value.clone(), inclusive));
            match *op {
                "=" | "==" => Test::Values { values: vec![value], negate: false },
                "!=" | "<>" => Test::Values { values: vec![value], negate: true },
                "<" => Test::Range { low: None, high: bound(false) },
                "<=" => Test::Range { low: None, high: bound(true) },
                ">" => Test::Range { low: bound(false), high: None },
                _ => Test::Range { low: bound(true), high: None },
            }
        };
        out.push(Condition { column, test });
    }
    Ok(out)
}

/// `text` split at `separator` (a word, matched in any case between spaces or brackets, or a
/// character) outside quotes and brackets.
fn split_outside_quotes(text: &str, separator: &str) -> Result<Vec<String>> {
    let (mut parts, mut current) = (Vec::new(), String::new());
    let (mut quote, mut depth) = (None::<char>, 0usize);
    let chars: Vec<char> = text.chars().collect();
    let word = separator.chars().all(char::is_alphabetic);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '\'' | '"' | '`') => quote = Some(c),
            None if c == '(' => depth += 1,
            None if c == ')' => depth = depth.saturating_sub(1),
            None if depth == 0 => {
                let n = separator.chars().count();
                let here: String = chars[i..chars.len().min(i + n)].iter().collect();
                let bounded = |j: Option<&char>| j.is_none_or(|c| c.is_whitespace());
                let at = here.eq_ignore_ascii_case(separator)
                    && (!word
                        || (bounded(i.checked_sub(1).and_then(|j| chars.get(j)))
                            && bounded(chars.get(i + n))));
                if at {
                    parts.push(std::mem::take(&mut current));
                    i += n;
                    continue;
                }
            }
            None => {}
        }
        current.push(c);
        i += 1;
    }
    if let Some(q) = quote {
        return Err(Error::Config(format!("the condition '{text}' has an unclosed {q}")));
    }
    parts.push(current);
    Ok(parts)
}

/// A column name at the start of `text` (quoted, or up to a space or operator), and the rest.
fn read_name(text: &str) -> std::result::Result<(String, &str), String> {
    if let Some(q) = text.chars().next().filter(|c| matches!(c, '"' | '`' | '\'')) {
        let end = text[1..].find(q).ok_or("the column name's quote is not closed")?;
        return Ok((text[1..1 + end].to_string(), &text[2 + end..]));
    }
    let end = text.find(|c: char| c.is_whitespace() || "=!<>".contains(c)).unwrap_or(text.len());
    if end == 0 {
        return Err("it starts with no column name".into());
    }
    Ok((text[..end].to_string(), &text[end..]))
}

/// `text` without one pair of surrounding quotes.
fn unquote(text: &str) -> std::result::Result<String, String> {
    match text.chars().next() {
        Some(q @ ('\'' | '"' | '`')) => text[1..]
            .strip_suffix(q)
            .map(str::to_string)
            .ok_or_else(|| format!("the quote of {text} is not closed")),
        _ => Ok(text.to_string()),
    }
}

/// A seed table and how its cells are read.
pub struct Seed {
    /// The table; its columns are matched to the model's by name (columns it lacks are
    /// generated in every row).
    pub table: Table,
    /// Imputation: a cell holding a missing-value token (the model's, such as `?`) is also
    /// generated. Otherwise only an empty or null cell is, and a missing-value token is a
    /// missing value the row keeps.
    pub fill_missing: bool,
}

/// How a balanced field holds its rows to a target (see [`crate::balance`]).
#[derive(Clone, Debug)]
pub(crate) enum Balance {
    /// Rebalancing: the share of each local token of the field; `None`: the rest of the mass,
    /// split as the model splits it.
    Shares(Vec<Option<f64>>),
    /// Fairness: every group of rows by the token of field `other` (once generated) takes the
    /// mean distribution of all of them, so that the field is independent of the other.
    Independent {
        /// The other column's field.
        other: usize,
    },
}

impl Balance {
    /// The group of a row whose tokens so far are `tokens` (`done`: which fields are
    /// generated), `None` when it is not balanced here.
    pub fn group_of(&self, tokens: &[u32], done: &[bool]) -> Option<u32> {
        match self {
            Balance::Shares(_) => Some(0),
            Balance::Independent { other } => {
                done.get(*other).copied().unwrap_or(false).then(|| tokens[*other])
            }
        }
    }

    /// The distribution the rows `probs` (each row's own) are held to.
    pub fn target(&self, probs: &[Vec<f64>]) -> Vec<f64> {
        let k = probs.first().map_or(0, Vec::len);
        let mut mean = vec![0.0; k];
        for row in probs {
            mean.iter_mut().zip(row).for_each(|(m, p)| *m += p / probs.len() as f64);
        }
        match self {
            Balance::Independent { .. } => mean,
            Balance::Shares(shares) => {
                let fixed: f64 = shares.iter().flatten().sum();
                let free: f64 =
                    mean.iter().zip(shares).filter(|(_, s)| s.is_none()).map(|(m, _)| m).sum();
                let rest = (1.0 - fixed).max(0.0);
                mean.iter()
                    .zip(shares)
                    .map(|(m, s)| match s {
                        Some(share) => *share,
                        None if free > 0.0 => rest * m / free,
                        None => 0.0,
                    })
                    .collect()
            }
        }
    }
}

/// What a generation is steered by, as written (see [`Plan::new`]).
pub(crate) struct Steering<'a> {
    /// Conditions (see [`parse_conditions`]).
    pub conditions: &'a str,
    /// Rebalancing: `column=value:share[,value:share…]`, several columns joined by `;`.
    pub rebalance: &'a str,
    /// Fairness: `target=column sensitive=column`.
    pub fair: &'a str,
}

impl Steering<'_> {
    /// Whether nothing steers the generation.
    pub fn is_empty(&self) -> bool {
        [self.conditions, self.rebalance, self.fair].iter().all(|s| s.trim().is_empty())
    }
}

/// A steered generation resolved against a model: what each column allows, and the seed.
pub(crate) struct Plan {
    /// Per model column: what its conditions allow.
    allowed: Vec<Option<Allowed>>,
    /// Per model column: a cell every row takes (a text column's `=` condition): its local
    /// tokens and text.
    constant: Vec<Option<(Vec<u32>, String)>>,
    /// Per model column: its position among the columns that have fields.
    group: Vec<Option<usize>>,
    /// Per field: how it is balanced (rebalancing, fairness).
    balance: Vec<Option<Balance>>,
    /// Columns generated first for balancing.
    balanced: Vec<usize>,
    orders: Orders,
    /// Whether the model learned other orders than the table's (see [`learned_any_order`]).
    any_order: bool,
    seed: Option<(Seed, Vec<Option<usize>>)>,
    missing_tokens: Vec<String>,
    /// Orders between columns (a comparison with another column).
    rules: Vec<OrderRule>,
}

/// One row's plan.
pub(crate) struct RowPlan {
    /// The fields in generation order.
    pub order: Arc<Vec<u32>>,
    /// Per field: the local token the row fixes.
    pub fixed: Vec<Option<u32>>,
    /// Per column: the cell the row fixes (`Some(None)`: a missing value).
    pub known: Vec<Option<Option<String>>>,
    /// Per column: whether the generated cell must not be missing (an imputed cell).
    pub present: Vec<bool>,
}

impl Plan {
    /// Resolves `conditions` and `seed` against `model`: errors name the column, value or seed
    /// row at fault, and come before anything is generated.
    pub fn new(model: &TrainedModel, steering: &Steering, seed: Option<Seed>) -> Result<Plan> {
        let mut conditions = parse_conditions(steering.conditions)?;
        conditions.extend(constraints(model)?);
        let tokenizer = model.tokenizer();
        let schema = model.schema();
        let columns = schema.columns.len();
        let mut tests: Vec<Vec<Test>> = vec![Vec::new(); columns];
        let mut rules = Vec::new();
        for condition in &conditions {
            let c = find_column(model, &condition.column)?;
            match order_rule(model, c, &condition.test)? {
                Some(rule) => rules.push(rule),
                None => tests[c].push(condition.test.clone()),
            }
        }
        refuse_contradictions(model, &rules)?;
        let mut allowed = vec![None; columns];
        let mut constant = vec![None; columns];
        for (c, tests) in tests.iter().enumerate().filter(|(_, t)| !t.is_empty()) {
            let name = &schema.columns[c].name;
            let in_words = |why: String| Error::Config(format!("condition on '{name}': {why}"));
            let text =
                tokenizer.fields().iter().any(|f| f.column == c && f.role == FieldRole::TextSlot);
            match (text, tests.as_slice()) {
                (true, [Test::Values { values, negate: false }]) if values.len() == 1 => {
                    let tokens =
                        tokenizer.encode_cell(c, Some(&values[0]), None).map_err(in_words)?;
                    constant[c] = Some((tokens, values[0].clone()));
                }
                _ => allowed[c] = Some(tokenizer.allowed(c, tests).map_err(in_words)?),
            }
        }
        let mut group = vec![None; columns];
        let mut groups = 0;
        for f in tokenizer.fields() {
            if group[f.column].is_none() {
                group[f.column] = Some(groups);
                groups += 1;
            }
        }
        let seed = match seed {
            None => None,
            Some(seed) => {
                let source = seed_columns(model, &seed.table)?;
                Some((seed, source))
            }
        };
        let (balance, balanced) = balances(model, steering, &allowed)?;
        let plan = Plan {
            allowed,
            constant,
            group,
            balance,
            balanced,
            // Only its `with_first` orders are used: the share and seed draw nothing.
            orders: Orders::new(tokenizer.fields(), 0.0, 0),
            any_order: learned_any_order(model),
            seed,
            missing_tokens: model.metadata().config.missing_tokens.clone(),
            rules,
        };
        plan.check_seed(tokenizer)?;
        Ok(plan)
    }

    /// The number of rows the seed asks for (one per seed row), if there is a seed.
    pub fn seed_rows(&self) -> Option<usize> {
        self.seed.as_ref().map(|(s, _)| s.table.num_rows())
    }

    /// Per column, the intervals a number must keep to.
    pub fn within(&self) -> Vec<Option<&[(f64, f64)]>> {
        self.allowed
            .iter()
            .map(|a| match a {
                Some(Allowed::Numbers(iv)) => Some(iv.as_slice()),
                _ => None,
            })
            .collect()
    }

    /// The orders between columns every row keeps.
    pub fn rules(&self) -> &[OrderRule] {
        &self.rules
    }

    /// How field `field` is balanced, if it is.
    pub fn balance_at(&self, field: usize) -> Option<&Balance> {
        self.balance.get(field).and_then(Option::as_ref)
    }

    /// Whether the model learned other orders than the table's, so that the columns a row
    /// fixes go first (see [`learned_any_order`]).
    pub fn any_order(&self) -> bool {
        self.any_order
    }

    /// Whether a field is balanced by masking (rebalancing or fairness not done by selection).
    pub fn is_balanced(&self) -> bool {
        self.balance.iter().any(Option::is_some)
    }

    /// What the conditions allow in `column`.
    pub fn allowed(&self, column: usize) -> Option<&Allowed> {
        self.allowed.get(column).and_then(Option::as_ref)
    }

    /// Every seed row's plan is made once before generation, so that a bad cell is an error
    /// before anything is written.
    fn check_seed(&self, tokenizer: &Tokenizer) -> Result<()> {
        let mut orders = HashMap::new();
        for r in 0..self.seed_rows().unwrap_or(0) {
            self.row(tokenizer, r, &mut orders)?;
        }
        Ok(())
    }

    /// The plan of row `r` (of the seed, when there is one; every row alike otherwise);
    /// `orders` caches the orders already made.
    pub fn row(
        &self,
        tokenizer: &Tokenizer,
        r: usize,
        orders: &mut HashMap<Vec<bool>, Arc<Vec<u32>>>,
    ) -> Result<RowPlan> {
        let schema = tokenizer.schema();
        let fields = tokenizer.fields();
        let mut known: Vec<Option<Option<String>>> = vec![None; schema.columns.len()];
        let mut present = vec![false; schema.columns.len()];
        let mut fixed: Vec<Option<u32>> = vec![None; fields.len()];
        let mut first: Vec<bool> = vec![false; self.orders_len()];
        let mut put = |column: usize, tokens: &[u32], first: &mut Vec<bool>| {
            let slots = fields.iter().enumerate().filter(|(_, f)| f.column == column);
            for ((i, _), &t) in slots.zip(tokens) {
                fixed[i] = Some(t);
            }
            if let Some(g) = self.group[column] {
                first[g] = true;
            }
        };
        for (c, a) in self.allowed.iter().enumerate() {
            if let (Some(_), Some(g)) = (a, self.group[c]) {
                first[g] = true;
            }
        }
        for &c in &self.balanced {
            if let Some(g) = self.group[c] {
                first[g] = true;
            }
        }
        for (c, k) in self.constant.iter().enumerate() {
            if let Some((tokens, text)) = k {
                put(c, tokens, &mut first);
                known[c] = Some(Some(text.clone()));
            }
        }
        if let Some((seed, source)) = &self.seed {
            let cells: Vec<Option<Option<&str>>> =
                source.iter().map(|s| s.map(|s| self.seed_cell(seed, r, s))).collect();
            for (c, cell) in cells.iter().enumerate() {
                // A cell left to generation: imputation fills it with a value.
                present[c] = seed.fill_missing && matches!(cell, Some(None));
                let Some(Some(cell)) = cell else { continue };
                let column = &schema.columns[c];
                let value = (!is_missing(&self.missing_tokens, Some(cell))
                    && column.missing_marker.as_deref() != Some(cell.trim()))
                .then_some(*cell);
                let at = |why: String| {
                    Error::Data(format!("seed row {}, column '{}': {why}", r + 1, column.name))
                };
                self.check_condition(tokenizer, c, value).map_err(at)?;
                known[c] = Some(value.map(str::to_string));
                let base = match tokenizer.measured_from(c) {
                    // An end measured from its start: fixed only when the start is, else its
                    // tokens are drawn and its text still comes out as the seed has it.
                    Some(start) => match cells.get(start).copied().flatten().flatten() {
                        Some(text) => Some(tokenizer.read_number(start, text)),
                        None => continue,
                    },
                    None => None,
                };
                match tokenizer.encode_cell(c, value, base) {
                    Ok(tokens) => put(c, &tokens, &mut first),
                    Err(_) if base.is_some() => {}
                    Err(why) => return Err(at(why)),
                }
            }
        }
        for rule in &self.rules {
            let value = |c: usize| {
                let cell = known[c].as_ref()?.as_deref();
                tokenizer.read_number(c, cell?)
            };
            if let (Some(low), Some(high)) = (value(rule.low), value(rule.high)) {
                if low > high || (rule.strict && low == high) {
                    let name = |c: usize| &schema.columns[c].name;
                    let op = if rule.strict { "<" } else { "<=" };
                    let text = |c: usize| known[c].clone().flatten().unwrap_or_default();
                    return Err(Error::Data(format!(
                        "seed row {}: '{}' {op} '{}' does not hold ({} and {})",
                        r + 1,
                        name(rule.low),
                        name(rule.high),
                        text(rule.low),
                        text(rule.high)
                    )));
                }
            }
        }
        if !self.any_order {
            first.iter_mut().for_each(|f| *f = false);
        }
        let order = match orders.get(&first) {
            Some(order) => order.clone(),
            None => {
                let order = Arc::new(self.orders.with_first(&first));
                orders.insert(first, order.clone());
                order
            }
        };
        Ok(RowPlan { order, fixed, known, present })
    }

    /// How many columns have fields.
    fn orders_len(&self) -> usize {
        self.group.iter().flatten().count()
    }

    /// Seed row `r`'s cell in seed column `s`: `None` when the row leaves it to generation.
    fn seed_cell<'a>(&self, seed: &'a Seed, r: usize, s: usize) -> Option<&'a str> {
        let cell = seed.table.cell(r, s)?;
        let generate = cell.trim().is_empty()
            || (seed.fill_missing && is_missing(&self.missing_tokens, Some(cell)));
        (!generate).then_some(cell)
    }

    /// An error in words when a seed's value (`None`: missing) breaks column `c`'s condition.
    fn check_condition(
        &self,
        tokenizer: &Tokenizer,
        c: usize,
        value: Option<&str>,
    ) -> std::result::Result<(), String> {
        let Some(allowed) = self.allowed(c) else { return Ok(()) };
        let passes = match (allowed, value) {
            (_, None) => false,
            (Allowed::Tokens(mask), Some(v)) => tokenizer
                .encode_cell(c, Some(v), None)
                .ok()
                .and_then(|t| t.first().copied())
                .is_some_and(|t| mask.get(t as usize).copied().unwrap_or(false)),
            (Allowed::Numbers(iv), Some(v)) => tokenizer
                .read_number(c, v)
                .is_some_and(|x| iv.iter().any(|&(a, b)| a <= x && x <= b)),
            (Allowed::Text(pattern), Some(v)) => pattern.is_match(v),
        };
        match passes {
            true => Ok(()),
            false => Err(format!(
                "{} breaks the condition on this column",
                value.unwrap_or("a missing value")
            )),
        }
    }
}

/// The balanced fields of `steering`'s rebalancing and fairness, and their columns (which are
/// generated first). Both need categorical columns; a rebalanced value must be one the model
/// generates (and that the conditions allow), and the shares of a column at most 1 in all.
#[allow(clippy::type_complexity)]
fn balances(
    model: &TrainedModel,
    steering: &Steering,
    allowed: &[Option<Allowed>],
) -> Result<(Vec<Option<Balance>>, Vec<usize>)> {
    let tokenizer = model.tokenizer();
    let mut balance: Vec<Option<Balance>> = vec![None; tokenizer.fields().len()];
    let mut columns = Vec::new();
    // The field of a categorical column, and the local token of each of its values.
    let field_of = |c: usize, what: &str| -> Result<usize> {
        let name = &model.schema().columns[c].name;
        tokenizer
            .fields()
            .iter()
            .position(|f| f.column == c && f.role == FieldRole::Category)
            .ok_or_else(|| {
                Error::Config(format!("{what} needs a categorical column; '{name}' is not"))
            })
    };
    for spec in steering.rebalance.split(';').filter(|s| !s.trim().is_empty()) {
        let bad = |why: &str| {
            Error::Config(format!("cannot read the rebalancing '{}': {why}", spec.trim()))
        };
        let (name, values) = read_rebalancing(spec).map_err(|why| bad(&why))?;
        let c = find_column(model, &name)?;
        let t = field_of(c, "rebalancing")?;
        let size = tokenizer.fields()[t].size as usize;
        let mut shares = vec![None; size];
        let mut total = 0.0;
        for (value, share) in values {
            let test = [Test::Values { values: vec![value], negate: false }];
            let Allowed::Tokens(mask) = tokenizer.allowed(c, &test).map_err(|why| bad(&why))?
            else {
                return Err(bad("the column is not categorical"));
            };
            let token = mask.iter().position(|&m| m).ok_or_else(|| bad("no such value"))?;
            let barred = match &allowed[c] {
                Some(Allowed::Tokens(m)) => !m.get(token).copied().unwrap_or(false),
                _ => false,
            };
            if barred {
                return Err(bad("a condition rules that value out"));
            }
            shares[token] = Some(share);
            total += share;
        }
        if total > 1.0 + 1e-9 {
            return Err(bad("the shares add up to more than 1"));
        }
        balance[t] = Some(Balance::Shares(shares));
        columns.push(c);
    }
    if !steering.fair.trim().is_empty() {
        let bad = |why: &str| {
            Error::Config(format!("cannot read the fairness '{}': {why}", steering.fair.trim()))
        };
        let (target, sensitive) = read_fairness(model, steering.fair)?;
        let (t, s) = (field_of(target, "fairness")?, field_of(sensitive, "fairness")?);
        if balance[t].is_some() {
            return Err(bad("the target is also rebalanced"));
        }
        // Whichever of the two comes second in a row's order is held independent of the
        // other: the target per sensitive group, or the sensitive column per target value.
        balance[t] = Some(Balance::Independent { other: s });
        if balance[s].is_none() {
            balance[s] = Some(Balance::Independent { other: t });
        }
        columns.extend([target, sensitive]);
    }
    Ok((balance, columns))
}

/// One column's rebalancing as written, `column=value:share[,value:share…]`: the column's
/// name and each value with its share (in `(0, 1]`); an error in words.
pub(crate) fn read_rebalancing(
    spec: &str,
) -> std::result::Result<(String, Vec<(String, f64)>), String> {
    let (name, values) = spec.split_once('=').ok_or("it is written column=value:share")?;
    let mut out = Vec::new();
    for item in values.split(',') {
        let (value, share) =
            item.rsplit_once(':').ok_or("each value is given a share, as value:0.3")?;
        let share: f64 = share.trim().parse().map_err(|_| "a share is a number")?;
        if !(share > 0.0 && share <= 1.0) {
            return Err("a share is above 0 and at most 1".into());
        }
        out.push((unquote(value.trim())?, share));
    }
    Ok((name.trim().to_string(), out))
}

/// The target and sensitive columns of a fairness written `target=column sensitive=column`.
pub(crate) fn read_fairness(model: &TrainedModel, fair: &str) -> Result<(usize, usize)> {
    let bad =
        |why: &str| Error::Config(format!("cannot read the fairness '{}': {why}", fair.trim()));
    let (mut target, mut sensitive) = (None, None);
    for part in fair.split([' ', ',']).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("target", name)) => target = Some(find_column(model, name)?),
            Some(("sensitive", name)) => sensitive = Some(find_column(model, name)?),
            _ => return Err(bad("it is written target=column sensitive=column")),
        }
    }
    let (Some(target), Some(sensitive)) = (target, sensitive) else {
        return Err(bad("it names a target and a sensitive column"));
    };
    if target == sensitive {
        return Err(bad("the target and the sensitive column are the same"));
    }
    Ok((target, sensitive))
}

/// Whether `model` was trained on other column orders than the table's
/// (`training.random_order_share` above 0), so that a steered generation can put the columns it
/// fixes first. A model trained in the table's order only is steered in that order: its
/// conditioned and seeded cells are still exact, but the columns before them in the table do
/// not follow them.
pub fn learned_any_order(model: &TrainedModel) -> bool {
    model.metadata().config.training.random_order_share.is_some_and(|s| s > 0.0)
}

/// The model column named `name` (exactly, else the one name equal to it in any case).
pub(crate) fn find_column(model: &TrainedModel, name: &str) -> Result<usize> {
    let columns = &model.schema().columns;
    if let Some(c) = columns.iter().position(|c| c.name == name) {
        return Ok(c);
    }
    let near: Vec<usize> =
        (0..columns.len()).filter(|&c| columns[c].name.eq_ignore_ascii_case(name)).collect();
    match near.as_slice() {
        [c] => Ok(*c),
        _ => {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            Err(Error::Config(format!(
                "the model has no column '{name}' (its columns: {})",
                names.join(", ")
            )))
        }
    }
}

/// The model's constraints (the training configuration's `constraints`), read as conditions.
fn constraints(model: &TrainedModel) -> Result<Vec<Condition>> {
    let mut out = Vec::new();
    for text in &model.metadata().config.constraints {
        let parsed = parse_conditions(text)
            .map_err(|e| Error::Config(format!("constraint '{text}': {e}")))?;
        out.extend(parsed);
    }
    Ok(out)
}

/// A comparison of column `c` whose value names another column, as an [`OrderRule`]; `None`
/// for any other test. An error in words when the two cannot be ordered, or when no pair of
/// values the model generates keeps the order.
fn order_rule(model: &TrainedModel, c: usize, test: &Test) -> Result<Option<OrderRule>> {
    let Test::Range { low, high } = test else { return Ok(None) };
    let tokenizer = model.tokenizer();
    let (bound, c_is_high) = match (low, high) {
        (Some(bound), None) => (bound, true),
        (None, Some(bound)) => (bound, false),
        _ => return Ok(None),
    };
    let (text, inclusive) = bound;
    if tokenizer.read_number(c, text).is_some() {
        return Ok(None);
    }
    let Ok(other) = find_column(model, text) else { return Ok(None) };
    let names = &model.schema().columns;
    let (name, other_name) = (&names[c].name, &names[other].name);
    let in_words =
        |why: String| Error::Config(format!("cannot order '{name}' and '{other_name}': {why}"));
    if other == c {
        return Err(in_words("a column compared with itself".into()));
    }
    tokenizer.comparable(c, other).map_err(in_words)?;
    let (low, high) = if c_is_high { (other, c) } else { (c, other) };
    let rule = OrderRule { low, high, strict: !inclusive };
    let (Some((low_min, _)), Some((_, high_max))) =
        (tokenizer.value_range(low), tokenizer.value_range(high))
    else {
        return Ok(Some(rule));
    };
    if low_min > high_max || (rule.strict && low_min == high_max) {
        return Err(in_words(format!(
            "every '{}' the model generates is above every '{}'",
            names[low].name, names[high].name
        )));
    }
    Ok(Some(rule))
}

/// Refuses two order rules on one pair of columns that no pair of values keeps (`a <= b` and
/// `b < a`).
fn refuse_contradictions(model: &TrainedModel, rules: &[OrderRule]) -> Result<()> {
    for (i, r) in rules.iter().enumerate() {
        for s in &rules[i + 1..] {
            if r.low == s.high && r.high == s.low && (r.strict || s.strict) {
                let names = &model.schema().columns;
                return Err(Error::Config(format!(
                    "the orders between '{}' and '{}' contradict each other",
                    names[r.low].name, names[r.high].name
                )));
            }
        }
    }
    Ok(())
}

/// For each model column, the seed table's column of that name; an error for a seed column
/// the model does not have.
fn seed_columns(model: &TrainedModel, table: &Table) -> Result<Vec<Option<usize>>> {
    let columns = &model.schema().columns;
    for name in table.column_names() {
        if !columns.iter().any(|c| c.name == name) {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            return Err(Error::Data(format!(
                "the seed's column '{name}' is not one of the model's ({})",
                names.join(", ")
            )));
        }
    }
    Ok(columns.iter().map(|c| table.column_index(&c.name)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &[&str], negate: bool) -> Test {
        Test::Values { values: v.iter().map(|s| s.to_string()).collect(), negate }
    }

    #[test]
    fn conditions_are_read_with_quotes_lists_and_any_case() -> Result<()> {
        let c = parse_conditions(
            "age >= 60 AND sex=Female and workclass in (Private, 'State-gov') \
             and \"native country\" not in ('United States', Mexico) and x != 'a and b'",
        )?;
        let expect = [
            ("age", Test::Range { low: Some(("60".into(), true)), high: None }),
            ("sex", values(&["Female"], false)),
            ("workclass", values(&["Private", "State-gov"], false)),
            ("native country", values(&["United States", "Mexico"], true)),
            ("x", values(&["a and b"], true)),
        ];
        assert_eq!(c.len(), expect.len(), "{c:?}");
        for (got, (column, test)) in c.iter().zip(expect) {
            assert_eq!((got.column.as_str(), &got.test), (column, &test));
        }
        let c = parse_conditions("hours < 40 and capital-gain<=5 and b>1.5")?;
        assert_eq!(c[0].test, Test::Range { low: None, high: Some(("40".into(), false)) });
        assert_eq!(c[1].column, "capital-gain");
        assert_eq!(c[2].test, Test::Range { low: Some(("1.5".into(), false)), high: None });
        // A word containing "and" is no separator.
        assert_eq!(parse_conditions("brand = Andes")?[0].test, values(&["Andes"], false));
        assert!(parse_conditions("")?.is_empty());
        assert_eq!(
            parse_conditions("code matches '[A-Z]+'")?[0].test,
            Test::Matches("[A-Z]+".into())
        );
        assert_eq!(parse_conditions("code ~ 'a|b' and x=1")?[0].test, Test::Matches("a|b".into()));
        // A pattern cannot close the group it is wrapped in to match anything.
        let e = parse_conditions("code ~ '[A-Z]+)|(.*'").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("does not compile")));
        for bad in ["age", "age >=", "and age > 1", "x in 1, 2", "x = 'open", "x ~ '('", "= 3"] {
            let e = parse_conditions(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("condition"), "{bad}: {e}");
        }
        let e = parse_conditions("x matches").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("no regular expression"), "{e}");
        Ok(())
    }
}
