//! What sensors report: one frame heard by one sensor.
//!
//! [`RawObservation`] is what a source emits; it borrows the sensor name and carries the raw
//! MAC, so it can only live inside a source callback. No sink accepts it: there is no
//! `Serialize` on it and the store's API takes only [`Observation`] and later types.
//! [`Observation`] is the pseudonymous form, built by the pseudonymizer. This module must not
//! know about stores, zones or visits.

use crate::device::DeviceId;
use crate::mac::MacAddr;
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// Radio technology of a frame: a device is (technology, address), not a bare MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RadioKind {
    #[default]
    Wifi,
    Ble,
}

impl RadioKind {
    /// Every radio kind, for computing all the pseudonyms one address may have.
    pub const ALL: [RadioKind; 2] = [RadioKind::Wifi, RadioKind::Ble];
}

/// One frame as parsed by a source, before pseudonymization.
///
/// ```compile_fail
/// // A raw observation cannot be serialized, so no sink can write it.
/// fn sink<T: serde::Serialize>(_: &T) {}
/// let raw = footfall_core::RawObservation {
///     ts: 0, sensor: "s1", mac: footfall_core::MacAddr::new([2, 0, 0, 0, 0, 1]),
///     rssi: -60, freq: None, seq: None, ie: None, kind: Default::default(),
/// };
/// sink(&raw);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RawObservation<'a> {
    pub ts: Millis,
    pub sensor: &'a str,
    pub mac: MacAddr,
    /// Signal strength in dBm.
    pub rssi: i16,
    /// Channel centre frequency in MHz, when known.
    pub freq: Option<u16>,
    /// 802.11 sequence number, when known.
    pub seq: Option<u16>,
    /// Information-element fingerprint (already a digest of the elements; never an SSID).
    pub ie: Option<&'a str>,
    pub kind: RadioKind,
}

impl Observation {
    /// A WiFi observation with only the essentials (no sequence number, frequency or
    /// fingerprint), from a globally unique address.
    pub fn basic(ts: Millis, sensor: u16, device: DeviceId, rssi: i16) -> Self {
        Observation { ts, sensor, device, rssi, randomized: false, kind: RadioKind::Wifi, seq: None, freq: None, ie: None }
    }
}

/// A pseudonymous observation: what flows after the source boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub ts: Millis,
    /// Index of the sensor in the site's sensor list.
    pub sensor: u16,
    pub device: DeviceId,
    pub rssi: i16,
    /// The MAC was locally administered (randomized): such a device is never followed
    /// across days.
    pub randomized: bool,
    pub kind: RadioKind,
    pub seq: Option<u16>,
    pub freq: Option<u16>,
    /// Keyed digest of the information-element fingerprint.
    pub ie: Option<u64>,
}
