//! The sensor agent's batch: pseudonymous observations on the wire.
//!
//! `footfall sensor` pseudonymizes on the sensor and posts [`SensorBatch`]es to
//! `POST /api/v1/ingest/observations`; the server reads them back. This module owns that
//! JSON shape only (documented in `docs/formats.md`). A batch names its sensor by id (the
//! agent knows no site), so [`WireObservation`] is an [`Observation`] without the sensor
//! index. `(agent, batch)` identifies a batch for deduplication. Nothing here can hold a MAC.

use crate::filter::DropCounts;
use footfall_core::{DeviceId, Observation, RadioKind};
use serde::{Deserialize, Serialize};

/// One batch of one sensor's observations, as the agent spools and sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensorBatch {
    /// The agent's id: unique per agent spool (it names the sequence of `batch`).
    pub agent: String,
    /// The batch's sequence number in the agent's spool: 1, 2, ... (gaps allowed).
    pub batch: u64,
    /// The sensor's id in the site.
    pub sensor: String,
    pub observations: Vec<WireObservation>,
    /// Frames dropped on the sensor by the plausibility filter, by reason.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub dropped: DropCounts,
    /// The key rotation the agent pseudonymized with (`--key-epoch-days`); absent = none.
    /// The server refuses a batch whose rotation is not its own `[privacy] key_epoch_days`:
    /// its pseudonyms would not meet the server's (nor its opt-out registry's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_epoch_days: Option<u32>,
}

fn is_empty(d: &DropCounts) -> bool {
    d.0.is_empty()
}

/// A pseudonymous observation without its sensor (the batch names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireObservation {
    /// UTC milliseconds.
    pub ts: i64,
    /// The keyed pseudonym: 16 hex digits.
    pub device: DeviceId,
    pub rssi: i16,
    pub randomized: bool,
    #[serde(default)]
    pub kind: RadioKind,
    #[serde(default)]
    pub seq: Option<u16>,
    #[serde(default)]
    pub freq: Option<u16>,
    /// Keyed digest of the element fingerprint.
    #[serde(default)]
    pub ie: Option<u64>,
}

impl WireObservation {
    /// The observation's wire form (its sensor index is left behind).
    pub fn from_observation(o: &Observation) -> Self {
        WireObservation {
            ts: o.ts,
            device: o.device,
            rssi: o.rssi,
            randomized: o.randomized,
            kind: o.kind,
            seq: o.seq,
            freq: o.freq,
            ie: o.ie,
        }
    }

    /// Back to an [`Observation`] heard by the sensor with index `sensor`.
    pub fn with_sensor(self, sensor: u16) -> Observation {
        Observation {
            ts: self.ts,
            sensor,
            device: self.device,
            rssi: self.rssi,
            randomized: self.randomized,
            kind: self.kind,
            seq: self.seq,
            freq: self.freq,
            ie: self.ie,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::DropReason;

    #[test]
    fn round_trips_with_the_device_as_hex() {
        let o = Observation { seq: Some(7), freq: Some(2412), ie: Some(u64::MAX), ..Observation::basic(5, 3, DeviceId(0xab), -60) };
        let w = WireObservation::from_observation(&o);
        assert_eq!(w.with_sensor(3), o);
        let mut dropped = DropCounts::default();
        dropped.add(DropReason::GroupAddress, 2);
        let b = SensorBatch { agent: "a".into(), batch: 1, sensor: "s".into(), observations: vec![w], dropped, key_epoch_days: None };
        let j = serde_json::to_string(&b).unwrap();
        assert!(j.contains(r#""device":"00000000000000ab""#), "{j}");
        assert!(!j.contains("key_epoch_days"), "no rotation, no field: {j}");
        let rotated = SensorBatch { key_epoch_days: Some(30), ..b.clone() };
        assert_eq!(serde_json::from_str::<SensorBatch>(&serde_json::to_string(&rotated).unwrap()).unwrap().key_epoch_days, Some(30));
        assert!(j.contains(r#""dropped":{"group_address":2}"#), "{j}");
        assert_eq!(serde_json::from_str::<SensorBatch>(&j).unwrap(), b);
        // Optional fields may be left out.
        let min: SensorBatch = serde_json::from_str(
            r#"{"agent":"a","batch":2,"sensor":"s","observations":[{"ts":1,"device":"00000000000000ab","rssi":-70,"randomized":true}]}"#,
        )
        .unwrap();
        assert_eq!(min.observations[0].kind, RadioKind::Wifi);
        assert!(min.dropped.0.is_empty());
    }
}
