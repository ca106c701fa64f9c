//! Aggregate: visits and passes → [`Metrics`] per store and period.
//!
//! Periods are the site's local days and hours (from its time zone), plus the whole range.
//! A visit counts as a walk-in in the period it starts in, and as present in every hour it
//! overlaps. New vs returning is decided per store over the visits given, in time order, for
//! globally unique devices only: randomized devices are reported as untracked, never
//! followed across days. This module computes; it neither filters devices nor applies
//! k-thresholds.

use footfall_core::metrics::{Metrics, ZoneMetrics};
use footfall_core::time::{HOUR, LocalCalendar, LocalDay, date_of_day};
use footfall_core::{DeviceId, Pass, Site, Visit};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One row of aggregates: a store (or `*` for the venue) over a day, an hour, or all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub store: String,
    /// Local date `YYYY-MM-DD`, absent for the whole range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Local hour 0-23, present on hourly rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregates {
    /// Per store over the whole range, then the venue (`*`).
    pub totals: Vec<Row>,
    pub daily: Vec<Row>,
    pub hourly: Vec<Row>,
}

#[derive(Default)]
struct Acc {
    dwell_s: Vec<f64>,
    walk_bys: u64,
    present: u64,
    devices: HashSet<DeviceId>,
    new: u64,
    returning: u64,
    untracked: u64,
    zone_dwell: BTreeMap<u16, Vec<f64>>,
}

/// The median of `v` (sorted in place); `None` when empty.
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

#[derive(Clone, Copy)]
enum Kind {
    New,
    Returning,
    Untracked,
}

impl Acc {
    fn add_visit(&mut self, v: &Visit, kind: Kind) {
        self.dwell_s.push(v.dwell_ms() as f64 / 1000.0);
        self.devices.insert(v.device);
        match kind {
            Kind::New => self.new += 1,
            Kind::Returning => self.returning += 1,
            Kind::Untracked => self.untracked += 1,
        }
        for (z, s) in v.seconds_per_zone() {
            self.zone_dwell.entry(z).or_default().push(s);
        }
    }

    fn finish(mut self, zone_names: &[String]) -> Metrics {
        let walk_ins = self.dwell_s.len() as u64;
        let mut buckets = [0u64; 4];
        for d in &self.dwell_s {
            let m = d / 60.0;
            buckets[if m < 5.0 {
                0
            } else if m < 20.0 {
                1
            } else if m < 60.0 {
                2
            } else {
                3
            }] += 1;
        }
        let zones = self
            .zone_dwell
            .iter_mut()
            .map(|(z, d)| {
                let name = zone_names.get(*z as usize).cloned().unwrap_or_else(|| format!("zone{z}"));
                let zm =
                    ZoneMetrics { exposure: d.len() as f64 / walk_ins.max(1) as f64, median_dwell_s: median(d), visits: d.len() as u64 };
                (name, zm)
            })
            .collect();
        let total = walk_ins + self.walk_bys;
        Metrics {
            walk_ins,
            walk_bys: self.walk_bys,
            capture_rate: (total > 0).then(|| walk_ins as f64 / total as f64),
            visits_present: self.present,
            unique_devices: self.devices.len() as u64,
            dwell_buckets: buckets,
            median_dwell_s: median(&mut self.dwell_s),
            bounce_rate: (walk_ins > 0).then(|| buckets[0] as f64 / walk_ins as f64),
            new_devices: self.new,
            returning_devices: self.returning,
            untracked_devices: self.untracked,
            visit_frequency: (!self.devices.is_empty()).then(|| walk_ins as f64 / self.devices.len() as f64),
            zones,
        }
    }
}

const VENUE: u16 = u16::MAX;

