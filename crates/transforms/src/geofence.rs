//! Geofence: an app location ping (latitude, longitude, horizontal accuracy) → location fixes
//! of stores, the same [`Fix`]es the sensor locator produces, so app IDs get visits and passes
//! from the same [`Sessionizer`] as WiFi devices.
//!
//! Accuracy-aware rule, per ping: the true position is taken as a 2-D Gaussian around the
//! reported one whose 68% radius is the reported accuracy (σ = accuracy / 1.509 per axis),
//! represented by a fixed set of 96 equally likely points (8 rings of equal probability × 12
//! directions). The ping is an *inside* fix of a store when at least `inside_p` (0.5) of the
//! points fall in that store's polygon, with the zone holding at least `inside_p` of those
//! points (else no zone). Otherwise it is a *near* fix of every store for which at least
//! `inside_p` of the points lie outside every store and within `near_m` (8 m) of one of its
//! entrances (of its polygon when the site lists none). A walk past a store front takes
//! seconds and pings come tens of seconds apart, so between two consecutive pings of a device
//! at most `bridge_s` (120 s) apart, the straight line between the reported positions is
//! sampled every metre and a sample outside every store within `near_m` of an entrance makes
//! a near fix at the interpolated time. Pings of one device must come in time order; a ping
//! older than the device's last is dropped and counted.
//!
//! This module owns the rule and the per-device state it needs (the last ping); it must not
//! see advertising IDs (only their pseudonyms) and does not decide what a visit is.

use crate::locate::Fix;
use crate::sessionize::{Sessionizer, Sessions};
use footfall_core::geo::GeoRef;
use footfall_core::geometry::{Point, Polygon};
use footfall_core::{DeviceId, Millis, Site};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Thresholds of the rule (the `[pings]` config section).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeofenceConfig {
    /// Share of the accuracy disc that must fall in a store (or near its entrance).
    pub inside_p: f64,
    /// Distance from an entrance within which a corridor position is near the store, m.
    pub near_m: f64,
    /// Longest gap between two pings of a device still bridged by a straight line, s.
    pub bridge_s: u32,
    /// Pings less accurate than this are dropped (counted), m.
    pub max_accuracy_m: f64,
    /// A ping's position is combined with the device's pings of the last `smooth_s` seconds
    /// (inverse-variance weighted mean, with the combined accuracy) before geofencing.
    pub smooth_s: u32,
}

impl Default for GeofenceConfig {
    fn default() -> Self {
        Self { inside_p: 0.5, near_m: 8.0, bridge_s: 120, max_accuracy_m: 50.0, smooth_s: 60 }
    }
}

const RINGS: usize = 8;
const DIRECTIONS: usize = 12;

/// The equally likely offsets of a unit Gaussian (σ = 1 per axis).
fn unit_disc() -> Vec<Point> {
    let mut out = Vec::with_capacity(RINGS * DIRECTIONS);
    for k in 0..RINGS {
        // The ring at the median radius of its probability band.
        let q = (k as f64 + 0.5) / RINGS as f64;
        let r = (-2.0 * (1.0 - q).ln()).sqrt();
        for j in 0..DIRECTIONS {
            let a = std::f64::consts::TAU * (j as f64 + 0.5 * (k % 2) as f64) / DIRECTIONS as f64;
            out.push(Point::new(r * a.cos(), r * a.sin()));
        }
    }
    out
}

#[derive(Clone, Debug)]
struct StoreShape {
    polygon: Polygon,
    zones: Vec<Polygon>,
    entrances: Vec<Point>,
}

/// Why a ping made no fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingDrop {
    /// Accuracy worse than `max_accuracy_m`.
    Inaccurate,
    /// Older than the device's previous ping.
    OutOfOrder,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct LastPing {
    ts: Millis,
    x: f64,
    y: f64,
    acc: f64,
}

