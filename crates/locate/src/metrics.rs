//! How good a model is on labelled test samples: building hit, floor hit, zone accuracy,
//! position error in metres (mean, median, 75th percentile), and the EvAAL/IPIN-competition
//! style score, where each sample's error is its distance plus 4 m per floor of difference and
//! 50 m for a wrong building. Also the few-shot split used to measure zone accuracy with 1, 3,
//! 5 or 10 survey scans per zone.
//!
//! This module computes; it prints nothing and reads no file.

use crate::fingerprint::{Label, Sample};
use crate::model::{Estimate, Model, Scratch};
use serde::Serialize;
use std::collections::BTreeMap;

/// EvAAL penalty per floor of difference, in metres.
pub const FLOOR_PENALTY_M: f64 = 4.0;
/// EvAAL penalty for a wrong building, in metres.
pub const BUILDING_PENALTY_M: f64 = 50.0;

/// The summary of one evaluation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Test samples.
    pub n: usize,
    /// Samples the model could not place (nothing in common with the survey).
    pub unplaced: usize,
    pub building_hit: f64,
    /// Floor right and building right.
    pub floor_hit: f64,
    /// Samples with a zone label, and the share placed in that zone.
    pub zone_n: usize,
    pub zone_hit: Option<f64>,
    /// Position error in metres over samples with a position label (unplaced ones excluded).
    pub mean_m: Option<f64>,
    pub median_m: Option<f64>,
    pub p75_m: Option<f64>,
    /// EvAAL-style: error + 4 m × floors off + 50 m × wrong building; mean and 75th percentile.
    pub evaal_mean_m: Option<f64>,
    pub evaal_p75_m: Option<f64>,
}

/// One test sample's outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    pub building_ok: bool,
    pub floor_ok: bool,
    pub zone_ok: Option<bool>,
    pub error_m: Option<f64>,
    pub floors_off: u32,
}

