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
//! accepted, so no face, identity or per-person record can enter. This module reads text it
//! is given and fits; it does not open files, count people or know about sites.

use footfall_core::Millis;
use footfall_core::time::{LocalCalendar, parse_rfc3339};
use serde::Serialize;
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Fitted on this hour's intervals.
    Hour,
    /// Too few intervals in this hour: the store-wide factor.
    Store,
}

/// A factor with its 95 % bootstrap interval and what it was fitted on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Factor {
    pub factor: f64,
    pub low: f64,
    pub high: f64,
    pub intervals: usize,
    pub estimated: f64,
    pub counted: f64,
}

/// Per hour of one store.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HourFactor {
    pub hour: u8,
    /// The factor used for this hour (its own, or the store's).
    pub factor: Factor,
    pub source: Source,
    /// Intervals of this hour (also when it falls back).
    pub intervals: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
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
