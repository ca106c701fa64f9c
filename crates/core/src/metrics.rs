//! Aggregate records: what reports, exports and the API are made of.
//!
//! A [`Metrics`] describes one store (or the whole venue) over one period (an hour, a day,
//! the whole range). This module owns the shape and the names; computing them is the
//! `aggregate` transform's job.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Dwell-time histogram buckets, in minutes: `<5`, `5-20`, `20-60`, `60+`.
pub const DWELL_BUCKETS: [&str; 4] = ["<5", "5-20", "20-60", "60+"];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoneMetrics {
    /// Share of the period's visits that reached the zone (0..1).
    pub exposure: f64,
    /// Median time in the zone per visit that reached it, in seconds.
    pub median_dwell_s: Option<f64>,
    pub visits: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Visits that started in the period (entries).
    pub walk_ins: u64,
    /// Passes (heard near the store front, no visit) that started in the period.
    pub walk_bys: u64,
    /// walk_ins / (walk_ins + walk_bys); `None` when both are zero.
    pub capture_rate: Option<f64>,
    /// Visits in the store at some point of the period (for staffing).
    pub visits_present: u64,
    /// Distinct devices among the period's walk-ins.
    pub unique_devices: u64,
    /// Walk-ins per dwell bucket (see [`DWELL_BUCKETS`]).
    pub dwell_buckets: [u64; 4],
    pub median_dwell_s: Option<f64>,
    /// Share of walk-ins shorter than 5 minutes.
    pub bounce_rate: Option<f64>,
    /// Walk-ins by devices with no earlier visit to this store (globally unique MACs only).
    pub new_devices: u64,
    /// Walk-ins by devices seen in this store on an earlier day (globally unique MACs only).
    pub returning_devices: u64,
    /// Walk-ins by randomized-MAC devices, which are never followed across days.
    pub untracked_devices: u64,
    /// Walk-ins per unique device in the period.
    pub visit_frequency: Option<f64>,
    /// Per zone id.
    pub zones: BTreeMap<String, ZoneMetrics>,
}
