//! How an RSSI reading becomes a feature, and what a signal that was not heard is.
//!
//! **Missing signals.** A signal that was not heard is *weaker than anything heard*, never
//! stronger: FIND3 writes 0 dBm for it, which claims the strongest possible reading. Here every
//! reading is first made positive against a floor below the weakest reading a receiver reports
//! (`floor_dbm`, default -105 dBm; UJIIndoorLoc's weakest is -104 dBm): `p = max(rssi - floor, 0)`,
//! so not heard is exactly 0 and weaker readings are nearer to it.
//!
//! **Transforms** (Torres-Sospedra et al., "Comprehensive analysis of distance and similarity
//! measures for Wi-Fi fingerprinting indoor positioning systems", 2015), scaled to 0..1:
//! `Positive` is `p / -floor`; `Exponential` is `exp(p / alpha) / exp(-floor / alpha)`;
//! `Powed` (the default) is `(p / -floor)^beta` with `beta = e`. Powed and exponential shrink the
//! weak readings, whose dB values are the noisiest and most device-dependent, and keep the
//! strong ones that say where the phone is. This module knows nothing of distances or models.
//!
//! **Device gain.** Phones and sensors differ in gain by several dB, a shift of every reading
//! alike. The representation does not remove it; per-device offsets are estimated online from
//! the differences to the nearest survey samples (`Model::gain_offset`,
//! `metrics::evaluate_calibrated`) and subtracted before the transform.

use serde::{Deserialize, Serialize};

/// A transform of positive RSSI (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Representation {
    Positive { floor_dbm: f32 },
    Exponential { floor_dbm: f32, alpha: f32 },
    Powed { floor_dbm: f32, beta: f32 },
}

impl Default for Representation {
    fn default() -> Self {
        Representation::Powed { floor_dbm: -105.0, beta: std::f32::consts::E }
    }
}

impl Representation {
    pub fn floor_dbm(&self) -> f32 {
        match *self {
            Representation::Positive { floor_dbm }
            | Representation::Exponential { floor_dbm, .. }
            | Representation::Powed { floor_dbm, .. } => floor_dbm,
        }
    }

    /// The feature of a heard reading, in 0..=1 (0 only for readings at or below the floor).
    pub fn feature(&self, rssi_dbm: f32) -> f32 {
        let floor = self.floor_dbm();
        let p = (rssi_dbm - floor).max(0.0);
        let span = -floor;
        let v = match *self {
            Representation::Positive { .. } => p / span,
            Representation::Exponential { alpha, .. } => {
                if p == 0.0 {
                    0.0
                } else {
                    (p / alpha).exp() / (span / alpha).exp()
                }
            }
            Representation::Powed { beta, .. } => (p / span).powf(beta),
        };
        v.clamp(0.0, 1.0)
    }

    /// Check the parameters (a floor below 0 dBm, positive exponents).
    pub fn validate(&self) -> Result<(), String> {
        let floor = self.floor_dbm();
        if !(floor < 0.0 && floor > -200.0) {
            return Err(format!("floor_dbm must be between -200 and 0, not {floor}"));
        }
        match *self {
            Representation::Exponential { alpha, .. } if alpha.is_nan() || alpha <= 0.0 => {
                Err(format!("alpha must be positive, not {alpha}"))
            }
            Representation::Powed { beta, .. } if beta.is_nan() || beta <= 0.0 => Err(format!("beta must be positive, not {beta}")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_heard_is_weaker_than_any_reading_and_order_is_kept() {
        for r in [
            Representation::default(),
            Representation::Positive { floor_dbm: -105.0 },
            Representation::Exponential { floor_dbm: -105.0, alpha: 24.0 },
        ] {
            let weakest = r.feature(-104.0);
            assert!(weakest > 0.0, "{r:?}");
            assert!(r.feature(-60.0) > r.feature(-80.0), "{r:?}");
            assert!(r.feature(-30.0) <= 1.0);
            assert_eq!(r.feature(-110.0), 0.0);
        }
    }

    #[test]
    fn powed_shrinks_weak_readings() {
        let r = Representation::default();
        let ratio_weak = r.feature(-95.0) / r.feature(-85.0);
        let ratio_pos =
            Representation::Positive { floor_dbm: -105.0 }.feature(-95.0) / Representation::Positive { floor_dbm: -105.0 }.feature(-85.0);
        assert!(ratio_weak < ratio_pos);
    }
}
