//! Pseudonymization: the keyed hash that replaces a MAC at the source boundary.
//!
//! [`Pseudonymizer`] turns a [`RawObservation`] into an [`Observation`]: the device id is the
//! first 64 bits of BLAKE3 in keyed mode over the radio kind and the six MAC octets (a device
//! is a technology and an address, so a BLE and a WiFi address never merge), under the deployment's
//! 32-byte secret key; the element fingerprint is hashed the same way under a derived key.
//! Without the key, ids cannot be linked back to MACs (nor across key epochs). This module
//! owns the hashing only; key storage lives with the store. It keeps a cache of recent ids
//! in memory (never persisted) because hashing every frame is the hottest step of ingest.
//!
//! **Key rotation** ([`Rotation`], `[privacy] key_epoch_days`): a MAC's pseudonym in an epoch
//! is its *master pseudonym* (the hash above) hashed again under that epoch's key, derived
//! from the master key and the epoch number of the observation's event time. Pseudonyms of
//! two epochs cannot be linked without the master key. The opt-out registry keeps master
//! pseudonyms, from which every epoch's pseudonym can be derived without the MAC, so an
//! opt-out holds across epochs. Advertising IDs (consented, sealed for export) and element
//! fingerprints (a model class, not a device) are not rotated.

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

/// First byte of the input hashed under an epoch key (a master pseudonym follows).
const EPOCH_TAG: u8 = 0xe9;

/// Key rotation: the pseudonym of a master pseudonym in the epoch of an event time.
pub struct Rotation {
    master: [u8; KEY_LEN],
    epoch_days: u32,
    /// The last epoch's key: input arrives in time order, so it rarely changes.
    last: Option<(i64, [u8; KEY_LEN])>,
    cache: FxHashMap<(u64, i64), DeviceId>,
}

/// A copy with the same keys and an empty cache.
impl Clone for Rotation {
    fn clone(&self) -> Self {
        Rotation { master: self.master, epoch_days: self.epoch_days, last: self.last, cache: FxHashMap::default() }
    }
}

impl std::fmt::Debug for Rotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotation").field("epoch_days", &self.epoch_days).finish_non_exhaustive()
    }
}

impl Rotation {
    /// A new key every `epoch_days` UTC days (at least 1), derived from `master`.
    pub fn new(master: [u8; KEY_LEN], epoch_days: u32) -> Self {
        Rotation { master, epoch_days: epoch_days.max(1), last: None, cache: FxHashMap::default() }
    }

    pub fn epoch_days(&self) -> u32 {
        self.epoch_days
    }

    /// The epoch of an event time.
    pub fn epoch(&self, t_ms: i64) -> i64 {
        key_epoch(t_ms, self.epoch_days)
    }

    /// The pseudonym in `epoch` of the device whose master pseudonym is `master_id`.
    pub fn id(&mut self, master_id: DeviceId, epoch: i64) -> DeviceId {
        if let Some(&d) = self.cache.get(&(master_id.0, epoch)) {
            return d;
        }
        let key = match self.last {
            Some((e, k)) if e == epoch => k,
            _ => {
                let k = epoch_key(&self.master, epoch);
                self.last = Some((epoch, k));
                k
            }
        };
        let mut input = [0u8; 9];
        input[0] = EPOCH_TAG;
        input[1..].copy_from_slice(&master_id.0.to_le_bytes());
        let d = first_word(&blake3::keyed_hash(&key, &input));
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert((master_id.0, epoch), d);
        d
    }

    /// The pseudonym at event time `t_ms`.
    pub fn at(&mut self, master_id: DeviceId, t_ms: i64) -> DeviceId {
        let e = self.epoch(t_ms);
        self.id(master_id, e)
    }

    /// Every pseudonym of `master_id` in the epochs from `from_ms` to `to_ms` (inclusive).
    pub fn span(&mut self, master_id: DeviceId, from_ms: i64, to_ms: i64) -> Vec<DeviceId> {
        (self.epoch(from_ms)..=self.epoch(to_ms.max(from_ms))).map(|e| self.id(master_id, e)).collect()
    }
}

/// The first 64 bits of a hash, as a pseudonym.
fn first_word(h: &blake3::Hash) -> DeviceId {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    DeviceId(u64::from_le_bytes(b))
}

