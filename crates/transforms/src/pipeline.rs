//! The pipeline state machine: reorder → link → activity → locate → sessionize, on event
//! time. Linking ([`crate::link::Linker`]) replaces a randomized MAC's pseudonym by its
//! day-scoped device estimate, so visits, passes and activity are per estimate; the
//! per-minute presence records keep the MAC pseudonyms (occupancy links them again at query
//! time, with the batch rules).
//!
//! [`Pipeline`] takes pseudonymous observations one at a time (`push`) and emits finished
//! visits and passes. Its whole state serializes (`snapshot`/`restore`), so ingesting a
//! stream in one run or in several, whole or in chunks, gives the same result: the outcome
//! depends only on the sequence of observations. Sweeps that close idle windows and
//! episodes run every [`SWEEP_MS`] of event time. [`Pipeline::provisional`] closes a copy of
//! the state as if the input had ended, for reports between ingests. [`Pipeline::forget`]
//! erases a device from the open state (opt-out and erasure). It takes no wall-clock time and
//! does no I/O.

use crate::activity::{Activity, DayActivity};
use crate::config::{LocateConfig, PipelineConfig, SessionizeConfig};
use crate::locate::{Fix, Locator, SensorMap, SiteModel, StrongestSensor};
use crate::occupancy::{MinutePresence, PresenceRecorder};
use crate::reorder::Reorder;
use crate::sessionize::Presence;
use crate::sessionize::{Sessionizer, Sessions};
use footfall_core::time::LocalCalendar;
use footfall_core::{DeviceId, Millis, Observation, Site};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Event-time interval between sweeps of idle state.
pub const SWEEP_MS: Millis = 10_000;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    /// Streaming thresholds the state was built with; a restore under others is refused.
    /// (Exclusion rules apply at query time and may change freely.)
    locate: LocateConfig,
    sessionize: SessionizeConfig,
    #[serde(default)]
    link: crate::link::LinkConfig,
    #[serde(default)]
    linker: crate::link::Linker,
    /// Sensor and store ids in index order, to remap indexes when the site file changes.
    sensors: Vec<String>,
    stores: Vec<String>,
    reorder: Reorder,
    locator: Locator,
    sessionizer: Sessionizer,
    next_sweep: Millis,
    processed: u64,
    /// Event time of the last processed observation.
    #[serde(default)]
    last_ts: Option<Millis>,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("saved pipeline state is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error(
        "the saved pipeline state was built with other [locate], [sessionize] or [link] thresholds; use the same configuration, or re-ingest into a new database to change them"
    )]
    ConfigChanged,
}

/// What [`Pipeline::forget`] erased from the open state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forgotten {
    pub observations: usize,
    pub windows: usize,
    pub episodes: usize,
}

impl Forgotten {
    pub fn total(&self) -> usize {
        self.observations + self.windows + self.episodes
    }
}

/// Visits, passes and activity produced by a run.
pub type PipelineOutput = Sessions;

#[derive(Clone)]
pub struct Pipeline {
    map: SensorMap,
    cal: LocalCalendar,
    state: State,
    activity: Activity,
    presence: PresenceRecorder,
    ready: Vec<Vec<Observation>>,
    fixes: Vec<Fix>,
}

impl Pipeline {
    pub fn new(site: &Site, config: PipelineConfig) -> Self {
        let state = State {
            reorder: Reorder::new(config.sessionize.lateness_s as Millis * 1000),
            locator: Locator::StrongestSensor(StrongestSensor::new(&config.locate)),
            sessionizer: Sessionizer::new(&config.sessionize),
            next_sweep: Millis::MIN,
            processed: 0,
            last_ts: None,
            link: config.link,
            linker: Default::default(),
            locate: config.locate,
            sessionize: config.sessionize,
            sensors: site.sensors.iter().map(|s| s.id.clone()).collect(),
            stores: site.stores.iter().map(|s| s.id.clone()).collect(),
        };
        Self::with_state(site, state)
    }

    fn with_state(site: &Site, state: State) -> Self {
        Self {
            map: SensorMap::new(site, &state.locate),
            cal: LocalCalendar::new(site.tz()),
            activity: Activity::new(LocalCalendar::new(site.tz())),
            presence: PresenceRecorder::default(),
            state,
            ready: Vec::new(),
            fixes: Vec::new(),
        }
    }

