//! The radio model: log-distance path loss, wall attenuation, shadowing noise and receiver
//! sensitivity, deciding which sensors hear a frame and at what RSSI.
//!
//! This module owns the constants of the model and nothing else: it takes places and
//! distances and returns dBm. It must not know about people, time or MAC addresses.

use crate::layout::{Layout, Place};
use crate::rng::Rng;

/// RSSI at 1 m, dBm.
pub const RSSI_AT_1M_DBM: f64 = -40.0;
/// Path-loss slope per decade of distance, dB (10 × exponent 2.7).
pub const PATH_LOSS_DB_PER_DECADE: f64 = 27.0;
/// Attenuation of one wall (a façade or a side wall between neighbouring stores), dB.
pub const WALL_DB: f64 = 10.0;
/// Cap on side-wall attenuation between stores on the same side, dB.
pub const MAX_SIDE_WALLS_DB: f64 = 30.0;
/// Standard deviation of per-frame shadowing noise, dB.
pub const SHADOWING_SD_DB: f64 = 3.5;
/// Standard deviation of the fixed per-device gain offset, dB.
pub const DEVICE_OFFSET_SD_DB: f64 = 2.0;
/// Receiver sensitivity: frames below this are not heard, dBm.
pub const SENSITIVITY_DBM: f64 = -90.0;

/// Walls between a device at `device` and a sensor in store `sensor_store`, dB.
pub fn walls_db(layout: &Layout, device: Place, sensor_store: u16) -> f64 {
    match device {
        Place::Corridor => WALL_DB,
        Place::Store(s) if s == sensor_store => 0.0,
        Place::Store(s) => {
            let (a, b) = (&layout.stores[s as usize], &layout.stores[sensor_store as usize]);
            if a.north != b.north {
                2.0 * WALL_DB
            } else {
                let k = ((a.x0 - b.x0).abs() / crate::layout::STORE_WIDTH).round();
                (WALL_DB * k).min(MAX_SIDE_WALLS_DB)
            }
        }
    }
}

/// Mean RSSI at distance `d` m behind `walls` dB, before device offset and noise.
pub fn mean_rssi(d: f64, walls: f64) -> f64 {
    RSSI_AT_1M_DBM - PATH_LOSS_DB_PER_DECADE * d.max(1.0).log10() - walls
}

/// Draw the heard RSSI around `mean` (device offset included): `None` when below
/// sensitivity. Means far below sensitivity (more than 5 sd) skip the draw.
pub fn sample_rssi(mean: f64, rng: &mut Rng) -> Option<i16> {
    if mean + 5.0 * SHADOWING_SD_DB < SENSITIVITY_DBM {
        return None;
    }
    let r = (mean + rng.normal(0.0, SHADOWING_SD_DB)).round();
    (r >= SENSITIVITY_DBM).then_some(r as i16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walls_follow_the_rules() {
        let l = Layout::new(10, "UTC").unwrap();
        assert_eq!(walls_db(&l, Place::Store(0), 0), 0.0);
        assert_eq!(walls_db(&l, Place::Corridor, 3), 10.0);
        assert_eq!(walls_db(&l, Place::Store(0), 2), 10.0);
        assert_eq!(walls_db(&l, Place::Store(0), 4), 20.0);
        assert_eq!(walls_db(&l, Place::Store(0), 8), 30.0);
        assert_eq!(walls_db(&l, Place::Store(0), 7), 20.0);
        assert_eq!(walls_db(&l, Place::Store(1), 0), 20.0);
    }

    #[test]
    fn path_loss_and_sensitivity() {
        assert_eq!(mean_rssi(0.2, 0.0), -40.0);
        assert!((mean_rssi(10.0, 10.0) + 77.0).abs() < 1e-9);
        let mut rng = Rng::new(3);
        assert_eq!(sample_rssi(-120.0, &mut rng), None);
        let heard: Vec<i16> = (0..1000).filter_map(|_| sample_rssi(-88.0, &mut rng)).collect();
        assert!(heard.iter().all(|&r| r >= -90) && heard.len() > 500 && heard.len() < 900);
    }
}
