//! App location pings: the feed of a location SDK in shoppers' apps, CSV with a header or
//! JSON lines.
//!
//! Columns (any order, case-insensitive): `time` (RFC 3339), `adid` (an IDFA/GAID UUID; also
//! `ad_id`, `idfa`, `gaid`, `maid`), `lat`, `lon` (WGS84 degrees), `accuracy_m` (horizontal
//! accuracy, the 68% radius in metres; also `accuracy`, `horizontal_accuracy`), and
//! optionally `consent` (`1`/`true`/`yes` or `0`/`false`/`no`). When the feed carries a
//! consent flag, a ping without a true flag is skipped (counted as `no consent`), never
//! emitted. [`RawPing`] carries the raw advertising ID, so like a raw observation it lives
//! only inside the emit callback: the caller hashes it at once. This module parses; it must
//! not store, print or hash anything.

use crate::table::Table;
use crate::{SourceError, SourceReport};
use footfall_core::time::parse_rfc3339;
use footfall_core::{AdId, Millis};
use std::io::Read;

pub const FORMAT: &str = "pings";
const TIME: &[&str] = &["time", "ts", "timestamp"];
/// Accepted names of the advertising-ID column (what tells a pings feed from other files).
pub const ADID_COLUMNS: &[&str] = &["adid", "ad_id", "idfa", "gaid", "maid"];
const ADID: &[&str] = ADID_COLUMNS;
const LAT: &[&str] = &["lat", "latitude"];
const LON: &[&str] = &["lon", "lng", "longitude"];
const ACCURACY: &[&str] = &["accuracy_m", "accuracy", "horizontal_accuracy"];
/// Skip reason of pings whose consent flag is not true.
pub const NO_CONSENT: &str = "no consent";

/// One ping with its raw advertising ID. Not `Serialize`, not `Display`.
pub struct RawPing {
    pub ts: Millis,
    pub adid: AdId,
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: f64,
}

/// What a feed said about consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentColumn {
    /// Every ping had a `consent` value.
    Present,
    /// No ping had one: the feed does not carry consent flags.
    Absent,
    /// Some had, some not (the ones without were skipped).
    Partial,
}

fn truthy(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" => Some(true),
        "0" | "false" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// Read every ping, emitting the consented ones (all of them when the feed has no consent
/// flags: the caller decides whether such a feed may be used, before storing anything, by
/// looking at [`peek_consent_column`]).
pub fn run<R: Read>(
    input: R,
    what: &str,
    emit: &mut dyn FnMut(RawPing),
    progress: &mut dyn FnMut(u64),
) -> Result<(SourceReport, ConsentColumn), SourceError> {
    let mut t = Table::open(input, what, FORMAT, &[TIME, ADID, LAT, LON, ACCURACY])?;
    let mut report = SourceReport::default();
    let (mut with, mut without) = (0u64, 0u64);
    while let Some((line, row)) = t.next_row()? {
        let parsed = row.and_then(|r| {
            let need = |names: &[&str]| r.get_any(names).ok_or_else(|| format!("no {}", names[0]));
            let num = |names: &[&str]| -> Result<f64, String> {
                let v = need(names)?;
                v.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| format!("{} {v:?} is not a number", names[0]))
            };
            let ts = need(TIME)?;
            let ts = parse_rfc3339(ts.as_bytes()).map_err(|e| format!("time {ts:?}: {e}"))?;
            let adid = AdId::parse(need(ADID)?).map_err(|e| e.to_string())?;
            let (lat, lon, accuracy_m) = (num(LAT)?, num(LON)?, num(ACCURACY)?);
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                return Err(format!("({lat}, {lon}) is not a latitude/longitude"));
            }
            if accuracy_m.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                return Err(format!("accuracy {accuracy_m} m must be positive"));
            }
            let consent = match r.get("consent") {
                None => None,
                Some(c) => Some(truthy(c).ok_or_else(|| format!("consent {c:?} is not 1/0, true/false or yes/no"))?),
            };
            Ok((RawPing { ts, adid, lat, lon, accuracy_m }, consent))
        });
        match parsed {
            Err(why) => report.bad_record(line, why),
            Ok((ping, consent)) => {
                match consent {
                    Some(_) => with += 1,
                    None => without += 1,
                }
                match consent {
                    Some(false) => report.skip(NO_CONSENT),
                    None if with > 0 || t.has_column("consent") == Some(true) => report.skip(NO_CONSENT),
                    _ => {
                        report.records += 1;
                        emit(ping);
                    }
                }
            }
        }
        if line % 4096 == 0 {
            progress(t.offset());
        }
    }
    report.bytes = t.offset();
    progress(report.bytes);
    let column = match (t.has_column("consent"), with, without) {
        (Some(true), ..) | (None, 1.., 0) => ConsentColumn::Present,
        (_, 0, _) => ConsentColumn::Absent,
        _ => ConsentColumn::Partial,
    };
    Ok((report, column))
}