    /// Continue from a [`Pipeline::snapshot`].
    pub fn restore(site: &Site, config: &PipelineConfig, snapshot: &str) -> Result<Self, RestoreError> {
        let mut state: State = serde_json::from_str(snapshot)?;
        if state.locate != config.locate || state.sessionize != config.sessionize || state.link != config.link {
            return Err(RestoreError::ConfigChanged);
        }
        // The site may have gained, lost or reordered sensors and stores since the state was
        // saved: move held indexes to the new ones, dropping what no longer exists.
        let remap = |old: &[String], new: Vec<&str>| -> Option<Vec<Option<u16>>> {
            (old.iter().map(String::as_str).collect::<Vec<_>>() != new)
                .then(|| old.iter().map(|id| new.iter().position(|n| n == id).map(|i| i as u16)).collect())
        };
        if let Some(m) = remap(&state.sensors, site.sensors.iter().map(|s| s.id.as_str()).collect()) {
            state.reorder.remap_sensors(&m);
            state.locator.remap_sensors(&m);
            state.sensors = site.sensors.iter().map(|s| s.id.clone()).collect();
        }
        if let Some(m) = remap(&state.stores, site.stores.iter().map(|s| s.id.as_str()).collect()) {
            state.sessionizer.remap_stores(&m);
            state.stores = site.stores.iter().map(|s| s.id.clone()).collect();
        }
        Ok(Self::with_state(site, state))
    }

    /// Use the site's trained fingerprint model from now on (or, with `None`, the
    /// strongest-sensor rule). Open windows carry over; the choice is not part of the saved
    /// state, so give the model again after a restore.
    pub fn set_locate_model(&mut self, model: Option<Arc<SiteModel>>) {
        self.map.model = model;
        let l = std::mem::replace(&mut self.state.locator, Locator::StrongestSensor(StrongestSensor::new(&self.state.locate)));
        self.state.locator = l.for_map(&self.map);
    }

    /// The whole state as JSON (activity excluded: take it with [`Pipeline::take_activity`]).
    pub fn snapshot(&self) -> String {
        serde_json::to_string(&self.state).unwrap_or_default()
    }

    /// The state without the observations held for reordering, for a caller that keeps
    /// them elsewhere (the server's journal) and gives them back after [`Pipeline::restore`]
    /// with [`Pipeline::rehold`]. Its size does not grow with the input rate × lateness.
    pub fn snapshot_without_held(&mut self) -> String {
        let held = self.state.reorder.take_held();
        let json = self.snapshot();
        self.state.reorder.put_back(held);
        json
    }

    /// Everything observed before this event time has been processed (or counted late);
    /// later observations may still be held.
    pub fn released(&self) -> Millis {
        self.state.reorder.released()
    }

    /// Give back an observation left out by [`Pipeline::snapshot_without_held`] (those
    /// before [`Pipeline::released`] are ignored: they were processed already). Push them
    /// in their original order, before any new observation.
    pub fn rehold(&mut self, o: Observation) {
        self.state.reorder.rehold(o);
    }

    pub fn push(&mut self, o: Observation, out: &mut Sessions) {
        self.state.reorder.push(o, &mut self.ready);
        if !self.ready.is_empty() {
            self.process_ready(out);
        }
    }

    /// Process the buckets the reorder released, in order, and give their vectors back.
    fn process_ready(&mut self, out: &mut Sessions) {
        let mut ready = std::mem::take(&mut self.ready);
        for bucket in ready.drain(..) {
            for &o in &bucket {
                self.process(o, out);
            }
            self.state.reorder.recycle(bucket);
        }
        self.ready = ready;
    }

    fn process(&mut self, mut o: Observation, out: &mut Sessions) {
        self.state.processed += 1;
        self.state.last_ts = Some(self.state.last_ts.map_or(o.ts, |t| t.max(o.ts)));
        self.presence.record(&o);
        if o.randomized && self.state.link.ingest {
            let (day, _) = self.cal.day_hour(o.ts);
            o.device = self.state.linker.assign(&self.state.link, day, &o);
        }
        self.activity.record(&o);
        if o.ts >= self.state.next_sweep {
            self.sweep(o.ts, out);
            self.state.next_sweep = (o.ts.div_euclid(SWEEP_MS) + 1) * SWEEP_MS;
        }
        self.state.locator.push(&self.map, &o, &mut self.fixes);
        for f in self.fixes.drain(..) {
            self.state.sessionizer.push(&f, out);
        }
    }

