//! Tracks: smoothing a device's zone sequence so a visit gets a plausible path instead of
//! flicker between neighbouring zones.
//!
//! A hidden Markov model over a store's zones, run forward (filtering, so it works on a stream
//! without look-ahead): the hidden state is the zone, the observation is the model's zone
//! probabilities for one window. Between two windows `dt` apart the device stays in its zone
//! with probability `exp(-dt / STAY_S)`, or moves to a zone it can reach on foot: one whose polygon is
//! within `speed_mps × dt` metres of the current one (the [`ZoneGraph`] from the site's
//! polygons). Zones out of reach get only a tiny leak probability, so an impossible jump needs
//! overwhelming evidence. This module holds no clock and knows nothing of devices.

use footfall_core::Millis;
use footfall_core::geometry::Polygon;
use serde::{Deserialize, Serialize};

/// Walking speed limit, metres per second.
pub const SPEED_MPS: f64 = 1.5;
/// Mean time in one zone, seconds: the device stays in its zone for `dt` with probability
/// `exp(-dt / STAY_S)` (0.9 for the pipeline's 10 s windows).
pub const STAY_S: f64 = 95.0;
/// Probability mass leaked to out-of-reach zones (per zone).
const LEAK: f32 = 1e-4;
/// Added to every zone's emission: kNN zone probabilities are over-confident (five neighbours
/// that agree give 1.0), so one window alone must not overrule the track.
const EMISSION_FLOOR: f32 = 0.3;

/// Distances between the zones of one store (0 for touching or overlapping polygons).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneGraph {
    gaps: Vec<Vec<f64>>,
}

fn gap(a: &Polygon, b: &Polygon) -> f64 {
    if a.0.iter().any(|&p| b.contains(p)) || b.0.iter().any(|&p| a.contains(p)) {
        return 0.0;
    }
    let ab = a.0.iter().map(|&p| b.boundary_distance(p)).fold(f64::INFINITY, f64::min);
    let ba = b.0.iter().map(|&p| a.boundary_distance(p)).fold(f64::INFINITY, f64::min);
    ab.min(ba)
}

impl ZoneGraph {
    pub fn new(zones: &[&Polygon]) -> Self {
        let gaps = zones.iter().map(|a| zones.iter().map(|b| gap(a, b)).collect()).collect();
        ZoneGraph { gaps }
    }

    pub fn len(&self) -> usize {
        self.gaps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gaps.is_empty()
    }

    /// Metres between zones `i` and `j`.
    pub fn gap(&self, i: usize, j: usize) -> f64 {
        self.gaps[i][j]
    }
}

/// One device's belief over a store's zones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub t: Millis,
    pub belief: Vec<f32>,
}

impl Track {
    /// No knowledge yet: every zone equally likely.
    pub fn new(zones: usize, t: Millis) -> Self {
        Track { t, belief: vec![1.0 / zones.max(1) as f32; zones] }
    }

    /// Move the belief to time `t` and fold in one window's zone probabilities (`emission`,
    /// one per zone; all zeros means no information). Returns the most probable zone.
    pub fn step(&mut self, g: &ZoneGraph, t: Millis, emission: &[f32]) -> usize {
        let n = self.belief.len();
        let dt_s = (t - self.t).max(0) as f64 / 1000.0;
        let reach = SPEED_MPS * dt_s;
        let stay_p = (-dt_s / STAY_S).exp() as f32;
        let mut next = vec![0.0f32; n];
        for i in 0..n {
            let reachable: Vec<usize> = (0..n).filter(|&j| j != i && g.gap(i, j) <= reach).collect();
            let stay = if reachable.is_empty() { 1.0 } else { stay_p };
            next[i] += self.belief[i] * stay;
            for &j in &reachable {
                next[j] += self.belief[i] * (1.0 - stay) / reachable.len() as f32;
            }
            for v in next.iter_mut() {
                *v += self.belief[i] * LEAK;
            }
        }
        let informative = emission.iter().any(|&e| e > 0.0);
        if informative {
            for (v, &e) in next.iter_mut().zip(emission) {
                *v *= e + EMISSION_FLOOR;
            }
        }
        let sum: f32 = next.iter().sum();
        if sum > 0.0 && sum.is_finite() {
            next.iter_mut().for_each(|v| *v /= sum);
        } else {
            next = vec![1.0 / n.max(1) as f32; n];
        }
        self.belief = next;
        self.t = t;
        self.belief.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0))).map(|(i, _)| i).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three zones in a row, 10 m wide each: a | b | c (a and c are 10 m apart).
    fn graph() -> ZoneGraph {
        let (a, b, c) = (Polygon::rect(0.0, 0.0, 10.0, 5.0), Polygon::rect(10.0, 0.0, 10.0, 5.0), Polygon::rect(20.0, 0.0, 10.0, 5.0));
        ZoneGraph::new(&[&a, &b, &c])
    }

    #[test]
    fn gaps_from_polygons() {
        let g = graph();
        assert_eq!(g.gap(0, 1), 0.0);
        assert!((g.gap(0, 2) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_single_contrary_window_does_not_flip_the_zone() {
        let g = graph();
        let mut t = Track::new(3, 0);
        let a = [0.9, 0.1, 0.0];
        let noisy_b = [0.3, 0.7, 0.0];
        let mut path = Vec::new();
        for (i, e) in [a, a, a, noisy_b, a, a].iter().enumerate() {
            path.push(t.step(&g, i as Millis * 10_000, e));
        }
        assert_eq!(path, vec![0, 0, 0, 0, 0, 0]);
        // Sustained evidence moves it.
        for i in 6..10 {
            path.push(t.step(&g, i * 10_000, &[0.1, 0.9, 0.0]));
        }
        assert_eq!(path[9], 1);
    }

    #[test]
    fn walking_speed_limits_jumps() {
        let g = graph();
        let mut t = Track::new(3, 0);
        for i in 0..3 {
            t.step(&g, i * 1_000, &[0.95, 0.05, 0.0]);
        }
        // One second later the model says c, 10 m away: out of reach at 1.5 m/s.
        assert_eq!(t.step(&g, 3_000, &[0.0, 0.0, 1.0]), 0);
        // With no information, the belief stays.
        assert_eq!(t.step(&g, 4_000, &[0.0, 0.0, 0.0]), 0);
    }
}
