//! Geofence: app location pings (latitude, longitude, horizontal accuracy) → visits and passes
//! of stores, per advertising-ID pseudonym, from the same [`Sessionizer`] as WiFi devices.
//!
//! [`AppTracker`] is the streaming state of the app feed: it places each ping on the site
//! through its `geo` anchor, keeps each device's current *track* (its pings since the last
//! silence longer than `track_gap_s`, 600 s), and when a track ends (the device's next ping
//! comes later than that, or [`AppTracker::advance`] is told the feed has moved past it)
//! hands the whole track to [`crate::app_path`], which decides where the device was (a hidden
//! Markov model over the stores and outside) and what it walked past, and feeds the fixes to
//! the sessionizer. A track is also decoded once it holds `max_track` (2,000) pings, which
//! bounds memory. The decision depends only on the pings of the track, so importing a feed in
//! one file or in many gives the same visits. Pings of one device must come in time order; a
//! ping older than the device's last is dropped and counted, as is one less accurate than
//! `max_accuracy_m`.
//!
//! This module owns the per-device tracks and their lifetime; it must not see advertising IDs
//! (only their pseudonyms), does not decide where a ping is (see `app_path`) nor what a visit
//! is (see `sessionize`).

use crate::app_path::{Fence, Ping};
use crate::sessionize::{Sessionizer, Sessions};
use footfall_core::geo::GeoRef;
use footfall_core::{DeviceId, Millis, Site};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Parameters of the app feed's location model (the `[pings]` config section).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeofenceConfig {
    /// Distance from an entrance within which a corridor position is near the store, m.
    pub near_m: f64,
    /// Longest gap between two pings of a device across which the walked path is drawn
    /// (walk-bys) and a stay is extended halfway to the neighbouring ping, s.
    pub bridge_s: u32,
    /// Pings less accurate than this are dropped (counted), m.
    pub max_accuracy_m: f64,
    /// Outside the stores, shoppers are in front of them: a position outside every store and
    /// farther than this from every entrance (polygon, when a store lists none) is taken as
    /// ten times less likely, m.
    pub public_m: f64,
    /// A device silent for longer than this ends its track, s.
    pub track_gap_s: u32,
    /// Mean time before leaving a store, s, in the model's prior (staying `dt` seconds has
    /// probability `exp(-dt / store_stay_s)`).
    pub store_stay_s: u32,
    /// Mean time outside the stores before entering one, s, likewise.
    pub outside_stay_s: u32,
}

impl Default for GeofenceConfig {
    fn default() -> Self {
        Self { near_m: 8.0, bridge_s: 120, max_accuracy_m: 50.0, public_m: 10.0, track_gap_s: 600, store_stay_s: 1200, outside_stay_s: 30 }
    }
}

/// Pings of a track decoded at once, at most (bounds the state of a device that never stops).
const MAX_TRACK: usize = 2_000;

/// Why a ping made no fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingDrop {
    /// Accuracy worse than `max_accuracy_m`.
    Inaccurate,
    /// Older than the device's previous ping.
    OutOfOrder,
}

/// The state of the app feed's location: open tracks and the sessionizer, per device.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppTracker {
    config: GeofenceConfig,
    /// Each device's current track (newest last).
    #[serde(default)]
    tracks: FxHashMap<DeviceId, Vec<Ping>>,
    sessions: Sessionizer,
    #[serde(skip)]
    fence: Fence,
    #[serde(skip)]
    geo: Option<GeoRef>,
}

/// A state saved before tracks were decoded whole: its sessions go on, its last pings (used
/// only for bridging) are dropped.
#[derive(Deserialize)]
struct LegacyState {
    sessions: Sessionizer,
}

/// The site cannot take pings.
#[derive(Debug, thiserror::Error)]
pub enum GeofenceError {
    #[error(
        "the site has no \"geo\" anchor (latitude, longitude, bearing of +x), so pings cannot be placed on it; add one (docs/formats.md)"
    )]
    NoGeo,
    #[error("the saved app-feed state cannot be read: {0}")]
    State(String),
}

impl AppTracker {
    pub fn new(site: &Site, config: GeofenceConfig, sessionize: &crate::config::SessionizeConfig) -> Result<Self, GeofenceError> {
        let mut t =
            AppTracker { config, tracks: FxHashMap::default(), sessions: Sessionizer::new(sessionize), fence: Fence::default(), geo: None };
        t.attach(site)?;
        Ok(t)
    }

    /// Continue from [`AppTracker::snapshot`].
    pub fn restore(site: &Site, snapshot: &str) -> Result<Self, GeofenceError> {
        let mut t = Self::parse(snapshot)?;
        t.attach(site)?;
        Ok(t)
    }

    fn parse(snapshot: &str) -> Result<Self, GeofenceError> {
        Ok(match serde_json::from_str(snapshot) {
            Ok(t) => t,
            Err(e) => match serde_json::from_str::<LegacyState>(snapshot) {
                Ok(l) => AppTracker {
                    config: GeofenceConfig::default(),
                    tracks: FxHashMap::default(),
                    sessions: l.sessions,
                    fence: Fence::default(),
                    geo: None,
                },
                Err(_) => return Err(GeofenceError::State(e.to_string())),
            },
        })
    }

