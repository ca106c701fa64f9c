//! Calibration: from WiFi-estimated people to people counted by a door counter or a camera
//! system, per store and local hour of day.
//!
//! Not everyone carries a phone with WiFi on, so the WiFi estimate sees a share of the people
//! present. Given counted people per interval ([`CountRow`], read from `store,time,count`
//! CSV by [`parse_counts`]) and the WiFi estimate of the same store and window, [`fit`]
//! computes per store and hour a **ratio of sums** (counted / estimated over the matched
//! intervals), with a 95 % percentile **bootstrap** interval (intervals resampled with
//! replacement; a fixed seed, so the same inputs give the same interval). An hour with fewer
//! than `min_intervals` matched intervals (or no WiFi estimate at all) uses the store-wide
//! factor and says so ([`Source::Store`]).
//!
//! Extra CSV columns are aggregate counts per interval (age bands, gender) from a camera
//! system: non-negative integers only, summed per store into shares. Nothing else is
//! accepted, so no face, identity or per-person record can enter. A fit kept for later is a
//! [`SavedFit`]; [`StoreFit::calibrate`] applies it to any WiFi figure of an hour. This module
//! reads text it is given, fits and applies; it does not open files, store, count people or
//! know about sites.

use crate::occupancy::WindowCount;
use footfall_core::time::{LocalCalendar, parse_rfc3339};
use footfall_core::{Millis, Visit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One line of a counts file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CountRow {
    pub store: String,
    /// Start of the interval, UTC ms.
    pub time: Millis,
    pub count: f64,
    /// The extra aggregate columns, in header order.
    pub extra: Vec<u64>,
}

/// A counts file: the names of its extra columns and its rows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    pub extra_columns: Vec<String>,
    pub rows: Vec<CountRow>,
}

/// A bad line of a counts file: the file, the 1-based line and what was expected.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}, line {line}: {what}")]
pub struct CountsError {
    pub file: String,
    pub line: usize,
    pub what: String,
}

/// Parse `store,time,count[,aggregate...]` with a header line. `time` is RFC 3339 with a UTC
/// offset or `Z`; `count` a non-negative number; extra columns non-negative integers.
pub fn parse_counts(file: &str, text: &str) -> Result<Counts, CountsError> {
    let err = |line: usize, what: String| CountsError { file: file.to_string(), line, what };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let header = loop {
        match lines.next() {
            None => return Err(err(1, "empty file: expected a header `store,time,count`".into())),
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((n, l)) => break (n, l),
        }
    };
    let cols: Vec<String> = header.1.split(',').map(|c| c.trim().to_ascii_lowercase()).collect();
    if cols.len() < 3 || cols[0] != "store" || cols[1] != "time" || cols[2] != "count" {
        return Err(err(header.0, format!("expected a header starting `store,time,count`, got {:?}", header.1)));
    }
    let extra_columns: Vec<String> = cols[3..].to_vec();
    if let Some(c) = extra_columns.iter().find(|c| c.is_empty()) {
        return Err(err(header.0, format!("empty column name {c:?} in the header")));
    }
    let mut rows = Vec::new();
    for (n, l) in lines {
        if l.trim().is_empty() || l.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        if f.len() != cols.len() {
            return Err(err(n, format!("expected {} fields ({}), got {}", cols.len(), cols.join(","), f.len())));
        }
        if f[0].is_empty() {
            return Err(err(n, "empty store id".into()));
        }
        let time = parse_rfc3339(f[1].as_bytes())
            .map_err(|_| err(n, format!("time {:?} is not RFC 3339 with a UTC offset (e.g. 2026-03-02T10:00:00+01:00)", f[1])))?;
        let count: f64 = f[2]
            .parse()
            .ok()
            .filter(|c: &f64| c.is_finite() && *c >= 0.0)
            .ok_or_else(|| err(n, format!("count {:?} is not a non-negative number", f[2])))?;
        let mut extra = Vec::with_capacity(extra_columns.len());
        for (k, v) in f[3..].iter().enumerate() {
            extra.push(
                v.parse::<u64>()
                    .map_err(|_| err(n, format!("{} {v:?} is not a non-negative integer (aggregate counts only)", extra_columns[k])))?,
            );
        }
        rows.push(CountRow { store: f[0].to_string(), time, count, extra });
    }
    Ok(Counts { extra_columns, rows })
}

