//! Locate: from the sensors that hear a device to the store (and zone) it is in.
//!
//! The first locator, [`StrongestSensor`], groups each device's observations into short
//! windows (`locate.window_s`, starting at the window's first observation) and averages RSSI
//! per sensor. If the strongest sensor's mean reaches its visitor threshold, the window is a
//! fix *inside* that sensor's store, in the zone the sensor sits in. Otherwise the device is
//! *near* every store whose best sensor reaches `locate.pass_rssi`. [`Locator`] is the closed
//! set of locators the pipeline can run; the survey-trained fingerprint model joins it later
//! behind the same `push`/`advance`/`finish` interface. This module does not build visits.

use crate::config::LocateConfig;
use footfall_core::{DeviceId, Millis, Observation, Site};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;

/// Where one device was during one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    pub device: DeviceId,
    pub randomized: bool,
    /// First and last observation of the window.
    pub t0: Millis,
    pub t1: Millis,
    pub store: u16,
    /// Zone index within the store (inside fixes only, when the sensor sits in a zone).
    pub zone: Option<u16>,
    /// Inside the store (a visitor) rather than near its front.
    pub inside: bool,
}

/// What the locator needs to know of the site, per sensor index.
#[derive(Clone, Debug, Default)]
pub struct SensorMap {
    pub store: Vec<u16>,
    pub zone: Vec<Option<u16>>,
    pub visitor_rssi: Vec<i16>,
    pub stores: usize,
}

