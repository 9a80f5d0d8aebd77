//! Missing values: the cell texts read as "no value", and the one test for them, used by
//! schema inference, training and every metric of the report.

/// The cell texts read as missing by default (compared after trimming whitespace): the empty
/// cell and the usual spellings of "not available".
pub const DEFAULT_MISSING_TOKENS: [&str; 9] =
    ["", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"];

/// [`DEFAULT_MISSING_TOKENS`] as owned strings (the default of every `missing_tokens` option).
pub fn default_missing_tokens() -> Vec<String> {
    DEFAULT_MISSING_TOKENS.map(String::from).to_vec()
}

/// Whether `cell` is missing: a null (`None`), or a text that is one of `tokens` once
/// surrounding whitespace is trimmed.
pub fn is_missing(tokens: &[String], cell: Option<&str>) -> bool {
    match cell {
        None => true,
        Some(text) => {
            let text = text.trim();
            tokens.iter().any(|token| token == text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_and_listed_texts_are_missing_after_trimming() {
        let tokens = default_missing_tokens();
        for cell in [None, Some(""), Some("  "), Some(" NA "), Some("?"), Some("null")] {
            assert!(is_missing(&tokens, cell), "{cell:?}");
        }
        for cell in [Some("0"), Some("na"), Some("N A"), Some("-")] {
            assert!(!is_missing(&tokens, cell), "{cell:?}");
        }
        // Only the listed tokens: an empty list leaves nulls alone missing.
        assert!(!is_missing(&[], Some("")) && is_missing(&[], None));
    }
}
