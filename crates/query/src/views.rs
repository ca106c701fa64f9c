//! The figures the API publishes, computed from a [`Dataset`] over a [`DayRange`].
//!
//! Owns each answer's shape (serde + OpenAPI schema) and its computation: store summaries
//! with the previous period and the mall average, metrics per hour/day/week, hour-of-day
//! traffic with week-over-week, the funnel, the dwell histogram, zone heatmap values, zone
//! paths and store-to-store flows. Every count goes through the [`Release`] here (noise when
//! on, then the k-threshold), so no caller can publish an unsuppressed or exact figure by
//! forgetting to; rates are computed from the released counts. A count is named by its cell
//! (store, period or range, figure), so the same figure asked for through two endpoints gets
//! the same noise. Walk-ins and walk-bys count in the period their visit or pass starts in.
//! It must not know who is asking.

use crate::{Dataset, DayRange, QueryError, Release};
use footfall_core::time::{LocalDay, date_of_day};
use footfall_core::{DeviceId, Visit};
use footfall_transforms::aggregate::median;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use utoipa::ToSchema;

/// A visit shorter than this is a bounce; one at least this long is "engaged".
pub const ENGAGED_S: f64 = 300.0;
/// Dwell histogram: bins of this many minutes up to [`DWELL_MAX_MIN`], then one open bin.
pub const DWELL_BIN_MIN: u32 = 5;
pub const DWELL_MAX_MIN: u32 = 120;

fn dwell_s(v: &Visit) -> f64 {
    v.dwell_ms() as f64 / 1000.0
}

/// The headline figures of one store (or the mall average) over a period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    /// Visits that started in the period.
    pub walk_ins: Option<u64>,
    /// Passes (heard at the store front, never inside) that started in the period.
    pub walk_bys: Option<u64>,
    /// walk_ins / (walk_ins + walk_bys), 0..1.
    pub capture_rate: Option<f64>,
    pub median_dwell_s: Option<f64>,
    /// Share of walk-ins shorter than 5 minutes, 0..1.
    pub bounce_rate: Option<f64>,
    /// Distinct devices among the walk-ins.
    pub unique_devices: Option<u64>,
}

/// Raw (unsuppressed) accumulator of [`Figures`].
#[derive(Default)]
struct Acc {
    dwell: Vec<f64>,
    walk_bys: u64,
    devices: HashSet<DeviceId>,
}

impl Acc {
    /// The figures of `cell` (a store and a period or range; see [`cell`]).
    fn figures(mut self, r: Release, cell: &str) -> Figures {
        let true_ins = self.dwell.len() as u64;
        let walk_ins = r.noisy(cell, "walk_ins", true_ins);
        let walk_bys = r.noisy(cell, "walk_bys", self.walk_bys);
        let bounces = r.noisy(cell, "bounces", self.dwell.iter().filter(|&&d| d < ENGAGED_S).count() as u64).min(walk_ins);
        let total = walk_ins + walk_bys;
        let t = r.threshold;
        Figures {
            walk_ins: t.count(walk_ins),
            walk_bys: t.count(walk_bys),
            capture_rate: t.derived(&[walk_ins, walk_bys], (total > 0).then(|| walk_ins as f64 / total as f64)),
            median_dwell_s: t.derived(&[walk_ins, true_ins], median(&mut self.dwell)),
            bounce_rate: t.derived(&[walk_ins], (walk_ins > 0).then(|| bounces as f64 / walk_ins as f64)),
            unique_devices: t.count(r.noisy(cell, "unique_devices", self.devices.len() as u64)),
        }
    }
}

/// The name of a published cell: a store (`*` for the venue) and a period label or a range.
/// Endpoints that publish the same figure of the same cell share its noise.
pub fn cell(store: &str, period: &str) -> String {
    format!("{store}|{period}")
}

/// The [`cell`] of a store over a requested range of days.
pub fn range_cell(store: &str, range: DayRange) -> String {
    cell(store, &format!("{}..{}", range.from_str(), range.to_str()))
}

