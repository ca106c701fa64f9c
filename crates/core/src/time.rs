//! Time: UTC milliseconds, RFC 3339 parsing, and local calendar days and hours.
//!
//! Everything in the pipeline runs on event time, as `Millis` since the Unix epoch (UTC).
//! This module owns the fast RFC 3339 parser the sources use and [`LocalCalendar`], which
//! turns a UTC instant into the site's local day and hour for aggregation. It never reads the
//! wall clock: callers that need "now" take it from an injected clock.

use chrono::{NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

pub const SECOND: Millis = 1_000;
pub const MINUTE: Millis = 60 * SECOND;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;

/// Why a timestamp did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 time (expected e.g. 2026-03-01T10:15:00Z or 2026-03-01T11:15:00.250+01:00)")]
pub struct TimeParseError;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<u32, TimeParseError> {
    let mut v = 0u32;
    for i in 0..n {
        let c = *b.get(at + i).ok_or(TimeParseError)?;
        if !c.is_ascii_digit() {
            return Err(TimeParseError);
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Ok(v)
}

/// Parse an RFC 3339 timestamp (`T` or space separator, optional fraction, `Z` or offset).
pub fn parse_rfc3339(s: &[u8]) -> Result<Millis, TimeParseError> {
    Rfc3339Parser::default().parse(s)
}

/// An RFC 3339 parser that remembers the last date it converted: inputs are sorted by time,
/// so consecutive lines almost always share the date and skip the calendar arithmetic. It
/// also remembers the last `YYYY-MM-DDTHH:MM` it accepted: a time in that minute, in UTC
/// (`Z`), only has its seconds and fraction read. Results are those of [`parse_rfc3339`].
#[derive(Default, Clone, Debug)]
pub struct Rfc3339Parser {
    date: [u8; 10],
    days: i64,
    /// The last minute prefix of an accepted time and its UTC milliseconds (as if `Z`).
    minute: Option<([u8; 16], Millis)>,
}

impl Rfc3339Parser {
    pub fn parse(&mut self, s: &[u8]) -> Result<Millis, TimeParseError> {
        if let Some((prefix, base)) = &self.minute
            && s.len() >= 20
            && s[..16] == *prefix
            && let Some(ms) = seconds_utc(&s[16..])
        {
            return Ok(base + ms);
        }
        let t = parse_with(s, |y, mo, d, date| {
            if date == self.date {
                return Ok(self.days);
            }
            if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
                return Err(TimeParseError);
            }
            self.days = days_from_civil(y, mo, d);
            self.date.copy_from_slice(date);
            Ok(self.days)
        })?;
        // Accepted, so the prefix is a valid date, hour and minute, and `self.days` is its day.
        let (h, mi) = (digits(s, 11, 2)? as i64, digits(s, 14, 2)? as i64);
        let mut prefix = [0u8; 16];
        prefix.copy_from_slice(&s[..16]);
        self.minute = Some((prefix, (self.days * 86_400 + h * 3600 + mi * 60) * 1000));
        Ok(t)
    }
}

/// `:SS`, an optional fraction and `Z` (the rest of a UTC time after its minute), as
/// milliseconds into the minute; `None` for anything else (an offset, or not a time).
fn seconds_utc(rest: &[u8]) -> Option<Millis> {
    // The usual `:SS.fffZ` at constant offsets (no loop, no bounds check); anything else, or
    // anything this rejects, goes the general way below.
    if let Ok(&[b':', s1, s2, b'.', f1, f2, f3, b'Z' | b'z']) = <&[u8; 8]>::try_from(rest) {
        let [s1, s2, f1, f2, f3] = [s1, s2, f1, f2, f3].map(|c| c.wrapping_sub(b'0') as i64);
        let se = s1 * 10 + s2;
        if s1 < 10 && s2 < 10 && f1 < 10 && f2 < 10 && f3 < 10 && se <= 60 {
            return Some(se * 1000 + f1 * 100 + f2 * 10 + f3);
        }
    }
    let d = |i: usize| rest.get(i).filter(|c| c.is_ascii_digit()).map(|c| (c - b'0') as i64);
    if rest.first() != Some(&b':') {
        return None;
    }
    let se = d(1)? * 10 + d(2)?;
    if se > 60 {
        return None;
    }
    let mut i = 3;
    let mut ms = 0;
    if rest.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(v) = d(i) {
            if i - start < 3 {
                ms = ms * 10 + v;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            ms *= 10;
        }
    }
    (matches!(rest.get(i), Some(b'Z' | b'z')) && i + 1 == rest.len()).then_some(se * 1000 + ms)
}

fn parse_with(s: &[u8], mut days_of: impl FnMut(i64, u32, u32, &[u8]) -> Result<i64, TimeParseError>) -> Result<Millis, TimeParseError> {
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || s[13] != b':' || s[16] != b':' {
        return Err(TimeParseError);
    }
    if !matches!(s[10], b'T' | b't' | b' ') {
        return Err(TimeParseError);
    }
    let y = digits(s, 0, 4)? as i64;
    let mo = digits(s, 5, 2)?;
    let d = digits(s, 8, 2)?;
    let h = digits(s, 11, 2)? as i64;
    let mi = digits(s, 14, 2)? as i64;
    let se = digits(s, 17, 2)? as i64;
    if h > 23 || mi > 59 || se > 60 {
        return Err(TimeParseError);
    }
    let mut i = 19;
    let mut ms = 0i64;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            if i - start < 3 {
                ms = ms * 10 + (s[i] - b'0') as i64;
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err(TimeParseError);
        }
        for _ in n..3 {
            ms *= 10;
        }
    }
    let offset_min: i64 = match s.get(i) {
        Some(b'Z') | Some(b'z') if i + 1 == s.len() => 0,
        Some(&c @ (b'+' | b'-')) if i + 6 == s.len() && s[i + 3] == b':' => {
            let oh = digits(s, i + 1, 2)? as i64;
            let om = digits(s, i + 4, 2)? as i64;
            if oh > 23 || om > 59 {
                return Err(TimeParseError);
            }
            let o = oh * 60 + om;
            if c == b'-' { -o } else { o }
        }
        _ => return Err(TimeParseError),
    };
    let days = days_of(y, mo, d, &s[..10])?;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60;
    Ok(secs * 1000 + ms)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Format UTC milliseconds as RFC 3339 with millisecond precision and `Z`.
pub fn format_rfc3339(ts: Millis) -> String {
    match chrono::DateTime::from_timestamp_millis(ts) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("@{ts}ms"),
    }
}

/// A local calendar day as days since 1970-01-01 in the site's time zone.
pub type LocalDay = i32;

/// Turns UTC instants into the site's local day and hour.
///
/// The UTC offset is looked up once per UTC hour and cached, which is exact for every time
/// zone whose offset changes on whole hours (all but a handful of historical ones).
#[derive(Clone)]
pub struct LocalCalendar {
    tz: Tz,
    cached_hour: i64,
    cached_offset_ms: i64,
    /// The UTC span `[lo, hi)` over which [`LocalCalendar::day_hour`] last answered, and
    /// the answer: one UTC hour (one offset) and one local hour.
    span: (Millis, Millis, LocalDay, u8),
}

impl LocalCalendar {
    pub fn new(tz: Tz) -> Self {
        Self { tz, cached_hour: i64::MIN, cached_offset_ms: 0, span: (0, 0, 0, 0) }
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// UTC offset in force at `ts`, in milliseconds.
    pub fn offset_ms(&mut self, ts: Millis) -> i64 {
        let hour = ts.div_euclid(HOUR);
        if hour != self.cached_hour {
            let secs = hour * 3600;
            let off = match self.tz.timestamp_opt(secs, 0) {
                chrono::LocalResult::Single(t) => t.offset().fix().local_minus_utc() as i64,
                chrono::LocalResult::Ambiguous(t, _) => t.offset().fix().local_minus_utc() as i64,
                chrono::LocalResult::None => 0,
            };
            self.cached_hour = hour;
            self.cached_offset_ms = off * 1000;
        }
        self.cached_offset_ms
    }

    /// Local wall-clock milliseconds since the epoch (UTC + offset).
    pub fn local_ms(&mut self, ts: Millis) -> i64 {
        ts + self.offset_ms(ts)
    }

    /// Local day and hour of day (0-23).
    pub fn day_hour(&mut self, ts: Millis) -> (LocalDay, u8) {
        let (lo, hi, day, hour) = self.span;
        if lo <= ts && ts < hi {
            return (day, hour);
        }
        let off = self.offset_ms(ts);
        let l = ts + off;
        let day = l.div_euclid(DAY) as LocalDay;
        let hour = (l.rem_euclid(DAY) / HOUR) as u8;
        // The same answer holds while both the UTC hour (so the offset) and the local hour
        // stay the same.
        let utc_hour = ts.div_euclid(HOUR) * HOUR;
        let local_hour = l.div_euclid(HOUR) * HOUR - off;
        self.span = (utc_hour.max(local_hour), (utc_hour + HOUR).min(local_hour + HOUR), day, hour);
        (day, hour)
    }

    /// The UTC instant at which local day `day` begins at `hour`:`minute`.
    pub fn utc_of_local(&self, day: LocalDay, hour: u32, minute: u32) -> Millis {
        let date = date_of_day(day);
        let naive = date.and_hms_opt(hour.min(23), minute.min(59), 0).unwrap_or_default();
        match self.tz.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.timestamp_millis(),
            chrono::LocalResult::None => naive.and_utc().timestamp_millis(),
        }
    }
}

/// The calendar date of a [`LocalDay`].
pub fn date_of_day(day: LocalDay) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).and_then(|d| d.checked_add_signed(chrono::Duration::days(day as i64))).unwrap_or_default()
}

