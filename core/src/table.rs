//! [`Table`]: a table of text cells held as one Arrow record batch of UTF-8 columns.
//!
//! Every source format is read into this one shape: a CSV cell keeps its exact text (so output can
//! reproduce the source's formats), a null cell of a typed source (Parquet, Arrow IPC) becomes an
//! Arrow null. Interpreting text as numbers, dates and missing values is the schema's job; a
//! typed source's column keeps what its file declared it to be ([`SourceType`]), so that schema
//! inference takes an int64 column for integers without reading its text.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};

use crate::error::{Error, Result};

/// A table of optional text cells with named columns.
#[derive(Clone, Debug)]
pub struct Table {
    batch: RecordBatch,
    source: Vec<SourceType>,
}

/// What a typed source (Parquet, Arrow IPC) declared a column to be; every CSV column, and
/// every typed column of another type (strings, decimals, binary, lists), is [`SourceType::Text`]
/// and is inferred from its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceType {
    /// Text: the schema infers the column's kind from its values.
    Text,
    /// Signed or unsigned integers of any width.
    Integer,
    /// Floating-point numbers of any width.
    Float,
    /// Booleans.
    Boolean,
    /// Dates and timestamps.
    Temporal,
}

impl SourceType {
    /// The source type of an Arrow column type (a dictionary by its values' type).
    pub fn of(data_type: &DataType) -> SourceType {
        match data_type {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => SourceType::Integer,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => SourceType::Float,
            DataType::Boolean => SourceType::Boolean,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => SourceType::Temporal,
            DataType::Dictionary(_, values) => SourceType::of(values),
            _ => SourceType::Text,
        }
    }
}

impl Table {
    /// Builds a table from column names and column-major cells (`columns[c][r]`).
    ///
    /// Fails when the names are not unique or the columns differ in length.
    pub fn from_columns(names: Vec<String>, columns: Vec<Vec<Option<String>>>) -> Result<Table> {
        if names.len() != columns.len() {
            return Err(Error::Data(format!(
                "{} column names for {} columns",
                names.len(),
                columns.len()
            )));
        }
        let arrays: Vec<ArrayRef> =
            columns.into_iter().map(|c| Arc::new(StringArray::from(c)) as ArrayRef).collect();
        Table::from_arrays(names, arrays)
    }

    /// Builds a table from column names and UTF-8 Arrow arrays.
    pub fn from_arrays(names: Vec<String>, arrays: Vec<ArrayRef>) -> Result<Table> {
        let mut seen = std::collections::BTreeSet::new();
        for name in &names {
            if !seen.insert(name.as_str()) {
                return Err(Error::Data(format!("column name '{name}' appears more than once")));
            }
        }
        let fields: Vec<Field> =
            names.iter().map(|n| Field::new(n.clone(), DataType::Utf8, true)).collect();
        let batch = RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays)
            .map_err(|e| Error::Data(format!("cannot build table: {e}")))?;
        let source = vec![SourceType::Text; batch.num_columns()];
        Ok(Table { batch, source })
    }

    /// The table with each column's [`SourceType`] (one per column, in order), as its typed
    /// source declared them.
    pub(crate) fn with_source_types(mut self, source: Vec<SourceType>) -> Table {
        debug_assert_eq!(source.len(), self.num_columns());
        if source.len() == self.num_columns() {
            self.source = source;
        }
        self
    }

    /// What column `index`'s source declared it to be ([`SourceType::Text`] for CSV).
    pub fn source_type(&self, index: usize) -> SourceType {
        self.source.get(index).copied().unwrap_or(SourceType::Text)
    }

    /// The number of rows.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// The number of columns.
    pub fn num_columns(&self) -> usize {
        self.batch.num_columns()
    }

    /// The column names, in order.
    pub fn column_names(&self) -> Vec<&str> {
        self.batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect()
    }

    /// The index of the column called `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.batch.schema_ref().index_of(name).ok()
    }

    /// Column `index` as an Arrow string array.
    pub fn column(&self, index: usize) -> &StringArray {
        self.batch
            .column(index)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("a Table holds only UTF-8 columns")
    }

    /// The cell at `row`, `column`; `None` for a null cell.
    pub fn cell(&self, row: usize, column: usize) -> Option<&str> {
        let array = self.column(column);
        (!array.is_null(row)).then(|| array.value(row))
    }

    /// The table as doppel-table's text table (the form the report compares), nulls as empty
    /// cells (a missing-value token to the report).
    pub fn to_text_table(&self) -> doppel_table::Table {
        let rows = (0..self.num_rows())
            .map(|r| {
                (0..self.num_columns())
                    .map(|c| self.cell(r, c).unwrap_or_default().to_string())
                    .collect()
            })
            .collect();
        let names = self.column_names().into_iter().map(str::to_owned).collect();
        doppel_table::Table::new(names, rows).expect("every row has one cell per column")
    }

    /// The table as an Arrow record batch (all columns UTF-8, nullable).
    pub fn record_batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// The rows whose indices are listed, in that order.
    pub fn take_rows(&self, rows: &[usize]) -> Table {
        let columns = (0..self.num_columns())
            .map(|c| rows.iter().map(|&r| self.cell(r, c).map(str::to_owned)).collect())
            .collect();
        let names = self.column_names().into_iter().map(str::to_owned).collect();
        let table = Table::from_columns(names, columns).expect("same names and equal lengths");
        table.with_source_types(self.source.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_round_trip_through_arrow() -> Result<()> {
        let t = Table::from_columns(
            vec!["a".into(), "b".into()],
            vec![vec![Some("1".into()), None], vec![Some("x".into()), Some("".into())]],
        )?;
        assert_eq!(t.num_rows(), 2);
        assert_eq!(t.cell(0, 0), Some("1"));
        assert_eq!(t.cell(1, 0), None);
        assert_eq!(t.cell(1, 1), Some(""));
        assert_eq!(t.column_index("b"), Some(1));
        let sub = t.take_rows(&[1]);
        assert_eq!(sub.cell(0, 1), Some(""));
        // As a text table: the null becomes an empty cell (a missing value to the report).
        assert_eq!(t.to_text_table().rows(), [["1", "x"], ["", ""]]);
        Ok(())
    }

    #[test]
    fn duplicate_names_are_refused() {
        let err = Table::from_columns(vec!["a".into(), "a".into()], vec![vec![], vec![]]);
        assert!(err.unwrap_err().to_string().contains("'a' appears more than once"));
    }
}
