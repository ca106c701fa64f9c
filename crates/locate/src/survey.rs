//! A site survey: a surveyor walks the store with a phone whose MAC is known and notes when
//! they stood in which zone (or at which x,y point), while the sensors hear the phone
//! passively. This module reads the survey notes (`start,end,zone` or `start,end,x,y`) and joins
//! them with the sensor observations of the surveyor's phone into labelled fingerprints: one
//! per time slice (`slice_ms`, 10 s by default, the pipeline's locate window) with the mean RSSI
//! per sensor.
//!
//! It never sees a MAC: the caller selects the surveyor's observations by pseudonym (the
//! surveyor MAC is keyed-hashed at the boundary, like every other MAC). No I/O beyond the
//! reader it is handed.

use crate::LocateError;
use crate::fingerprint::{Fingerprint, Label, Sample, Survey};
use footfall_core::Millis;
use footfall_core::time::parse_rfc3339;
use std::io::BufRead;

/// What one survey line says: the surveyor stood at `label` from `start` to `end`.
#[derive(Clone, Debug, PartialEq)]
pub struct SurveyRow {
    pub line: usize,
    pub start: Millis,
    pub end: Millis,
    pub at: SurveyPlace,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SurveyPlace {
    Zone(String),
    Point(f64, f64),
}

fn parse_time(s: &str) -> Option<Millis> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    parse_rfc3339(s.as_bytes()).ok()
}

/// Read survey notes: a header `start,end,zone` or `start,end,x,y`; times in RFC 3339 or UTC
/// milliseconds. Intervals must not be empty or overlap.
pub fn read_rows(mut input: impl BufRead, file: &str) -> Result<Vec<SurveyRow>, LocateError> {
    let bad = |line: usize, reason: String| LocateError::Line { file: file.to_string(), line, reason };
    let io = |source| LocateError::Io { file: file.to_string(), source };
    let mut header = String::new();
    input.read_line(&mut header).map_err(io)?;
    let cols: Vec<String> = header.trim_start_matches('\u{feff}').trim().split(',').map(|c| c.trim().to_ascii_lowercase()).collect();
    let by_zone = cols == ["start", "end", "zone"];
    if !by_zone && cols != ["start", "end", "x", "y"] {
        return Err(bad(1, format!("expected the header start,end,zone or start,end,x,y, found {:?}", header.trim())));
    }
    let mut rows: Vec<SurveyRow> = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let no = i + 2;
        let line = line.map_err(io)?;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = text.split(',').map(str::trim).collect();
        if f.len() != cols.len() {
            return Err(bad(no, format!("expected {} fields ({}), found {}", cols.len(), cols.join(","), f.len())));
        }
        let start =
            parse_time(f[0]).ok_or_else(|| bad(no, format!("start: expected an RFC 3339 time or UTC milliseconds, found {:?}", f[0])))?;
        let end =
            parse_time(f[1]).ok_or_else(|| bad(no, format!("end: expected an RFC 3339 time or UTC milliseconds, found {:?}", f[1])))?;
        if end <= start {
            return Err(bad(no, "end must be after start".into()));
        }
        let at = if by_zone {
            if f[2].is_empty() {
                return Err(bad(no, "zone: expected a zone id".into()));
            }
            SurveyPlace::Zone(f[2].to_string())
        } else {
            let num = |s: &str, what: &str| {
                s.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad(no, format!("{what}: expected metres, found {s:?}")))
            };
            SurveyPlace::Point(num(f[2], "x")?, num(f[3], "y")?)
        };
        if let Some(prev) = rows.iter().find(|r| r.start < end && start < r.end) {
            return Err(bad(no, format!("overlaps the interval of line {}", prev.line)));
        }
        rows.push(SurveyRow { line: no, start, end, at });
    }
    if rows.is_empty() {
        return Err(bad(2, "no survey rows".into()));
    }
    Ok(rows)
}

/// Builds labelled fingerprints from the surveyor's observations, in any order.
pub struct Joiner {
    rows: Vec<SurveyRow>,
    slice_ms: Millis,
    /// Per (row, slice): (sensor, sum of RSSI, count).
    acc: Vec<Vec<Vec<(u16, f64, u32)>>>,
    pub matched: u64,
    pub outside: u64,
}

impl Joiner {
    pub fn new(mut rows: Vec<SurveyRow>, slice_ms: Millis) -> Joiner {
        rows.sort_by_key(|r| r.start);
        let slice_ms = slice_ms.max(1);
        let acc = rows.iter().map(|r| vec![Vec::new(); ((r.end - r.start + slice_ms - 1) / slice_ms) as usize]).collect();
        Joiner { rows, slice_ms, acc, matched: 0, outside: 0 }
    }

