//! Calibrated figures as they may be published: the report's walk-ins per store and local
//! hour (summed over the days reported), beside the same scaled by the stored door-counter
//! factor (`footfall calibrate --db --save`) with the factor's 95 % interval.
//!
//! Owns the join of the aggregates' hourly rows with a [`SavedFit`] and the threshold rule
//! for the result: a calibrated figure is published only when the raw count it is computed
//! from is publishable and it rounds to a publishable count itself. It must not fit factors
//! (that is `footfall_transforms::calibrate`) nor decide how figures are rendered.

use crate::Threshold;
use footfall_transforms::aggregate::Aggregates;
use footfall_transforms::calibrate::{Calibrated, SavedFit, Source};
use serde::Serialize;
use std::collections::BTreeMap;

/// A calibrated count after the threshold (all `None` when suppressed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PublishedCalibrated {
    pub value: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// One local hour of one store.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalibratedHour {
    pub hour: u8,
    /// Walk-ins (WiFi-estimated visits) starting in this hour, summed over the days.
    pub walk_ins: Option<u64>,
    pub walk_ins_calibrated: PublishedCalibrated,
    /// The factor applied and its 95 % bootstrap interval (a ratio of aggregate counts).
    pub factor: f64,
    pub factor_low: f64,
    pub factor_high: f64,
    /// `hour`: fitted on this hour's windows; `store`: too few, the store-wide factor.
    pub factor_source: Source,
}

/// One store: its hours and its total.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalibratedStore {
    pub store: String,
    pub walk_ins: Option<u64>,
    pub walk_ins_calibrated: PublishedCalibrated,
    pub hours: Vec<CalibratedHour>,
}

/// The calibrated part of a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PublishedCalibration {
    pub window_s: i64,
    pub min_intervals: usize,
    /// Stores with a factor, in the aggregates' order.
    pub stores: Vec<CalibratedStore>,
    /// Stores of the aggregates the fit has no factor for (raw figures only).
    pub uncalibrated_stores: Vec<String>,
}

fn publish(t: Threshold, raw: Option<u64>, c: Calibrated) -> PublishedCalibrated {
    let ok = raw.is_some() && t.allows(c.value.round() as u64);
    if ok { PublishedCalibrated { value: Some(c.value), low: Some(c.low), high: Some(c.high) } } else { PublishedCalibrated::default() }
}

/// Walk-ins per store and hour from `agg.hourly`, raw and calibrated with `fit`, thresholded.
pub fn calibration(agg: &Aggregates, fit: &SavedFit, t: Threshold) -> PublishedCalibration {
    let mut per: BTreeMap<&str, BTreeMap<u8, u64>> = BTreeMap::new();
    for r in agg.hourly.iter().filter(|r| r.store != "*") {
        if let Some(h) = r.hour {
            *per.entry(r.store.as_str()).or_default().entry(h).or_default() += r.metrics.walk_ins;
        }
    }
    let mut stores = Vec::new();
    let mut uncalibrated = Vec::new();
    for r in agg.totals.iter().filter(|r| r.store != "*") {
        let Some(f) = fit.stores.iter().find(|f| f.store == r.store) else {
            uncalibrated.push(r.store.clone());
            continue;
        };
        let empty = BTreeMap::new();
        let hours_in = per.get(r.store.as_str()).unwrap_or(&empty);
        let mut total: Option<Calibrated> = None;
        let mut hours = Vec::new();
        for (&hour, &n) in hours_in {
            let c = f.calibrate(hour, n as f64);
            total = Some(total.map_or(c, |x| x.plus(c)));
            let (factor, source) = f.factor_at(hour);
            let raw = t.count(n);
            hours.push(CalibratedHour {
                hour,
                walk_ins: raw,
                walk_ins_calibrated: publish(t, raw, c),
                factor: factor.factor,
                factor_low: factor.low,
                factor_high: factor.high,
                factor_source: source,
            });
        }
        // The store's raw walk-ins are its totals row's, the figure the report's totals table
        // shows (with noise on, a sum of the noisy hours would be a second, different figure).
        let raw = t.count(r.metrics.walk_ins);
        let c = total.unwrap_or(Calibrated { value: 0.0, low: 0.0, high: 0.0, source: Source::Store });
        stores.push(CalibratedStore { store: r.store.clone(), walk_ins: raw, walk_ins_calibrated: publish(t, raw, c), hours });
    }
    PublishedCalibration { window_s: fit.window_s, min_intervals: fit.min_intervals, stores, uncalibrated_stores: uncalibrated }
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::metrics::Metrics;
    use footfall_transforms::aggregate::Row;
    use footfall_transforms::calibrate::{Factor, HourFactor, StoreFit};

    fn row(store: &str, hour: Option<u8>, walk_ins: u64) -> Row {
        Row { store: store.into(), date: Some("2026-03-02".into()), hour, metrics: Metrics { walk_ins, ..Metrics::default() } }
    }

    fn factor(f: f64) -> Factor {
        Factor { factor: f, low: f - 0.5, high: f + 0.5, intervals: 10, estimated: 10.0, counted: 10.0 * f }
    }

    #[test]
    fn scales_each_hour_by_its_factor_and_thresholds() {
        let agg = Aggregates {
            totals: vec![row("s1", None, 23), row("s2", None, 9), row("*", None, 32)],
            daily: vec![],
            // Hour 10 twice (two days), hour 11 with 3 walk-ins (below k = 5), hour 12.
            hourly: vec![
                row("s1", Some(10), 6),
                row("s1", Some(10), 4),
                row("s1", Some(11), 3),
                row("s1", Some(12), 10),
                row("s2", Some(10), 9),
            ],
        };
        let fit = SavedFit {
            window_s: 300,
            min_intervals: 6,
            from_ms: 0,
            to_ms: 1,
            stores: vec![StoreFit {
                store: "s1".into(),
                overall: factor(2.0),
                hours: vec![HourFactor { hour: 10, factor: factor(1.5), source: Source::Hour, intervals: 12 }],
                shares: vec![],
            }],
        };
        let p = calibration(&agg, &fit, Threshold::new(5));
        assert_eq!(p.uncalibrated_stores, ["s2"]);
        let s1 = &p.stores[0];
        assert_eq!(s1.hours.iter().map(|h| h.hour).collect::<Vec<_>>(), [10, 11, 12]);
        let h10 = &s1.hours[0];
        assert_eq!((h10.walk_ins, h10.walk_ins_calibrated.value, h10.factor_source), (Some(10), Some(15.0), Source::Hour));
        assert_eq!((h10.walk_ins_calibrated.low, h10.walk_ins_calibrated.high), (Some(10.0), Some(20.0)));
        // Three walk-ins are suppressed, and so is what is computed from them.
        assert_eq!((s1.hours[1].walk_ins, s1.hours[1].walk_ins_calibrated), (None, PublishedCalibrated::default()));
        assert_eq!((s1.hours[2].walk_ins_calibrated.value, s1.hours[2].factor_source), (Some(20.0), Source::Store));
        // The total sums every hour, the suppressed one included: 15 + 6 + 20.
        assert_eq!((s1.walk_ins, s1.walk_ins_calibrated.value), (Some(23), Some(41.0)));
        assert_eq!(s1.walk_ins_calibrated.low, Some(10.0 + 4.5 + 15.0));
    }
}