/// The state of the app feed's location: the geofence and the sessionizer, per device.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppTracker {
    config: GeofenceConfig,
    /// Each device's pings within the last `smooth_s` (newest last).
    last: FxHashMap<DeviceId, Vec<LastPing>>,
    sessions: Sessionizer,
    #[serde(skip)]
    shapes: Vec<StoreShape>,
    #[serde(skip)]
    geo: Option<GeoRef>,
    #[serde(skip)]
    disc: Vec<Point>,
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
        let mut t = AppTracker {
            config,
            last: FxHashMap::default(),
            sessions: Sessionizer::new(sessionize),
            shapes: Vec::new(),
            geo: None,
            disc: Vec::new(),
        };
        t.attach(site)?;
        Ok(t)
    }

    /// Continue from [`AppTracker::snapshot`].
    pub fn restore(site: &Site, snapshot: &str) -> Result<Self, GeofenceError> {
        let mut t: AppTracker = serde_json::from_str(snapshot).map_err(|e| GeofenceError::State(e.to_string()))?;
        t.attach(site)?;
        Ok(t)
    }

    fn attach(&mut self, site: &Site) -> Result<(), GeofenceError> {
        self.geo = Some(site.geo.ok_or(GeofenceError::NoGeo)?);
        self.disc = unit_disc();
        self.shapes = site
            .stores
            .iter()
            .map(|s| StoreShape {
                polygon: s.polygon.clone(),
                zones: s.zones.iter().map(|z| z.polygon.clone()).collect(),
                entrances: s.entrances.iter().map(|&[x, y]| Point::new(x, y)).collect(),
            })
            .collect();
        Ok(())
    }

    pub fn snapshot(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn store_at(&self, p: Point) -> Option<usize> {
        self.shapes.iter().position(|s| s.polygon.contains(p))
    }

    fn near(&self, s: &StoreShape, p: Point) -> bool {
        let d = if s.entrances.is_empty() {
            s.polygon.boundary_distance(p)
        } else {
            s.entrances.iter().map(|e| e.dist(p)).fold(f64::INFINITY, f64::min)
        };
        d <= self.config.near_m
    }

    /// The fixes of one ping at site point `q` with accuracy `acc` (m).
    fn fixes(&self, device: DeviceId, ts: Millis, q: Point, acc: f64, out: &mut Vec<Fix>) {
        let sd = acc / 1.509;
        let n = self.disc.len() as f64;
        let pts: Vec<Point> = self.disc.iter().map(|d| Point::new(q.x + d.x * sd, q.y + d.y * sd)).collect();
        let at: Vec<Option<usize>> = pts.iter().map(|p| self.store_at(*p)).collect();
        let mut inside = vec![0usize; self.shapes.len()];
        for s in at.iter().flatten() {
            inside[*s] += 1;
        }
        let outside: Vec<Point> = pts.iter().zip(&at).filter(|(_, s)| s.is_none()).map(|(p, _)| *p).collect();
        let fix = |store: usize, zone: Option<u16>, inside: bool| Fix {
            device,
            randomized: false,
            t0: ts,
            t1: ts,
            store: store as u16,
            zone,
            inside,
        };
        if let Some((s, &k)) = inside.iter().enumerate().max_by_key(|(_, k)| **k)
            && k as f64 >= self.config.inside_p * n
        {
            let shape = &self.shapes[s];
            let in_store: Vec<Point> = pts.iter().zip(&at).filter(|(_, a)| **a == Some(s)).map(|(p, _)| *p).collect();
            let zone = shape
                .zones
                .iter()
                .enumerate()
                .map(|(z, poly)| (z, in_store.iter().filter(|p| poly.contains(**p)).count()))
                .max_by_key(|(_, c)| *c)
                .filter(|(_, c)| *c as f64 >= self.config.inside_p * in_store.len() as f64)
                .map(|(z, _)| z as u16);
            out.push(fix(s, zone, true));
            return;
        }
        for (s, shape) in self.shapes.iter().enumerate() {
            if outside.iter().filter(|p| self.near(shape, **p)).count() as f64 >= self.config.inside_p * n {
                out.push(fix(s, None, false));
            }
        }
    }

    /// Accept one ping of `device` (a pseudonym) and pass its fixes to the sessionizer.
    pub fn push(&mut self, device: DeviceId, ts: Millis, lat: f64, lon: f64, accuracy_m: f64, out: &mut Sessions) -> Result<(), PingDrop> {
        if accuracy_m.is_nan() || accuracy_m > self.config.max_accuracy_m {
            return Err(PingDrop::Inaccurate);
        }
        let Some(geo) = self.geo else { return Ok(()) };
        let q = geo.to_site(lat, lon);
        let prev = self.last.get(&device).and_then(|v| v.last()).copied();
        if prev.is_some_and(|p| ts < p.ts) {
            return Err(PingDrop::OutOfOrder);
        }
        let mut fixes = Vec::new();
        if let Some(p) = prev
            && ts - p.ts <= self.config.bridge_s as Millis * 1000
        {
            let a = Point::new(p.x, p.y);
            let steps = a.dist(q).ceil() as usize;
            for k in 1..steps {
                let f = k as f64 / steps as f64;
                let m = Point::new(a.x + (q.x - a.x) * f, a.y + (q.y - a.y) * f);
                if self.store_at(m).is_some() {
                    continue;
                }
                let t = p.ts + ((ts - p.ts) as f64 * f) as Millis;
                for (s, shape) in self.shapes.iter().enumerate() {
                    if self.near(shape, m) && !fixes.iter().any(|x: &Fix| x.store as usize == s) {
                        fixes.push(Fix { device, randomized: false, t0: t, t1: t, store: s as u16, zone: None, inside: false });
                    }
                }
            }
        }
        let recent = self.last.entry(device).or_default();
        let horizon = self.config.smooth_s as Millis * 1000;
        recent.retain(|p| ts - p.ts <= horizon);
        recent.push(LastPing { ts, x: q.x, y: q.y, acc: accuracy_m });
        let (mut wx, mut wy, mut w) = (0.0, 0.0, 0.0);
        for p in recent.iter() {
            let k = 1.0 / (p.acc * p.acc);
            wx += p.x * k;
            wy += p.y * k;
            w += k;
        }
        let (mean, acc) = (Point::new(wx / w, wy / w), (1.0 / w).sqrt());
        self.fixes(device, ts, mean, acc, &mut fixes);
        for f in &fixes {
            self.sessions.push(f, out);
        }
        Ok(())
    }

    /// Close what is idle as of `now` (event time: the newest ping of the feed).
    pub fn advance(&mut self, now: Millis, out: &mut Sessions) {
        self.sessions.advance(now, out);
        let keep = (self.config.bridge_s.max(self.config.smooth_s) as Millis * 1000).max(1);
        self.last.retain(|_, v| v.last().is_some_and(|p| now - p.ts <= keep));
    }

    /// A copy's visits and passes as if the feed ended now (for reports between imports).
    pub fn provisional(&self) -> Sessions {
        let mut c = self.sessions.clone();
        let mut out = Sessions::default();
        c.finish(&mut out);
        out
    }

    /// A saved state without `devices` (opt-out, erasure): the new snapshot and how many
    /// devices had open state, or `None` when the snapshot cannot be read.
    pub fn forget_in_snapshot(snapshot: &str, devices: &[DeviceId]) -> Option<(String, usize)> {
        let mut t: AppTracker = serde_json::from_str(snapshot).ok()?;
        let n = devices.iter().filter(|d| t.forget(**d)).count();
        Some((t.snapshot(), n))
    }

    /// Erase a device's open state (opt-out, erasure); whether there was any.
    pub fn forget(&mut self, device: DeviceId) -> bool {
        let a = self.last.remove(&device).is_some();
        self.sessions.forget(device) > 0 || a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SessionizeConfig;
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
    fn the_disc_is_a_gaussian() {
        let d = unit_disc();
        let within = |r: f64| d.iter().filter(|p| (p.x * p.x + p.y * p.y).sqrt() <= r).count() as f64 / d.len() as f64;
        // 68% radius of a 2-D unit Gaussian is 1.509.
        assert!((within(1.509) - 0.68).abs() < 0.07, "{}", within(1.509));
        let mean_x: f64 = d.iter().map(|p| p.x).sum::<f64>() / d.len() as f64;
        assert!(mean_x.abs() < 1e-9);
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
    fn a_vague_ping_is_no_visit() {
        let site = site();
        let g = site.geo.unwrap();
        let t = AppTracker::new(&site, GeofenceConfig::default(), &SessionizeConfig::default()).unwrap();
        let mut fixes = Vec::new();
        // At the shared wall of s1 and s2 with 10 m accuracy: half in each, neither reaches 0.5.
        let q = g.to_site(at(&g, 12.0, 7.0).0, at(&g, 12.0, 7.0).1);
        t.fixes(DeviceId(1), 0, q, 10.0, &mut fixes);
        assert!(fixes.iter().all(|f| !f.inside), "{fixes:?}");
        let no_geo = Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[{"id":"s","name":"s","category":"c","polygon":[[0,0],[1,0],[1,1]]}],"sensors":[]}"#,
        )
        .unwrap();
        assert!(matches!(AppTracker::new(&no_geo, GeofenceConfig::default(), &SessionizeConfig::default()), Err(GeofenceError::NoGeo)));
    }
}
