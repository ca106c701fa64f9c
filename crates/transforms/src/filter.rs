//! Plausibility filter: what is dropped before the pipeline, and why.
//!
//! Group (multicast/broadcast) source addresses are not devices; RSSI above 0 dBm or below
//! -120 dBm is not a real reading; a sensor the site does not know cannot be placed. This
//! module owns those rules and the [`DropCounts`] every stage adds to. It does not decide
//! anything about people (fixed or staff devices are the `exclude` transform's job).

use footfall_core::RawObservation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MIN_RSSI: i16 = -120;
pub const MAX_RSSI: i16 = 0;

/// Why an observation was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    GroupAddress,
    ImplausibleRssi,
    UnknownSensor,
    Late,
    /// The device's owner opted out (see `optout`): nothing of it is kept.
    OptedOut,
}

impl DropReason {
    pub const ALL: [DropReason; 5] =
        [DropReason::GroupAddress, DropReason::ImplausibleRssi, DropReason::UnknownSensor, DropReason::Late, DropReason::OptedOut];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::GroupAddress => "group_address",
            DropReason::ImplausibleRssi => "implausible_rssi",
            DropReason::UnknownSensor => "unknown_sensor",
            DropReason::Late => "late",
            DropReason::OptedOut => "opted_out",
        }
    }
}

/// Counts of dropped observations by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounts(pub BTreeMap<DropReason, u64>);

impl DropCounts {
    pub fn add(&mut self, r: DropReason, n: u64) {
        if n > 0 {
            *self.0.entry(r).or_default() += n;
        }
    }
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
    pub fn merge(&mut self, other: &DropCounts) {
        for (r, n) in &other.0 {
            self.add(*r, *n);
        }
    }
}

/// Whether a raw observation is plausible; the reason when it is not.
pub fn check(raw: &RawObservation<'_>) -> Result<(), DropReason> {
    if raw.mac.is_group() {
        return Err(DropReason::GroupAddress);
    }
    if raw.rssi > MAX_RSSI || raw.rssi < MIN_RSSI {
        return Err(DropReason::ImplausibleRssi);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::{MacAddr, RadioKind};

    fn raw(mac: &str, rssi: i16) -> RawObservation<'static> {
        RawObservation {
            ts: 0,
            sensor: "s",
            mac: MacAddr::parse(mac).unwrap(),
            rssi,
            freq: None,
            seq: None,
            ie: None,
            kind: RadioKind::Wifi,
        }
    }

    #[test]
    fn drops_group_and_implausible() {
        assert_eq!(check(&raw("ff:ff:ff:ff:ff:ff", -50)), Err(DropReason::GroupAddress));
        assert_eq!(check(&raw("01:00:5e:00:00:01", -50)), Err(DropReason::GroupAddress));
        assert_eq!(check(&raw("00:11:22:33:44:55", 15)), Err(DropReason::ImplausibleRssi));
        assert_eq!(check(&raw("00:11:22:33:44:55", -121)), Err(DropReason::ImplausibleRssi));
        assert_eq!(check(&raw("02:11:22:33:44:55", 0)), Ok(()));
        assert_eq!(check(&raw("00:11:22:33:44:55", -120)), Ok(()));
    }
}
