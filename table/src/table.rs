//! [`Table`]: a header and rows of text cells, read from CSV: the form the report compares.

use crate::csv::{read_csv, ReadLimits};
use crate::error::{Error, Result};

/// A table of text cells with named columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    names: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Builds a table; every row must have one cell per name.
    pub fn new(names: Vec<String>, rows: Vec<Vec<String>>) -> Result<Table> {
        if let Some((i, cells)) = rows.iter().enumerate().find(|(_, r)| r.len() != names.len()) {
            let (row, line, found) = (i + 1, i as u64 + 2, cells.len());
            return Err(Error::Ragged { row, line, expected: names.len(), found });
        }
        Ok(Table { names, rows })
    }

    /// Reads CSV text with a header row, split at `delimiter` (detected when `None`), within
    /// the default [`ReadLimits`] (see [`read_csv`]).
    pub fn from_csv_str(text: &str, delimiter: Option<u8>) -> Result<Table> {
        Table::from_csv_reader(text.as_bytes(), delimiter, &ReadLimits::default())
    }

    /// Reads CSV with a header row from `reader` (see [`read_csv`]).
    pub fn from_csv_reader(
        reader: impl std::io::Read,
        delimiter: Option<u8>,
        limits: &ReadLimits,
    ) -> Result<Table> {
        let mut rows = Vec::new();
        let names = read_csv(reader, delimiter, limits, |record| {
            rows.push(record.iter().map(str::to_owned).collect())
        })?;
        Ok(Table { names, rows })
    }

    /// Column names in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Rows of cells in column order.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// The number of rows.
    pub fn num_rows(&self) -> usize {
        self.rows.len()
    }

    /// The cells of column `index`, top to bottom.
    pub fn column(&self, index: usize) -> impl Iterator<Item = &str> + '_ {
        self.rows.iter().map(move |r| r[index].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_into_rows() -> Result<()> {
        let t = Table::from_csv_str("a;b\r\n\"x;1\";\r\n", None)?;
        assert_eq!(t.names(), ["a", "b"]);
        assert_eq!(t.rows(), [vec!["x;1".to_string(), String::new()]]);
        assert_eq!(t.column(0).collect::<Vec<_>>(), ["x;1"]);
        assert!(matches!(Table::from_csv_str("", None), Err(Error::Empty)));
        Ok(())
    }

    #[test]
    fn a_ragged_row_in_memory_names_its_row() {
        let err = Table::new(vec!["a".into()], vec![vec!["1".into()], vec![]]).unwrap_err();
        assert!(matches!(err, Error::Ragged { row: 2, line: 3, expected: 1, found: 0 }), "{err}");
    }
}