/// Per store: the visits and passes starting in `range`, by a key of their start.
fn accumulate<K: Ord>(ds: &Dataset, store: Option<u16>, range: DayRange, key: impl Fn(LocalDay, u8) -> K) -> BTreeMap<K, Acc> {
    let mut out: BTreeMap<K, Acc> = BTreeMap::new();
    for (v, &(d, h)) in ds.visits.iter().zip(&ds.visit_start) {
        if range.contains(d) && store.is_none_or(|s| s == v.store) {
            let a = out.entry(key(d, h)).or_default();
            a.dwell.push(dwell_s(v));
            a.devices.insert(v.device);
        }
    }
    for (p, &(d, h)) in ds.passes.iter().zip(&ds.pass_start) {
        if range.contains(d) && store.is_none_or(|s| s == p.store) {
            out.entry(key(d, h)).or_default().walk_bys += 1;
        }
    }
    out
}

fn figures(ds: &Dataset, store: Option<u16>, range: DayRange, r: Release) -> Figures {
    let id = store.map_or("*", |s| ds.site.stores[s as usize].id.as_str());
    accumulate(ds, store, range, |_, _| ()).remove(&()).unwrap_or_default().figures(r, &range_cell(id, range))
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PeriodFigures {
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub figures: Figures,
}

fn period(range: DayRange, figures: Figures) -> PeriodFigures {
    PeriodFigures { from: range.from_str(), to: range.to_str(), figures }
}

/// A store's headline figures with the previous period of equal length and the mall average.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Summary {
    pub store: String,
    pub from: String,
    pub to: String,
    /// The k-threshold: counts of 1..k-1 devices are null.
    pub k: u64,
    /// Epsilon of the differential-privacy noise on each count, null when noise is off
    /// (`[privacy] epsilon`); rates are computed from the noisy counts.
    pub noise_epsilon_per_count: Option<f64>,
    pub current: PeriodFigures,
    pub previous: PeriodFigures,
    /// The average store of the venue over the same range (each count divided by the
    /// number of stores; rates and medians over all the venue's visits).
    pub mall_average: PeriodFigures,
}

pub fn summary(ds: &Dataset, store: &str, range: DayRange, r: Release) -> Result<Summary, QueryError> {
    let s = ds.store(store)?;
    let mut avg = figures(ds, None, range, r);
    let n = ds.site.stores.len().max(1) as f64;
    let per_store = |c: Option<u64>| c.map(|c| (c as f64 / n).round() as u64);
    avg.walk_ins = per_store(avg.walk_ins);
    avg.walk_bys = per_store(avg.walk_bys);
    avg.unique_devices = per_store(avg.unique_devices);
    Ok(Summary {
        store: store.to_string(),
        from: range.from_str(),
        to: range.to_str(),
        k: r.k(),
        noise_epsilon_per_count: r.epsilon(),
        current: period(range, figures(ds, Some(s), range, r)),
        previous: period(range.previous(), figures(ds, Some(s), range.previous(), r)),
        mall_average: period(range, avg),
    })
}

