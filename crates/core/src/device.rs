//! Pseudonymous device identifiers.
//!
//! A [`DeviceId`] is the keyed hash of a MAC (see `footfall-transforms::pseudonymize`): stable
//! within a deployment key epoch, unlinkable to the MAC without the key. This module owns its
//! representation (64 bits, printed as 16 hex digits) and must not know how it is computed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub u64);

impl DeviceId {
    /// The id as a signed integer, the way SQLite stores 64-bit values.
    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }
    pub fn from_i64(v: i64) -> Self {
        Self(v as u64)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({self})")
    }
}

impl Serialize for DeviceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // Always written as exactly 16 digits; anything else (a 12-digit MAC) is refused.
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(serde::de::Error::custom("a device id is 16 hex digits"));
        }
        u64::from_str_radix(&s, 16).map(DeviceId).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_hex() {
        let d = DeviceId(0xdead_beef_0000_0001);
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(j, "\"deadbeef00000001\"");
        assert_eq!(serde_json::from_str::<DeviceId>(&j).unwrap(), d);
        assert_eq!(DeviceId::from_i64(d.as_i64()), d);
        assert!(serde_json::from_str::<DeviceId>("\"00163e000001\"").is_err(), "a MAC is not a device id");
        assert!(serde_json::from_str::<DeviceId>("\"+eadbeef00000001\"").is_err());
    }
}