/// Fit parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitConfig {
    /// An hour needs at least this many matched intervals for a factor of its own.
    pub min_intervals: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    pub seed: u64,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self { min_intervals: 6, resamples: 1000, seed: 0x5eed_ca1b }
    }
}

/// One matched interval: a store, its start, the WiFi estimate and the counted people.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub store: String,
    pub time: Millis,
    pub estimated: f64,
    pub counted: f64,
}

/// Where a factor comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Fitted on this hour's intervals.
    Hour,
    /// Too few intervals in this hour: the store-wide factor.
    Store,
}

/// A factor with its 95 % bootstrap interval and what it was fitted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub factor: f64,
    pub low: f64,
    pub high: f64,
    pub intervals: usize,
    pub estimated: f64,
    pub counted: f64,
}

/// Per hour of one store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HourFactor {
    pub hour: u8,
    /// The factor used for this hour (its own, or the store's).
    pub factor: Factor,
    pub source: Source,
    /// Intervals of this hour (also when it falls back).
    pub intervals: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreFit {
    pub store: String,
    pub overall: Factor,
    /// Hours with at least one matched interval, in order.
    pub hours: Vec<HourFactor>,
    /// Per extra column: its sum over the store's count rows divided by the sum of counts.
    pub shares: Vec<(String, f64)>,
}

impl StoreFit {
    /// The factor for a local hour: the hour's, else the store's.
    pub fn factor_at(&self, hour: u8) -> (&Factor, Source) {
        match self.hours.iter().find(|h| h.hour == hour) {
            Some(h) => (&h.factor, h.source),
            None => (&self.overall, Source::Store),
        }
    }
}

/// A fit kept for later use (`footfall calibrate --db --save`, applied by `footfall report`):
/// the per-store factors and what they were fitted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedFit {
    /// Length of the windows the WiFi estimate and the counts were matched on, s.
    pub window_s: i64,
    pub min_intervals: usize,
    /// First and last matched window fitted on (UTC ms).
    pub from_ms: Millis,
    pub to_ms: Millis,
    pub stores: Vec<StoreFit>,
}

/// A raw figure scaled by a factor, with the factor's interval carried over.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Calibrated {
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub source: Source,
}

impl Calibrated {
    /// Add another calibrated figure (e.g. a store's hours into its total). The interval is
    /// the sum of the bounds: conservative, as if the hours' factor errors were fully
    /// correlated (they share the store's phones and counter).
    pub fn plus(self, other: Calibrated) -> Calibrated {
        Calibrated {
            value: self.value + other.value,
            low: self.low + other.low,
            high: self.high + other.high,
            source: if self.source == Source::Hour && other.source == Source::Hour { Source::Hour } else { Source::Store },
        }
    }
}

impl StoreFit {
    /// `raw` (people, visits: anything counted by WiFi in local hour `hour`) calibrated with
    /// the hour's factor, else the store's.
    pub fn calibrate(&self, hour: u8, raw: f64) -> Calibrated {
        let (f, source) = self.factor_at(hour);
        Calibrated { value: raw * f.factor, low: raw * f.low, high: raw * f.high, source }
    }
}

