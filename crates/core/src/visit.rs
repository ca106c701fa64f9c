//! The outputs of sessionizing: visits, passes (walk-bys) and zone stays.
//!
//! These are pseudonymous records keyed by [`DeviceId`] and store index; they are what the
//! store persists and what metrics are computed from. This module owns their shape only.

use crate::device::DeviceId;
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Time spent in one zone during a visit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneStay {
    /// Zone index within the visit's store.
    pub zone: u16,
    pub start: Millis,
    pub end: Millis,
}

/// Presence inside a store for at least the minimum dwell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    pub device: DeviceId,
    pub store: u16,
    pub start: Millis,
    pub end: Millis,
    pub randomized: bool,
    /// Zone stays in time order (the zone path is their sequence).
    pub zones: Vec<ZoneStay>,
}

impl Visit {
    pub fn dwell_ms(&self) -> Millis {
        self.end - self.start
    }

    /// Seconds spent in each zone over the whole visit (a zone entered twice counts once,
    /// with both stays), by zone index.
    pub fn seconds_per_zone(&self) -> BTreeMap<u16, f64> {
        let mut out: BTreeMap<u16, f64> = BTreeMap::new();
        for z in &self.zones {
            *out.entry(z.zone).or_default() += (z.end - z.start) as f64 / 1000.0;
        }
        out
    }
}

/// A device heard near a store front that did not become a visit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    pub device: DeviceId,
    pub store: u16,
    pub start: Millis,
    pub end: Millis,
    pub randomized: bool,
}