    /// One observation of the surveyor's phone.
    pub fn push(&mut self, ts: Millis, sensor: u16, rssi: f64) {
        let i = self.rows.partition_point(|r| r.end <= ts);
        match self.rows.get(i) {
            Some(r) if r.start <= ts => {
                let slot = &mut self.acc[i][((ts - r.start) / self.slice_ms) as usize];
                match slot.iter_mut().find(|a| a.0 == sensor) {
                    Some(a) => {
                        a.1 += rssi;
                        a.2 += 1;
                    }
                    None => slot.push((sensor, rssi, 1)),
                }
                self.matched += 1;
            }
            _ => self.outside += 1,
        }
    }

    /// The labelled fingerprints over `sensors` (names in index order). `place` turns a zone
    /// name into (zone label, position) and refuses unknown ones; rows whose slices heard
    /// nothing are reported in the second value (their line numbers).
    pub fn finish(
        self,
        sensors: Vec<String>,
        mut place: impl FnMut(&str) -> Result<Option<(f64, f64)>, String>,
        file: &str,
    ) -> Result<(Survey, Vec<usize>), LocateError> {
        let mut survey = Survey { aps: sensors, zones: Vec::new(), samples: Vec::new() };
        let mut silent = Vec::new();
        for (r, slices) in self.rows.iter().zip(self.acc) {
            let (zone, pos) = match &r.at {
                SurveyPlace::Zone(z) => {
                    let pos = place(z).map_err(|reason| LocateError::Line { file: file.to_string(), line: r.line, reason })?;
                    (Some(survey.zone_index(z)), pos)
                }
                SurveyPlace::Point(x, y) => (None, Some((*x, *y))),
            };
            let before = survey.samples.len();
            for (k, slot) in slices.into_iter().enumerate() {
                if slot.is_empty() {
                    continue;
                }
                let fp = Fingerprint::from_pairs(slot.iter().map(|&(s, sum, n)| (s, (sum / n as f64) as f32)).collect());
                survey.samples.push(Sample {
                    fp,
                    label: Label { building: 0, floor: 0, zone, pos },
                    device: 0,
                    user: 0,
                    time: r.start + k as Millis * self.slice_ms,
                });
            }
            if survey.samples.len() == before {
                silent.push(r.line);
            }
        }
        Ok((survey, silent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zone_and_point_surveys_with_precise_errors() {
        let rows = read_rows("start,end,zone\n2026-01-01T10:00:00Z,2026-01-01T10:01:00Z,s1/front\n".as_bytes(), "s.csv").unwrap();
        assert_eq!(rows[0].end - rows[0].start, 60_000);
        assert_eq!(rows[0].at, SurveyPlace::Zone("s1/front".into()));
        let rows = read_rows("start,end,x,y\n0,1000,1.5,2\n".as_bytes(), "s.csv").unwrap();
        assert_eq!(rows[0].at, SurveyPlace::Point(1.5, 2.0));
        let e = read_rows("start,end,zone\n0,1000,a\n500,2000,b\n".as_bytes(), "s.csv").unwrap_err().to_string();
        assert!(e.contains("s.csv, line 3") && e.contains("overlaps the interval of line 2"), "{e}");
        let e = read_rows("start,end,zone\nyesterday,1000,a\n".as_bytes(), "s.csv").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("start: expected"), "{e}");
        let e = read_rows("when,zone\n".as_bytes(), "s.csv").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("start,end,zone"), "{e}");
    }

    #[test]
    fn joins_observations_into_slices_with_mean_rssi() {
        let rows = read_rows("start,end,zone\n0,20000,a\n30000,40000,b\n50000,60000,a\n".as_bytes(), "s.csv").unwrap();
        let mut j = Joiner::new(rows, 10_000);
        for (ts, s, r) in
            [(1_000, 0, -60.0), (2_000, 0, -70.0), (3_000, 1, -80.0), (12_000, 1, -50.0), (25_000, 0, -40.0), (31_000, 2, -66.0)]
        {
            j.push(ts, s, r);
        }
        assert_eq!((j.matched, j.outside), (5, 1));
        let (s, silent) = j.finish(vec!["x".into(), "y".into(), "z".into()], |z| Ok((z == "a").then_some((1.0, 2.0))), "s.csv").unwrap();
        assert_eq!(s.samples.len(), 3);
        assert_eq!(s.samples[0].fp.0, vec![(0, -65.0), (1, -80.0)]);
        assert_eq!(s.samples[1].fp.0, vec![(1, -50.0)]);
        assert_eq!(s.samples[2].label.zone, Some(1));
        assert_eq!(s.zones, vec!["a", "b"]);
        assert_eq!(s.samples[0].label.pos, Some((1.0, 2.0)));
        assert_eq!(silent, vec![4]);
        let rows = read_rows("start,end,zone\n0,20000,nowhere\n".as_bytes(), "s.csv").unwrap();
        let e = Joiner::new(rows, 10_000).finish(vec![], |z| Err(format!("zone {z:?} is not in the site")), "s.csv").unwrap_err();
        assert!(e.to_string().contains("s.csv, line 2") && e.to_string().contains("nowhere"));
    }
}
