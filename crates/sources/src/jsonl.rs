//! The JSON-lines sensor format: one JSON object per line, as our sensor agent and ESP32
//! firmware post them. Fields (see `docs/formats.md`): `ts` (RFC 3339 string, or a number of
//! Unix seconds, or milliseconds when above 10^11), `sensor`, `mac`, `rssi` (dBm), and
//! optional `freq` (MHz), `seq` (802.11 sequence number), `ie` (element fingerprint digest),
//! `kind` (`wifi` or `ble`). Unknown fields are ignored.
//!
//! This module owns that parsing and its bad-line reporting; it does not filter plausibility.

use crate::lines::{LineReader, excerpt};
use crate::{Emit, Progress, Source, SourceError, SourceReport};
use footfall_core::time::{Millis, parse_rfc3339};
use footfall_core::{MacAddr, RadioKind, RawObservation};
use serde::Deserialize;
use std::borrow::Cow;
use std::io::Read;

#[derive(Deserialize)]
#[serde(untagged)]
enum Ts<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Number(f64),
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    ts: Ts<'a>,
    #[serde(borrow)]
    sensor: Cow<'a, str>,
    #[serde(borrow)]
    mac: Cow<'a, str>,
    rssi: f64,
    #[serde(default)]
    freq: Option<u16>,
    #[serde(default)]
    seq: Option<u16>,
    #[serde(default, borrow)]
    ie: Option<Cow<'a, str>>,
    #[serde(default)]
    kind: Option<RadioKind>,
}

fn ts_millis(ts: &Ts<'_>) -> Result<Millis, String> {
    match ts {
        Ts::Text(s) => parse_rfc3339(s.as_bytes()).map_err(|e| format!("ts: {e}")),
        Ts::Number(n) if n.is_finite() && *n >= 0.0 => Ok(if *n >= 1e11 { *n as i64 } else { (*n * 1000.0) as i64 }),
        Ts::Number(_) => Err("ts: not a valid epoch time".into()),
    }
}

pub struct JsonlSource<R> {
    lines: LineReader<R>,
}

impl<R: Read> JsonlSource<R> {
    pub fn new(input: R, what: impl Into<String>) -> Self {
        Self { lines: LineReader::new(input, what) }
    }
}

fn shorten(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl<R: Read> Source for JsonlSource<R> {
    fn format(&self) -> &'static str {
        "jsonl"
    }

    fn run(&mut self, emit: &mut Emit<'_>, progress: &mut Progress<'_>) -> Result<SourceReport, SourceError> {
        let mut report = SourceReport::default();
        let what = self.lines.what().to_string();
        let mut first = true;
        let mut since_progress = 0u32;
        while let Some((no, line)) = self.lines.next_line()? {
            let line = if first { line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line) } else { line };
            let trimmed = line.trim_ascii();
            if trimmed.is_empty() {
                continue;
            }
            let parsed = serde_json::from_slice::<Line<'_>>(trimmed);
            if first {
                first = false;
                if let Err(e) = &parsed {
                    return Err(SourceError::NotThisFormat {
                        what,
                        format: "jsonl",
                        why: format!(
                            "line {no} is not a sensor JSON object with ts, sensor, mac and rssi ({}): {}",
                            shorten(e),
                            excerpt(line)
                        ),
                    });
                }
            }
            let result = parsed.map_err(|e| shorten(&e)).and_then(|l| {
                let ts = ts_millis(&l.ts)?;
                let mac = MacAddr::parse(&l.mac).map_err(|_| "mac: not a MAC address (aa:bb:cc:dd:ee:ff)".to_string())?;
                if l.sensor.trim().is_empty() {
                    return Err("sensor: empty".to_string());
                }
                if !l.rssi.is_finite() {
                    return Err("rssi: not a number".to_string());
                }
                let obs = RawObservation {
                    ts,
                    sensor: l.sensor.trim(),
                    mac,
                    rssi: l.rssi.clamp(i16::MIN as f64, i16::MAX as f64) as i16,
                    freq: l.freq,
                    seq: l.seq,
                    ie: l.ie.as_deref(),
                    kind: l.kind.unwrap_or_default(),
                };
                emit(obs);
                Ok(())
            });
            match result {
                Ok(()) => report.records += 1,
                Err(reason) => report.bad_record(no, reason),
            }
            since_progress += 1;
            if since_progress == 16_384 {
                since_progress = 0;
                progress(self.lines.offset());
            }
        }
        if first {
            return Err(SourceError::NotThisFormat { what, format: "jsonl", why: "the input is empty".into() });
        }
        report.bytes = self.lines.offset();
        progress(report.bytes);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_counts_bad_lines() {
        let text = r#"{"ts":"2026-03-02T10:00:00Z","sensor":"s1","mac":"aa:bb:cc:dd:ee:01","rssi":-60,"freq":2412,"seq":7,"ie":"f00d","kind":"ble","extra":1}
{"ts":1772445600,"sensor":"s1","mac":"aa:bb:cc:dd:ee:01","rssi":-61}
{"ts":1772445600500,"sensor":"s\u0031","mac":"aa:bb:cc:dd:ee:01","rssi":-62.0}
{"ts":"2026-03-02T10:00:00Z","sensor":"s1","mac":"zz","rssi":-60}
not json
{"ts":"2026-03-02T10:00:00Z","sensor":"s1","rssi":-60}
"#;
        let mut got = Vec::new();
        let rep = JsonlSource::new(text.as_bytes(), "t.jsonl")
            .run(&mut |o| got.push((o.ts, o.sensor.to_string(), o.rssi, o.freq, o.seq, o.ie.map(str::to_string), o.kind)), &mut |_| {})
            .unwrap();
        assert_eq!(rep.records, 3);
        assert_eq!(rep.bad, 3);
        assert_eq!(rep.bad_samples.iter().map(|b| b.line).collect::<Vec<_>>(), vec![4, 5, 6]);
        assert!(rep.bad_samples[2].reason.contains("missing field `mac`"), "{:?}", rep.bad_samples);
        assert_eq!(got[0].3, Some(2412));
        assert_eq!(got[0].5.as_deref(), Some("f00d"));
        assert_eq!(got[0].6, RadioKind::Ble);
        assert_eq!(got[1].0, 1_772_445_600_000);
        assert_eq!(got[2].0, 1_772_445_600_500);
        assert_eq!(got[2].1, "s1");
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let text = "\u{feff}{\"ts\":\"2026-03-02T10:00:00Z\",\"sensor\":\"s1\",\"mac\":\"aa:bb:cc:dd:ee:01\",\"rssi\":-60}\n";
        let rep = JsonlSource::new(text.as_bytes(), "bom.jsonl").run(&mut |_| {}, &mut |_| {}).unwrap();
        assert_eq!((rep.records, rep.bad), (1, 0));
    }

    #[test]
    fn other_json_is_not_this_format() {
        let err =
            JsonlSource::new(&b"{\"version\":\"3.0\",\"secret\":\"x\"}\n"[..], "post.json").run(&mut |_| {}, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("post.json: not jsonl input: line 1"), "{err}");
    }
}