pub struct Pseudonymizer {
    key: [u8; KEY_LEN],
    /// Key rotation, when on: observations get their epoch's pseudonym.
    rotation: Option<Rotation>,
    /// The master pseudonym of the last observation [`Pseudonymizer::apply`] hashed (what the
    /// opt-out registry holds).
    last_master: DeviceId,
    ie_key: [u8; KEY_LEN],
    /// Recent pseudonyms by hashed input (radio kind and octets, packed in one word).
    cache: FxHashMap<u64, DeviceId>,
    /// The last address seen: a frame heard by several sensors arrives as consecutive lines.
    last: Option<(u64, DeviceId)>,
}

impl Pseudonymizer {
    pub fn new(key: [u8; KEY_LEN]) -> Self {
        let ie_key = blake3::derive_key("footfall 2026 information-element fingerprint", &key);
        Self { key, ie_key, rotation: None, last_master: DeviceId(0), cache: FxHashMap::default(), last: None }
    }

    /// A pseudonymizer whose observation pseudonyms rotate every `epoch_days` (none: never).
    pub fn with_rotation(key: [u8; KEY_LEN], epoch_days: Option<u32>) -> Self {
        let mut p = Self::new(key);
        p.rotation = epoch_days.map(|d| Rotation::new(key, d));
        p
    }

    /// The rotation in use, if any (a copy, for code that derives epoch pseudonyms of
    /// registered master pseudonyms).
    pub fn rotation(&self) -> Option<Rotation> {
        self.rotation.clone()
    }

    /// The master pseudonym of the last observation [`Pseudonymizer::apply`] hashed.
    pub fn last_master(&self) -> DeviceId {
        self.last_master
    }

    /// The pseudonym a device of master pseudonym `master_id` gets at event time `t_ms`:
    /// `master_id` itself without rotation.
    pub fn at(&mut self, master_id: DeviceId, t_ms: i64) -> DeviceId {
        match &mut self.rotation {
            Some(r) => r.at(master_id, t_ms),
            None => master_id,
        }
    }

    /// The (master) pseudonym of a (radio kind, MAC) under this key.
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
        let d = first_word(&blake3::keyed_hash(&self.key, &input));
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
        first_word(&blake3::keyed_hash(&self.key, &input))
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
    /// Inlined so the observation is built in its destination (the runner's batch), not on
    /// the stack and copied: the copy's wide loads stalled on the narrow stores before them.
    #[inline]
    pub fn apply(&mut self, raw: &RawObservation<'_>, sensor: u16) -> Observation {
        let master = self.device_id(raw.kind, &raw.mac);
        self.last_master = master;
        Observation {
            ts: raw.ts,
            sensor,
            device: self.at(master, raw.ts),
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
    fn rotated_pseudonyms_change_per_epoch_and_derive_from_the_master_pseudonym() {
        let key = [7u8; KEY_LEN];
        let mac = MacAddr::parse("00:11:22:33:44:55").unwrap();
        let raw = |t: i64| RawObservation { ts: t, sensor: "a", mac, rssi: -50, kind: RadioKind::Wifi, seq: None, freq: None, ie: None };
        let day = |d: i64| d * DAY_MS + 3_600_000;
        let mut p = Pseudonymizer::with_rotation(key, Some(7));
        let master = Pseudonymizer::new(key).device_id(RadioKind::Wifi, &mac);
        let (a, b, c) = (p.apply(&raw(day(0)), 0).device, p.apply(&raw(day(6)), 0).device, p.apply(&raw(day(7)), 0).device);
        assert_eq!(p.last_master(), master);
        assert_eq!(a, b, "one pseudonym within an epoch");
        assert_ne!(b, c, "another in the next");
        assert!(a != master && c != master, "never the master pseudonym itself");
        // Derivable from the master pseudonym alone (how opt-outs hold across epochs).
        let mut r = Rotation::new(key, 7);
        assert_eq!((r.at(master, day(3)), r.at(master, day(10))), (a, c));
        assert_eq!(r.span(master, day(0), day(13)), vec![a, c]);
        // Another master key gives other epoch pseudonyms; no rotation keeps the master one.
        assert_ne!(Rotation::new([8; KEY_LEN], 7).at(master, day(3)), a);
        assert_eq!(Pseudonymizer::with_rotation(key, None).apply(&raw(day(9)), 0).device, master);
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
