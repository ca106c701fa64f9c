//! CSV observations: a header naming `time,sensor,mac,rssi` (any order, extra columns
//! ignored), then one frame per line. `time` is RFC 3339; `rssi` is dBm.
//!
//! This module owns parsing that layout quickly (no allocation per line) and reporting bad
//! lines by number. It does not filter plausibility (the `filter` transform does) and does
//! not support quoted fields containing commas (sensor ids and MACs never need them).

use crate::lines::{LineReader, excerpt};
use crate::{Emit, Progress, Source, SourceError, SourceReport};
use footfall_core::time::Rfc3339Parser;
use footfall_core::{MacAddr, RadioKind, RawObservation};
use std::io::Read;

/// The columns a CSV header must name.
pub const REQUIRED_COLUMNS: [&str; 4] = ["time", "sensor", "mac", "rssi"];

pub struct CsvSource<R> {
    lines: LineReader<R>,
    times: Rfc3339Parser,
}

impl<R: Read> CsvSource<R> {
    pub fn new(input: R, what: impl Into<String>) -> Self {
        Self { lines: LineReader::new(input, what), times: Rfc3339Parser::default() }
    }
}

/// Column positions of the required fields.
#[derive(Debug, Clone, Copy)]
struct Columns {
    time: usize,
    sensor: usize,
    mac: usize,
    rssi: usize,
    count: usize,
}

fn parse_header(line: &[u8]) -> Option<Columns> {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let names: Vec<String> = line.split(|&b| b == b',').map(|f| String::from_utf8_lossy(unquote(f)).trim().to_ascii_lowercase()).collect();
    let pos = |n: &str| names.iter().position(|x| x == n);
    Some(Columns { time: pos("time")?, sensor: pos("sensor")?, mac: pos("mac")?, rssi: pos("rssi")?, count: names.len() })
}

fn unquote(f: &[u8]) -> &[u8] {
    if f.len() >= 2 && f[0] == b'"' && f[f.len() - 1] == b'"' { &f[1..f.len() - 1] } else { f }
}

/// Parse a decimal integer, allowing a sign and a fraction (which is truncated toward zero).
pub(crate) fn parse_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let (int, frac) = match memchr::memchr(b'.', digits) {
        Some(i) => (&digits[..i], &digits[i + 1..]),
        None => (digits, &[][..]),
    };
    if int.is_empty() || int.len() > 12 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in int {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Some(if neg { -v } else { v })
}

enum LineError {
    Fields(usize, usize),
    Time,
    Sensor,
    Mac,
    Rssi,
}

impl LineError {
    fn reason(&self, line: &[u8]) -> String {
        match self {
            LineError::Fields(want, got) => format!("expected {want} comma-separated fields, found {got}: {}", excerpt(line)),
            LineError::Time => "time: not an RFC 3339 time (e.g. 2026-03-01T10:15:00Z)".into(),
            LineError::Sensor => "sensor: empty or not UTF-8".into(),
            LineError::Mac => "mac: not a MAC address (aa:bb:cc:dd:ee:ff)".into(),
            LineError::Rssi => "rssi: not a whole number of dBm".into(),
        }
    }
}

fn parse_line<'a>(c: &Columns, times: &mut Rfc3339Parser, line: &'a [u8]) -> Result<RawObservation<'a>, LineError> {
    let mut fields: [&[u8]; 16] = [&[]; 16];
    let mut n = 0;
    let mut rest = line;
    loop {
        match memchr::memchr(b',', rest) {
            Some(i) => {
                if n < 16 {
                    fields[n] = &rest[..i];
                }
                n += 1;
                rest = &rest[i + 1..];
            }
            None => {
                if n < 16 {
                    fields[n] = rest;
                }
                n += 1;
                break;
            }
        }
    }
    if n != c.count || n > 16 {
        return Err(LineError::Fields(c.count, n));
    }
    let ts = times.parse(unquote(fields[c.time])).map_err(|_| LineError::Time)?;
    let sensor = std::str::from_utf8(unquote(fields[c.sensor])).map_err(|_| LineError::Sensor)?.trim();
    if sensor.is_empty() {
        return Err(LineError::Sensor);
    }
    let mac = MacAddr::parse_bytes(unquote(fields[c.mac])).map_err(|_| LineError::Mac)?;
    let rssi = parse_int(unquote(fields[c.rssi])).ok_or(LineError::Rssi)?;
    let rssi = rssi.clamp(i16::MIN as i64, i16::MAX as i64) as i16;
    Ok(RawObservation { ts, sensor, mac, rssi, freq: None, seq: None, ie: None, kind: RadioKind::Wifi })
}

