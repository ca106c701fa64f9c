//! Pseudonymization: the keyed hash that replaces a MAC at the source boundary.
//!
//! [`Pseudonymizer`] turns a [`RawObservation`] into an [`Observation`]: the device id is the
//! first 64 bits of BLAKE3 in keyed mode over the radio kind and the six MAC octets (a device
//! is a technology and an address, so a BLE and a WiFi address never merge), under the deployment's
//! 32-byte secret key; the element fingerprint is hashed the same way under a derived key.
//! Without the key, ids cannot be linked back to MACs (nor across key epochs). This module
//! owns the hashing only; key storage lives with the store. It keeps a cache of recent ids
//! in memory (never persisted) because hashing every frame is the hottest step of ingest.

use crate::optout::Subject;
use footfall_core::{AdId, DeviceId, MacAddr, Observation, RadioKind, RawObservation};
use rustc_hash::FxHashMap;

pub const KEY_LEN: usize = 32;
const CACHE_MAX: usize = 1 << 20;
/// First byte of an advertising ID's hashed input.
const AD_ID_TAG: u8 = 0xad;

/// Milliseconds in a UTC day, the unit of key epochs.
const DAY_MS: i64 = 86_400_000;

/// The key epoch an event at `t_ms` (Unix milliseconds, event time) falls in when keys rotate
/// every `epoch_days` UTC days: `floor(day / epoch_days)`, `day` counted from 1970-01-01.
/// Building block of key rotation (issue 7); not yet applied at the pseudonymization
/// boundaries, which all still use the master key.
pub fn key_epoch(t_ms: i64, epoch_days: u32) -> i64 {
    t_ms.div_euclid(DAY_MS).div_euclid(i64::from(epoch_days.max(1)))
}

/// The pseudonym key of one epoch: BLAKE3 in keyed mode under the master key over a fixed
/// context and the epoch number. Without the master key, two epochs' keys (and so their
/// pseudonyms) cannot be linked; with it, every epoch's key can be recomputed.
pub fn epoch_key(master: &[u8; KEY_LEN], epoch: i64) -> [u8; KEY_LEN] {
    let mut h = blake3::Hasher::new_keyed(master);
    h.update(b"footfall 2026 pseudonym key epoch");
    h.update(&epoch.to_le_bytes());
    *h.finalize().as_bytes()
}

pub struct Pseudonymizer {
    key: [u8; KEY_LEN],
    ie_key: [u8; KEY_LEN],
    /// Recent pseudonyms by hashed input (radio kind and octets, packed in one word).
    cache: FxHashMap<u64, DeviceId>,
    /// The last address seen: a frame heard by several sensors arrives as consecutive lines.
    last: Option<(u64, DeviceId)>,
}

impl Pseudonymizer {
    pub fn new(key: [u8; KEY_LEN]) -> Self {
        let ie_key = blake3::derive_key("footfall 2026 information-element fingerprint", &key);
        Self { key, ie_key, cache: FxHashMap::default(), last: None }
    }