pub fn outcome(truth: &Label, e: &Estimate) -> Outcome {
    let building_ok = e.building == truth.building;
    Outcome {
        building_ok,
        floor_ok: building_ok && e.floor == truth.floor,
        zone_ok: truth.zone.map(|z| e.zone == Some(z)),
        error_m: match (truth.pos, e.pos) {
            (Some(a), Some(b)) => Some(((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()),
            _ => None,
        },
        floors_off: (e.floor as i32 - truth.floor as i32).unsigned_abs(),
    }
}

/// Quantile of sorted values (linear interpolation).
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// Summarize outcomes; `unplaced` samples count as misses everywhere.
pub fn summarize(outcomes: &[Option<Outcome>], truths: &[Label]) -> Summary {
    let n = outcomes.len();
    let frac = |k: usize, of: usize| if of == 0 { 0.0 } else { k as f64 / of as f64 };
    let placed: Vec<&Outcome> = outcomes.iter().flatten().collect();
    let zone_n = truths.iter().filter(|t| t.zone.is_some()).count();
    let mut errs: Vec<f64> = placed.iter().filter_map(|o| o.error_m).collect();
    let mut evaal: Vec<f64> = placed
        .iter()
        .filter_map(|o| o.error_m.map(|e| if o.building_ok { e + FLOOR_PENALTY_M * o.floors_off as f64 } else { e + BUILDING_PENALTY_M }))
        .collect();
    errs.sort_by(f64::total_cmp);
    evaal.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    Summary {
        n,
        unplaced: n - placed.len(),
        building_hit: frac(placed.iter().filter(|o| o.building_ok).count(), n),
        floor_hit: frac(placed.iter().filter(|o| o.floor_ok).count(), n),
        zone_n,
        zone_hit: (zone_n > 0).then(|| frac(placed.iter().filter(|o| o.zone_ok == Some(true)).count(), zone_n)),
        mean_m: mean(&errs),
        median_m: quantile(&errs, 0.5),
        p75_m: quantile(&errs, 0.75),
        evaal_mean_m: mean(&evaal),
        evaal_p75_m: quantile(&evaal, 0.75),
    }
}

/// Locate every test sample and summarize. `progress` is called with the samples done so far.
pub fn evaluate(model: &Model, test: &[Sample], mut progress: impl FnMut(usize)) -> Summary {
    let mut s = Scratch::default();
    let mut outcomes = Vec::with_capacity(test.len());
    for (i, t) in test.iter().enumerate() {
        outcomes.push(model.estimate(&t.fp, &mut s).map(|e| outcome(&t.label, &e)));
        if i % 256 == 255 {
            progress(i + 1);
        }
    }
    progress(test.len());
    let truths: Vec<Label> = test.iter().map(|t| t.label).collect();
    summarize(&outcomes, &truths)
}

/// [`evaluate`] with per-device gain calibration, online and without labels: each device's
/// scans are taken in time order, and its offset (dB) moves by `weight` × the median RSSI
/// difference to the neighbours found ([`Model::gain_offset`]) after each scan; later scans of
/// the device are corrected by it. Phones differ in gain by several dB, which shifts every
/// reading of a fingerprint alike.
pub fn evaluate_calibrated(model: &Model, test: &[Sample], weight: f32, mut progress: impl FnMut(usize)) -> Summary {
    let mut order: Vec<usize> = (0..test.len()).collect();
    order.sort_by_key(|&i| (test[i].device, test[i].time, i));
    let mut s = Scratch::default();
    let mut offsets: BTreeMap<u32, f32> = BTreeMap::new();
    let mut outcomes = vec![None; test.len()];
    for (done, &i) in order.iter().enumerate() {
        let t = &test[i];
        let off = offsets.get(&t.device).copied().unwrap_or(0.0);
        let shifted = crate::Fingerprint(t.fp.0.iter().map(|&(a, r)| (a, r - off)).collect());
        outcomes[i] = model.estimate(&shifted, &mut s).map(|e| outcome(&t.label, &e));
        if let Some(d) = model.gain_offset(&shifted, &mut s) {
            offsets.insert(t.device, off + weight * d);
        }
        if done % 256 == 255 {
            progress(done + 1);
        }
    }
    progress(test.len());
    let truths: Vec<Label> = test.iter().map(|t| t.label).collect();
    summarize(&outcomes, &truths)
}

/// A small deterministic generator (splitmix64) for few-shot draws.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A few-shot split of zone-labelled samples: for each zone, its *surveyor* is the user with
/// the most samples there (ties: the lowest id), and `shots` of the surveyor's samples, drawn
/// with `seed`, are the training set. The test set is the zone's samples taken by *other*
/// users, so no test scan was taken by the same person, phone and minute as a training scan.
/// Zones with one user train but are not tested. Returns (train, test) indexes into `samples`.
pub fn few_shot_split(samples: &[Sample], shots: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut by_zone: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        if let Some(z) = s.label.zone {
            by_zone.entry(z).or_default().push(i);
        }
    }
    let mut rng = SplitMix(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for idx in by_zone.values() {
        let mut per_user: BTreeMap<u32, usize> = BTreeMap::new();
        for &i in idx {
            *per_user.entry(samples[i].user).or_default() += 1;
        }
        let surveyor = per_user.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(u, _)| *u).unwrap_or(0);
        let mut mine: Vec<usize> = idx.iter().copied().filter(|&i| samples[i].user == surveyor).collect();
        for i in (1..mine.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            mine.swap(i, j);
        }
        mine.truncate(shots);
        train.extend(mine);
        test.extend(idx.iter().copied().filter(|&i| samples[i].user != surveyor));
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::Fingerprint;

    fn label(b: u16, f: i16, zone: Option<u32>, pos: (f64, f64)) -> Label {
        Label { building: b, floor: f, zone, pos: Some(pos) }
    }

    fn est(b: u16, f: i16, zone: Option<u32>, pos: (f64, f64)) -> Estimate {
        Estimate { building: b, floor: f, zone, zones: vec![], pos: Some(pos), nearest: 0.0 }
    }

    #[test]
    fn summary_counts_hits_errors_and_evaal_penalties() {
        let truths = [
            label(0, 0, Some(1), (0.0, 0.0)),
            label(0, 1, Some(2), (0.0, 0.0)),
            label(1, 0, None, (0.0, 0.0)),
            label(0, 0, None, (0.0, 0.0)),
        ];
        let outcomes = [
            Some(outcome(&truths[0], &est(0, 0, Some(1), (3.0, 4.0)))), // 5 m, all right
            Some(outcome(&truths[1], &est(0, 3, Some(1), (0.0, 1.0)))), // 1 m, 2 floors off, zone wrong
            Some(outcome(&truths[2], &est(0, 0, None, (0.0, 2.0)))),    // 2 m, wrong building
            None,                                                       // unplaced
        ];
        let s = summarize(&outcomes, &truths);
        assert_eq!((s.n, s.unplaced, s.zone_n), (4, 1, 2));
        assert_eq!(s.building_hit, 0.5);
        assert_eq!(s.floor_hit, 0.25);
        assert_eq!(s.zone_hit, Some(0.5));
        assert!((s.mean_m.unwrap() - 8.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.median_m, Some(2.0));
        // EvAAL: 5, 1 + 8, 2 + 50
        assert!((s.evaal_mean_m.unwrap() - 66.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn gain_offset_measures_a_weaker_phone_and_weight_zero_changes_nothing() {
        use crate::fingerprint::Survey;
        use crate::model::ModelConfig;
        let mut samples = Vec::new();
        for (zone, fp) in [(0u32, vec![(0, -50.0), (1, -60.0), (2, -80.0)]), (1, vec![(0, -85.0), (1, -45.0), (2, -55.0)])] {
            samples.push(Sample {
                fp: Fingerprint(fp),
                label: label(0, 0, Some(zone), (zone as f64 * 10.0, 0.0)),
                device: 0,
                user: 0,
                time: 0,
            });
        }
        let survey = Survey { aps: vec!["a".into(), "b".into(), "c".into()], zones: vec!["0".into(), "1".into()], samples };
        let m = Model::train(ModelConfig { k: 1, ..Default::default() }, &survey).unwrap();
        let weaker = Fingerprint(vec![(0, -58.0), (1, -68.0), (2, -88.0)]);
        assert_eq!(m.gain_offset(&weaker, &mut Scratch::default()), Some(-8.0));
        let test: Vec<Sample> =
            (0..6).map(|i| Sample { fp: weaker.clone(), label: label(0, 0, Some(0), (0.0, 0.0)), device: 3, user: 0, time: i }).collect();
        assert_eq!(evaluate_calibrated(&m, &test, 0.0, |_| {}), evaluate(&m, &test, |_| {}));
        assert_eq!(evaluate_calibrated(&m, &test, 0.5, |_| {}).zone_hit, Some(1.0));
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.75), Some(3.25));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn few_shot_trains_on_the_surveyor_and_tests_on_others() {
        let mut samples = Vec::new();
        for (zone, user, n) in [(0, 1, 8), (0, 2, 3), (1, 3, 4)] {
            for _ in 0..n {
                samples.push(Sample {
                    fp: Fingerprint(vec![(0, -50.0)]),
                    label: label(0, 0, Some(zone), (0.0, 0.0)),
                    device: 0,
                    user,
                    time: 0,
                });
            }
        }
        let (train, test) = few_shot_split(&samples, 5, 1);
        assert_eq!(train.len(), 5 + 4);
        assert!(train.iter().all(|&i| samples[i].user != 2));
        assert_eq!(test.len(), 3);
        assert!(test.iter().all(|&i| samples[i].user == 2));
        assert_ne!(few_shot_split(&samples, 3, 1).0, few_shot_split(&samples, 3, 2).0);
    }
}
