//! Every pipeline threshold, with its default and its meaning, in one serde struct that a
//! `footfall.toml` can override piece by piece. This module owns the names and defaults only.

use serde::{Deserialize, Serialize};

/// Linking and occupancy thresholds live with their modules; they are not part of
/// [`PipelineConfig`] (which a saved pipeline state is tied to) because they apply at query time.
pub use crate::link::{LinkConfig, LinkScope};
pub use crate::occupancy::OccupancyConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocateConfig {
    /// Observations of one device within this many seconds form one location fix.
    pub window_s: u32,
    /// A fix is *inside* the store of the strongest sensor when that sensor's mean RSSI over
    /// the window is at least this (dBm). Sensors may override it in the site file.
    pub visitor_rssi: i16,
    /// A device not inside any store is *near* each store whose strongest sensor hears it at
    /// or above this (dBm): a walk-by candidate.
    pub pass_rssi: i16,
}

impl Default for LocateConfig {
    fn default() -> Self {
        Self { window_s: 10, visitor_rssi: -67, pass_rssi: -81 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionizeConfig {
    /// Presence inside a store shorter than this is not a visit (seconds).
    pub min_dwell_s: u32,
    /// A visit (or walk-by episode) ends after this long without a fix (seconds).
    pub idle_timeout_s: u32,
    /// Observations may arrive this much later than the newest one seen (seconds);
    /// later ones are dropped and counted as `late`. Three minutes covers feeds that post
    /// once a minute per access point (Meraki); for data in time order the value changes no
    /// result, only how long observations wait in the reorder buffer.
    pub lateness_s: u32,
}

impl Default for SessionizeConfig {
    fn default() -> Self {
        Self { min_dwell_s: 120, idle_timeout_s: 600, lateness_s: 180 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExcludeConfig {
    /// A device heard in at least this many distinct hours of one local day is a fixed
    /// device (a PC, printer, POS terminal) and never counts as a person.
    pub fixed_min_hours: u32,
    /// A day of *long presence*: first to last observation spans at least this many hours.
    pub staff_min_hours: f64,
    /// A device with long presence on at least this many days...
    pub staff_min_days: u32,
    /// ...and on at least this share of the days it was seen is staff.
    pub staff_min_share: f64,
}

impl Default for ExcludeConfig {
    fn default() -> Self {
        Self { fixed_min_hours: 16, staff_min_hours: 5.0, staff_min_days: 2, staff_min_share: 0.5 }
    }
}

/// All thresholds of the pipeline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Randomized-MAC linking before location (the streaming rules of [`crate::link`]).
    pub link: LinkConfig,
    pub locate: LocateConfig,
    pub sessionize: SessionizeConfig,
    pub exclude: ExcludeConfig,
}

/// How long stored records are kept (`[retention]`), counted back from the wall clock (an
/// injected `Clock`), not from event time. 0 keeps that kind of record without a limit.
/// Raw observations are never kept at all: only the pseudonymous records derived from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Visits (with their zone stays) and per-day device activity ending more than this many
    /// days ago are deleted.
    pub visits_days: u32,
    /// Walk-bys (passes) ending more than this many days ago are deleted: sooner than visits,
    /// because they are people who did not choose to come in.
    pub passes_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { visits_days: 365, passes_days: 90 }
    }
}

impl RetentionConfig {
    /// (visits, passes) ending before these instants are past retention at `now_ms`.
    pub fn cutoffs(&self, now_ms: footfall_core::Millis) -> (footfall_core::Millis, footfall_core::Millis) {
        let back = |days: u32| if days == 0 { footfall_core::Millis::MIN } else { now_ms - days as i64 * 86_400_000 };
        (back(self.visits_days), back(self.passes_days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_cutoffs_count_back_from_now_and_zero_keeps() {
        let r = RetentionConfig::default();
        let now = 400 * 86_400_000;
        assert_eq!(r.cutoffs(now), (35 * 86_400_000, 310 * 86_400_000));
        let keep = RetentionConfig { visits_days: 0, passes_days: 1 };
        assert_eq!(keep.cutoffs(now).0, i64::MIN);
    }
}
