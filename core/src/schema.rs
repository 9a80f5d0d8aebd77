//! Schema inference: what kind of values each column holds, in what format, and how missing
//! values are written.

use serde::{Deserialize, Serialize};

use crate::config::{KindName, TrainConfig};
use crate::error::Result;
use crate::table::Table;

/// The inferred kind of a column, with what is needed to write values back in the source's format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnKind {
    /// Whole numbers (optionally signed).
    Integer,
    /// Decimal numbers written with `decimals` digits after the point (the most seen in the source).
    Float {
        /// Digits after the decimal point on output.
        decimals: u32,
    },
    /// Two-valued labels such as `true`/`false`, `yes`/`no` (kept as written).
    Boolean,
    /// Labels from a finite set.
    Categorical,
    /// Dates or date-times, parsed and written with a chrono `format` such as `%Y-%m-%d`.
    Datetime {
        /// The chrono format string of the source.
        format: String,
    },
    /// Free text.
    Text,
    /// Unique per row; regenerated with the same `shape`.
    Identifier {
        /// The shape of the source's identifiers (see [`IdShape`]).
        shape: IdShape,
    },
}

/// How synthetic identifiers are made to look like the source's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum IdShape {
    /// Integers counting up from `start`.
    Sequence {
        /// The first identifier.
        start: i64,
    },
    /// A template where `9` stands for a digit, `A` for an upper-case letter, `a` for a lower-case
    /// letter and `x` for a lower-case hex digit; `\` escapes the next character, which is kept.
    Template {
        /// The template.
        template: String,
    },
}

/// One column's inferred description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// The column's name in the source header.
    pub name: String,
    /// Its kind.
    pub kind: ColumnKind,
    /// How the source writes a missing value in this column (the most frequent missing text);
    /// `None` when the column has no missing values. An Arrow null is written as an empty field.
    pub missing_marker: Option<String>,
    /// How many source rows are missing in this column.
    pub missing_count: usize,
}

/// The inferred description of a whole table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Columns in source order.
    pub columns: Vec<ColumnSchema>,
}

impl KindName {
    /// The name of `kind` without its parameters.
    pub fn of(kind: &ColumnKind) -> KindName {
        match kind {
            ColumnKind::Integer => KindName::Integer,
            ColumnKind::Float { .. } => KindName::Float,
            ColumnKind::Boolean => KindName::Boolean,
            ColumnKind::Categorical => KindName::Categorical,
            ColumnKind::Datetime { .. } => KindName::Datetime,
            ColumnKind::Text => KindName::Text,
            ColumnKind::Identifier { .. } => KindName::Identifier,
        }
    }
}

/// Whether a cell is missing: a null, or a text in `config.missing_tokens` (compared after trimming).
pub fn is_missing(cell: Option<&str>, config: &TrainConfig) -> bool {
    match cell {
        None => true,
        Some(text) => {
            let t = text.trim();
            config.missing_tokens.iter().any(|m| m == t)
        }
    }
}

/// Infers the schema of `table`, applying the kind overrides of `config.columns`.
///
/// Fails when an override names a column that does not exist, when an override cannot hold the
/// column's values (e.g. `integer` over text), or when a column has no values at all.
pub fn infer_schema(table: &Table, config: &TrainConfig) -> Result<Schema> {
    let _ = (table, config);
    unimplemented!("schema inference is being written")
}
