//! Optional differential-privacy noise on published counts: the two-sided geometric
//! mechanism (the discrete Laplace), with a documented epsilon per published count.
//!
//! Owns drawing the noise and applying it to the report's raw [`Aggregates`] (counts first,
//! then the rates computed from them again, so a rate never reveals an exact count). The
//! k-threshold is applied afterwards, to the noisy counts ([`crate::published`]). The noise of
//! a cell is a deterministic function of a secret noise key, the cell's label and its true
//! count: asking again for the same data gives the same answer (no averaging the noise away),
//! and a changed count draws fresh noise (no differencing two releases to the exact change).
//! It must not decide what is counted, nor suppress anything itself.
//!
//! Medians (dwell) are not counts and are published without noise: they are not covered by
//! epsilon (see docs/privacy.md).

use footfall_core::metrics::Metrics;
use footfall_transforms::aggregate::{Aggregates, Row};

/// The smallest and largest accepted epsilon per count. Below 0.01 the noise (a standard
/// deviation over 140) drowns every store's figures; above 10 it is below one in ten
/// thousand and protects nothing.
pub const EPSILON_RANGE: (f64, f64) = (0.01, 10.0);

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("epsilon {0} is outside {min}..={max}", min = EPSILON_RANGE.0, max = EPSILON_RANGE.1)]
pub struct BadEpsilon(pub f64);

/// The two-sided geometric mechanism for counts of sensitivity 1 (one person changes a count
/// by at most one): `P(noise = x)` is proportional to `exp(-epsilon * |x|)`.
#[derive(Clone, Copy)]
pub struct Noise {
    epsilon: f64,
    /// `exp(-epsilon)`.
    alpha: f64,
    key: [u8; 32],
}

impl std::fmt::Debug for Noise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Noise").field("epsilon", &self.epsilon).finish_non_exhaustive()
    }
}

impl Noise {
    /// Noise of `epsilon` per count, its draws keyed by a key derived from `deployment_key`
    /// (so nobody without the key can predict or remove it).
    pub fn new(epsilon: f64, deployment_key: &[u8; 32]) -> Result<Noise, BadEpsilon> {
        if !(EPSILON_RANGE.0..=EPSILON_RANGE.1).contains(&epsilon) {
            return Err(BadEpsilon(epsilon));
        }
        let key = blake3::derive_key("footfall 2026 published-count noise", deployment_key);
        Ok(Noise { epsilon, alpha: (-epsilon).exp(), key })
    }

    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The variance of one count's noise: `2 alpha / (1 - alpha)^2`.
    pub fn variance(&self) -> f64 {
        2.0 * self.alpha / (1.0 - self.alpha).powi(2)
    }

    /// `n` plus its noise, clamped at zero. `cell` names the published cell (store, period,
    /// figure) so different cells draw independent noise.
    pub fn count(&self, cell: &str, n: u64) -> u64 {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(cell.as_bytes());
        h.update(&[0]);
        h.update(&n.to_le_bytes());
        let mut stream = h.finalize_xof();
        let mut draw = || {
            let mut b = [0u8; 8];
            stream.fill(&mut b);
            // A uniform in (0, 1]: 53 random bits, never zero.
            ((u64::from_le_bytes(b) >> 11) + 1) as f64 / (1u64 << 53) as f64
        };
        // The difference of two geometric variables of success probability 1 - alpha is
        // two-sided geometric with parameter alpha.
        let geometric = |u: f64| (u.ln() / self.alpha.ln()).floor() as i64;
        let x = geometric(draw()) - geometric(draw());
        (n as i64).saturating_add(x).max(0) as u64
    }

    /// Every count of the report's aggregates replaced by its noisy value, and the rates
    /// recomputed from the noisy counts.
    pub fn aggregates(&self, a: &Aggregates) -> Aggregates {
        let rows = |part: &str, rows: &[Row]| -> Vec<Row> {
            rows.iter()
                .map(|r| {
                    let label = format!("{part}|{}|{}|{}", r.store, r.date.as_deref().unwrap_or(""), r.hour.map(i32::from).unwrap_or(-1));
                    Row { metrics: self.metrics(&label, &r.metrics), ..r.clone() }
                })
                .collect()
        };
        Aggregates { totals: rows("totals", &a.totals), daily: rows("daily", &a.daily), hourly: rows("hourly", &a.hourly) }
    }

