//! Point-of-sale transactions: CSV with a header, or JSON lines.
//!
//! Columns (CSV header names or JSON keys, any order, case-insensitive): `transaction_id`
//! (or `id`), `store`, `time` (RFC 3339), `amount` (a decimal in the currency's major unit,
//! at most two decimals; negative for a refund), and optionally `till` and `zone` (the
//! cashier zone id, when the till knows it). A bad record is counted with its line number and
//! the rest is read. This module owns the parsing only; which visit a transaction belongs to
//! is `transforms::attribute`, and it must not know about the site.

use crate::table::Table;
use crate::{SourceError, SourceReport};
use footfall_core::Millis;
use footfall_core::time::parse_rfc3339;
use std::io::Read;

/// The format's name in errors and reports.
pub const FORMAT: &str = "pos";
const ID: &[&str] = &["transaction_id", "id"];
const STORE: &[&str] = &["store"];
const TIME: &[&str] = &["time", "ts"];
const AMOUNT: &[&str] = &["amount"];

/// One transaction as the till reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosRecord {
    /// 1-based line of the record in its input.
    pub line: u64,
    pub id: String,
    pub store: String,
    pub ts: Millis,
    /// In hundredths of the major unit (cents).
    pub amount_cents: i64,
    pub till: Option<String>,
    pub zone: Option<String>,
}

/// Parse `12`, `12.5`, `-3.10` into cents; more than two decimals is an error (no silent
/// rounding of money).
pub fn parse_amount(s: &str) -> Result<i64, String> {
    let bad = || format!("amount {s:?} is not a decimal number with at most two decimals");
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 2 || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let w: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let f: i64 = if frac.is_empty() { 0 } else { frac.parse::<i64>().map_err(|_| bad())? * if frac.len() == 1 { 10 } else { 1 } };
    let c = w.checked_mul(100).and_then(|c| c.checked_add(f)).ok_or_else(bad)?;
    Ok(if neg { -c } else { c })
}

/// Read every transaction of an input; fails before reading records when it is not this
/// format (no `transaction_id`/`store`/`time`/`amount` columns).
pub fn read<R: Read>(input: R, what: &str, progress: &mut dyn FnMut(u64)) -> Result<(Vec<PosRecord>, SourceReport), SourceError> {
    let mut t = Table::open(input, what, FORMAT, &[ID, STORE, TIME, AMOUNT])?;
    let mut out = Vec::new();
    let mut report = SourceReport::default();
    while let Some((line, row)) = t.next_row()? {
        let rec = row.and_then(|r| {
            let need = |names: &[&str]| r.get_any(names).ok_or_else(|| format!("no {}", names[0]));
            let ts = need(TIME)?;
            Ok(PosRecord {
                line,
                id: need(ID)?.to_string(),
                store: need(STORE)?.to_string(),
                ts: parse_rfc3339(ts.as_bytes()).map_err(|e| format!("time {ts:?}: {e}"))?,
                amount_cents: parse_amount(need(AMOUNT)?)?,
                till: r.get("till").map(str::to_string),
                zone: r.get("zone").map(str::to_string),
            })
        });
        match rec {
            Ok(r) => {
                report.records += 1;
                out.push(r);
            }
            Err(why) => report.bad_record(line, why),
        }
        if line % 4096 == 0 {
            progress(t.offset());
        }
    }
    report.bytes = t.offset();
    progress(report.bytes);
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_cents() {
        assert_eq!(parse_amount("12"), Ok(1200));
        assert_eq!(parse_amount("12.5"), Ok(1250));
        assert_eq!(parse_amount("-3.10"), Ok(-310));
        assert_eq!(parse_amount(".99"), Ok(99));
        for bad in ["", "1.234", "1,5", "abc", "-", "."] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_csv_and_counts_bad_lines() {
        let input = "transaction_id,store,time,amount,till\nT1,s1,2026-03-02T10:00:00Z,12.50,t1\nT2,s1,yesterday,1\nT3,s2,2026-03-02T11:00:00.500Z,3,\n";
        let (recs, rep) = read(input.as_bytes(), "pos.csv", &mut |_| {}).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(
            recs[0],
            PosRecord {
                line: 2,
                id: "T1".into(),
                store: "s1".into(),
                ts: 1_772_445_600_000,
                amount_cents: 1250,
                till: Some("t1".into()),
                zone: None
            }
        );
        assert_eq!(recs[1].till, None);
        assert_eq!(rep.bad, 1);
        assert_eq!(rep.bad_samples[0].line, 3);
        assert!(rep.bad_samples[0].reason.contains("yesterday"), "{:?}", rep.bad_samples);
        let e = read("time,sensor,mac,rssi\n".as_bytes(), "obs.csv", &mut |_| {}).unwrap_err().to_string();
        assert!(e.contains("not pos input"), "{e}");
    }

    #[test]
    fn reads_json_lines() {
        let input = r#"{"id":"T9","store":"s3","time":"2026-03-02T10:00:00Z","amount":"5.00","zone":"cashier"}"#;
        let (recs, rep) = read(input.as_bytes(), "pos.jsonl", &mut |_| {}).unwrap();
        assert_eq!((recs.len(), rep.bad), (1, 0));
        assert_eq!(recs[0].zone.as_deref(), Some("cashier"));
        assert_eq!(recs[0].amount_cents, 500);
    }
}