    /// The pseudonym of a (radio kind, MAC) under this key.
    pub fn device_id(&mut self, kind: RadioKind, mac: &MacAddr) -> DeviceId {
        let o = mac.octets();
        let input = [kind as u8, o[0], o[1], o[2], o[3], o[4], o[5]];
        let key = u64::from_le_bytes([input[0], input[1], input[2], input[3], input[4], input[5], input[6], 0]);
        if let Some((k, d)) = self.last
            && k == key
        {
            return d;
        }
        if let Some(&d) = self.cache.get(&key) {
            self.last = Some((key, d));
            return d;
        }
        let h = blake3::keyed_hash(&self.key, &input);
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.as_bytes()[..8]);
        let d = DeviceId(u64::from_le_bytes(b));
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert(key, d);
        self.last = Some((key, d));
        d
    }

    /// The pseudonym of an advertising ID under this key. The hashed input is 17 bytes (a tag
    /// and the 16 bytes of the ID), so it can never collide by construction with a MAC's
    /// 7-byte input.
    pub fn ad_id(&self, id: &AdId) -> DeviceId {
        let mut input = [0u8; 17];
        input[0] = AD_ID_TAG;
        input[1..].copy_from_slice(&id.bytes());
        let h = blake3::keyed_hash(&self.key, &input);
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.as_bytes()[..8]);
        DeviceId(u64::from_le_bytes(b))
    }

    /// Every pseudonym the pipeline may have given an opt-out or erasure subject: for a MAC
    /// one per radio kind (a WiFi and a BLE address are different devices), for an
    /// advertising ID its one id.
    pub fn subject_ids(&mut self, subject: &Subject) -> Vec<DeviceId> {
        match subject {
            Subject::Mac(mac) => RadioKind::ALL.iter().map(|&k| self.device_id(k, mac)).collect(),
            Subject::AdId(id) => vec![self.ad_id(id)],
        }
    }

    /// The digest of a fingerprint without its `ssid=` part: whether a probe names a network
    /// or is a wildcard changes from frame to frame of one phone (one burst often has both),
    /// so it would split one device into two fingerprints for linking.
    fn ie_digest(&self, ie: &str) -> u64 {
        let mut h = blake3::Hasher::new_keyed(&self.ie_key);
        match ie.find(";ssid=") {
            Some(i) => {
                let rest = &ie[i + 1..];
                h.update(&ie.as_bytes()[..i]);
                if let Some(j) = rest.find(';') {
                    h.update(&rest.as_bytes()[j..]);
                }
            }
            None => {
                h.update(ie.as_bytes());
            }
        }
        let h = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.as_bytes()[..8]);
        u64::from_le_bytes(b)
    }

    /// Replace the MAC (and fingerprint) by pseudonyms; `sensor` is the site's sensor index.
    pub fn apply(&mut self, raw: &RawObservation<'_>, sensor: u16) -> Observation {
        Observation {
            ts: raw.ts,
            sensor,
            device: self.device_id(raw.kind, &raw.mac),
            rssi: raw.rssi,
            randomized: raw.mac.is_locally_administered(),
            kind: raw.kind,
            seq: raw.seq,
            freq: raw.freq,
            ie: raw.ie.map(|s| self.ie_digest(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_per_key_and_unlinkable_across_keys() {
        let mac = MacAddr::parse("00:11:22:33:44:55").unwrap();
        let mut a = Pseudonymizer::new([1; KEY_LEN]);
        let mut b = Pseudonymizer::new([2; KEY_LEN]);
        let w = RadioKind::Wifi;
        let id = a.device_id(w, &mac);
        assert_eq!(id, a.device_id(w, &mac));
        assert_eq!(id, Pseudonymizer::new([1; KEY_LEN]).device_id(w, &mac));
        assert_ne!(id, b.device_id(w, &mac));
        let other = MacAddr::parse("00:11:22:33:44:56").unwrap();
        assert_ne!(id, a.device_id(w, &other));
        assert_ne!(id, a.device_id(RadioKind::Ble, &mac), "a BLE and a WiFi address are different devices");
        // The pseudonym is not the MAC's bytes in any order.
        assert!(!id.to_string().contains("001122334455"));
    }

    #[test]
    fn epoch_keys_rotate_pseudonyms_between_epochs_only() {
        let master = [7u8; KEY_LEN];
        let mac = MacAddr::parse("00:11:22:33:44:55").unwrap();
        let day = |d: i64| d * DAY_MS + 3_600_000;
        // 30-day epochs: days 0..29 are epoch 0, day 30 starts epoch 1; times before 1970 floor.
        assert_eq!([day(0), day(29), day(30), day(59), day(60)].map(|t| key_epoch(t, 30)), [0, 0, 1, 1, 2]);
        assert_eq!(key_epoch(-1, 30), -1);
        assert_eq!(key_epoch(day(5), 0), 5, "0 is treated as 1-day epochs, never a division by zero");
        let id = |t: i64| Pseudonymizer::new(epoch_key(&master, key_epoch(t, 30))).device_id(RadioKind::Wifi, &mac);
        assert_eq!(id(day(0)), id(day(29)), "one pseudonym within an epoch");
        assert_ne!(id(day(29)), id(day(30)), "another in the next epoch");
        assert_ne!(epoch_key(&master, 1), epoch_key(&[8u8; KEY_LEN], 1));
        assert_ne!(epoch_key(&master, 0), master);
    }

    #[test]
    fn subject_ids_cover_every_radio_kind_and_ad_ids() {
        let mut p = Pseudonymizer::new([3; KEY_LEN]);
        let mac = MacAddr::parse("00:11:22:33:44:55").unwrap();
        let ids = p.subject_ids(&Subject::Mac(mac));
        assert_eq!(ids, vec![p.device_id(RadioKind::Wifi, &mac), p.device_id(RadioKind::Ble, &mac)]);
        let ad = AdId::parse("6d92078a-8246-4ba4-ae5b-76104861e7dc").unwrap();
        let a = p.subject_ids(&Subject::AdId(ad));
        assert_eq!(a, vec![p.ad_id(&ad)]);
        assert_ne!(a[0], Pseudonymizer::new([4; KEY_LEN]).ad_id(&ad), "keyed");
        assert!(!ids.contains(&a[0]));
    }

    #[test]
    fn fingerprint_digest_ignores_wildcard_or_named() {
        let p = Pseudonymizer::new([1; KEY_LEN]);
        let wild = p.ie_digest("v1;ids=0,1;ssid=wild;rates=02");
        assert_eq!(wild, p.ie_digest("v1;ids=0,1;ssid=named;rates=02"));
        assert_eq!(wild, p.ie_digest("v1;ids=0,1;rates=02"));
        assert_ne!(wild, p.ie_digest("v1;ids=0,1;ssid=wild;rates=04"));
        assert_eq!(p.ie_digest("v1;ids=0;ssid=wild"), p.ie_digest("v1;ids=0"));
    }
}
