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
        if let Some((i, cells)) = rows.iter().enumerate().find(|(_, r)| r.len() != names.len()) {
            let (row, line, found) = (i + 1, i as u64 + 2, cells.len());
            return Err(Error::Ragged { row, line, expected: names.len(), found });
        }
        Ok(Table { names, rows })
    }

    /// Reads RFC 4180 CSV text with a header row (a leading UTF-8 byte-order mark is skipped).
    pub fn from_csv_str(text: &str, delimiter: u8) -> Result<Table> {
        Table::from_csv_reader(text.as_bytes(), delimiter)
    }

    /// Reads RFC 4180 CSV with a header row from `reader` (a leading UTF-8 byte-order mark is
    /// skipped; CRLF and LF line ends both work; quoted fields may span lines).
    pub fn from_csv_reader(reader: impl std::io::Read, delimiter: u8) -> Result<Table> {
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(skip_bom(reader)?);
        let mut records = csv.byte_records();
        let header = match records.next() {
            None => return Err(Error::Empty),
            Some(r) => r.map_err(|e| Error::Csv(e.to_string()))?,
        };
        let names = utf8_fields(&header, 0)?;
        if names.is_empty() || names.len() == 1 && names[0].is_empty() {
            return Err(Error::Empty);
        }
        let mut rows = Vec::new();
        for (i, record) in records.enumerate() {
            let record = record.map_err(|e| Error::Csv(e.to_string()))?;
            let row = utf8_fields(&record, i + 1)?;
            if row.len() != names.len() {
                return Err(Error::Ragged {
                    row: i + 1,
                    line: line_of(&record),
                    expected: names.len(),
                    found: row.len(),
                });
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

    /// A table from string literals, for tests; panics on ragged rows.
    #[cfg(test)]
    pub(crate) fn literal(names: &[&str], rows: &[&[&str]]) -> Table {
        let names = names.iter().map(|s| s.to_string()).collect();
        let rows = rows.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect();
        Table::new(names, rows).expect("a rectangular table")
    }

    /// The cells of column `index`, top to bottom.
    pub fn column(&self, index: usize) -> impl Iterator<Item = &str> + '_ {
        self.rows.iter().map(move |r| r[index].as_str())
    }
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// `reader` without a leading byte-order mark.
fn skip_bom<R: std::io::Read>(
    mut reader: R,
) -> Result<std::io::Chain<std::io::Cursor<Vec<u8>>, R>> {
    let mut head = [0u8; 3];
    let mut len = 0;
    while len < head.len() {
        match reader.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(k) => len += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Csv(e.to_string())),
        }
    }
    let start = if &head[..len] == BOM { BOM.len() } else { 0 };
    Ok(std::io::Read::chain(std::io::Cursor::new(head[start..len].to_vec()), reader))
}

/// The 1-based line a record starts on.
fn line_of(record: &csv::ByteRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}

fn utf8_fields(record: &csv::ByteRecord, row: usize) -> Result<Vec<String>> {
    record
        .iter()
        .map(|f| {
            std::str::from_utf8(f)
                .map(str::to_string)
                .map_err(|_| Error::InvalidUtf8 { row, line: line_of(record) })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_fields_and_crlf() -> Result<()> {
        let t =
            Table::from_csv_str("a,b\r\n\"x,1\",\"line\nbreak\"\r\n\"say \"\"hi\"\"\",\r\n", b',')?;
        assert_eq!(t.names(), ["a", "b"]);
        let rows = [
            vec!["x,1".to_string(), "line\nbreak".to_string()],
            vec!["say \"hi\"".to_string(), String::new()],
        ];
        assert_eq!(t.rows(), rows);
        Ok(())
    }

    #[test]
    fn a_byte_order_mark_is_stripped() -> Result<()> {
        let t = Table::from_csv_str("\u{feff}a,b\n1,2\n", b',')?;
        assert_eq!(t.names(), ["a", "b"]);
        // Before a quoted first name too, where the quote must still open the field.
        let t = Table::from_csv_reader(&b"\xef\xbb\xbf\"a\";b\n1;2\n"[..], b';')?;
        assert_eq!(t.names(), ["a", "b"]);
        assert_eq!(t.rows(), [vec!["1".to_string(), "2".to_string()]]);
        Ok(())
    }

    #[test]
    fn empty_input_is_an_error() {
        assert!(matches!(Table::from_csv_str("", b','), Err(Error::Empty)));
        assert!(matches!(Table::from_csv_str("\u{feff}", b','), Err(Error::Empty)));
    }

    #[test]
    fn a_ragged_row_names_its_row_and_line() {
        // Row 2 starts on line 4, after a quoted field that spans lines 2 and 3.
        let err = Table::from_csv_str("a,b\n\"1\n1\",2\n3\n", b',').unwrap_err();
        assert!(matches!(err, Error::Ragged { row: 2, line: 4, expected: 2, found: 1 }), "{err}");
        assert_eq!(err.to_string(), "row 2 (line 4) has 1 fields, but the header has 2");
        let err = Table::new(vec!["a".into()], vec![vec![], vec![]]).unwrap_err();
        assert!(matches!(err, Error::Ragged { row: 1, line: 2, expected: 1, found: 0 }), "{err}");
    }

    #[test]
    fn invalid_utf8_names_its_row() {
        let bytes: &[u8] = b"a,b\n1,2\n3,\xff\n";
        let err = Table::from_csv_reader(bytes, b',').unwrap_err();
        assert!(matches!(err, Error::InvalidUtf8 { row: 2, line: 3 }), "{err}");
    }
}