    fn attach(&mut self, site: &Site) -> Result<(), GeofenceError> {
        self.geo = Some(site.geo.ok_or(GeofenceError::NoGeo)?);
        self.fence = Fence::new(site);
        Ok(())
    }

    pub fn snapshot(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decode a finished track and pass its fixes to the sessionizer.
    fn close(&mut self, device: DeviceId, track: &[Ping], out: &mut Sessions) {
        for f in self.fence.decode(&self.config, device, track) {
            self.sessions.push(&f, out);
        }
    }

    /// Accept one ping of `device` (a pseudonym).
    pub fn push(&mut self, device: DeviceId, ts: Millis, lat: f64, lon: f64, accuracy_m: f64, out: &mut Sessions) -> Result<(), PingDrop> {
        if accuracy_m.is_nan() || accuracy_m > self.config.max_accuracy_m {
            return Err(PingDrop::Inaccurate);
        }
        let Some(geo) = self.geo else { return Ok(()) };
        let q = geo.to_site(lat, lon);
        let gap = self.config.track_gap_s as Millis * 1000;
        let mut track = self.tracks.remove(&device).unwrap_or_default();
        if let Some(last) = track.last() {
            if ts < last.ts {
                self.tracks.insert(device, track);
                return Err(PingDrop::OutOfOrder);
            }
            if ts - last.ts > gap {
                self.close(device, &track, out);
                track.clear();
            }
        }
        track.push(Ping { ts, x: q.x, y: q.y, acc: accuracy_m });
        if track.len() >= MAX_TRACK {
            self.close(device, &track, out);
            track.clear();
        }
        self.tracks.insert(device, track);
        Ok(())
    }

    /// Close what is idle as of `now` (event time: the newest ping of the feed).
    pub fn advance(&mut self, now: Millis, out: &mut Sessions) {
        let gap = self.config.track_gap_s as Millis * 1000;
        let mut done: Vec<DeviceId> =
            self.tracks.iter().filter(|(_, t)| t.last().is_none_or(|p| now - p.ts > gap)).map(|(d, _)| *d).collect();
        done.sort_unstable();
        for d in done {
            if let Some(track) = self.tracks.remove(&d) {
                self.close(d, &track, out);
            }
        }
        self.sessions.advance(now, out);
    }

    /// A copy's visits and passes as if the feed ended now (for reports between imports).
    pub fn provisional(&self) -> Sessions {
        let mut c = self.clone();
        let mut out = Sessions::default();
        let mut ids: Vec<DeviceId> = c.tracks.keys().copied().collect();
        ids.sort_unstable();
        for d in ids {
            if let Some(track) = c.tracks.remove(&d) {
                c.close(d, &track, &mut out);
            }
        }
        c.sessions.finish(&mut out);
        out
    }

    /// A saved state without `devices` (opt-out, erasure): the new snapshot and how many
    /// devices had open state, or `None` when the snapshot cannot be read.
    pub fn forget_in_snapshot(snapshot: &str, devices: &[DeviceId]) -> Option<(String, usize)> {
        let mut t = Self::parse(snapshot).ok()?;
        let n = devices.iter().filter(|d| t.forget(**d)).count();
        Some((t.snapshot(), n))
    }

    /// Erase a device's open state (opt-out, erasure); whether there was any.
    pub fn forget(&mut self, device: DeviceId) -> bool {
        let a = self.tracks.remove(&device).is_some();
        self.sessions.forget(device) > 0 || a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SessionizeConfig;
    use footfall_core::geometry::Point;
    use footfall_core::time::MINUTE;

    fn site() -> Site {
        Site::from_json(
            r#"{"venue":"T","timezone":"UTC","geo":{"lat":48.85,"lon":2.35,"bearing_deg":90},
            "stores":[
              {"id":"s1","name":"A","category":"c","polygon":[[0,0],[12,0],[12,15],[0,15]],"entrances":[[6,15]],
               "zones":[{"id":"front","name":"F","polygon":[[0,10],[12,10],[12,15],[0,15]]},{"id":"cashier","name":"C","polygon":[[0,0],[12,0],[12,5],[0,5]]}]},
              {"id":"s2","name":"B","category":"c","polygon":[[12,0],[24,0],[24,15],[12,15]],"entrances":[[18,15]]}],
            "sensors":[]}"#,
        )
        .unwrap()
    }

    fn at(g: &GeoRef, x: f64, y: f64) -> (f64, f64) {
        g.to_lat_lon(Point::new(x, y))
    }

    #[test]
    fn visits_passes_and_accuracy() {
        let site = site();
        let g = site.geo.unwrap();
        let cfg = SessionizeConfig::default();
        let mut t = AppTracker::new(&site, GeofenceConfig::default(), &cfg).unwrap();
        let mut out = Sessions::default();
        let (a, b) = (DeviceId(1), DeviceId(2));
        let t0 = 1_000_000_000;
        // a: five minutes in s1's cashier zone with 5 m accuracy.
        for k in 0..11 {
            let (lat, lon) = at(&g, 6.0, 2.5);
            t.push(a, t0 + k * 30_000, lat, lon, 4.0, &mut out).unwrap();
        }
        // b: walks along the corridor (y = 19) past both entrances, pinging every 40 s at 1.2 m/s.
        for k in 0..3 {
            let (lat, lon) = at(&g, -20.0 + 48.0 * k as f64, 19.0);
            t.push(b, t0 + k * 40_000, lat, lon, 6.0, &mut out).unwrap();
        }
        assert_eq!(t.push(b, t0, 48.85, 2.35, 6.0, &mut out), Err(PingDrop::OutOfOrder));
        assert_eq!(t.push(b, t0 + 200_000, 48.85, 2.35, 80.0, &mut out), Err(PingDrop::Inaccurate));
        let snap = t.snapshot();
        let mut t = AppTracker::restore(&site, &snap).unwrap();
        t.advance(t0 + 30 * MINUTE, &mut out);
        out.sort();
        assert_eq!(out.visits.len(), 1);
        let v = &out.visits[0];
        assert_eq!((v.device, v.store, v.end - v.start), (a, 0, 300_000));
        assert_eq!(v.zones.iter().map(|z| z.zone).collect::<Vec<_>>(), vec![1]);
        let passed: Vec<(DeviceId, u16)> = out.passes.iter().map(|p| (p.device, p.store)).collect();
        assert_eq!(passed, vec![(b, 0), (b, 1)]);
        assert!(!t.forget(a));
    }

    #[test]
    fn chunks_and_snapshots_give_the_same_sessions() {
        let site = site();
        let g = site.geo.unwrap();
        let cfg = SessionizeConfig::default();
        let t0 = 1_000_000_000;
        // Three devices: one browsing s1 twice with a 15-minute break, one walking by, one
        // bouncing between the stores; pings every 25-35 s.
        let mut pings: Vec<(Millis, DeviceId, f64, f64)> = Vec::new();
        for k in 0..40i64 {
            let ts = t0 + k * 30_000 + (k % 3) * 5_000;
            let x = if k < 10 { 6.0 } else { 30.0 };
            pings.push((ts, DeviceId(1), x, if (10..20).contains(&k) { 19.0 } else { 7.0 }));
            if k < 4 {
                pings.push((ts + 1, DeviceId(2), -20.0 + 30.0 * k as f64, 19.0));
            }
            pings.push((ts + 2, DeviceId(3), if k % 8 < 4 { 6.0 } else { 18.0 }, 8.0));
        }
        pings.push((t0 + 40 * 60_000, DeviceId(1), 6.0, 7.0));
        let run = |cuts: &[usize]| {
            let mut out = Sessions::default();
            let mut state: Option<String> = None;
            let mut from = 0;
            for &cut in cuts.iter().chain([&pings.len()]) {
                let mut t = match &state {
                    Some(s) => AppTracker::restore(&site, s).unwrap(),
                    None => AppTracker::new(&site, GeofenceConfig::default(), &cfg).unwrap(),
                };
                for &(ts, d, x, y) in &pings[from..cut] {
                    let (lat, lon) = at(&g, x, y);
                    t.push(d, ts, lat, lon, 7.0, &mut out).unwrap();
                }
                t.advance(pings[cut - 1].0, &mut out);
                state = Some(t.snapshot());
                from = cut;
            }
            let mut last = AppTracker::restore(&site, state.as_deref().unwrap()).unwrap().provisional();
            out.append(&mut last);
            out.sort();
            out
        };
        let whole = run(&[]);
        assert!(whole.visits.iter().any(|v| v.device == DeviceId(1)), "{whole:?}");
        assert!(whole.passes.iter().any(|p| p.device == DeviceId(2)), "{whole:?}");
        assert_eq!(run(&[30, 61]), whole);
        assert_eq!(run(&[1, 50, 80]), whole);
    }

    #[test]
    fn a_site_without_geo_takes_no_pings_and_old_states_still_load() {
        let no_geo = Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[{"id":"s","name":"s","category":"c","polygon":[[0,0],[1,0],[1,1]]}],"sensors":[]}"#,
        )
        .unwrap();
        assert!(matches!(AppTracker::new(&no_geo, GeofenceConfig::default(), &SessionizeConfig::default()), Err(GeofenceError::NoGeo)));
        let old = r#"{"config":{"inside_p":0.5,"near_m":8.0,"bridge_s":120,"max_accuracy_m":50.0,"smooth_s":60},"last":{},
            "sessions":{"min_dwell":120000,"idle":600000,"devices":{}}}"#;
        let t = AppTracker::restore(&site(), old).unwrap();
        assert_eq!(t.config, GeofenceConfig::default());
        assert!(matches!(AppTracker::restore(&site(), "{}"), Err(GeofenceError::State(_))));
    }
}