/// Deterministic splitmix64, enough for resampling.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Ratio of sums with a percentile bootstrap interval; `None` when nothing was estimated.
pub fn ratio_of_sums(pairs: &[(f64, f64)], cfg: &FitConfig) -> Option<Factor> {
    let (se, sc) = pairs.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
    if se <= 0.0 {
        return None;
    }
    let factor = sc / se;
    let mut rng = Mix(cfg.seed ^ (pairs.len() as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut boots = Vec::with_capacity(cfg.resamples);
    for _ in 0..cfg.resamples {
        let (mut e, mut c) = (0.0, 0.0);
        for _ in 0..pairs.len() {
            let p = pairs[rng.below(pairs.len())];
            e += p.0;
            c += p.1;
        }
        if e > 0.0 {
            boots.push(c / e);
        }
    }
    boots.sort_by(f64::total_cmp);
    let q = |p: f64| if boots.is_empty() { factor } else { boots[((boots.len() - 1) as f64 * p).round() as usize] };
    Some(Factor { factor, low: q(0.025), high: q(0.975), intervals: pairs.len(), estimated: se, counted: sc })
}

/// Fit per store and local hour. Stores whose matched intervals have no WiFi estimate at all
/// get no fit (returned in the second list).
pub fn fit(cfg: &FitConfig, cal: &mut LocalCalendar, pairs: &[Pair], counts: &Counts) -> (Vec<StoreFit>, Vec<String>) {
    /// (estimated, counted) per local hour.
    type Hours = BTreeMap<u8, Vec<(f64, f64)>>;
    let mut by_store: BTreeMap<&str, Hours> = BTreeMap::new();
    for p in pairs {
        let h = cal.day_hour(p.time).1;
        by_store.entry(&p.store).or_default().entry(h).or_default().push((p.estimated, p.counted));
    }
    let mut fits = Vec::new();
    let mut unfit = Vec::new();
    for (store, hours) in by_store {
        let all: Vec<(f64, f64)> = hours.values().flatten().copied().collect();
        let Some(overall) = ratio_of_sums(&all, cfg) else {
            unfit.push(store.to_string());
            continue;
        };
        let hours = hours
            .into_iter()
            .map(|(hour, ps)| {
                let own = if ps.len() >= cfg.min_intervals { ratio_of_sums(&ps, cfg) } else { None };
                match own {
                    Some(f) => HourFactor { hour, factor: f, source: Source::Hour, intervals: ps.len() },
                    None => HourFactor { hour, factor: overall.clone(), source: Source::Store, intervals: ps.len() },
                }
            })
            .collect();
        let rows: Vec<&CountRow> = counts.rows.iter().filter(|r| r.store == store).collect();
        let total: f64 = rows.iter().map(|r| r.count).sum();
        let shares = counts
            .extra_columns
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let s: u64 = rows.iter().map(|r| r.extra[k]).sum();
                (name.clone(), if total > 0.0 { s as f64 / total } else { 0.0 })
            })
            .collect();
        fits.push(StoreFit { store: store.to_string(), overall, hours, shares });
    }
    (fits, unfit)
}

/// Visitors present per store and window: the visits overlapping each window (first to last
/// instant), for every window from the earliest visit's to the latest one's, zeros included,
/// for stores `0..stores` (`scope` = store index). The WiFi side of a calibration whose factor
/// is applied to figures built on visits (`footfall report`): the factor then corrects the
/// very estimator it scales (people without a phone with WiFi on, visits the radio missed).
pub fn visitors_per_window(visits: &[Visit], stores: usize, window_ms: Millis) -> Vec<WindowCount> {
    let (Some(first), Some(last)) = (visits.iter().map(|v| v.start).min(), visits.iter().map(|v| v.end).max()) else {
        return Vec::new();
    };
    let (w0, w1) = (first.div_euclid(window_ms), last.div_euclid(window_ms));
    let n = (w1 - w0 + 1) as usize;
    let mut present = vec![0u32; stores * n];
    for v in visits.iter().filter(|v| (v.store as usize) < stores) {
        for w in v.start.div_euclid(window_ms)..=v.end.div_euclid(window_ms) {
            present[v.store as usize * n + (w - w0) as usize] += 1;
        }
    }
    present
        .iter()
        .enumerate()
        .map(|(i, &people)| WindowCount {
            scope: (i / n) as u32,
            start: (w0 + (i % n) as Millis) * window_ms,
            people,
            naive: 0,
            excluded: 0,
        })
        .collect()
}