/// Compute all aggregates. `visits` and `passes` must already exclude non-shoppers.
pub fn aggregate(site: &Site, visits: &[Visit], passes: &[Pass]) -> Aggregates {
    let mut cal = LocalCalendar::new(site.tz());
    let mut totals: BTreeMap<u16, Acc> = BTreeMap::new();
    let mut daily: BTreeMap<(u16, LocalDay), Acc> = BTreeMap::new();
    let mut hourly: BTreeMap<(u16, LocalDay, u8), Acc> = BTreeMap::new();

    let mut order: Vec<&Visit> = visits.iter().collect();
    order.sort_by_key(|v| (v.start, v.store, v.device));
    let mut first_day: HashMap<(DeviceId, u16), LocalDay> = HashMap::new();
    for v in order {
        let (day, hour) = cal.day_hour(v.start);
        let kind = if v.randomized {
            Kind::Untracked
        } else {
            match first_day.entry((v.device, v.store)) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(day);
                    Kind::New
                }
                std::collections::hash_map::Entry::Occupied(e) if *e.get() == day => Kind::New,
                std::collections::hash_map::Entry::Occupied(_) => Kind::Returning,
            }
        };
        for s in [v.store, VENUE] {
            totals.entry(s).or_default().add_visit(v, kind);
            daily.entry((s, day)).or_default().add_visit(v, kind);
            hourly.entry((s, day, hour)).or_default().add_visit(v, kind);
        }
        // Presence in every hour the visit overlaps.
        let mut t = v.start - v.start.rem_euclid(HOUR);
        while t <= v.end {
            let (d, h) = cal.day_hour(t.max(v.start));
            for s in [v.store, VENUE] {
                hourly.entry((s, d, h)).or_default().present += 1;
            }
            t += HOUR;
        }
    }
    for p in passes {
        let (day, hour) = cal.day_hour(p.start);
        for s in [p.store, VENUE] {
            totals.entry(s).or_default().walk_bys += 1;
            daily.entry((s, day)).or_default().walk_bys += 1;
            hourly.entry((s, day, hour)).or_default().walk_bys += 1;
        }
    }
    for acc in daily.values_mut().chain(totals.values_mut()) {
        acc.present = acc.dwell_s.len() as u64;
    }
    let names = |s: u16| -> (String, Vec<String>) {
        match site.stores.get(s as usize) {
            Some(st) => (st.id.clone(), st.zones.iter().map(|z| z.id.clone()).collect()),
            None => ("*".to_string(), Vec::new()),
        }
    };
    let row = |s: u16, day: Option<LocalDay>, hour: Option<u8>, acc: Acc| {
        let (store, zones) = names(s);
        let zones = if s == VENUE { Vec::new() } else { zones };
        let mut metrics = acc.finish(&zones);
        if s == VENUE {
            metrics.zones.clear();
        }
        Row { store, date: day.map(|d| date_of_day(d).to_string()), hour, metrics }
    };
    Aggregates {
        totals: totals.into_iter().map(|(s, a)| row(s, None, None, a)).collect(),
        daily: daily.into_iter().map(|((s, d), a)| row(s, Some(d), None, a)).collect(),
        hourly: hourly.into_iter().map(|((s, d, h), a)| row(s, Some(d), Some(h), a)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::ZoneStay;
    use footfall_core::time::{MINUTE, parse_rfc3339};

    fn site() -> Site {
        Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[{"id":"s1","name":"S","category":"c","polygon":[[0,0],[10,0],[10,10],[0,10]],
            "zones":[{"id":"front","name":"F","polygon":[[0,0],[10,0],[10,5],[0,5]]},{"id":"cashier","name":"C","polygon":[[0,5],[10,5],[10,10],[0,10]]}]}],
            "sensors":[{"id":"a","x":5,"y":2,"store":"s1"}]}"#,
        )
        .unwrap()
    }

    fn t(s: &str) -> i64 {
        parse_rfc3339(s.as_bytes()).unwrap()
    }

    fn visit(dev: u64, start: &str, minutes: i64, randomized: bool) -> Visit {
        let s = t(start);
        Visit {
            device: DeviceId(dev),
            store: 0,
            start: s,
            end: s + minutes * MINUTE,
            randomized,
            zones: vec![
                ZoneStay { zone: 0, start: s, end: s + minutes * MINUTE / 2 },
                ZoneStay { zone: 1, start: s + minutes * MINUTE / 2, end: s + minutes * MINUTE },
            ],
        }
    }

    #[test]
    fn metrics_per_store_day_hour() {
        let visits = vec![
            visit(1, "2026-03-02T10:10:00Z", 4, false),
            visit(2, "2026-03-02T10:20:00Z", 70, false),
            visit(1, "2026-03-03T11:00:00Z", 10, false),
            visit(3, "2026-03-03T11:30:00Z", 30, true),
        ];
        let passes = vec![Pass {
            device: DeviceId(9),
            store: 0,
            start: t("2026-03-02T10:00:00Z"),
            end: t("2026-03-02T10:01:00Z"),
            randomized: false,
        }];
        let a = aggregate(&site(), &visits, &passes);
        let total = &a.totals[0];
        assert_eq!(total.store, "s1");
        let m = &total.metrics;
        assert_eq!((m.walk_ins, m.walk_bys), (4, 1));
        assert_eq!(m.capture_rate, Some(0.8));
        assert_eq!(m.dwell_buckets, [1, 1, 1, 1]);
        assert_eq!(m.median_dwell_s, Some(20.0 * 60.0));
        assert_eq!(m.bounce_rate, Some(0.25));
        assert_eq!((m.new_devices, m.returning_devices, m.untracked_devices), (2, 1, 1));
        assert_eq!(m.unique_devices, 3);
        assert_eq!(m.zones["front"].exposure, 1.0);
        assert_eq!(a.totals.last().unwrap().store, "*");
        let day1 = a.daily.iter().find(|r| r.store == "s1" && r.date.as_deref() == Some("2026-03-02")).unwrap();
        assert_eq!((day1.metrics.walk_ins, day1.metrics.walk_bys), (2, 1));
        // The 70-minute visit from 10:20 is present at 10h and 11h.
        let h11 = a.hourly.iter().find(|r| r.store == "s1" && r.date.as_deref() == Some("2026-03-02") && r.hour == Some(11)).unwrap();
        assert_eq!((h11.metrics.walk_ins, h11.metrics.visits_present), (0, 1));
    }
}