/// Whether a feed carries consent flags, from its header (CSV) or first record (JSON lines),
/// without reading the rest: `None` when it is not a pings feed.
pub fn peek_consent_column<R: Read>(input: R, what: &str) -> Result<bool, SourceError> {
    let mut t = Table::open(input, what, FORMAT, &[TIME, ADID, LAT, LON, ACCURACY])?;
    if let Some(has) = t.has_column("consent") {
        return Ok(has);
    }
    Ok(matches!(t.next_row()?, Some((_, Ok(r))) if r.get("consent").is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "6d92078a-8246-4ba4-ae5b-76104861e7dc";

    fn collect(input: &str) -> (Vec<RawPing>, SourceReport, ConsentColumn) {
        let mut out = Vec::new();
        let (r, c) = run(input.as_bytes(), "p", &mut |p| out.push(p), &mut |_| {}).unwrap();
        (out, r, c)
    }

    #[test]
    fn consent_flags_gate_pings() {
        let input = format!(
            "time,adid,lat,lon,accuracy_m,consent\n2026-03-02T10:00:00Z,{ID},48.85,2.35,8.5,1\n2026-03-02T10:00:30Z,{ID},48.85,2.35,8,0\n2026-03-02T10:01:00Z,{ID},48.85,2.35,8,\n2026-03-02T10:01:30Z,{ID},48.85,2.35,8,maybe\n"
        );
        let (p, r, c) = collect(&input);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].accuracy_m, 8.5);
        assert_eq!(r.skipped.get(NO_CONSENT), Some(&2));
        assert_eq!((r.bad, r.bad_samples[0].line), (1, 5));
        assert_eq!(c, ConsentColumn::Present);
        assert!(peek_consent_column(input.as_bytes(), "p").unwrap());
    }

    #[test]
    fn feeds_without_consent_and_bad_values() {
        let input = format!(
            "{{\"ts\":\"2026-03-02T10:00:00Z\",\"maid\":\"{ID}\",\"latitude\":48.85,\"longitude\":2.35,\"accuracy\":12}}\n{{\"ts\":\"2026-03-02T10:00:00Z\",\"maid\":\"00000000-0000-0000-0000-000000000000\",\"latitude\":48.85,\"longitude\":2.35,\"accuracy\":12}}\n{{\"ts\":\"2026-03-02T10:00:00Z\",\"maid\":\"{ID}\",\"latitude\":98,\"longitude\":2.35,\"accuracy\":12}}\n"
        );
        assert!(!peek_consent_column(input.as_bytes(), "p").unwrap());
        let (p, r, c) = collect(&input);
        assert_eq!((p.len(), r.bad, c), (1, 2, ConsentColumn::Absent));
        assert!(r.bad_samples[0].reason.contains("tracking is limited"), "{:?}", r.bad_samples);
        assert!(r.bad_samples[1].reason.contains("latitude"), "{:?}", r.bad_samples);
        assert!(run("time,sensor,mac,rssi\n".as_bytes(), "x", &mut |_| {}, &mut |_| {}).is_err());
    }
}