/// The [`LocalDay`] of a calendar date.
pub fn day_of_date(d: NaiveDate) -> LocalDay {
    use chrono::Datelike;
    days_from_civil(d.year() as i64, d.month(), d.day()) as LocalDay
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let z = parse_rfc3339(b"2026-03-01T10:15:00Z").unwrap();
        assert_eq!(z, chrono::DateTime::parse_from_rfc3339("2026-03-01T10:15:00Z").unwrap().timestamp_millis());
        assert_eq!(parse_rfc3339(b"2026-03-01T11:15:00+01:00").unwrap(), z);
        assert_eq!(parse_rfc3339(b"2026-03-01 10:15:00.250Z").unwrap(), z + 250);
        assert_eq!(parse_rfc3339(b"2026-03-01T10:15:00.1234567Z").unwrap(), z + 123);
        assert_eq!(parse_rfc3339(b"1969-12-31T23:59:59Z").unwrap(), -1000);
    }

    #[test]
    fn rejects_bad_times() {
        for s in [
            "2026-02-30T10:00:00Z",
            "2026-03-01T10:15:00",
            "2026-03-01T25:00:00Z",
            "yesterday",
            "2026-03-01T10:15:00.Z",
            "2026-03-01T10:15:00Zjunk",
        ] {
            assert!(parse_rfc3339(s.as_bytes()).is_err(), "{s}");
        }
    }

    #[test]
    fn the_minute_cache_gives_the_plain_parsers_answers() {
        // Mutations of a few base times, parsed in sequence by one cached parser (so the
        // cache is hit, missed and primed by bad inputs) and each alone by a fresh one.
        let bases = ["2026-03-01T10:15:07.250Z", "2026-03-01T10:15:59Z", "2024-02-29T23:59:60.1234Z", "2026-03-01T10:15:07+01:00"];
        let alphabet = b"0123456789:.-+TZz ";
        let mut cached = Rfc3339Parser::default();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let mut s = bases[(rnd() % 4) as usize].as_bytes().to_vec();
            match rnd() % 4 {
                0 => {}
                1 => {
                    let i = (rnd() % s.len() as u64) as usize;
                    s[i] = alphabet[(rnd() % alphabet.len() as u64) as usize];
                }
                2 => {
                    let i = 16 + (rnd() % (s.len() as u64 - 16)) as usize;
                    s.truncate(i);
                }
                _ => s.insert(16 + (rnd() % (s.len() as u64 - 15)) as usize, alphabet[(rnd() % alphabet.len() as u64) as usize]),
            }
            let fresh = Rfc3339Parser::default().parse(&s);
            assert_eq!(cached.parse(&s), fresh, "{}", String::from_utf8_lossy(&s));
            if let Ok(t) = fresh {
                assert_eq!(Ok(t), cached.parse(&s), "a hit gives the same");
            }
        }
    }

    #[test]
    fn day_hour_spans_give_the_plain_answers() {
        for tz in
            [chrono_tz::Europe::Paris, chrono_tz::Asia::Kolkata, chrono_tz::Asia::Kathmandu, chrono_tz::America::St_Johns, chrono_tz::UTC]
        {
            let mut cached = LocalCalendar::new(tz);
            let start = parse_rfc3339(b"2026-03-27T00:00:00Z").unwrap();
            let mut t = start;
            // Three days around a DST change, in 7-minute steps, with jumps back and forth.
            while t < start + 3 * DAY {
                for ts in [t, t - 13 * MINUTE, t + 1, t + 59 * MINUTE] {
                    let l = ts + LocalCalendar::new(tz).offset_ms(ts);
                    let plain = (l.div_euclid(DAY) as LocalDay, (l.rem_euclid(DAY) / HOUR) as u8);
                    assert_eq!(cached.day_hour(ts), plain, "{tz} {ts}");
                }
                t += 7 * MINUTE;
            }
        }
    }

    #[test]
    fn local_days_follow_dst() {
        let mut cal = LocalCalendar::new(chrono_tz::Europe::Paris);
        // 2026-03-29 01:30 UTC is 03:30 CEST (after the spring-forward at 01:00 UTC).
        let t = parse_rfc3339(b"2026-03-29T01:30:00Z").unwrap();
        let (day, hour) = cal.day_hour(t);
        assert_eq!(hour, 3);
        assert_eq!(date_of_day(day).to_string(), "2026-03-29");
        let t = parse_rfc3339(b"2026-03-28T23:30:00Z").unwrap();
        assert_eq!(cal.day_hour(t), (day, 0));
        assert_eq!(cal.utc_of_local(day, 3, 30), parse_rfc3339(b"2026-03-29T01:30:00Z").unwrap());
        assert_eq!(day_of_date(date_of_day(day)), day);
    }
}
