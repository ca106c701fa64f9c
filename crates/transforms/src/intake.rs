//! Intake: the source boundary, where a [`RawObservation`] stops existing.
//!
//! For each raw observation it resolves the sensor name against the site (by sensor id, or
//! by the sensor's own MAC, which is how Meraki posts name their access points), applies the
//! plausibility filter, and pseudonymizes; what comes out is an [`Observation`] or a counted
//! drop. Unknown sensor names are remembered (a few) so the user can be told which. Nothing
//! here stores or logs a MAC.

use crate::filter::{self, DropCounts, DropReason};
use crate::pseudonymize::Pseudonymizer;
use footfall_core::mac::canonical_infrastructure;
use footfall_core::{Observation, RawObservation, Site};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

const MAX_UNKNOWN_NAMES: usize = 20;

pub struct Intake {
    pseudo: Pseudonymizer,
    sensors: FxHashMap<String, u16>,
    pub drops: DropCounts,
    pub unknown_sensors: BTreeSet<String>,
    pub accepted: u64,
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
        Self { pseudo, sensors, drops: DropCounts::default(), unknown_sensors: BTreeSet::new(), accepted: 0 }
    }

    /// Turn a raw observation into a pseudonymous one, or count why not.
    pub fn accept(&mut self, raw: &RawObservation<'_>) -> Option<Observation> {
        if let Err(r) = filter::check(raw) {
            self.drops.add(r, 1);
            return None;
        }
        let Some(&sensor) = self.sensors.get(raw.sensor) else {
            self.drops.add(DropReason::UnknownSensor, 1);
            if self.unknown_sensors.len() < MAX_UNKNOWN_NAMES {
                self.unknown_sensors.insert(raw.sensor.to_string());
            }
            return None;
        };
        self.accepted += 1;
        Some(self.pseudo.apply(raw, sensor))
    }
}
