//! CSV observations: a header naming `time,sensor,mac,rssi` (any order, extra columns
//! ignored), then one frame per line. `time` is RFC 3339; `rssi` is dBm.
//!
//! This module owns parsing that layout quickly (no allocation per line) and reporting bad
//! lines by number. It does not filter plausibility (the `filter` transform does) and does
//! not support quoted fields containing commas (sensor ids and MACs never need them).
//!
//! Lines in the usual layout (`time,sensor,mac,rssi` in that order, a 20- or 24-byte time,
//! a 17-byte MAC) are split without searching the fixed-width fields; any line that does
//! not parse that way is parsed again the general way, so results and errors are the same.

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
    // A scan, not memchr: the field is a few bytes (memchr's setup cost more than its scan).
    let (int, frac) = match digits.iter().position(|&c| c == b'.') {
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

/// The sensor field as a name: unquoted, UTF-8, trimmed, not empty.
fn sensor_name(f: &[u8]) -> Result<&str, LineError> {
    let sensor = std::str::from_utf8(unquote(f)).map_err(|_| LineError::Sensor)?;
    name_of(sensor).ok_or(LineError::Sensor)
}

/// [`sensor_name`] of a field already known to be UTF-8.
fn name_of(f: &str) -> Option<&str> {
    let f = match f.as_bytes() {
        [b'"', .., b'"'] => &f[1..f.len() - 1],
        _ => f,
    };
    // Printable ASCII at both ends: nothing to trim (the common case, without a Unicode scan).
    let sensor = match f.as_bytes() {
        [a, .., b] if a.is_ascii_graphic() && b.is_ascii_graphic() => f,
        [a] if a.is_ascii_graphic() => f,
        _ => f.trim(),
    };
    (!sensor.is_empty()).then_some(sensor)
}

/// Whether the header is the usual `time,sensor,mac,rssi`, which [`fast_line`] reads.
fn usual_layout(c: &Columns) -> bool {
    (c.time, c.sensor, c.mac, c.rssi, c.count) == (0, 1, 2, 3, 4)
}

/// Where the first `,` or `\n` of `b` is: eight bytes at a time (a sensor name is about
/// ten), by the bit trick that marks the zero bytes of a word XORed with the byte looked for
/// (the lowest mark is exact: a false one only follows a true one).
fn comma_or_newline(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = b.chunks_exact(8);
    let mut at = 0;
    for w in words.by_ref() {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let m = zero_bytes(w ^ (ONES * b',' as u64)) | zero_bytes(w ^ (ONES * b'\n' as u64));
        if m != 0 {
            return Some(at + m.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    words.remainder().iter().position(|&c| c == b',' || c == b'\n').map(|i| at + i)
}

/// One line of the usual layout at `at` in `block` (which holds whole lines; `text` is the
/// same block when it is all UTF-8): the observation and the bytes it took with its `\n`.
/// `None` when the line is not in the usual shape or does not parse: [`parse_line`] then
/// reads it (and reports what is wrong). What this accepts, `parse_line` accepts with the
/// same result: the time and MAC parsers take no comma or newline, so the fields are those a
/// split at commas gives. Inlined into the read loop, so the observation is built where
/// `emit` takes it from instead of being returned and copied.
#[inline(always)]
fn fast_line<'a>(times: &mut Rfc3339Parser, block: &'a [u8], text: Option<&'a str>, at: usize) -> Option<(RawObservation<'a>, usize)> {
    let rest = &block[at..];
    let k = match (rest.get(24), rest.get(20)) {
        (Some(b','), _) => 24,
        (_, Some(b',')) => 20,
        _ => return None,
    };
    let ts = times.parse(&rest[..k]).ok()?;
    let s0 = k + 1;
    let s1 = s0 + comma_or_newline(rest.get(s0..)?)?;
    if rest[s1] != b',' {
        return None;
    }
    let sensor = match text {
        Some(t) => name_of(t.get(at + s0..at + s1)?)?,
        None => sensor_name(&rest[s0..s1]).ok()?,
    };
    let m = s1 + 1;
    if rest.get(m + 17) != Some(&b',') {
        return None;
    }
    let mac = MacAddr::parse_bytes(&rest[m..m + 17]).ok()?;
    let (rssi, used) = rssi_to_line_end(rest, m + 18)?;
    Some((RawObservation { ts, sensor, mac, rssi, freq: None, seq: None, ie: None, kind: RadioKind::Wifi }, used))
}

/// The usual RSSI field at `r` (an optional `-`, one to four digits) and the line's end
/// (`\n`, `\r\n` or the end of the block) in one pass: the value and the bytes up to and
/// including the newline. `None` for anything else (a `+`, a fraction, spaces), which
/// [`parse_int`] then reads; what this accepts, it reads the same.
#[inline]
fn rssi_to_line_end(rest: &[u8], r: usize) -> Option<(i16, usize)> {
    let neg = rest.get(r) == Some(&b'-');
    let start = r + usize::from(neg);
    let mut e = start;
    let mut v: i16 = 0;
    while let Some(d) = rest.get(e).map(|c| c.wrapping_sub(b'0')).filter(|&d| d < 10) {
        if e - start == 4 {
            return None;
        }
        v = v * 10 + d as i16;
        e += 1;
    }
    if e == start {
        return None;
    }
    let used = match (rest.get(e), rest.get(e + 1)) {
        (None, _) => e,
        (Some(b'\n'), _) => e + 1,
        (Some(b'\r'), Some(b'\n')) => e + 2,
        _ => return None,
    };
    Some((if neg { -v } else { v }, used))
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
    let sensor = sensor_name(fields[c.sensor])?;
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
        let fast = usual_layout(&cols);
        let mut no = self.lines.line_no();
        let mut since_progress = 0u32;
        loop {
            let block_start = self.lines.offset();
            let Some(block) = self.lines.next_block()? else { break };
            // One UTF-8 check for the block instead of one per sensor name.
            let text = std::str::from_utf8(block).ok();
            let mut p = 0;
            while p < block.len() {
                no += 1;
                let rest = &block[p..];
                if fast && let Some((obs, used)) = fast_line(&mut self.times, block, text, p) {
                    p += used;
                    report.records += 1;
                    emit(obs);
                } else {
                    let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                    p += (end + 1).min(rest.len());
                    let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
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
                }
                since_progress += 1;
                if since_progress == 65_536 {
                    since_progress = 0;
                    progress(block_start + p as u64);
                }
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

    /// (time, sensor, MAC octets, RSSI) of an emitted observation.
    type Row = (i64, String, [u8; 6], i16);

    /// The general way only: every line split at commas by `parse_line`; rows and bad lines.
    fn run_general(text: &[u8]) -> (Vec<Row>, Vec<(u64, String)>) {
        let mut lines = LineReader::new(text, "t.csv");
        let cols = parse_header(lines.next_line().unwrap().unwrap().1).unwrap();
        let mut times = Rfc3339Parser::default();
        let (mut out, mut bad) = (Vec::new(), Vec::new());
        while let Some((no, line)) = lines.next_line().unwrap() {
            if line.is_empty() {
                continue;
            }
            match parse_line(&cols, &mut times, line) {
                Ok(o) => out.push((o.ts, o.sensor.to_string(), o.mac.octets(), o.rssi)),
                Err(e) => bad.push((no, e.reason(line))),
            }
        }
        (out, bad)
    }

    #[test]
    fn the_usual_layout_reads_like_the_general_way() {
        let good = [
            "2026-03-02T10:00:00.250Z,s1-front,aa:bb:cc:dd:ee:01,-60",
            "2026-03-02T10:00:01Z,door,AA-BB-CC-DD-EE-02,-71.5",
            "2026-03-02T11:00:01+01:00,door,aabbccddee03,-50",
            "2026-03-02T10:00:02.5Z,\" s2 \",aa:bb:cc:dd:ee:04,\"-44\"",
            "2026-03-02T10:00:02.600Z,\u{a0}caf\u{e9}\u{3000},aa:bb:cc:dd:ee:05,-45",
            "2026-03-02T10:00:02.700Z,\"\",aa:bb:cc:dd:ee:06,-45",
            "2026-03-02T10:00:02.800Z,\",aa:bb:cc:dd:ee:06,-45",
            "2026-03-02T10:00:03.000Z,door,aa:bb:cc:dd:ee:07,-12345",
            "2026-03-02T10:00:03.100Z,door,aa:bb:cc:dd:ee:08,7",
            "2026-03-02T10:00:03.200Z,door,aa:bb:cc:dd:ee:09,-0",
            "2026-03-02T10:00:03.300Z,door,aa:bb:cc:dd:ee:0a,+5",
        ];
        let alphabet = b",\n\r\" :-.0123456789aZT";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for crlf in [false, true] {
            let mut text = b"time,sensor,mac,rssi\n".to_vec();
            for _ in 0..50_000 {
                let mut l = good[(rnd() % good.len() as u64) as usize].as_bytes().to_vec();
                for _ in 0..rnd() % 3 {
                    let i = (rnd() % (l.len() as u64 + 1)) as usize;
                    let c = alphabet[(rnd() % alphabet.len() as u64) as usize];
                    match rnd() % 3 {
                        0 if i < l.len() => l[i] = c,
                        1 if i < l.len() => {
                            l.remove(i);
                        }
                        _ => l.insert(i, c),
                    }
                }
                text.extend_from_slice(&l);
                text.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
            if crlf {
                text.extend_from_slice(b"2026-03-02T10:00:02.800Z,bad\xff,aa:bb:cc:dd:ee:06,-45\n"); // not UTF-8
            }
            text.extend_from_slice(good[0].as_bytes()); // no newline at the end
            let mut out = Vec::new();
            let rep = CsvSource::new(&text[..], "t.csv")
                .run(&mut |o| out.push((o.ts, o.sensor.to_string(), o.mac.octets(), o.rssi)), &mut |_| {})
                .unwrap();
            let (want, bad) = run_general(&text);
            assert!(want.len() > 15_000 && bad.len() > 5_000, "{} {}", want.len(), bad.len());
            assert_eq!(out, want);
            assert_eq!(rep.records, want.len() as u64);
            assert_eq!(rep.bad, bad.len() as u64);
            let samples: Vec<(u64, String)> = rep.bad_samples.iter().map(|b| (b.line, b.reason.clone())).collect();
            assert_eq!(samples, bad[..samples.len()]);
            assert_eq!(rep.bytes, text.len() as u64);
        }
    }

    #[test]
    fn word_scan_finds_the_first_comma_or_newline() {
        let alphabet = [b'a', b',', b'\n', 0x2c ^ 0x80, 0x0a ^ 0x01, 0x2b, 0x2d, 0x80, 0xff, 0];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let b: Vec<u8> = (0..len).map(|i| alphabet[((seed >> (i % 16 * 4)) as usize + i) % alphabet.len()]).collect();
            let want = b.iter().position(|&c| c == b',' || c == b'\n');
            assert_eq!(comma_or_newline(&b), want, "{b:?}");
        }
    }

    #[test]
    fn not_csv_is_an_error_before_anything_is_emitted() {
        let err = run("{\"ts\": 1}\n").unwrap_err().to_string();
        assert!(err.contains("t.csv: not csv input: line 1 should be a header"), "{err}");
        assert!(run("").is_err());
    }
}
