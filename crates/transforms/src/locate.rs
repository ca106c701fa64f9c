//! Locate: from the sensors that hear a device to the store (and zone) it is in.
//!
//! The first locator, [`StrongestSensor`], groups each device's observations into short
//! windows (`locate.window_s`, starting at the window's first observation) and averages RSSI
//! per sensor. If the strongest sensor's mean reaches its visitor threshold, the window is a
//! fix *inside* that sensor's store, in the zone the sensor sits in. Otherwise the device is
//! *near* every store whose best sensor reaches `locate.pass_rssi`. [`Locator`] is the closed
//! set of locators the pipeline can run. The second, [`FingerprintLocator`], runs when the site
//! has a trained model ([`SiteModel`], in the [`SensorMap`]): the same windows and the same
//! inside/near rule decide the store (so visit counts do not depend on the survey), and the
//! model's zone probabilities for the window, smoothed per device by an HMM over the store's
//! zone graph with a walking-speed limit (`footfall_locate::track`), decide the zone. Without a
//! model it behaves exactly like the strongest-sensor rule. This module does not build visits.

use crate::config::LocateConfig;
use footfall_core::{DeviceId, Millis, Observation, Site};
use footfall_locate::track::{Track, ZoneGraph};
use footfall_locate::{Fingerprint, Model, Scratch};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::sync::Arc;

/// A trained fingerprint model joined to a site: which model access point each sensor is, which
/// site zone each model zone is, and each store's zone graph.
#[derive(Debug)]
pub struct SiteModel {
    pub model: Model,
    ap_of_sensor: Vec<Option<u16>>,
    /// Per model zone: (store, zone within the store), when it names a site zone.
    zone_of: Vec<Option<(u16, u16)>>,
    graphs: Vec<ZoneGraph>,
}

impl SiteModel {
    /// Join `model` to `site`. Model zones are named `STORE/ZONE`; other names (a store without
    /// a zone, `outside...`) are not site zones. Fails when no sensor of the site is in the model.
    pub fn new(site: &Site, model: Model) -> Result<SiteModel, String> {
        let ap_of_sensor: Vec<Option<u16>> = site.sensors.iter().map(|s| model.ap_index(&s.id)).collect();
        if ap_of_sensor.iter().all(Option::is_none) {
            return Err(format!(
                "the model knows none of the site's sensors (it was trained on {} access points such as {:?})",
                model.aps().len(),
                model.aps().first().map(String::as_str).unwrap_or("")
            ));
        }
        let zone_of = model
            .zones()
            .iter()
            .map(|name| {
                let (store, zone) = name.split_once('/')?;
                let si = site.stores.iter().position(|s| s.id == store)?;
                let zi = site.stores[si].zones.iter().position(|z| z.id == zone)?;
                Some((si as u16, zi as u16))
            })
            .collect();
        let graphs = site.stores.iter().map(|s| ZoneGraph::new(&s.zones.iter().map(|z| &z.polygon).collect::<Vec<_>>())).collect();
        Ok(SiteModel { model, ap_of_sensor, zone_of, graphs })
    }

    /// Join a model saved as JSON (`Model::to_json`: a model file, or the copy stored with
    /// the site) to `site`; `name` says where it came from in errors.
    pub fn from_json(site: &Site, json: &str, name: &str) -> Result<SiteModel, String> {
        let model = Model::from_json(json, name).map_err(|e| e.to_string())?;
        SiteModel::new(site, model).map_err(|e| format!("{name}: {e}"))
    }

    /// Sensors of the site the model knows.
    pub fn known_sensors(&self) -> usize {
        self.ap_of_sensor.iter().flatten().count()
    }
}

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
    /// The site's trained fingerprint model, if it has one.
    pub model: Option<Arc<SiteModel>>,
}