/// How rows of [`Metrics`] are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Hour,
    Day,
    Week,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MetricsRow {
    /// `YYYY-MM-DD` (day), `YYYY-MM-DDTHH` (hour, local) or `YYYY-Www` (ISO week).
    pub period: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Metrics {
    pub store: String,
    pub from: String,
    pub to: String,
    pub by: Granularity,
    pub k: u64,
    /// Epsilon of the differential-privacy noise on each count, null when noise is off
    /// (`[privacy] epsilon`); rates are computed from the noisy counts.
    pub noise_epsilon_per_count: Option<f64>,
    pub rows: Vec<MetricsRow>,
}

/// The label of local day `d`, hour `h` at granularity `by`: `YYYY-MM-DDTHH`, `YYYY-MM-DD`
/// or `YYYY-Www` (ISO week); labels sort in time order.
pub fn period_label(by: Granularity, d: LocalDay, h: u8) -> String {
    use chrono::Datelike;
    let date = date_of_day(d);
    match by {
        Granularity::Hour => format!("{date}T{h:02}"),
        Granularity::Day => date.to_string(),
        Granularity::Week => {
            let w = date.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        }
    }
}

pub fn metrics(ds: &Dataset, store: &str, range: DayRange, by: Granularity, r: Release) -> Result<Metrics, QueryError> {
    let s = ds.store(store)?;
    let rows = accumulate(ds, Some(s), range, |d, h| period_label(by, d, h))
        .into_iter()
        .map(|(period, acc)| MetricsRow { figures: acc.figures(r, &cell(store, &period)), period })
        .collect();
    Ok(Metrics {
        store: store.to_string(),
        from: range.from_str(),
        to: range.to_str(),
        by,
        k: r.k(),
        noise_epsilon_per_count: r.epsilon(),
        rows,
    })
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HourOfDay {
    pub hour: u8,
    /// Mean walk-ins per day with data, at this hour.
    pub walk_ins: Option<f64>,
    pub walk_bys: Option<f64>,
    /// The same, over the range a week earlier.
    pub previous_walk_ins: Option<f64>,
    pub previous_walk_bys: Option<f64>,
}

/// Hour-of-day traffic for staffing, with week-over-week.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Hourly {
    pub store: String,
    pub from: String,
    pub to: String,
    /// Days with data in the range (the divisor of the means).
    pub days: u64,
    pub previous_from: String,
    pub previous_to: String,
    pub previous_days: u64,
    pub k: u64,
    /// Epsilon of the differential-privacy noise on each count, null when noise is off
    /// (`[privacy] epsilon`); rates are computed from the noisy counts.
    pub noise_epsilon_per_count: Option<f64>,
    pub hours: Vec<HourOfDay>,
}

/// Days in `range` on which the venue has any visit or pass.
fn days_with_data(ds: &Dataset, range: DayRange) -> u64 {
    let days: BTreeSet<LocalDay> = ds.visit_start.iter().chain(&ds.pass_start).map(|(d, _)| *d).filter(|d| range.contains(*d)).collect();
    days.len() as u64
}

pub fn hourly(ds: &Dataset, store: &str, range: DayRange, r: Release) -> Result<Hourly, QueryError> {
    let s = ds.store(store)?;
    let prev = range.shifted(-7);
    let (days, prev_days) = (days_with_data(ds, range), days_with_data(ds, prev));
    let cur = accumulate(ds, Some(s), range, |_, h| h);
    let old = accumulate(ds, Some(s), prev, |_, h| h);
    let (cur_cell, prev_cell) = (range_cell(store, range), range_cell(store, prev));
    let mean = |cell: &str, h: u8, figure: &str, n: u64, days: u64| {
        r.count(cell, &format!("hour{h:02}|{figure}"), n).map(|n| if days == 0 { 0.0 } else { n as f64 / days as f64 })
    };
    let hours: BTreeSet<u8> = cur.keys().chain(old.keys()).copied().collect();
    let hours = hours
        .into_iter()
        .map(|h| {
            let (ci, cb) = cur.get(&h).map_or((0, 0), |a| (a.dwell.len() as u64, a.walk_bys));
            let (pi, pb) = old.get(&h).map_or((0, 0), |a| (a.dwell.len() as u64, a.walk_bys));
            HourOfDay {
                hour: h,
                walk_ins: mean(&cur_cell, h, "walk_ins", ci, days),
                walk_bys: mean(&cur_cell, h, "walk_bys", cb, days),
                previous_walk_ins: mean(&prev_cell, h, "walk_ins", pi, prev_days),
                previous_walk_bys: mean(&prev_cell, h, "walk_bys", pb, prev_days),
            }
        })
        .collect();
    Ok(Hourly {
        store: store.to_string(),
        from: range.from_str(),
        to: range.to_str(),
        days,
        previous_from: prev.from_str(),
        previous_to: prev.to_str(),
        previous_days: prev_days,
        k: r.k(),
        noise_epsilon_per_count: r.epsilon(),
        hours,
    })
}

/// Walk-bys → walk-ins → engaged visits (at least 5 minutes).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Funnel {
    pub store: String,
    pub from: String,
    pub to: String,
    pub k: u64,
    /// Epsilon of the differential-privacy noise on each count, null when noise is off
    /// (`[privacy] epsilon`); rates are computed from the noisy counts.
    pub noise_epsilon_per_count: Option<f64>,
    pub walk_bys: Option<u64>,
    pub walk_ins: Option<u64>,
    pub engaged: Option<u64>,
}

