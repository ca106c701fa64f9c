//! Intake: the source boundary, where a [`RawObservation`] stops existing.
//!
//! For each raw observation it resolves the sensor name against the site (by sensor id, or
//! by the sensor's own MAC, which is how Meraki posts name their access points), applies the
//! plausibility filter, and pseudonymizes; what comes out is an [`Observation`] or a counted
//! drop. Unknown sensor names are remembered (a few) so the user can be told which. Devices
//! whose owners opted out (their pseudonyms, [`Intake::refuse`]) are dropped right after
//! hashing, counted as `opted_out`. Nothing here stores or logs a MAC.

use crate::filter::{self, DropCounts, DropReason};
use crate::optout::{Refused, Subject};
use crate::pseudonymize::Pseudonymizer;
use footfall_core::mac::canonical_infrastructure;
use footfall_core::{DeviceId, Millis, Observation, RawObservation, Site};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

const MAX_UNKNOWN_NAMES: usize = 20;

/// Sensor names to site indexes. A name of at most 16 bytes is packed into integers (its
/// length, first and last 8 bytes: together they are the whole name) and looked up in a
/// direct-mapped table whose multiplier is chosen, when the site is loaded, so that names
/// do not share a slot: one multiply and one compare per observation, no probe loop (a hash
/// map's mispredicted on most rows, since consecutive rows name different sensors). A name
/// that still collides waits in a small map behind the table.
struct SensorNames {
    /// Slots of `(packed name, site index)`; an empty slot holds a key no name packs to.
    slots: Vec<(Packed, u16)>,
    mul: u64,
    shift: u32,
    spill: FxHashMap<Packed, u16>,
    long: FxHashMap<String, u16>,
}

type Packed = (u64, u64, u8);

/// A key [`SensorNames::pack`] never returns (a 0-byte name has both words 0).
const NO_NAME: Packed = (u64::MAX, u64::MAX, 0);

impl SensorNames {
    #[inline]
    fn pack(name: &[u8]) -> Option<Packed> {
        let n = name.len();
        let word = |b: &[u8]| {
            let mut w = [0u8; 8];
            w[..b.len()].copy_from_slice(b);
            u64::from_le_bytes(w)
        };
        match n {
            0..8 => Some((word(name), 0, n as u8)),
            8..=16 => Some((word(&name[..8]), word(&name[n - 8..]), n as u8)),
            _ => None,
        }
    }

    #[inline]
    fn slot(key: Packed, mul: u64, shift: u32) -> usize {
        let h = (key.0.wrapping_mul(mul) ^ key.1 ^ key.2 as u64).wrapping_mul(mul);
        (h >> shift) as usize
    }

