//! Exclude: which devices are not shoppers.
//!
//! Two documented rules, applied to [`DayActivity`] records (see `docs/formats.md` and the
//! config defaults in [`ExcludeConfig`]):
//! - **fixed**: heard in at least `fixed_min_hours` distinct local hours of some day
//!   (computers, printers, POS terminals, the sensors' neighbours);
//! - **staff**: a globally unique device whose first-to-last presence spans at least
//!   `staff_min_hours` on at least `staff_min_days` days, and on at least
//!   `staff_min_share` of the days it was seen. Randomized MACs are never followed across
//!   days, so the staff rule does not apply to them.
//!
//! This module decides membership only; filtering visits is the caller's job.

use crate::activity::DayActivity;
use crate::config::ExcludeConfig;
use footfall_core::DeviceId;
use footfall_core::time::HOUR;
use std::collections::{HashMap, HashSet};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Excluded {
    pub fixed: HashSet<DeviceId>,
    pub staff: HashSet<DeviceId>,
}

impl Excluded {
    pub fn contains(&self, d: &DeviceId) -> bool {
        self.fixed.contains(d) || self.staff.contains(d)
    }
}

pub fn decide(cfg: &ExcludeConfig, days: &[DayActivity]) -> Excluded {
    let mut out = Excluded::default();
    let mut per_device: HashMap<DeviceId, (u32, u32)> = HashMap::new();
    let long = (cfg.staff_min_hours * HOUR as f64) as i64;
    for d in days {
        if d.hours() >= cfg.fixed_min_hours {
            out.fixed.insert(d.device);
        }
        if !d.randomized {
            let e = per_device.entry(d.device).or_default();
            e.0 += 1;
            if d.last - d.first >= long {
                e.1 += 1;
            }
        }
    }
    for (dev, (seen, long_days)) in per_device {
        if out.fixed.contains(&dev) {
            continue;
        }
        if long_days >= cfg.staff_min_days && long_days as f64 >= cfg.staff_min_share * seen as f64 {
            out.staff.insert(dev);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(device: u64, day: i32, hours: std::ops::Range<u32>, randomized: bool) -> DayActivity {
        let mask = hours.clone().fold(0u32, |m, h| m | 1 << h);
        let base = day as i64 * 24 * HOUR;
        DayActivity {
            device: DeviceId(device),
            day,
            hours_mask: mask,
            first: base + hours.start as i64 * HOUR,
            last: base + hours.end as i64 * HOUR - 1,
            randomized,
        }
    }

    #[test]
    fn fixed_staff_and_shoppers() {
        let cfg = ExcludeConfig::default();
        let days = vec![
            day(1, 0, 0..24, false), // fixed
            day(2, 0, 9..18, false), // staff: two long days of three
            day(2, 1, 9..18, false),
            day(2, 2, 12..13, false),
            day(3, 0, 10..12, false), // shopper
            day(4, 0, 9..18, true),   // randomized: never staff
            day(4, 1, 9..18, true),
            day(5, 0, 9..18, false), // one long day only
        ];
        let ex = decide(&cfg, &days);
        assert_eq!(ex.fixed, HashSet::from([DeviceId(1)]));
        assert_eq!(ex.staff, HashSet::from([DeviceId(2)]));
    }
}
