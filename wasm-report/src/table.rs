//! [`Table`]: a header and rows of text cells, read from CSV.

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
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != names.len()) {
            return Err(Error::Ragged { row: i + 1, expected: names.len(), found: row.len() });
        }
        Ok(Table { names, rows })
    }

    /// Reads RFC 4180 CSV text with a header row (a leading UTF-8 byte-order mark is skipped).
    pub fn from_csv_str(text: &str, delimiter: u8) -> Result<Table> {
        Table::from_csv_reader(text.as_bytes(), delimiter)
    }

    /// Reads CSV with a header row from `reader`.
    pub fn from_csv_reader(reader: impl std::io::Read, delimiter: u8) -> Result<Table> {
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(reader);
        let mut records = csv.byte_records();
        let header = match records.next() {
            None => return Err(Error::Empty),
            Some(r) => r.map_err(|e| Error::Csv(e.to_string()))?,
        };
        let names = utf8_fields(&header, 0)?;
        let names = match names.split_first() {
            Some((first, rest)) if first.starts_with('\u{feff}') => {
                let mut all = vec![first.trim_start_matches('\u{feff}').to_string()];
                all.extend(rest.iter().cloned());
                all
            }
            _ => names,
        };
        if names.is_empty() || names.len() == 1 && names[0].is_empty() {
            return Err(Error::Empty);
        }
        let mut rows = Vec::new();
        for (i, record) in records.enumerate() {
            let record = record.map_err(|e| Error::Csv(e.to_string()))?;
            let row = utf8_fields(&record, i + 1)?;
            if row.len() != names.len() {
                return Err(Error::Ragged { row: i + 1, expected: names.len(), found: row.len() });
            }
            rows.push(row);
        }
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

fn utf8_fields(record: &csv::ByteRecord, row: usize) -> Result<Vec<String>> {
    record
        .iter()
        .map(|f| std::str::from_utf8(f).map(str::to_string).map_err(|_| Error::InvalidUtf8 { row }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_fields_crlf_and_a_bom() -> Result<()> {
        let t = Table::from_csv_str("\u{feff}a,b\r\n\"x,1\",\"line\nbreak\"\r\n", b',')?;
        assert_eq!(t.names(), ["a", "b"]);
        assert_eq!(t.rows(), [vec!["x,1".to_string(), "line\nbreak".to_string()]]);
        Ok(())
    }

    #[test]
    fn bad_tables_are_named_errors() {
        assert!(matches!(Table::from_csv_str("", b','), Err(Error::Empty)));
        let ragged = Table::from_csv_str("a,b\n1,2\n3\n", b',');
        assert!(matches!(ragged, Err(Error::Ragged { row: 2, expected: 2, found: 1 })));
        let bytes: &[u8] = b"a\n\xff\n";
        assert!(matches!(Table::from_csv_reader(bytes, b','), Err(Error::InvalidUtf8 { row: 1 })));
    }
}