pub fn funnel(ds: &Dataset, store: &str, range: DayRange, r: Release) -> Result<Funnel, QueryError> {
    let s = ds.store(store)?;
    let acc = accumulate(ds, Some(s), range, |_, _| ()).remove(&()).unwrap_or_default();
    let cell = range_cell(store, range);
    let walk_ins = r.noisy(&cell, "walk_ins", acc.dwell.len() as u64);
    // Engaged visits are a subset of the walk-ins, noisy or not.
    let engaged = r.noisy(&cell, "engaged", acc.dwell.iter().filter(|&&d| d >= ENGAGED_S).count() as u64).min(walk_ins);
    let t = r.threshold;
    Ok(Funnel {
        store: store.to_string(),
        from: range.from_str(),
        to: range.to_str(),
        k: r.k(),
        noise_epsilon_per_count: r.epsilon(),
        walk_bys: t.count(r.noisy(&cell, "walk_bys", acc.walk_bys)),
        walk_ins: t.count(walk_ins),
        engaged: t.count(engaged),
    })
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DwellBin {
    pub from_min: u32,
    /// Exclusive upper bound; null for the open last bin.
    pub to_min: Option<u32>,
    pub visits: Option<u64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Dwell {
    pub store: String,
    pub from: String,
    pub to: String,
    pub k: u64,
    /// Epsilon of the differential-privacy noise on each count, null when noise is off
    /// (`[privacy] epsilon`); rates are computed from the noisy counts.
    pub noise_epsilon_per_count: Option<f64>,
    pub bins: Vec<DwellBin>,
}

pub fn dwell(ds: &Dataset, store: &str, range: DayRange, r: Release) -> Result<Dwell, QueryError> {
    let s = ds.store(store)?;
    let n = (DWELL_MAX_MIN / DWELL_BIN_MIN) as usize;
    let mut counts = vec![0u64; n + 1];
    for v in store_visits(ds, s, range) {
        counts[((dwell_s(v) / 60.0 / DWELL_BIN_MIN as f64) as usize).min(n)] += 1;
    }
    let cell = range_cell(store, range);
    let bins = counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let from_min = i as u32 * DWELL_BIN_MIN;
            DwellBin {
                from_min,
                to_min: (i < n).then(|| (i as u32 + 1) * DWELL_BIN_MIN),
                visits: r.count(&cell, &format!("dwell{from_min}"), c),
            }
        })
        .collect();
    Ok(Dwell { store: store.to_string(), from: range.from_str(), to: range.to_str(), k: r.k(), noise_epsilon_per_count: r.epsilon(), bins })
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ZoneFigures {
    pub id: String,
    pub name: String,
    /// Visits that reached the zone.
    pub visits: Option<u64>,
    /// Share of the store's visits that reached the zone, 0..1.
    pub exposure: Option<f64>,
    /// Median time in the zone per visit that reached it.
    pub median_dwell_s: Option<f64>,
}

/// Zone heatmap values of one store.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Zones {
    pub store: String,
    pub from: String,
    pub to: String,
    pub k: u64,
    /// Epsilon of the differential-privacy noise on each count, null when noise is off
    /// (`[privacy] epsilon`); rates are computed from the noisy counts.
    pub noise_epsilon_per_count: Option<f64>,
    /// The store's visits in the range.
    pub visits: Option<u64>,
    pub zones: Vec<ZoneFigures>,
}

fn store_visits<'a>(ds: &'a Dataset, s: u16, range: DayRange) -> impl Iterator<Item = &'a Visit> + 'a {
    ds.visits.iter().zip(&ds.visit_start).filter(move |(v, (d, _))| v.store == s && range.contains(*d)).map(|(v, _)| v)
}

