//! A tiny deterministic random number generator (xoshiro256** seeded by SplitMix64) and the
//! few distributions the simulator draws from.
//!
//! This module owns reproducibility: the same seed gives the same stream on every run, so the
//! simulator's outputs are byte-for-byte repeatable. It must not read the clock, the OS entropy
//! pool or any global state, and it is not meant for anything cryptographic.

/// One step of SplitMix64: advances `state` and returns a well-mixed 64-bit value.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** with a cached second Box-Muller normal.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
    spare: Option<f64>,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        let s = [splitmix64(&mut st), splitmix64(&mut st), splitmix64(&mut st), splitmix64(&mut st)];
        Self { s, spare: None }
    }

    /// An independent stream for a path of labels (e.g. `[TAG, day, index]`), so that adding a
    /// draw in one stream does not shift any other.
    pub fn derive(seed: u64, path: &[u64]) -> Self {
        let mut st = seed;
        let mut h = splitmix64(&mut st);
        for &p in path {
            st = h ^ p.wrapping_mul(0xD6E8_FEB8_6659_FD93);
            h = splitmix64(&mut st);
        }
        Self::new(h)
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Normal(mean, sd) by Box-Muller; the second value of each pair is kept for the next call.
    pub fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let z = match self.spare.take() {
            Some(z) => z,
            None => {
                let u1 = 1.0 - self.uniform(); // (0, 1]
                let u2 = self.uniform();
                let r = (-2.0 * u1.ln()).sqrt();
                let a = std::f64::consts::TAU * u2;
                self.spare = Some(r * a.sin());
                r * a.cos()
            }
        };
        mean + sd * z
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.uniform()).ln()
    }

    /// Lognormal given its median and the sigma of the underlying normal.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * self.normal(0.0, sigma).exp()
    }

    /// Index drawn with probability proportional to `weights` (non-negative, not all zero;
    /// otherwise the last index).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.uniform() * total;
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_and_distinct_streams() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(42);
                move |_| r.next_u64()
            })
            .collect();
        let mut r = Rng::new(42);
        assert!(a.iter().all(|&v| v == r.next_u64()));
        assert_ne!(Rng::derive(42, &[1, 2]).next_u64(), Rng::derive(42, &[2, 1]).next_u64());
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut r = Rng::new(7);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal(3.0, 2.0)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 3.0).abs() < 0.1 && (var.sqrt() - 2.0).abs() < 0.1, "{mean} {var}");
        let e = (0..n).map(|_| r.exponential(5.0)).sum::<f64>() / n as f64;
        assert!((e - 5.0).abs() < 0.2, "{e}");
        let mut l: Vec<f64> = (0..n).map(|_| r.lognormal(40.0, 0.7)).collect();
        l.sort_by(f64::total_cmp);
        assert!((l[n / 2] - 40.0).abs() < 2.0, "{}", l[n / 2]);
        let mut counts = [0u32; 3];
        for _ in 0..n {
            counts[r.weighted(&[1.0, 0.0, 3.0])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((counts[2] as f64 / n as f64 - 0.75).abs() < 0.02);
        assert!((0..1000).all(|_| r.below(7) < 7) && r.below(0) == 0);
        assert!((0..1000).map(|_| r.range(2.0, 3.0)).all(|x| (2.0..3.0).contains(&x)));
    }
}