/// Counted people per (store, window start): rows falling in the same window are summed
/// (a counter reporting every minute against 5-minute windows).
pub fn counts_per_window(counts: &Counts, window_ms: Millis) -> BTreeMap<(String, Millis), f64> {
    let mut out: BTreeMap<(String, Millis), f64> = BTreeMap::new();
    for r in &counts.rows {
        *out.entry((r.store.clone(), r.time.div_euclid(window_ms) * window_ms)).or_default() += r.count;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::time::HOUR;

    #[test]
    fn parses_counts_and_explains_bad_lines() {
        let c = parse_counts(
            "c.csv",
            "store,time,count,age_18_34,female\ns1,2026-03-02T10:00:00+01:00,12,5,6\n\ns1,2026-03-02T09:05:00Z,3.5,1,2\n",
        )
        .unwrap();
        assert_eq!(c.extra_columns, ["age_18_34", "female"]);
        assert_eq!(c.rows.len(), 2);
        assert_eq!(c.rows[0].time, c.rows[1].time - 5 * 60_000);
        assert_eq!(c.rows[1].count, 3.5);
        let bad = |t: &str| parse_counts("c.csv", t).unwrap_err();
        assert_eq!(bad("").line, 1);
        assert!(bad("shop,time,count\n").what.contains("store,time,count"));
        let e = bad("store,time,count\ns1,2026-03-02T10:00:00Z,4\ns1,2026-03-02 10:05,4\n");
        assert_eq!((e.line, e.file.as_str()), (3, "c.csv"));
        assert!(e.what.contains("RFC 3339"), "{e}");
        assert!(bad("store,time,count\ns1,2026-03-02T10:00:00Z,-1\n").what.contains("non-negative"));
        assert!(bad("store,time,count\ns1,2026-03-02T10:00:00Z\n").what.contains("expected 3 fields"));
        let e = bad("store,time,count,face_id\ns1,2026-03-02T10:00:00Z,1,ab12\n");
        assert!(e.what.contains("aggregate counts only"), "{e}");
        assert_eq!(e.to_string(), format!("c.csv, line 2: {}", e.what));
    }

    fn pair(h: i64, k: i64, e: f64, c: f64) -> Pair {
        Pair { store: "s1".into(), time: 20_000 * 24 * HOUR + h * HOUR + k * 300_000, estimated: e, counted: c }
    }

    #[test]
    fn ratio_of_sums_per_hour_with_store_fallback() {
        let mut pairs = Vec::new();
        // Hour 10: twelve intervals, counted is twice the estimate, with noise.
        for k in 0..12 {
            let e = 4.0 + (k % 3) as f64;
            pairs.push(pair(10, k, e, 2.0 * e + if k % 2 == 0 { 1.0 } else { -1.0 }));
        }
        // Hour 11: two intervals only, counted three times the estimate.
        pairs.push(pair(11, 0, 2.0, 6.0));
        pairs.push(pair(11, 1, 3.0, 9.0));
        let mut cal = LocalCalendar::new(chrono_tz::UTC);
        let (fits, unfit) = fit(&FitConfig::default(), &mut cal, &pairs, &Counts::default());
        assert!(unfit.is_empty());
        let f = &fits[0];
        let h10 = f.factor_at(10);
        assert_eq!(h10.1, Source::Hour);
        assert!((h10.0.factor - 2.0).abs() < 1e-9, "{:?}", h10.0);
        assert!(h10.0.low < 2.0 && h10.0.high > 2.0 && h10.0.high - h10.0.low < 0.5, "{:?}", h10.0);
        let h11 = f.factor_at(11);
        assert_eq!(h11.1, Source::Store);
        assert_eq!(h11.0, &f.overall);
        assert_eq!(f.hours[1].intervals, 2);
        // Store-wide: (2 * 60 + 15) / (60 + 5).
        assert!((f.overall.factor - 135.0 / 65.0).abs() < 1e-9);
        // An hour never seen: the store's factor.
        assert_eq!(f.factor_at(3).1, Source::Store);
        // Deterministic.
        assert_eq!(fit(&FitConfig::default(), &mut cal, &pairs, &Counts::default()).0, fits);
    }

    #[test]
    fn exact_data_has_a_tight_interval_and_nothing_estimated_is_unfit() {
        let pairs: Vec<(f64, f64)> = (1..=10).map(|i| (i as f64, 1.5 * i as f64)).collect();
        let f = ratio_of_sums(&pairs, &FitConfig::default()).unwrap();
        assert!((f.low - 1.5).abs() < 1e-9 && (f.high - 1.5).abs() < 1e-9);
        assert!(ratio_of_sums(&[(0.0, 3.0)], &FitConfig::default()).is_none());
        let mut cal = LocalCalendar::new(chrono_tz::UTC);
        let (fits, unfit) = fit(&FitConfig::default(), &mut cal, &[pair(9, 0, 0.0, 4.0)], &Counts::default());
        assert!(fits.is_empty());
        assert_eq!(unfit, ["s1"]);
    }

    #[test]
    fn calibrates_with_the_hours_factor_and_sums_conservatively() {
        let mut pairs = Vec::new();
        for k in 0..8 {
            pairs.push(pair(10, k, 4.0, 8.0 + (k % 2) as f64));
        }
        pairs.push(pair(12, 0, 5.0, 5.0));
        let mut cal = LocalCalendar::new(chrono_tz::UTC);
        let (fits, _) = fit(&FitConfig::default(), &mut cal, &pairs, &Counts::default());
        let f = &fits[0];
        let c10 = f.calibrate(10, 10.0);
        assert_eq!(c10.source, Source::Hour);
        assert!((c10.value - 10.0 * 68.0 / 32.0).abs() < 1e-9, "{c10:?}");
        assert!(c10.low <= c10.value && c10.value <= c10.high && c10.low < c10.high);
        let c12 = f.calibrate(12, 10.0);
        assert_eq!(c12.source, Source::Store);
        assert!((c12.value - 10.0 * f.overall.factor).abs() < 1e-9);
        let sum = c10.plus(c12);
        assert_eq!(sum.source, Source::Store);
        assert!((sum.value - c10.value - c12.value).abs() < 1e-9 && (sum.high - c10.high - c12.high).abs() < 1e-9);
        assert_eq!(c10.plus(c10).source, Source::Hour);
        // A saved fit reads back as it was written.
        let saved = SavedFit { window_s: 300, min_intervals: 6, from_ms: 1, to_ms: 2, stores: fits.clone() };
        let back: SavedFit = serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        assert_eq!(back, saved);
    }

    #[test]
    fn visitors_present_per_window_include_empty_windows() {
        let v = |store: u16, start: Millis, end: Millis| Visit {
            device: footfall_core::DeviceId(1),
            store,
            start,
            end,
            randomized: false,
            zones: vec![],
        };
        // Window 300 s: store 0 from 100 s to 700 s (windows 0, 1, 2), store 1 at 50-200 s.
        let w = visitors_per_window(&[v(0, 100_000, 700_000), v(1, 50_000, 200_000), v(0, 650_000, 900_000)], 2, 300_000);
        let got: Vec<(u32, Millis, u32)> = w.iter().map(|c| (c.scope, c.start, c.people)).collect();
        // Windows 0-3 (the last visit ends at 900 s), every store, zeros included.
        let want =
            [(0, 0, 1), (0, 300_000, 1), (0, 600_000, 2), (0, 900_000, 1), (1, 0, 1), (1, 300_000, 0), (1, 600_000, 0), (1, 900_000, 0)];
        assert_eq!(got, want);
        assert!(visitors_per_window(&[], 2, 300_000).is_empty());
    }

    #[test]
    fn shares_and_windows() {
        let c = parse_counts(
            "c.csv",
            "store,time,count,female\ns1,2026-03-02T10:00:00Z,4,1\ns1,2026-03-02T10:01:00Z,6,4\ns2,2026-03-02T10:00:00Z,2,0\n",
        )
        .unwrap();
        let w = counts_per_window(&c, 300_000);
        assert_eq!(w.len(), 2);
        assert_eq!(w.values().copied().collect::<Vec<_>>(), [10.0, 2.0]);
        let mut cal = LocalCalendar::new(chrono_tz::UTC);
        let t = c.rows[0].time;
        let pairs = [Pair { store: "s1".into(), time: t, estimated: 5.0, counted: 10.0 }];
        let (fits, _) = fit(&FitConfig::default(), &mut cal, &pairs, &c);
        assert_eq!(fits[0].shares, [("female".to_string(), 0.5)]);
    }
}