pub fn zones(ds: &Dataset, store: &str, range: DayRange, r: Release) -> Result<Zones, QueryError> {
    let s = ds.store(store)?;
    let site_zones = &ds.site.stores[s as usize].zones;
    let mut per_zone: Vec<Vec<f64>> = vec![Vec::new(); site_zones.len()];
    let mut total = 0u64;
    for v in store_visits(ds, s, range) {
        total += 1;
        for (z, sec) in v.seconds_per_zone() {
            if let Some(d) = per_zone.get_mut(z as usize) {
                d.push(sec);
            }
        }
    }
    let (cell, t) = (range_cell(store, range), r.threshold);
    // The store's visits in the range are its walk-ins there (the same cell and noise).
    let total = r.noisy(&cell, "walk_ins", total);
    let zones = site_zones
        .iter()
        .zip(per_zone)
        .map(|(z, mut d)| {
            let true_n = d.len() as u64;
            let n = r.noisy(&cell, &format!("zone|{}", z.id), true_n);
            ZoneFigures {
                id: z.id.clone(),
                name: z.name.clone(),
                visits: t.count(n),
                exposure: t.derived(&[n, total], (total > 0).then(|| (n as f64 / total as f64).min(1.0))),
                median_dwell_s: t.derived(&[n, true_n], median(&mut d)),
            }
        })
        .collect();
    Ok(Zones {
        store: store.to_string(),
        from: range.from_str(),
        to: range.to_str(),
        k: r.k(),
        noise_epsilon_per_count: r.epsilon(),
        visits: t.count(total),
        zones,
    })
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Transition {
    /// Zone id; null = entering the store.
    pub from: Option<String>,
    /// Zone id; null = leaving the store.
    pub to: Option<String>,
    pub count: u64,
}

/// Zone-to-zone transitions of one store's visits; transitions seen fewer than k times are
/// left out (`suppressed` counts them).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Paths {
    pub store: String,
    pub from: String,
    pub to: String,
    pub k: u64,
    /// Epsilon of the differential-privacy noise on each count, null when noise is off
    /// (`[privacy] epsilon`); rates are computed from the noisy counts.
    pub noise_epsilon_per_count: Option<f64>,
    pub transitions: Vec<Transition>,
    /// Distinct transitions left out because fewer than k visits made them.
    pub suppressed: u64,
}

pub fn paths(ds: &Dataset, store: &str, range: DayRange, r: Release) -> Result<Paths, QueryError> {
    let s = ds.store(store)?;
    let zone_ids = &ds.site.stores[s as usize].zones;
    let mut counts: BTreeMap<(Option<u16>, Option<u16>), u64> = BTreeMap::new();
    for v in store_visits(ds, s, range) {
        let mut seq: Vec<u16> = v.zones.iter().map(|z| z.zone).collect();
        seq.dedup();
        if seq.is_empty() {
            continue;
        }
        let path: Vec<Option<u16>> = std::iter::once(None).chain(seq.into_iter().map(Some)).chain(std::iter::once(None)).collect();
        for w in path.windows(2) {
            *counts.entry((w[0], w[1])).or_default() += 1;
        }
    }
    let name = |z: Option<u16>| z.and_then(|z| zone_ids.get(z as usize)).map(|z| z.id.clone());
    let (cell, t) = (range_cell(store, range), r.threshold);
    let mut suppressed = 0;
    let mut transitions: Vec<Transition> = Vec::new();
    for (&(a, b), &n) in &counts {
        let (from, to) = (name(a), name(b));
        let count = r.noisy(&cell, &format!("path|{}>{}", from.as_deref().unwrap_or(""), to.as_deref().unwrap_or("")), n);
        if count == 0 || !t.allows(count) {
            suppressed += 1;
        } else {
            transitions.push(Transition { from, to, count });
        }
    }
    transitions.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to))));
    Ok(Paths {
        store: store.to_string(),
        from: range.from_str(),
        to: range.to_str(),
        k: r.k(),
        noise_epsilon_per_count: r.epsilon(),
        transitions,
        suppressed,
    })
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FlowCell {
    pub from: String,
    pub to: String,
    /// Devices that visited `to` after visiting `from` on the same day.
    pub devices: Option<u64>,
}

