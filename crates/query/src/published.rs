//! The report's aggregates as they may be published: every count of 1..k-1 devices, visits or
//! walk-bys suppressed (`None`, `null` in JSON), and every rate, median or share computed from
//! a suppressed count suppressed with it.
//!
//! Owns the mapping from the raw [`Aggregates`] of the `aggregate` transform to
//! [`PublishedAggregates`], the only shape `footfall report` prints. It must not compute the
//! aggregates itself, nor decide how they are rendered.

use crate::Threshold;
use footfall_core::metrics::{Metrics, ZoneMetrics};
use footfall_transforms::aggregate::{Aggregates, Row};
use serde::Serialize;
use std::collections::BTreeMap;

/// [`ZoneMetrics`] after the threshold.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PublishedZone {
    pub exposure: Option<f64>,
    pub median_dwell_s: Option<f64>,
    pub visits: Option<u64>,
}

/// [`Metrics`] after the threshold: the same fields, each `None` when suppressed (rates and
/// medians are also `None` when there is nothing to compute them from).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PublishedMetrics {
    pub walk_ins: Option<u64>,
    pub walk_bys: Option<u64>,
    pub capture_rate: Option<f64>,
    pub visits_present: Option<u64>,
    pub unique_devices: Option<u64>,
    pub dwell_buckets: [Option<u64>; 4],
    pub median_dwell_s: Option<f64>,
    pub bounce_rate: Option<f64>,
    pub new_devices: Option<u64>,
    pub returning_devices: Option<u64>,
    pub untracked_devices: Option<u64>,
    pub visit_frequency: Option<f64>,
    pub zones: BTreeMap<String, PublishedZone>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PublishedRow {
    pub store: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
    #[serde(flatten)]
    pub metrics: PublishedMetrics,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PublishedAggregates {
    /// The k-threshold: counts of 1..k-1 are null.
    pub k: u64,
    pub totals: Vec<PublishedRow>,
    pub daily: Vec<PublishedRow>,
    pub hourly: Vec<PublishedRow>,
}

/// One store-period's metrics after the threshold.
pub fn metrics(m: &Metrics, t: Threshold) -> PublishedMetrics {
    let ins = m.walk_ins;
    let devices = m.unique_devices;
    PublishedMetrics {
        walk_ins: t.count(ins),
        walk_bys: t.count(m.walk_bys),
        capture_rate: t.derived(&[ins, m.walk_bys], m.capture_rate),
        visits_present: t.count(m.visits_present),
        unique_devices: t.count(devices),
        dwell_buckets: m.dwell_buckets.map(|n| t.count(n)),
        median_dwell_s: t.derived(&[ins], m.median_dwell_s),
        // The bounce rate times the walk-ins is the "<5" bucket: both must be publishable.
        bounce_rate: t.derived(&[ins, m.dwell_buckets[0]], m.bounce_rate),
        new_devices: t.count(m.new_devices),
        returning_devices: t.count(m.returning_devices),
        untracked_devices: t.count(m.untracked_devices),
        visit_frequency: t.derived(&[ins, devices], m.visit_frequency),
        zones: m.zones.iter().map(|(id, z)| (id.clone(), zone(z, ins, t))).collect(),
    }
}

fn zone(z: &ZoneMetrics, walk_ins: u64, t: Threshold) -> PublishedZone {
    PublishedZone {
        exposure: t.derived(&[z.visits, walk_ins], Some(z.exposure)),
        median_dwell_s: t.derived(&[z.visits], z.median_dwell_s),
        visits: t.count(z.visits),
    }
}

fn row(r: &Row, t: Threshold) -> PublishedRow {
    PublishedRow { store: r.store.clone(), date: r.date.clone(), hour: r.hour, metrics: metrics(&r.metrics, t) }
}

/// The whole report after the threshold.
pub fn aggregates(a: &Aggregates, t: Threshold) -> PublishedAggregates {
    PublishedAggregates {
        k: t.k(),
        totals: a.totals.iter().map(|r| row(r, t)).collect(),
        daily: a.daily.iter().map(|r| row(r, t)).collect(),
        hourly: a.hourly.iter().map(|r| row(r, t)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(walk_ins: u64, walk_bys: u64, bounces: u64, zone_visits: u64) -> Metrics {
        Metrics {
            walk_ins,
            walk_bys,
            capture_rate: Some(walk_ins as f64 / (walk_ins + walk_bys) as f64),
            visits_present: walk_ins,
            unique_devices: walk_ins,
            dwell_buckets: [bounces, walk_ins - bounces, 0, 0],
            median_dwell_s: Some(600.0),
            bounce_rate: Some(bounces as f64 / walk_ins as f64),
            new_devices: walk_ins,
            returning_devices: 0,
            untracked_devices: 0,
            visit_frequency: Some(1.0),
            zones: BTreeMap::from([(
                "z".to_string(),
                ZoneMetrics { exposure: zone_visits as f64 / walk_ins as f64, median_dwell_s: Some(60.0), visits: zone_visits },
            )]),
        }
    }

    #[test]
    fn suppresses_small_counts_and_everything_computed_from_them() {
        let t = Threshold::new(5);
        let p = metrics(&m(20, 3, 2, 4), t);
        assert_eq!((p.walk_ins, p.walk_bys, p.capture_rate), (Some(20), None, None));
        assert_eq!(p.dwell_buckets, [None, Some(18), Some(0), Some(0)]);
        assert_eq!((p.bounce_rate, p.median_dwell_s), (None, Some(600.0)));
        assert_eq!(p.zones["z"], PublishedZone { exposure: None, median_dwell_s: None, visits: None });
        let p = metrics(&m(4, 30, 0, 0), t);
        assert_eq!((p.walk_ins, p.walk_bys, p.capture_rate, p.median_dwell_s, p.visit_frequency), (None, Some(30), None, None, None));
        let p = metrics(&m(10, 10, 5, 10), t);
        assert_eq!((p.capture_rate, p.bounce_rate, p.zones["z"].exposure), (Some(0.5), Some(0.5), Some(1.0)));
    }

    #[test]
    fn json_shows_suppressed_cells_as_null() {
        let a =
            Aggregates { totals: vec![Row { store: "s".into(), date: None, hour: None, metrics: m(6, 2, 1, 6) }], ..Default::default() };
        let j = serde_json::to_value(aggregates(&a, Threshold::new(5))).unwrap();
        assert_eq!(j["k"], 5);
        assert_eq!(j["totals"][0]["walk_bys"], serde_json::Value::Null);
        assert_eq!(j["totals"][0]["walk_ins"], 6);
        assert_eq!(j["totals"][0]["dwell_buckets"][0], serde_json::Value::Null);
    }
}