    fn metrics(&self, label: &str, m: &Metrics) -> Metrics {
        let c = |field: &str, n: u64| self.count(&format!("{label}|{field}"), n);
        let ins = c("walk_ins", m.walk_ins);
        let bys = c("walk_bys", m.walk_bys);
        let devices = c("unique_devices", m.unique_devices);
        let buckets = [0, 1, 2, 3].map(|i| c(&format!("dwell{i}"), m.dwell_buckets[i]));
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let zones = m
            .zones
            .iter()
            .map(|(id, z)| {
                let visits = c(&format!("zone|{id}"), z.visits);
                let exposure = ratio(visits, ins).unwrap_or(0.0).min(1.0);
                (id.clone(), footfall_core::metrics::ZoneMetrics { exposure, median_dwell_s: z.median_dwell_s, visits })
            })
            .collect();
        Metrics {
            walk_ins: ins,
            walk_bys: bys,
            capture_rate: ratio(ins, ins + bys),
            visits_present: c("visits_present", m.visits_present),
            unique_devices: devices,
            dwell_buckets: buckets,
            median_dwell_s: m.median_dwell_s,
            bounce_rate: ratio(buckets[0], ins).map(|r| r.min(1.0)),
            new_devices: c("new_devices", m.new_devices),
            returning_devices: c("returning_devices", m.returning_devices),
            untracked_devices: c("untracked_devices", m.untracked_devices),
            visit_frequency: ratio(ins, devices),
            zones,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(epsilon: f64) -> Noise {
        Noise::new(epsilon, &[7; 32]).unwrap()
    }

    #[test]
    fn epsilon_outside_the_documented_range_is_refused() {
        assert_eq!(Noise::new(0.0, &[0; 32]).unwrap_err(), BadEpsilon(0.0));
        assert!(Noise::new(11.0, &[0; 32]).is_err());
        assert!(Noise::new(f64::NAN, &[0; 32]).is_err());
        assert!(Noise::new(0.5, &[0; 32]).is_ok());
    }

    #[test]
    fn draws_follow_the_two_sided_geometric_law() {
        // Far from zero (no clamping), over many cells: mean 0, the documented variance, and
        // P(noise = 0) = (1 - alpha) / (1 + alpha).
        for epsilon in [0.5, 1.0, 2.0] {
            let n = noise(epsilon);
            let draws: Vec<f64> = (0..40_000).map(|i| n.count(&format!("cell{i}"), 1000) as f64 - 1000.0).collect();
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / draws.len() as f64;
            let zero = draws.iter().filter(|&&x| x == 0.0).count() as f64 / draws.len() as f64;
            let alpha = (-epsilon).exp();
            let se = (n.variance() / draws.len() as f64).sqrt();
            assert!(mean.abs() < 4.0 * se, "epsilon {epsilon}: mean {mean}");
            assert!((var / n.variance() - 1.0).abs() < 0.06, "epsilon {epsilon}: variance {var} vs {}", n.variance());
            assert!((zero - (1.0 - alpha) / (1.0 + alpha)).abs() < 0.015, "epsilon {epsilon}: P(0) {zero}");
        }
    }

    #[test]
    fn the_same_cell_and_count_give_the_same_answer_and_the_key_matters() {
        let n = noise(0.5);
        assert_eq!(n.count("s1|walk_ins", 40), n.count("s1|walk_ins", 40));
        let cells = |n: &Noise| (0..64).map(|i| n.count(&format!("c{i}"), 40)).collect::<Vec<_>>();
        assert_ne!(cells(&n), cells(&Noise::new(0.5, &[8; 32]).unwrap()), "another key, other draws");
        assert!(cells(&n).iter().any(|&x| x != 40), "some noise at all");
    }

    #[test]
    fn counts_are_clamped_at_zero() {
        // A true zero stays zero whenever the noise is not positive: P = 1 / (1 + alpha).
        let n = noise(1.0);
        let zeros = (0..20_000).filter(|i| n.count(&format!("z{i}"), 0) == 0).count() as f64 / 20_000.0;
        assert!((zeros - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 0.015, "P(0) {zeros}");
    }

    #[test]
    fn rates_come_from_the_noisy_counts() {
        let m = Metrics {
            walk_ins: 50,
            walk_bys: 150,
            capture_rate: Some(0.25),
            unique_devices: 40,
            dwell_buckets: [10, 20, 15, 5],
            ..Default::default()
        };
        let a = Aggregates { totals: vec![Row { store: "s1".into(), date: None, hour: None, metrics: m }], ..Default::default() };
        let noisy = noise(0.3).aggregates(&a).totals.remove(0).metrics;
        let (i, b) = (noisy.walk_ins as f64, noisy.walk_bys as f64);
        assert_eq!(noisy.capture_rate, Some(i / (i + b)));
        assert_eq!(noisy.bounce_rate, Some((noisy.dwell_buckets[0] as f64 / i).min(1.0)));
        assert_eq!(noisy.visit_frequency, Some(i / noisy.unique_devices as f64));
    }
}