/// Store-to-store flows (cross-shopping): per ordered pair of stores, the devices that
/// visited the second later on the same day as the first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Flows {
    pub from: String,
    pub to: String,
    pub k: u64,
    /// Epsilon of the differential-privacy noise on each count, null when noise is off
    /// (`[privacy] epsilon`); rates are computed from the noisy counts.
    pub noise_epsilon_per_count: Option<f64>,
    pub stores: Vec<String>,
    pub cells: Vec<FlowCell>,
}

/// Flows between stores; with `only`, just the pairs touching one of those stores.
pub fn flows(ds: &Dataset, range: DayRange, r: Release, only: Option<&[u16]>) -> Flows {
    // (device, day) → its visits' (start, store), in time order.
    let mut days: HashMap<(DeviceId, LocalDay), Vec<(i64, u16)>> = HashMap::new();
    for (v, &(d, _)) in ds.visits.iter().zip(&ds.visit_start) {
        if range.contains(d) {
            days.entry((v.device, d)).or_default().push((v.start, v.store));
        }
    }
    let mut pairs: BTreeMap<(u16, u16), u64> = BTreeMap::new();
    for mut seq in days.into_values() {
        seq.sort_unstable();
        let mut seen: BTreeSet<(u16, u16)> = BTreeSet::new();
        for (i, &(_, a)) in seq.iter().enumerate() {
            for &(_, b) in &seq[i + 1..] {
                if a != b {
                    seen.insert((a, b));
                }
            }
        }
        for p in seen {
            *pairs.entry(p).or_default() += 1;
        }
    }
    let keep = |a: u16, b: u16| only.is_none_or(|o| o.contains(&a) || o.contains(&b));
    let id = |s: u16| ds.site.stores[s as usize].id.clone();
    let cells = pairs
        .into_iter()
        .filter(|((a, b), _)| keep(*a, *b))
        .map(|((a, b), n)| {
            let (from, to) = (id(a), id(b));
            let devices = r.count(&range_cell(&format!("{from}>{to}"), range), "flow", n);
            FlowCell { from, to, devices }
        })
        .collect();
    Flows {
        from: range.from_str(),
        to: range.to_str(),
        k: r.k(),
        noise_epsilon_per_count: r.epsilon(),
        stores: ds.site.stores.iter().map(|s| s.id.clone()).collect(),
        cells,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Threshold;
    use footfall_core::{Pass, Site, ZoneStay};
    use footfall_transforms::exclude::Excluded;
    use footfall_transforms::filter::DropCounts;

    pub(crate) const DAY_MS: i64 = 86_400_000;
    pub(crate) const T0: i64 = 20_000 * DAY_MS + 10 * 3_600_000; // 10:00 UTC on day 20000

    pub(crate) fn site() -> Site {
        Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[
            {"id":"a","name":"A","category":"c","polygon":[[0,0],[10,0],[10,10],[0,10]],
             "zones":[{"id":"front","name":"F","polygon":[[0,0],[10,0],[10,5],[0,5]]},{"id":"back","name":"B","polygon":[[0,5],[10,5],[10,10],[0,10]]}]},
            {"id":"b","name":"B","category":"c","polygon":[[20,0],[30,0],[30,10],[20,10]]}],
            "sensors":[{"id":"sa","x":5,"y":2,"store":"a"},{"id":"sb","x":25,"y":2,"store":"b"}]}"#,
        )
        .unwrap()
    }

    pub(crate) fn visit(device: u64, store: u16, start: i64, mins: i64, zones: &[u16]) -> Visit {
        let end = start + mins * 60_000;
        let step = (end - start) / zones.len().max(1) as i64;
        let zones = zones
            .iter()
            .enumerate()
            .map(|(i, &z)| ZoneStay { zone: z, start: start + i as i64 * step, end: start + (i as i64 + 1) * step })
            .collect();
        Visit { device: DeviceId(device), store, start, end, randomized: false, zones }
    }

    pub(crate) fn dataset(visits: Vec<Visit>, passes: Vec<Pass>) -> Dataset {
        let visit_start = visits.iter().map(|v| ((v.start / DAY_MS) as i32, ((v.start % DAY_MS) / 3_600_000) as u8)).collect();
        let pass_start = passes.iter().map(|p| ((p.start / DAY_MS) as i32, ((p.start % DAY_MS) / 3_600_000) as u8)).collect();
        Dataset {
            site: site(),
            visits,
            passes,
            visit_start,
            pass_start,
            excluded: Excluded::default(),
            excluded_visits: 0,
            excluded_passes: 0,
            drops: DropCounts::default(),
            files: Vec::new(),
        }
    }

    fn range(ds: &Dataset) -> DayRange {
        DayRange::resolve(None, None, ds.day_span()).unwrap()
    }

    #[test]
    fn summary_counts_and_suppresses() {
        // 6 visits to a (dwell 1..6 min), 3 passes at a, 2 visits to b.
        let mut visits: Vec<Visit> = (0..6).map(|i| visit(i, 0, T0 + i as i64 * 60_000, i as i64 + 1, &[0])).collect();
        visits.extend((0..2).map(|i| visit(100 + i, 1, T0, 10, &[])));
        let passes = (0..3).map(|i| Pass { device: DeviceId(50 + i), store: 0, start: T0, end: T0 + 1000, randomized: false }).collect();
        let ds = dataset(visits, passes);
        let t = Release::exact(Threshold::new(5));
        let s = summary(&ds, "a", range(&ds), t).unwrap();
        assert_eq!(s.current.figures.walk_ins, Some(6));
        assert_eq!(s.current.figures.walk_bys, None, "3 walk-bys < k");
        assert_eq!(s.current.figures.capture_rate, None, "derived from a suppressed count");
        assert_eq!(s.current.figures.median_dwell_s, Some(210.0));
        assert_eq!(s.current.figures.bounce_rate, Some(4.0 / 6.0));
        assert_eq!(s.previous.figures.walk_ins, Some(0));
        assert_eq!(summary(&ds, "b", range(&ds), t).unwrap().current.figures.walk_ins, None);
        assert!(matches!(summary(&ds, "zz", range(&ds), t), Err(QueryError::UnknownStore(_))));
        let f = funnel(&ds, "a", range(&ds), t).unwrap();
        assert_eq!((f.walk_bys, f.walk_ins, f.engaged), (None, Some(6), None), "3 walk-bys and 2 engaged are below k");
    }

    #[test]
    fn hourly_dwell_zones_paths_and_flows() {
        let mut visits: Vec<Visit> = (0..5).map(|i| visit(i, 0, T0, 12, &[0, 1, 0])).collect();
        // The same five devices go on to store b on the same day, and one more goes b then a.
        visits.extend((0..5).map(|i| visit(i, 1, T0 + 3_600_000, 3, &[])));
        visits.push(visit(9, 1, T0, 3, &[]));
        visits.push(visit(9, 0, T0 + 3_600_000, 3, &[1]));
        let ds = dataset(visits, Vec::new());
        let t = Release::exact(Threshold::new(5));
        let r = range(&ds);
        let h = hourly(&ds, "a", r, t).unwrap();
        assert_eq!(h.days, 1);
        assert_eq!(h.hours.iter().map(|x| (x.hour, x.walk_ins)).collect::<Vec<_>>(), vec![(10, Some(5.0)), (11, None)]);
        let d = dwell(&ds, "a", r, t).unwrap();
        assert_eq!(d.bins.len(), 25);
        assert_eq!(d.bins[2].visits, Some(5), "12-minute visits fall in 10-15");
        assert_eq!(d.bins[0].visits, None, "one 3-minute visit");
        let z = zones(&ds, "a", r, t).unwrap();
        assert_eq!(z.visits, Some(6));
        assert_eq!(z.zones[0].visits, Some(5));
        assert_eq!(z.zones[1].visits, Some(6));
        assert_eq!(z.zones[1].exposure, Some(1.0));
        let p = paths(&ds, "a", r, t).unwrap();
        let got: Vec<_> = p.transitions.iter().map(|x| (x.from.as_deref(), x.to.as_deref(), x.count)).collect();
        assert_eq!(
            got,
            vec![(None, Some("front"), 5), (Some("back"), Some("front"), 5), (Some("front"), None, 5), (Some("front"), Some("back"), 5)]
        );
        assert_eq!(p.suppressed, 2, "entry to back and back to exit, once each");
        let f = flows(&ds, r, t, None);
        let got: Vec<_> = f.cells.iter().map(|c| (c.from.as_str(), c.to.as_str(), c.devices)).collect();
        assert_eq!(got, vec![("a", "b", Some(5)), ("b", "a", None)]);
        let m = metrics(&ds, "a", r, Granularity::Hour, t).unwrap();
        assert_eq!(m.rows.iter().map(|r| r.period.as_str()).collect::<Vec<_>>(), vec!["2024-10-04T10", "2024-10-04T11"]);
        let m = metrics(&ds, "a", r, Granularity::Week, t).unwrap();
        assert_eq!(m.rows[0].period, "2024-W40");
    }

    #[test]
    fn with_noise_every_count_moves_rates_follow_the_noisy_counts_and_endpoints_agree() {
        // 40 visits and 60 passes at a over one day.
        let visits: Vec<Visit> = (0..40).map(|i| visit(i, 0, T0 + i as i64 * 60_000, 3 + i as i64 % 9, &[0, 1])).collect();
        let passes = (0..60).map(|i| Pass { device: DeviceId(500 + i), store: 0, start: T0, end: T0 + 1000, randomized: false }).collect();
        let ds = dataset(visits, passes);
        let r = range(&ds);
        let exact = Release::exact(Threshold::new(5));
        let mut moved = 0;
        for seed in 0..20u8 {
            let noisy = Release { threshold: Threshold::new(5), noise: Some(crate::noise::Noise::new(0.5, &[seed; 32]).unwrap()) };
            let s = summary(&ds, "a", r, noisy).unwrap();
            assert_eq!(s.noise_epsilon_per_count, Some(0.5));
            let (ins, bys) = (s.current.figures.walk_ins.unwrap(), s.current.figures.walk_bys.unwrap());
            moved += usize::from((ins, bys) != (40, 60));
            assert_eq!(s.current.figures.capture_rate, Some(ins as f64 / (ins + bys) as f64), "the rate of the published counts");
            assert_eq!(s.current.figures.median_dwell_s, summary(&ds, "a", r, exact).unwrap().current.figures.median_dwell_s);
            let f = funnel(&ds, "a", r, noisy).unwrap();
            assert_eq!((f.walk_ins, f.walk_bys), (Some(ins), Some(bys)), "one cell, one draw, whichever endpoint");
            assert!(f.engaged.unwrap() <= ins);
            assert_eq!(zones(&ds, "a", r, noisy).unwrap().visits, Some(ins));
            assert_eq!(format!("{s:?}"), format!("{:?}", summary(&ds, "a", r, noisy).unwrap()), "asking again gives the same answer");
        }
        assert!(moved >= 15, "noise of epsilon 0.5 moves the counts in most worlds ({moved} of 20)");
        assert_eq!(summary(&ds, "a", r, exact).unwrap().current.figures.walk_ins, Some(40));
    }

    #[test]
    fn a_median_of_fewer_than_k_visits_stays_suppressed_whatever_the_noise() {
        let ds = dataset((0..3).map(|i| visit(i, 0, T0, 10, &[0])).collect(), Vec::new());
        for seed in 0..50u8 {
            let noisy = Release { threshold: Threshold::new(5), noise: Some(crate::noise::Noise::new(0.05, &[seed; 32]).unwrap()) };
            let s = summary(&ds, "a", range(&ds), noisy).unwrap();
            assert_eq!(s.current.figures.median_dwell_s, None, "3 true visits < k, noisy count {:?}", s.current.figures.walk_ins);
            assert!(zones(&ds, "a", range(&ds), noisy).unwrap().zones.iter().all(|z| z.median_dwell_s.is_none()));
        }
    }
}