    fn sweep(&mut self, now: Millis, out: &mut Sessions) {
        self.state.locator.advance(&self.map, now, &mut self.fixes);
        for f in self.fixes.drain(..) {
            self.state.sessionizer.push(&f, out);
        }
        self.state.sessionizer.advance(now, out);
    }

    /// End of input: release and close everything.
    pub fn finish(&mut self, out: &mut Sessions) {
        self.state.reorder.finish(&mut self.ready);
        self.process_ready(out);
        self.state.locator.finish(&self.map, &mut self.fixes);
        for f in self.fixes.drain(..) {
            self.state.sessionizer.push(&f, out);
        }
        self.state.sessionizer.finish(out);
    }

    /// What finishing now would add, without changing this pipeline.
    pub fn provisional(&self) -> Sessions {
        let mut copy = self.clone();
        let mut out = Sessions::default();
        copy.finish(&mut out);
        out
    }

    /// Who is inside which store as of the last processed observation (event time, which
    /// trails arrival by the reorder lateness): devices with an inside fix in the last
    /// `recent_ms`. `None` before any observation.
    pub fn present(&self, recent_ms: Millis) -> Option<(Millis, Vec<Presence>)> {
        let now = self.state.last_ts?;
        Some((now, self.state.sessionizer.present(now - recent_ms)))
    }

    /// Erase `device` from the open state: its held observations, its open locate window,
    /// its open episodes and its activity not yet taken, without emitting any visit or pass
    /// for them. Returns how many observations, windows and episodes were held. Save the
    /// [`Pipeline::snapshot`] afterwards, in the same transaction as the stored rows' erasure.
    pub fn forget(&mut self, device: DeviceId) -> Forgotten {
        self.ready.iter_mut().for_each(|b| b.retain(|o| o.device != device));
        let observations = self.state.reorder.forget(device);
        // A randomized MAC's open state is held under its estimate.
        let held = self.state.linker.forget(device).unwrap_or(device);
        self.fixes.retain(|f| f.device != held);
        self.activity.forget(held);
        Forgotten { observations, windows: usize::from(self.state.locator.forget(held)), episodes: self.state.sessionizer.forget(held) }
    }

    /// Activity recorded since the last call.
    pub fn take_activity(&mut self) -> Vec<DayActivity> {
        self.activity.drain()
    }

    /// Per-minute presence records since the last call (see [`MinutePresence`]).
    pub fn take_presence(&mut self) -> Vec<MinutePresence> {
        self.presence.drain()
    }

    pub fn late(&self) -> u64 {
        self.state.reorder.late
    }

    /// Observations held back for reordering (not yet processed).
    pub fn held(&self) -> usize {
        self.state.reorder.held()
    }

