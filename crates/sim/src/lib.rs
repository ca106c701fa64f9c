//! # footfall-sim
//!
//! A deterministic simulator of a small mall: one east-west corridor lined with stores, WiFi
//! sensors in every store zone, shoppers, staff and fixed devices whose phones send probe
//! requests. It produces the site description, the sensor observations, POS transactions and
//! the ground truth (visits, walk-bys, dwell) the pipeline's results are checked against.
//! Everything is a pure function of [`SimConfig`] (same seed, same bytes). This crate must not
//! depend on the pipeline crates, read the clock or use OS randomness.
//!
//! ## API
//! - [`simulate`]`(cfg, &mut |frame| ..) -> Result<SimOutput, SimError>`: streams every
//!   [`Frame`] (one frame heard by one sensor) in non-decreasing time order, returns the
//!   [`footfall_core::Site`], the [`Truth`] and the [`Transaction`]s.
//! - [`write_all`]`(cfg, out_dir, &mut |day_done, days| ..) -> Result<SimSummary, SimError>`:
//!   writes `site.json`, `observations.csv`, `observations.jsonl`, `pos.csv`, `pings.csv`,
//!   `truth.json` and
//!   `counts.csv` (people inside each store per 5 minutes, door-counter style)
//!   (formats in [`write`]); [`write_all_with`] can add `observations.pcapng`.
//!
//! ## Modules
//! - [`app`]: the app feed (advertising IDs, consent, location pings).
//! - [`rng`]: xoshiro256** and distributions. [`layout`]: the mall geometry and the `Site`.
//! - [`radio`]: path loss and walls. [`people`]: shopper and staff trajectories.
//! - [`survey`]: survey mode (a surveyor phone in every zone, notes and observations).
//! - [`truth`]: episode, visit and walk-by definitions. [`engine`]: the day loop, phones and
//!   probe bursts. [`write`]: output files. [`pcap_out`]: frames as a pcapng capture.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod engine;
pub mod layout;
pub mod pcap_out;
pub mod people;
pub mod radio;
pub mod rng;
pub mod survey;
pub mod truth;
pub mod write;

pub use engine::simulate;
pub use truth::Truth;
pub use write::{SimSummary, WriteOptions, write_all, write_all_with};

use chrono::NaiveDate;
use footfall_core::{Millis, Site};
use serde::{Deserialize, Serialize};

/// Everything the simulation depends on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    pub seed: u64,
    pub days: u32,
    /// Number of stores, alternating south/north of the corridor (1..=40).
    pub stores: usize,
    /// Mean shoppers on a weekday; Saturday 1.5x, Sunday (closed) none.
    pub shoppers_per_day: u32,
    pub start_date: NaiveDate,
    pub timezone: String,
    /// Share of shoppers whose phone uses a random, locally administered MAC.
    pub randomized_share: f64,
    /// How often a randomized phone changes its MAC (and at every new day).
    pub rotation_minutes: f64,
    pub staff_per_store: u32,
    pub fixed_per_store: u32,
    /// Share of each day's shoppers drawn from a pool of regulars who keep their MAC.
    pub returning_share: f64,
    /// Share of shoppers carrying a phone with WiFi on; the others send nothing but are in
    /// the truth and in `counts.csv` (a door counter sees everyone).
    pub phone_share: f64,
    /// Share of shoppers with a phone whose app reports location pings (see [`app`]).
    pub app_share: f64,
    /// Share of app users who consented to sharing; the others' pings carry `consent=0`.
    pub app_consent_share: f64,
    /// Mean seconds between an app's pings (each gap drawn within ±50%).
    pub ping_interval_s: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            days: 14,
            stores: 8,
            shoppers_per_day: 400,
            start_date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default(),
            timezone: "Europe/Paris".into(),
            randomized_share: 0.0,
            rotation_minutes: 15.0,
            staff_per_store: 2,
            fixed_per_store: 1,
            returning_share: 0.3,
            phone_share: 1.0,
            app_share: 0.3,
            app_consent_share: 0.9,
            ping_interval_s: 30.0,
        }
    }
}

