//! Header-driven records for the small business feeds (POS transactions, app pings): a CSV
//! file whose header names the columns (any order, RFC 4180 quoting) or JSON lines whose
//! keys name them.
//!
//! This module owns splitting such an input into named fields with line numbers and telling
//! which of the two layouts it is. It must not interpret the fields: [`crate::pos`] and
//! [`crate::pings`] do, each with its own column names. The observation formats keep their
//! own faster readers ([`crate::csv`], [`crate::jsonl`]).

use crate::SourceError;
use crate::lines::{LineReader, excerpt};
use std::io::Read;

/// The two layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Csv,
    Jsonl,
}

/// One record's fields by column name; values as text (JSON numbers and booleans spelled as
/// in the input, `null` as absent).
#[derive(Debug, Clone, Default)]
pub struct Row {
    fields: Vec<(String, String)>,
}

impl Row {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// The first of several accepted names that is present.
    pub fn get_any(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }
}

/// Reads rows; see the module documentation.
pub struct Table<R> {
    lines: LineReader<R>,
    layout: Layout,
    header: Vec<String>,
    /// JSON lines: the first record, read to recognise the format and not handed out yet.
    pending: Option<Vec<u8>>,
}

/// Split one CSV line (RFC 4180: fields in double quotes may hold commas and `""`).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => {
                quoted = false;
                while chars.peek().is_some_and(|n| *n != ',' && n.is_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|&n| n != ',') {
                    return Err("text after a closing quote".into());
                }
            }
            (false, ',') => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                at_start = true;
            }
            (_, c) => {
                cur.push(c);
                at_start = at_start && c.is_whitespace() && !quoted;
            }
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(cur.trim().to_string());
    Ok(out)
}

impl<R: Read> Table<R> {
    /// Open an input, reading the header line of a CSV. `format` names the feed in errors;
    /// `required` are the column names (or, for JSON lines, keys) a record must be able to
    /// have; a CSV header missing one is `NotThisFormat` before any record is read.
    pub fn open(input: R, what: &str, format: &'static str, required: &[&[&str]]) -> Result<Self, SourceError> {
        let mut lines = LineReader::new(input, what);
        let not = |why: String| SourceError::NotThisFormat { what: what.to_string(), format, why };
        let first = loop {
            match lines.next_line()? {
                Some((_, l)) if l.trim_ascii().is_empty() => continue,
                Some((_, l)) => break l.to_vec(),
                None => return Err(not("the input is empty".into())),
            }
        };
        let first = first.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&first).to_vec();
        if first.trim_ascii_start().starts_with(b"{") {
            // JSON lines: the first line is a record; read it again as one.
            let v: serde_json::Value = serde_json::from_slice(&first).map_err(|e| not(format!("line 1 is not a JSON object: {e}")))?;
            let keys: Vec<&str> = v.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
            if let Some(missing) = required.iter().find(|alts| !alts.iter().any(|a| keys.contains(a))) {
                return Err(not(format!("line 1 has no {:?} key (keys: {})", missing[0], keys.join(", "))));
            }
            return Ok(Table { lines, layout: Layout::Jsonl, header: Vec::new(), pending: Some(first) });
        }
        let text = std::str::from_utf8(&first).map_err(|_| not("the header line is not UTF-8".into()))?;
        let header: Vec<String> = split_csv(text).map_err(not)?.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        if let Some(missing) = required.iter().find(|alts| !alts.iter().any(|a| header.iter().any(|h| h == a))) {
            return Err(not(format!("the header {} has no {:?} column", excerpt(&first), missing[0])));
        }
        Ok(Table { lines, layout: Layout::Csv, header, pending: None })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Whether a column (CSV) is in the header; JSON lines can have any key on any line, so
    /// this is `None` for them.
    pub fn has_column(&self, name: &str) -> Option<bool> {
        match self.layout {
            Layout::Csv => Some(self.header.iter().any(|h| h == name)),
            Layout::Jsonl => None,
        }
    }

    pub fn offset(&self) -> u64 {
        self.lines.offset()
    }

    /// The next record with its line number; a record that cannot be split is `Err` with
    /// its line number and why (the caller counts it as bad and goes on).
    #[allow(clippy::type_complexity)]
    pub fn next_row(&mut self) -> Result<Option<(u64, Result<Row, String>)>, SourceError> {
        if let Some(first) = self.pending.take() {
            return Ok(Some((1, json_row(&first))));
        }
        loop {
            let Some((n, line)) = self.lines.next_line()? else { return Ok(None) };
            if line.trim_ascii().is_empty() {
                continue;
            }
            let row = match self.layout {
                Layout::Jsonl => json_row(line),
                Layout::Csv => match std::str::from_utf8(line) {
                    Err(_) => Err("not UTF-8".to_string()),
                    Ok(text) => split_csv(text).and_then(|f| {
                        if f.len() != self.header.len() {
                            Err(format!("{} fields where the header has {}: {}", f.len(), self.header.len(), excerpt(line)))
                        } else {
                            Ok(Row { fields: self.header.iter().cloned().zip(f).collect() })
                        }
                    }),
                },
            };
            return Ok(Some((n, row)));
        }
    }
}

fn json_row(line: &[u8]) -> Result<Row, String> {
    let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let o = v.as_object().ok_or_else(|| "not a JSON object".to_string())?;
    let fields = o
        .iter()
        .filter_map(|(k, v)| {
            let text = match v {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((k.to_ascii_lowercase(), text))
        })
        .collect();
    Ok(Row { fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_header_order() {
        assert_eq!(split_csv(r#"a, "b,c" ,"d""e""#).unwrap(), vec!["a", "b,c", "d\"e"]);
        assert!(split_csv(r#""open"#).is_err());
        let input = "Store,ID,amount\n\"s1\",T1,\"1,5\"\n\ns2,T2\n";
        let mut t = Table::open(input.as_bytes(), "x", "test", &[&["id"], &["store"]]).unwrap();
        assert_eq!(t.layout(), Layout::Csv);
        assert_eq!(t.has_column("amount"), Some(true));
        let (n, r) = t.next_row().unwrap().unwrap();
        let r = r.unwrap();
        assert_eq!((n, r.get("store"), r.get("id"), r.get("amount")), (2, Some("s1"), Some("T1"), Some("1,5")));
        let (n, r) = t.next_row().unwrap().unwrap();
        assert_eq!(n, 4);
        assert!(r.unwrap_err().contains("2 fields where the header has 3"));
        assert!(t.next_row().unwrap().is_none());
    }

    #[test]
    fn json_lines_and_missing_columns() {
        let input = "{\"id\":\"T1\",\"store\":\"s1\",\"amount\":12.5,\"till\":null}\nnope\n";
        let mut t = Table::open(input.as_bytes(), "x", "test", &[&["id"], &["store"]]).unwrap();
        assert_eq!(t.layout(), Layout::Jsonl);
        let (n, r) = t.next_row().unwrap().unwrap();
        let r = r.unwrap();
        assert_eq!((n, r.get("amount"), r.get("till")), (1, Some("12.5"), None));
        assert!(t.next_row().unwrap().unwrap().1.is_err());
        let e = Table::open("a,b\n".as_bytes(), "f.csv", "test", &[&["id", "ident"]]).err().unwrap().to_string();
        assert!(e.contains("f.csv: not test input") && e.contains("no \"id\" column"), "{e}");
        let e = Table::open("{\"x\":1}\n".as_bytes(), "f", "test", &[&["id"]]).err().unwrap().to_string();
        assert!(e.contains("no \"id\" key"), "{e}");
    }
}