impl<R: Read> Source for CsvSource<R> {
    fn format(&self) -> &'static str {
        "csv"
    }

    fn run(&mut self, emit: &mut Emit<'_>, progress: &mut Progress<'_>) -> Result<SourceReport, SourceError> {
        let mut report = SourceReport::default();
        let what = self.lines.what().to_string();
        let cols = loop {
            match self.lines.next_line()? {
                None => {
                    return Err(SourceError::NotThisFormat {
                        what,
                        format: "csv",
                        why: "the file is empty (expected a header time,sensor,mac,rssi)".into(),
                    });
                }
                Some((_, l)) if l.iter().all(u8::is_ascii_whitespace) => continue,
                Some((no, l)) => match parse_header(l) {
                    Some(c) if c.count <= 16 => break c,
                    _ => {
                        return Err(SourceError::NotThisFormat {
                            what,
                            format: "csv",
                            why: format!("line {no} should be a header naming time,sensor,mac,rssi, found {}", excerpt(l)),
                        });
                    }
                },
            }
        };
        let mut since_progress = 0u32;
        while let Some((no, line)) = self.lines.next_line()? {
            if line.is_empty() {
                continue;
            }
            match parse_line(&cols, &mut self.times, line) {
                Ok(obs) => {
                    report.records += 1;
                    emit(obs);
                }
                Err(e) => report.bad_record(no, e.reason(line)),
            }
            since_progress += 1;
            if since_progress == 65_536 {
                since_progress = 0;
                progress(self.lines.offset());
            }
        }
        report.bytes = self.lines.offset();
        progress(report.bytes);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Got = Vec<(i64, String, i16)>;

    fn run(text: &str) -> Result<(Got, SourceReport), SourceError> {
        let mut out = Vec::new();
        let rep = CsvSource::new(text.as_bytes(), "t.csv").run(&mut |o| out.push((o.ts, o.sensor.to_string(), o.rssi)), &mut |_| {})?;
        Ok((out, rep))
    }

    #[test]
    fn reads_good_lines_and_reports_bad_ones() {
        let text = "time,sensor,mac,rssi\n\
            2026-03-02T10:00:00Z,s1,aa:bb:cc:dd:ee:01,-60\n\
            2026-03-02T10:00:01Z,s1,not-a-mac,-60\n\
            2026-03-02T10:00:02Z,s2,aa:bb:cc:dd:ee:01\n\
            yesterday,s2,aa:bb:cc:dd:ee:01,-50\n\
            2026-03-02T10:00:03.5+01:00,s2,AA-BB-CC-DD-EE-01,-71.0\r\n";
        let (out, rep) = run(text).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].2, -71);
        assert_eq!(rep.records, 2);
        assert_eq!(rep.bad, 3);
        assert_eq!(rep.bad_samples[0].line, 3);
        assert!(rep.bad_samples[0].reason.starts_with("mac"));
        assert_eq!(rep.bad_samples[1].line, 4);
        assert!(rep.bad_samples[1].reason.contains("expected 4"));
        assert!(rep.bad_samples[2].reason.starts_with("time"));
    }

    #[test]
    fn header_in_any_order_with_extra_columns() {
        let (out, _) = run("rssi,mac,extra,sensor,time\n-55,aa:bb:cc:dd:ee:01,x,door,2026-03-02T10:00:00Z\n").unwrap();
        assert_eq!(out, vec![(footfall_core::time::parse_rfc3339(b"2026-03-02T10:00:00Z").unwrap(), "door".into(), -55)]);
    }

    #[test]
    fn not_csv_is_an_error_before_anything_is_emitted() {
        let err = run("{\"ts\": 1}\n").unwrap_err().to_string();
        assert!(err.contains("t.csv: not csv input: line 1 should be a header"), "{err}");
        assert!(run("").is_err());
    }
}