impl SimConfig {
    /// Check ranges and the time zone.
    pub fn validate(&self) -> Result<chrono_tz::Tz, SimError> {
        let bad = |m: String| Err(SimError::Config(m));
        if !(1..=40).contains(&self.stores) {
            return bad(format!("stores must be 1..=40, got {}", self.stores));
        }
        if self.days > 3660 {
            return bad(format!("days must be at most 3660, got {}", self.days));
        }
        for (name, v) in [
            ("randomized_share", self.randomized_share),
            ("returning_share", self.returning_share),
            ("phone_share", self.phone_share),
            ("app_share", self.app_share),
            ("app_consent_share", self.app_consent_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} must be within 0..=1, got {v}"));
            }
        }
        if !(self.rotation_minutes.is_finite() && self.rotation_minutes >= 0.1) {
            return bad(format!("rotation_minutes must be at least 0.1, got {}", self.rotation_minutes));
        }
        if !(self.ping_interval_s.is_finite() && (1.0..=3600.0).contains(&self.ping_interval_s)) {
            return bad(format!("ping_interval_s must be within 1..=3600, got {}", self.ping_interval_s));
        }
        if self.shoppers_per_day > 1_000_000 || self.staff_per_store > 1000 || self.fixed_per_store > 1000 {
            return bad("shoppers_per_day, staff_per_store or fixed_per_store is implausibly large".into());
        }
        self.timezone.parse().map_err(|_| SimError::Config(format!("{:?} is not an IANA time zone", self.timezone)))
    }
}

/// One probe frame as heard by one sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub ts: Millis,
    /// Index in `site.sensors`.
    pub sensor: u16,
    pub mac: [u8; 6],
    /// dBm.
    pub rssi: i16,
    /// 802.11 sequence number (0..4096).
    pub seq: u16,
    /// Channel centre frequency, MHz (2412, 2437 or 2462).
    pub freq: u16,
}

/// A point-of-sale transaction, emitted when a buying shopper leaves the cashier zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: String,
    pub store: String,
    pub ts: Millis,
    /// Rounded to cents.
    pub amount: f64,
}

/// What a run returns besides the frames.
#[derive(Debug)]
pub struct SimOutput {
    pub site: Site,
    pub truth: Truth,
    /// Shoppers inside each store at some time in each [`truth::COUNT_WINDOW_S`] window, with
    /// or without a phone: (store index, window start UTC ms) → people. Windows with nobody
    /// are absent.
    pub present: std::collections::BTreeMap<(u16, Millis), u32>,
    /// In time order.
    pub transactions: Vec<Transaction>,
    /// The app feed's location pings, in time order (consenting or not).
    pub pings: Vec<app::Ping>,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    #[error("the generated site is invalid (a simulator bug): {0}")]
    Site(#[from] footfall_core::site::SiteError),
    #[error("cannot write {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot serialize {what}: {source}")]
    Json { what: &'static str, source: serde_json::Error },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_validation() {
        let c: SimConfig = serde_json::from_str(r#"{"seed":7}"#).unwrap();
        assert_eq!(c.seed, 7);
        assert_eq!(c.stores, 8);
        assert_eq!(c.start_date.to_string(), "2026-03-02");
        assert!(c.validate().is_ok());
        for bad in [
            SimConfig { stores: 0, ..c.clone() },
            SimConfig { stores: 41, ..c.clone() },
            SimConfig { timezone: "Mars/Olympus".into(), ..c.clone() },
            SimConfig { randomized_share: 1.5, ..c.clone() },
            SimConfig { rotation_minutes: 0.0, ..c.clone() },
        ] {
            assert!(matches!(bad.validate(), Err(SimError::Config(_))), "{bad:?}");
        }
    }
}