    fn new(names: FxHashMap<String, u16>) -> Self {
        let mut short: Vec<(Packed, u16)> = Vec::new();
        let mut long = FxHashMap::default();
        for (name, i) in names {
            match Self::pack(name.as_bytes()) {
                Some(k) => short.push((k, i)),
                None => {
                    long.insert(name, i);
                }
            }
        }
        short.sort_unstable();
        // Four slots per name; of 64 multipliers from a fixed sequence (so a site always gets
        // the same table), the first that places every name, else the one that spills fewest.
        let bits = (short.len().max(1) * 4).next_power_of_two().trailing_zeros().max(2);
        let shift = 64 - bits;
        let mut best: Option<Self> = None;
        let mut seed = 0u64;
        for _ in 0..64 {
            seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mul = (seed ^ (seed >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1;
            let mut t =
                Self { slots: vec![(NO_NAME, 0u16); 1 << bits], mul, shift, spill: FxHashMap::default(), long: FxHashMap::default() };
            for &(k, i) in &short {
                let s = &mut t.slots[Self::slot(k, mul, shift)];
                if s.0 == NO_NAME {
                    *s = (k, i);
                } else {
                    t.spill.insert(k, i);
                }
            }
            let done = t.spill.is_empty();
            if best.as_ref().is_none_or(|b| t.spill.len() < b.spill.len()) {
                best = Some(t);
            }
            if done {
                break;
            }
        }
        let mut t = best.expect("at least one multiplier is tried");
        t.long = long;
        t
    }

    #[inline]
    fn get(&self, name: &str) -> Option<u16> {
        match Self::pack(name.as_bytes()) {
            Some(k) => match self.slots[Self::slot(k, self.mul, self.shift)] {
                (key, i) if key == k => Some(i),
                _ if self.spill.is_empty() => None,
                _ => self.spill.get(&k).copied(),
            },
            None => self.long.get(name).copied(),
        }
    }
}

pub struct Intake {
    pseudo: Pseudonymizer,
    sensors: SensorNames,
    pub drops: DropCounts,
    pub unknown_sensors: BTreeSet<String>,
    pub accepted: u64,
    /// Opted-out devices: dropped at once.
    refused: Refused,
}

impl Intake {
    pub fn new(site: &Site, pseudo: Pseudonymizer) -> Self {
        let mut sensors: FxHashMap<String, u16> = FxHashMap::default();
        for (i, s) in site.sensors.iter().enumerate() {
            if let Some(mac) = s.mac.as_deref().and_then(canonical_infrastructure) {
                sensors.insert(mac, i as u16);
            }
        }
        // Ids win over MACs when a name is both.
        for (i, s) in site.sensors.iter().enumerate() {
            sensors.insert(s.id.clone(), i as u16);
        }
        Self {
            sensors: SensorNames::new(sensors),
            drops: DropCounts::default(),
            unknown_sensors: BTreeSet::new(),
            accepted: 0,
            refused: Refused::new(pseudo.rotation()),
            pseudo,
        }
    }

    /// Turn a raw observation into a pseudonymous one, or count why not.
    pub fn accept(&mut self, raw: &RawObservation<'_>) -> Option<Observation> {
        let sensor = self.sensor_of(raw)?;
        let o = self.pseudo.apply(raw, sensor);
        (!self.refuses_last()).then_some(o)
    }

    /// [`Intake::accept`] appending to `out` (the runner's batch) with no copy of the
    /// observation in between; whether it was accepted.
    #[inline]
    pub fn accept_into(&mut self, raw: &RawObservation<'_>, out: &mut Vec<Observation>) -> bool {
        let Some(sensor) = self.sensor_of(raw) else { return false };
        out.push(self.pseudo.apply(raw, sensor));
        if self.refuses_last() {
            out.pop();
            return false;
        }
        true
    }

    /// The site index of the observation's sensor if it passes the plausibility filter and
    /// the sensor is known; otherwise the drop is counted.
    #[inline]
    fn sensor_of(&mut self, raw: &RawObservation<'_>) -> Option<u16> {
        if let Err(r) = filter::check(raw) {
            self.drops.add(r, 1);
            return None;
        }
        let Some(sensor) = self.sensors.get(raw.sensor) else {
            self.drops.add(DropReason::UnknownSensor, 1);
            if self.unknown_sensors.len() < MAX_UNKNOWN_NAMES {
                self.unknown_sensors.insert(raw.sensor.to_string());
            }
            return None;
        };
        Some(sensor)
    }

    /// Whether the device just pseudonymized has opted out (the drop counted); otherwise
    /// it counts as accepted.
    #[inline]
    fn refuses_last(&mut self) -> bool {
        if !self.refused.is_empty() && self.refused.has_master(self.pseudo.last_master()) {
            self.drops.add(DropReason::OptedOut, 1);
            return true;
        }
        self.accepted += 1;
        false
    }

    /// Drop these devices (opted out, by master pseudonym) from now on.
    pub fn refuse(&mut self, ids: impl IntoIterator<Item = DeviceId>) {
        self.refused.extend(ids);
    }

    /// Whether the device of pseudonym `id` at event time `ts` is refused (for pseudonymous
    /// inputs, which bypass [`Intake::accept`]; with key rotation `id` is an epoch pseudonym).
    pub fn is_refused(&self, id: DeviceId, ts: Millis) -> bool {
        self.refused.has(id, ts)
    }

    /// The pseudonyms of an opt-out or erasure subject under this intake's key.
    pub fn subject_ids(&mut self, subject: &Subject) -> Vec<DeviceId> {
        self.pseudo.subject_ids(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pseudonymizer;
    use footfall_core::{MacAddr, RadioKind};

    fn one_sensor_site() -> Site {
        Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[{"id":"s1","name":"S","category":"c","polygon":[[0,0],[10,0],[10,10],[0,10]]}],
            "sensors":[{"id":"a","x":5,"y":5,"store":"s1"}]}"#,
        )
        .unwrap()
    }

    fn raw_at(mac: &str, kind: RadioKind, ts: Millis) -> RawObservation<'static> {
        RawObservation { ts, sensor: "a", mac: MacAddr::parse(mac).unwrap(), rssi: -50, freq: None, seq: None, ie: None, kind }
    }

    #[test]
    fn refused_devices_are_dropped_after_hashing() {
        let site = one_sensor_site();
        let mut intake = Intake::new(&site, Pseudonymizer::new([5; 32]));
        let raw = |mac: &str, kind| raw_at(mac, kind, 0);
        assert!(intake.accept(&raw("00:11:22:33:44:55", RadioKind::Wifi)).is_some());
        let ids = intake.subject_ids(&Subject::parse("00-11-22-33-44-55").unwrap());
        intake.refuse(ids.clone());
        assert!(ids.iter().all(|d| intake.is_refused(*d, 0)));
        assert!(intake.accept(&raw("00:11:22:33:44:55", RadioKind::Wifi)).is_none());
        assert!(intake.accept(&raw("00:11:22:33:44:55", RadioKind::Ble)).is_none(), "every radio kind of the address");
        assert!(intake.accept(&raw("00:11:22:33:44:56", RadioKind::Wifi)).is_some());
        assert_eq!(intake.drops.0.get(&DropReason::OptedOut), Some(&2));
        assert_eq!(intake.accepted, 2);
    }

    #[test]
    fn an_opt_out_holds_in_every_key_epoch() {
        let site = one_sensor_site();
        let day = 86_400_000;
        let mut intake = Intake::new(&site, Pseudonymizer::with_rotation([5; 32], Some(1)));
        let raw = |ts| raw_at("00:11:22:33:44:55", RadioKind::Wifi, ts);
        let (d0, d1) = (intake.accept(&raw(10)).unwrap().device, intake.accept(&raw(day + 10)).unwrap().device);
        assert_ne!(d0, d1, "one pseudonym per day");
        assert!(!intake.is_refused(d0, 10));
        let ids = intake.subject_ids(&Subject::parse("00:11:22:33:44:55").unwrap());
        intake.refuse(ids);
        // Raw input of any later epoch, and pseudonymous input of each epoch, are refused.
        assert!(intake.accept(&raw(40 * day)).is_none());
        assert!(intake.is_refused(d0, 10) && intake.is_refused(d1, day + 10));
        assert!(!intake.is_refused(d1, 10), "a pseudonym of another epoch is another device");
    }

    #[test]
    fn sensor_names_of_any_length() {
        let names = [
            "",
            "a",
            "a\0",
            "door",
            "s1-front",
            "s1-front!",
            "0123456789abcdef",
            "0123456789abcdeg",
            "a much longer sensor name",
            "ünïcode-ß",
        ];
        let map: FxHashMap<String, u16> = names.iter().enumerate().map(|(i, n)| (n.to_string(), i as u16)).collect();
        let t = SensorNames::new(map);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(t.get(n), Some(i as u16), "{n:?}");
        }
        for n in ["b", "a\0\0", "s1-fron", "s1-front\0", "0123456789abcdeh", "a much longer sensor namf", "door "] {
            assert_eq!(t.get(n), None, "{n:?}");
        }
        // Many names: every one found, whether in its slot or spilled.
        let many: FxHashMap<String, u16> = (0..3000u16).map(|i| (format!("ap-{i}"), i)).collect();
        let t = SensorNames::new(many.clone());
        assert!(many.iter().all(|(n, &i)| t.get(n) == Some(i)));
        assert_eq!(t.get("ap-3000"), None);
    }
}