    pub fn processed(&self) -> u64 {
        self.state.processed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::DeviceId;

    fn site(sensors: &str) -> Site {
        Site::from_json(&format!(
            r#"{{"venue":"T","timezone":"UTC","stores":[
            {{"id":"s1","name":"A","category":"c","polygon":[[0,0],[10,0],[10,10],[0,10]]}},
            {{"id":"s2","name":"B","category":"c","polygon":[[10,0],[20,0],[20,10],[10,10]]}}],
            "sensors":[{sensors}]}}"#
        ))
        .unwrap()
    }

    fn obs(ts: Millis, sensor: u16, dev: u64) -> Observation {
        Observation::basic(ts, sensor, DeviceId(dev), -55)
    }

    #[test]
    fn restore_under_a_changed_site_remaps_indexes() {
        let old = site(r#"{"id":"a","x":5,"y":5,"store":"s1"},{"id":"b","x":15,"y":5,"store":"s2"}"#);
        // The new site lists b first and adds a sensor.
        let new = site(r#"{"id":"b","x":15,"y":5,"store":"s2"},{"id":"c","x":6,"y":6,"store":"s1"},{"id":"a","x":5,"y":5,"store":"s1"}"#);
        let mut p = Pipeline::new(&old, PipelineConfig::default());
        let mut out = Sessions::default();
        for i in 0..30 {
            p.push(obs(i * 10_000, 0, 1), &mut out); // device 1 in s1 via sensor a
            p.push(obs(i * 10_000 + 1, 1, 2), &mut out); // device 2 in s2 via sensor b
        }
        let mut whole = out.clone();
        let mut reference = p.clone();
        reference.finish(&mut whole);
        let mut restored = Pipeline::restore(&new, &PipelineConfig::default(), &p.snapshot()).unwrap();
        restored.finish(&mut out);
        whole.sort();
        out.sort();
        assert_eq!(out.visits.iter().map(|v| (v.device, v.store)).collect::<Vec<_>>(), vec![(DeviceId(1), 0), (DeviceId(2), 1)]);
        assert_eq!(out, whole);
        let mut other = PipelineConfig::default();
        other.exclude.fixed_min_hours = 3;
        assert!(Pipeline::restore(&new, &other, &p.snapshot()).is_ok(), "exclusion rules may change");
        other.locate.pass_rssi = -70;
        assert!(matches!(Pipeline::restore(&new, &other, &p.snapshot()), Err(RestoreError::ConfigChanged)));
    }

    #[test]
    fn snapshot_without_held_plus_rehold_continues_exactly() {
        let st = site(r#"{"id":"a","x":5,"y":5,"store":"s1"},{"id":"b","x":15,"y":5,"store":"s2"}"#);
        // Slightly out of order, over 40 minutes, two devices.
        let input: Vec<Observation> = (0..480).map(|i| obs(i * 5_000 - (i % 3) * 1_700, (i % 2) as u16, 1 + (i % 2) as u64)).collect();
        let run = |cut: usize| -> Sessions {
            let mut p = Pipeline::new(&st, PipelineConfig::default());
            let mut out = Sessions::default();
            for o in &input[..cut] {
                p.push(*o, &mut out);
            }
            let released = p.released();
            let held = p.held();
            let snap = p.snapshot_without_held();
            assert_eq!(p.held(), held, "the snapshot leaves the live pipeline as it was");
            let mut q = Pipeline::restore(&st, &PipelineConfig::default(), &snap).unwrap();
            assert_eq!(q.held(), 0);
            for o in input[..cut].iter().filter(|o| o.ts >= released) {
                q.rehold(*o);
            }
            assert_eq!(q.held(), held, "everything held is given back");
            for o in &input[cut..] {
                q.push(*o, &mut out);
            }
            q.finish(&mut out);
            out.sort();
            out
        };
        let whole = run(input.len());
        assert!(!whole.visits.is_empty());
        for cut in [1, 37, 200, 479] {
            assert_eq!(run(cut), whole, "cut at {cut}");
        }
    }

    #[test]
    fn forget_erases_a_device_from_the_open_state_only() {
        let s = site(r#"{"id":"a","x":5,"y":5,"store":"s1"},{"id":"b","x":15,"y":5,"store":"s2"}"#);
        let mut p = Pipeline::new(&s, PipelineConfig::default());
        let mut out = Sessions::default();
        for i in 0..60 {
            p.push(obs(i * 5_000, 0, 1), &mut out);
            p.push(obs(i * 5_000 + 1, 1, 2), &mut out);
        }
        let hex = DeviceId(1).to_string();
        assert!(p.snapshot().contains(&hex), "the open state holds device 1");
        let f = p.forget(DeviceId(1));
        assert!(f.observations > 0 && f.windows == 1 && f.episodes == 1, "{f:?}");
        assert!(!p.snapshot().contains(&hex), "nothing of device 1 is left in the snapshot");
        assert_eq!(p.forget(DeviceId(1)), Forgotten::default(), "nothing twice");
        let mut rest = Sessions::default();
        p.finish(&mut rest);
        assert!(out.visits.iter().chain(rest.visits.iter()).all(|v| v.device == DeviceId(2)));
        assert!(rest.visits.iter().any(|v| v.device == DeviceId(2)), "others are kept");
        assert!(p.take_activity().iter().all(|a| a.device == DeviceId(2)));
    }
}