impl SensorMap {
    pub fn new(site: &Site, cfg: &LocateConfig) -> Self {
        let n = site.sensors.len() as u16;
        Self {
            store: (0..n).map(|s| site.sensor_store(s)).collect(),
            zone: (0..n).map(|s| site.sensor_zone(s)).collect(),
            visitor_rssi: site.sensors.iter().map(|s| s.visitor_rssi.unwrap_or(cfg.visitor_rssi)).collect(),
            stores: site.stores.len(),
            model: None,
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

/// What the fingerprint locator does to an inside fix before it leaves (the zone).
type Refine<'a> = dyn FnMut(&SensorMap, &Window, &mut Fix) + 'a;

/// The strongest-sensor rule over short windows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StrongestSensor {
    window_ms: Millis,
    pass_rssi: i16,
    open: FxHashMap<DeviceId, Window>,
    /// Emptied per-sensor accumulators of closed windows, reused (allocations only).
    #[serde(skip)]
    spare: Vec<Vec<(u16, i32, u32)>>,
}

/// Emptied accumulators kept for reuse, at most.
const SPARE: usize = 256;

impl StrongestSensor {
    pub fn new(cfg: &LocateConfig) -> Self {
        Self { window_ms: cfg.window_s as Millis * 1000, pass_rssi: cfg.pass_rssi, open: FxHashMap::default(), spare: Vec::new() }
    }

    fn close(pass_rssi: i16, map: &SensorMap, device: DeviceId, w: &Window, out: &mut Vec<Fix>, refine: &mut Refine<'_>) {
        let mean = |&(_, sum, n): &(u16, i32, u32)| sum as f32 / n as f32;
        let Some(best) = w.acc.iter().max_by(|a, b| mean(a).total_cmp(&mean(b)).then(b.0.cmp(&a.0))) else {
            return;
        };
        let base = Fix { device, randomized: w.randomized, t0: w.start, t1: w.last, store: 0, zone: None, inside: false };
        if mean(best) >= map.visitor_rssi[best.0 as usize] as f32 {
            let mut fix = Fix { store: map.store[best.0 as usize], zone: map.zone[best.0 as usize], inside: true, ..base };
            refine(map, w, &mut fix);
            out.push(fix);
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
        self.push_with(map, o, out, &mut |_, _, _| {})
    }

    fn push_with(&mut self, map: &SensorMap, o: &Observation, out: &mut Vec<Fix>, refine: &mut Refine<'_>) {
        let fresh = |acc| Window { start: o.ts, last: o.ts, randomized: o.randomized, acc };
        let w = match self.open.entry(o.device) {
            Entry::Occupied(e) => {
                let w = e.into_mut();
                if o.ts >= w.start + self.window_ms {
                    let done = std::mem::replace(w, fresh(Vec::new()));
                    Self::close(self.pass_rssi, map, o.device, &done, out, refine);
                    w.acc = done.acc;
                    w.acc.clear();
                }
                w
            }
            Entry::Vacant(e) => e.insert(fresh(self.spare.pop().unwrap_or_default())),
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
        self.advance_with(map, now, out, &mut |_, _, _| {})
    }

    fn advance_with(&mut self, map: &SensorMap, now: Millis, out: &mut Vec<Fix>, refine: &mut Refine<'_>) {
        let mut done: Vec<(Millis, DeviceId)> =
            self.open.iter().filter(|(_, w)| w.start + self.window_ms <= now).map(|(d, w)| (w.start, *d)).collect();
        done.sort_unstable();
        for (_, d) in done {
            if let Some(mut w) = self.open.remove(&d) {
                Self::close(self.pass_rssi, map, d, &w, out, refine);
                if self.spare.len() < SPARE {
                    w.acc.clear();
                    self.spare.push(w.acc);
                }
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

/// The survey-trained locator: strongest-sensor windows and store decision, the model's zone
/// probabilities per window, smoothed per device over the store's zone graph.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FingerprintLocator {
    windows: StrongestSensor,
    /// Per device: (store, belief over its zones).
    tracks: FxHashMap<DeviceId, (u16, Track)>,
    idle_ms: Millis,
    #[serde(skip)]
    scratch: Scratch,
}

/// A device's track is forgotten after this long without an inside fix.
const TRACK_IDLE_MS: Millis = 600_000;

impl FingerprintLocator {
    pub fn new(windows: StrongestSensor) -> Self {
        Self { windows, tracks: FxHashMap::default(), idle_ms: TRACK_IDLE_MS, scratch: Scratch::default() }
    }

    fn into_windows(self) -> StrongestSensor {
        self.windows
    }

    fn refine(
        tracks: &mut FxHashMap<DeviceId, (u16, Track)>,
        scratch: &mut Scratch,
        idle_ms: Millis,
        map: &SensorMap,
        w: &Window,
        fix: &mut Fix,
    ) {
        let Some(sm) = map.model.as_deref() else { return };
        let Some(graph) = sm.graphs.get(fix.store as usize) else { return };
        if graph.is_empty() {
            return;
        }
        let pairs = w
            .acc
            .iter()
            .filter_map(|&(s, sum, n)| sm.ap_of_sensor.get(s as usize).copied().flatten().map(|a| (a, sum as f32 / n as f32)))
            .collect();
        let mut emission = vec![0.0f32; graph.len()];
        if let Some(e) = sm.model.estimate(&Fingerprint::from_pairs(pairs), scratch) {
            for (mz, p) in e.zones {
                if let Some((store, z)) = sm.zone_of.get(mz as usize).copied().flatten()
                    && store == fix.store
                {
                    emission[z as usize] += p;
                }
            }
        }
        let track = match tracks.entry(fix.device) {
            Entry::Occupied(e) => {
                let t = e.into_mut();
                if t.0 != fix.store || t.1.belief.len() != graph.len() || w.start - t.1.t > idle_ms {
                    *t = (fix.store, Track::new(graph.len(), w.start));
                }
                t
            }
            Entry::Vacant(e) => e.insert((fix.store, Track::new(graph.len(), w.start))),
        };
        fix.zone = Some(track.1.step(graph, w.start, &emission) as u16);
    }

    pub fn push(&mut self, map: &SensorMap, o: &Observation, out: &mut Vec<Fix>) {
        let (tracks, scratch, idle) = (&mut self.tracks, &mut self.scratch, self.idle_ms);
        self.windows.push_with(map, o, out, &mut |m, w, f| Self::refine(tracks, scratch, idle, m, w, f));
    }

    pub fn advance(&mut self, map: &SensorMap, now: Millis, out: &mut Vec<Fix>) {
        let (tracks, scratch, idle) = (&mut self.tracks, &mut self.scratch, self.idle_ms);
        self.windows.advance_with(map, now, out, &mut |m, w, f| Self::refine(tracks, scratch, idle, m, w, f));
        if now != Millis::MAX {
            self.tracks.retain(|_, t| t.1.t + idle > now);
        }
    }

    pub fn finish(&mut self, map: &SensorMap, out: &mut Vec<Fix>) {
        self.advance(map, Millis::MAX, out);
        self.tracks.clear();
    }
}

/// The locators the pipeline can run (a closed set).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Locator {
    StrongestSensor(StrongestSensor),
    Fingerprint(Box<FingerprintLocator>),
}

impl Locator {
    /// The locator for a sensor map: the fingerprint locator when the site has a model, the
    /// strongest-sensor rule otherwise. Open windows carry over.
    pub fn for_map(self, map: &SensorMap) -> Locator {
        match (self, map.model.is_some()) {
            (Locator::StrongestSensor(l), true) => Locator::Fingerprint(Box::new(FingerprintLocator::new(l))),
            (Locator::Fingerprint(l), false) => Locator::StrongestSensor(l.into_windows()),
            (l, _) => l,
        }
    }
    pub fn push(&mut self, map: &SensorMap, o: &Observation, out: &mut Vec<Fix>) {
        match self {
            Locator::StrongestSensor(l) => l.push(map, o, out),
            Locator::Fingerprint(l) => l.push(map, o, out),
        }
    }
    pub fn advance(&mut self, map: &SensorMap, now: Millis, out: &mut Vec<Fix>) {
        match self {
            Locator::StrongestSensor(l) => l.advance(map, now, out),
            Locator::Fingerprint(l) => l.advance(map, now, out),
        }
    }
    pub fn finish(&mut self, map: &SensorMap, out: &mut Vec<Fix>) {
        match self {
            Locator::StrongestSensor(l) => l.finish(map, out),
            Locator::Fingerprint(l) => l.finish(map, out),
        }
    }
    pub fn remap_sensors(&mut self, map: &[Option<u16>]) {
        match self {
            Locator::StrongestSensor(l) => l.remap_sensors(map),
            Locator::Fingerprint(l) => {
                l.windows.remap_sensors(map);
                // Store indexes may have moved too: tracks restart.
                l.tracks.clear();
            }
        }
    }
    /// Drop everything held for `device`, emitting nothing; whether anything was held.
    pub fn forget(&mut self, device: DeviceId) -> bool {
        match self {
            Locator::StrongestSensor(l) => l.forget(device),
            Locator::Fingerprint(l) => {
                let track = l.tracks.remove(&device).is_some();
                l.windows.forget(device) || track
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> SensorMap {
        // sensors 0,1 in store 0 (zones 0,1); sensor 2 in store 1 (no zone)
        SensorMap { store: vec![0, 0, 1], zone: vec![Some(0), Some(1), None], visitor_rssi: vec![-67, -67, -60], stores: 2, model: None }
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

    /// Store s1 with zones left (x 0..10) and right (x 10..20) at y 0..5; sensors a and b sit
    /// at y 8, in the store but in no zone, so the strongest-sensor rule names no zone.
    fn zoned_site() -> Site {
        Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[{"id":"s1","name":"A","category":"c","polygon":[[0,0],[20,0],[20,10],[0,10]],
            "zones":[{"id":"left","name":"L","polygon":[[0,0],[10,0],[10,5],[0,5]]},{"id":"right","name":"R","polygon":[[10,0],[20,0],[20,5],[10,5]]}]}],
            "sensors":[{"id":"a","x":2,"y":8,"store":"s1"},{"id":"b","x":18,"y":8,"store":"s1"}]}"#,
        )
        .unwrap()
    }

    fn zoned_model(site: &Site) -> Arc<SiteModel> {
        use footfall_locate::{Label, ModelConfig, Sample, Survey};
        let mut samples = Vec::new();
        for i in 0..10 {
            let j = (i % 3) as f32;
            for (zone, ra, rb) in [(0, -50.0 - j, -75.0 + j), (1, -74.0 - j, -52.0 + j)] {
                let label = Label { building: 0, floor: 0, zone: Some(zone), pos: None };
                samples.push(Sample { fp: Fingerprint(vec![(0, ra), (1, rb)]), label, device: 0, user: 0, time: 0 });
            }
        }
        let survey = Survey { aps: vec!["a".into(), "b".into()], zones: vec!["s1/left".into(), "s1/right".into()], samples };
        Arc::new(SiteModel::new(site, Model::train(ModelConfig::default(), &survey).unwrap()).unwrap())
    }

    /// One window per 10 s: (rssi at a, rssi at b).
    fn zones_for(map: &SensorMap, locator: Locator, windows: &[(i16, i16)]) -> Vec<Option<u16>> {
        let mut l = locator.for_map(map);
        let mut out = Vec::new();
        for (i, &(ra, rb)) in windows.iter().enumerate() {
            let t = i as Millis * 10_000;
            l.push(map, &obs(t, 0, ra), &mut out);
            l.push(map, &obs(t + 1_000, 1, rb), &mut out);
        }
        l.finish(map, &mut out);
        assert!(out.iter().all(|f| f.inside && f.store == 0));
        out.iter().map(|f| f.zone).collect()
    }

    #[test]
    fn the_model_names_zones_and_the_track_smooths_a_flicker() {
        let site = zoned_site();
        let cfg = LocateConfig::default();
        let mut map = SensorMap::new(&site, &cfg);
        let windows = [(-50, -75), (-51, -74), (-73, -52), (-50, -76), (-52, -74), (-74, -51), (-75, -50), (-73, -52), (-74, -50)];
        let plain = zones_for(&map, Locator::StrongestSensor(StrongestSensor::new(&cfg)), &windows);
        assert!(plain.iter().all(Option::is_none), "sensors in no zone: {plain:?}");
        map.model = Some(zoned_model(&site));
        let l = Locator::StrongestSensor(StrongestSensor::new(&cfg));
        let zones = zones_for(&map, l, &windows);
        // Window 2 alone looks like the right zone: the track keeps the device left. From
        // window 5 the right zone is heard for good; filtering (no look-ahead) follows one
        // window later.
        assert_eq!(zones, [0, 0, 0, 0, 0, 0, 1, 1, 1].map(Some).to_vec());
        assert!(SiteModel::new(&site, Model::from_json(&zoned_model(&site).model.to_json(), "m").unwrap()).is_ok());
    }

    #[test]
    fn a_model_of_another_site_is_refused() {
        use footfall_locate::{Label, ModelConfig, Sample, Survey};
        let label = Label { building: 0, floor: 0, zone: None, pos: None };
        let survey = Survey {
            aps: vec!["elsewhere".into()],
            zones: vec![],
            samples: vec![Sample { fp: Fingerprint(vec![(0, -50.0)]), label, device: 0, user: 0, time: 0 }],
        };
        let e = SiteModel::new(&zoned_site(), Model::train(ModelConfig::default(), &survey).unwrap()).unwrap_err();
        assert!(e.contains("none of the site's sensors"), "{e}");
    }
}