impl SensorMap {
    pub fn new(site: &Site, cfg: &LocateConfig) -> Self {
        let n = site.sensors.len() as u16;
        Self {
            store: (0..n).map(|s| site.sensor_store(s)).collect(),
            zone: (0..n).map(|s| site.sensor_zone(s)).collect(),
            visitor_rssi: site.sensors.iter().map(|s| s.visitor_rssi.unwrap_or(cfg.visitor_rssi)).collect(),
            stores: site.stores.len(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Window {
    start: Millis,
    last: Millis,
    randomized: bool,
    /// (sensor, sum of RSSI, count), in order of first hearing.
    acc: Vec<(u16, i32, u32)>,
}

/// The strongest-sensor rule over short windows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StrongestSensor {
    window_ms: Millis,
    pass_rssi: i16,
    open: FxHashMap<DeviceId, Window>,
}

impl StrongestSensor {
    pub fn new(cfg: &LocateConfig) -> Self {
        Self { window_ms: cfg.window_s as Millis * 1000, pass_rssi: cfg.pass_rssi, open: FxHashMap::default() }
    }

    fn close(pass_rssi: i16, map: &SensorMap, device: DeviceId, w: &Window, out: &mut Vec<Fix>) {
        let mean = |&(_, sum, n): &(u16, i32, u32)| sum as f32 / n as f32;
        let Some(best) = w.acc.iter().max_by(|a, b| mean(a).total_cmp(&mean(b)).then(b.0.cmp(&a.0))) else {
            return;
        };
        let base = Fix { device, randomized: w.randomized, t0: w.start, t1: w.last, store: 0, zone: None, inside: false };
        if mean(best) >= map.visitor_rssi[best.0 as usize] as f32 {
            out.push(Fix { store: map.store[best.0 as usize], zone: map.zone[best.0 as usize], inside: true, ..base });
            return;
        }
        let mut per_store: Vec<(u16, f32)> = Vec::new();
        for a in &w.acc {
            let store = map.store[a.0 as usize];
            let m = mean(a);
            match per_store.iter_mut().find(|(s, _)| *s == store) {
                Some(e) => e.1 = e.1.max(m),
                None => per_store.push((store, m)),
            }
        }
        per_store.sort_by_key(|e| e.0);
        for (store, m) in per_store {
            if m >= pass_rssi as f32 {
                out.push(Fix { store, ..base });
            }
        }
    }

    pub fn push(&mut self, map: &SensorMap, o: &Observation, out: &mut Vec<Fix>) {
        let fresh = || Window { start: o.ts, last: o.ts, randomized: o.randomized, acc: Vec::new() };
        let w = match self.open.entry(o.device) {
            Entry::Occupied(e) => {
                let w = e.into_mut();
                if o.ts >= w.start + self.window_ms {
                    let done = std::mem::replace(w, fresh());
                    Self::close(self.pass_rssi, map, o.device, &done, out);
                }
                w
            }
            Entry::Vacant(e) => e.insert(fresh()),
        };
        w.last = w.last.max(o.ts);
        match w.acc.iter_mut().find(|a| a.0 == o.sensor) {
            Some(a) => {
                a.1 += o.rssi as i32;
                a.2 += 1;
            }
            None => w.acc.push((o.sensor, o.rssi as i32, 1)),
        }
    }

    /// Close the windows that ended at or before `now`, in a deterministic order.
    pub fn advance(&mut self, map: &SensorMap, now: Millis, out: &mut Vec<Fix>) {
        let mut done: Vec<(Millis, DeviceId)> =
            self.open.iter().filter(|(_, w)| w.start + self.window_ms <= now).map(|(d, w)| (w.start, *d)).collect();
        done.sort_unstable();
        for (_, d) in done {
            if let Some(w) = self.open.remove(&d) {
                Self::close(self.pass_rssi, map, d, &w, out);
            }
        }
    }

    pub fn finish(&mut self, map: &SensorMap, out: &mut Vec<Fix>) {
        self.advance(map, Millis::MAX, out);
    }

    /// Drop the open window of `device` without closing it; whether there was one.
    pub fn forget(&mut self, device: DeviceId) -> bool {
        self.open.remove(&device).is_some()
    }

    /// Move sensor indexes to a new site's (`map[old] = new`), dropping removed sensors.
    pub fn remap_sensors(&mut self, map: &[Option<u16>]) {
        for w in self.open.values_mut() {
            w.acc.retain_mut(|a| match map.get(a.0 as usize).copied().flatten() {
                Some(n) => {
                    a.0 = n;
                    true
                }
                None => false,
            });
        }
        self.open.retain(|_, w| !w.acc.is_empty());
    }
}

/// The locators the pipeline can run (a closed set).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Locator {
    StrongestSensor(StrongestSensor),
}

impl Locator {
    pub fn push(&mut self, map: &SensorMap, o: &Observation, out: &mut Vec<Fix>) {
        match self {
            Locator::StrongestSensor(l) => l.push(map, o, out),
        }
    }
    pub fn advance(&mut self, map: &SensorMap, now: Millis, out: &mut Vec<Fix>) {
        match self {
            Locator::StrongestSensor(l) => l.advance(map, now, out),
        }
    }
    pub fn finish(&mut self, map: &SensorMap, out: &mut Vec<Fix>) {
        match self {
            Locator::StrongestSensor(l) => l.finish(map, out),
        }
    }
    pub fn remap_sensors(&mut self, map: &[Option<u16>]) {
        match self {
            Locator::StrongestSensor(l) => l.remap_sensors(map),
        }
    }
    /// Drop everything held for `device`, emitting nothing; whether anything was held.
    pub fn forget(&mut self, device: DeviceId) -> bool {
        match self {
            Locator::StrongestSensor(l) => l.forget(device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> SensorMap {
        // sensors 0,1 in store 0 (zones 0,1); sensor 2 in store 1 (no zone)
        SensorMap { store: vec![0, 0, 1], zone: vec![Some(0), Some(1), None], visitor_rssi: vec![-67, -67, -60], stores: 2 }
    }

    fn obs(ts: Millis, sensor: u16, rssi: i16) -> Observation {
        Observation::basic(ts, sensor, DeviceId(7), rssi)
    }

    #[test]
    fn strongest_mean_decides_inside_and_zone() {
        let m = map();
        let mut l = StrongestSensor::new(&LocateConfig::default());
        let mut out = Vec::new();
        for o in [obs(0, 0, -70), obs(1_000, 1, -64), obs(2_000, 0, -66), obs(3_000, 2, -80)] {
            l.push(&m, &o, &mut out);
        }
        assert!(out.is_empty());
        l.push(&m, &obs(10_000, 2, -90), &mut out);
        assert_eq!(out, vec![Fix { device: DeviceId(7), randomized: false, t0: 0, t1: 3_000, store: 0, zone: Some(1), inside: true }]);
    }

    #[test]
    fn near_fixes_for_each_store_above_pass_threshold() {
        let m = map();
        let mut l = StrongestSensor::new(&LocateConfig::default());
        let mut out = Vec::new();
        // sensor 2 is strongest (-62) but its own visitor threshold is -60: not inside.
        for o in [obs(0, 0, -74), obs(1_000, 2, -62), obs(2_000, 1, -90)] {
            l.push(&m, &o, &mut out);
        }
        l.finish(&m, &mut out);
        assert_eq!(out.iter().map(|f| (f.store, f.inside)).collect::<Vec<_>>(), vec![(0, false), (1, false)]);
    }
}
