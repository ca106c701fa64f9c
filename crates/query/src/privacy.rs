//! The k-threshold of published figures: a count of fewer than k devices (but more than
//! zero) is suppressed, and so is every rate or median computed from it.
//!
//! Owns the threshold's value and its rule; every figure the API publishes goes through
//! [`Threshold::count`] (or a helper built on it). It must not decide *what* is counted.

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
}
