//! The k-threshold of published figures: a count of fewer than k devices (but more than
//! zero) is suppressed, and so is every rate or median computed from it.
//!
//! Owns the threshold's value and its rule, and [`Release`]: the threshold together with the
//! optional differential-privacy noise, through which every figure the API publishes goes
//! (noise first, then the threshold on the noisy count). It must not decide *what* is counted.

use crate::noise::Noise;
use serde::{Deserialize, Serialize};

/// The default and smallest k of published report and API figures: configurable upward only.
pub const MIN_K: u64 = 5;
pub const DEFAULT_K: u64 = MIN_K;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Threshold {
    k: u64,
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold::DEFAULT
    }
}

impl Threshold {
    /// The default threshold ([`DEFAULT_K`]).
    pub const DEFAULT: Threshold = Threshold { k: DEFAULT_K };

    /// A threshold of `k`, raised to [`MIN_K`] if lower.
    pub fn new(k: u64) -> Self {
        Threshold { k: k.max(MIN_K) }
    }

    pub fn k(self) -> u64 {
        self.k
    }

    /// Whether a count of `n` may be published: zero, or at least k.
    pub fn allows(self, n: u64) -> bool {
        n == 0 || n >= self.k
    }

    /// `Some(n)` when publishable, `None` (suppressed) otherwise.
    pub fn count(self, n: u64) -> Option<u64> {
        self.allows(n).then_some(n)
    }

    /// A value derived from counts, published only when all of them are publishable.
    pub fn derived<T>(self, from: &[u64], value: Option<T>) -> Option<T> {
        if from.iter().all(|&n| self.allows(n)) { value } else { None }
    }
}

/// How a figure is released: its count made noisy when differential-privacy noise is on
/// (`[privacy] epsilon`), then k-thresholded. A rate is computed from the noisy counts; a
/// median (not a count, not covered by epsilon) is published only when both the true and the
/// noisy count of what it is the median of reach k.
#[derive(Clone, Copy, Debug, Default)]
pub struct Release {
    pub threshold: Threshold,
    pub noise: Option<Noise>,
}

impl Release {
    /// The threshold alone, without noise.
    pub fn exact(threshold: Threshold) -> Release {
        Release { threshold, noise: None }
    }

    pub fn k(&self) -> u64 {
        self.threshold.k()
    }

    /// Epsilon per count when noise is on.
    pub fn epsilon(&self) -> Option<f64> {
        self.noise.as_ref().map(Noise::epsilon)
    }

    /// Count `n` of `figure` in `cell` (a store and a period or range, see
    /// [`crate::views::cell`]) as released, before the threshold: `n` itself without noise.
    /// The same cell, figure and count always get the same noise; any other, independent noise.
    pub fn noisy(&self, cell: &str, figure: &str, n: u64) -> u64 {
        self.noise.as_ref().map_or(n, |z| z.count(&format!("{cell}|{figure}"), n))
    }

    /// Count `n` of `figure` in `cell` as published: noisy, then `None` below k.
    pub fn count(&self, cell: &str, figure: &str, n: u64) -> Option<u64> {
        self.threshold.count(self.noisy(cell, figure, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppresses_small_nonzero_counts_and_what_derives_from_them() {
        let t = Threshold::new(5);
        assert_eq!(Threshold::default(), t);
        assert_eq!([0, 1, 4, 5, 6].map(|n| t.count(n)), [Some(0), None, None, Some(5), Some(6)]);
        assert_eq!(t.derived(&[10, 3], Some(0.3)), None);
        assert_eq!(t.derived(&[10, 0], Some(1.0)), Some(1.0));
        assert_eq!(Threshold::new(0).k(), MIN_K);
    }

    #[test]
    fn a_release_without_noise_is_the_threshold_and_with_noise_thresholds_the_noisy_count() {
        let exact = Release::exact(Threshold::new(5));
        assert_eq!([0, 4, 5, 9].map(|n| exact.count("c", "f", n)), [Some(0), None, Some(5), Some(9)]);
        assert_eq!(exact.epsilon(), None);
        let noisy = Release { threshold: Threshold::new(5), noise: Some(Noise::new(0.1, &[3; 32]).unwrap()) };
        assert_eq!(noisy.epsilon(), Some(0.1));
        let (mut moved, mut differ) = (0, 0);
        for i in 0..200 {
            let cell = format!("cell {i}");
            let n = noisy.noisy(&cell, "f", 50);
            assert_eq!(n, noisy.noisy(&cell, "f", 50), "the same cell and count repeat exactly");
            assert_eq!(noisy.count(&cell, "f", 50), Some(n).filter(|&n| n == 0 || n >= 5));
            moved += usize::from(n != 50);
            differ += usize::from(n != noisy.noisy(&format!("other {i}"), "f", 50));
        }
        assert!(moved > 150 && differ > 150, "noise at epsilon 0.1 moves most counts ({moved}), independently per cell ({differ})");
    }
}
