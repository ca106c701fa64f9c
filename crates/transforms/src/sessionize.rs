//! Sessionize: location fixes → visits (with zone stays) and passes, per (device, store).
//!
//! An *episode* is a run of fixes of one device at one store (near or inside) with no gap
//! longer than the idle timeout. Inside an episode, an *inside run* is a run of inside fixes,
//! also split by gaps longer than the idle timeout. An inside run lasting at least the
//! minimum dwell (first to last inside fix) is a [`Visit`]; an episode that produced no
//! visit is a [`Pass`] (a walk-by). Zone stays are consecutive inside fixes in one zone.
//! Time is event time: episodes close when a later fix of the same device and store shows
//! the gap, or when [`Sessionizer::advance`] is told the stream has moved past the timeout.
//! This module does not decide who is a person (see `exclude`).

use crate::config::SessionizeConfig;
use crate::locate::Fix;
use footfall_core::{DeviceId, Millis, Pass, Visit, ZoneStay};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct InsideRun {
    start: Millis,
    end: Millis,
    zones: Vec<ZoneStay>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Episode {
    store: u16,
    first: Millis,
    last: Millis,
    run: Option<InsideRun>,
    had_visit: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct DeviceState {
    randomized: bool,
    episodes: Vec<Episode>,
}

/// A device inside a store at the moment (see [`Sessionizer::present`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presence {
    pub device: DeviceId,
    pub store: u16,
    pub zone: Option<u16>,
}

/// Finished visits and passes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    pub visits: Vec<Visit>,
    pub passes: Vec<Pass>,
}

impl Sessions {
    pub fn append(&mut self, other: &mut Sessions) {
        self.visits.append(&mut other.visits);
        self.passes.append(&mut other.passes);
    }

    /// Canonical order (for comparisons and stable storage).
    pub fn sort(&mut self) {
        self.visits.sort_by_key(|v| (v.start, v.store, v.device, v.end));
        self.passes.sort_by_key(|p| (p.start, p.store, p.device, p.end));
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sessionizer {
    min_dwell: Millis,
    idle: Millis,
    devices: FxHashMap<DeviceId, DeviceState>,
}

impl Sessionizer {
    pub fn new(cfg: &SessionizeConfig) -> Self {
        Self { min_dwell: cfg.min_dwell_s as Millis * 1000, idle: cfg.idle_timeout_s as Millis * 1000, devices: FxHashMap::default() }
    }

    fn finish_run(&self, device: DeviceId, randomized: bool, ep: &mut Episode, out: &mut Sessions) {
        if let Some(run) = ep.run.take()
            && run.end - run.start >= self.min_dwell
        {
            ep.had_visit = true;
            out.visits.push(Visit { device, store: ep.store, start: run.start, end: run.end, randomized, zones: run.zones });
        }
    }

    fn close(&self, device: DeviceId, randomized: bool, mut ep: Episode, out: &mut Sessions) {
        self.finish_run(device, randomized, &mut ep, out);
        if !ep.had_visit {
            out.passes.push(Pass { device, store: ep.store, start: ep.first, end: ep.last, randomized });
        }
    }

    /// Accept one fix (fixes of one device must come in time order).
    pub fn push(&mut self, f: &Fix, out: &mut Sessions) {
        let idle = self.idle;
        let mut state = self.devices.remove(&f.device).unwrap_or(DeviceState { randomized: f.randomized, episodes: Vec::new() });
        let idx = match state.episodes.iter().position(|e| e.store == f.store) {
            Some(i) if f.t0 - state.episodes[i].last > idle => {
                let ep = state.episodes.swap_remove(i);
                self.close(f.device, state.randomized, ep, out);
                None
            }
            other => other,
        };
        let idx = idx.unwrap_or_else(|| {
            state.episodes.push(Episode { store: f.store, first: f.t0, last: f.t1, run: None, had_visit: false });
            state.episodes.len() - 1
        });
        let mut ep = state.episodes.swap_remove(idx);
        ep.last = ep.last.max(f.t1);
        if f.inside {
            if ep.run.as_ref().is_some_and(|r| f.t0 - r.end > idle) {
                self.finish_run(f.device, state.randomized, &mut ep, out);
            }
            let run = ep.run.get_or_insert_with(|| InsideRun { start: f.t0, end: f.t1, zones: Vec::new() });
            run.end = run.end.max(f.t1);
            if let Some(z) = f.zone {
                match run.zones.last_mut() {
                    Some(s) if s.zone == z => s.end = s.end.max(f.t1),
                    _ => run.zones.push(ZoneStay { zone: z, start: f.t0, end: f.t1 }),
                }
            }
        }
        state.episodes.push(ep);
        self.devices.insert(f.device, state);
    }

    /// Close every episode idle for longer than the timeout as of `now`.
    pub fn advance(&mut self, now: Millis, out: &mut Sessions) {
        let idle = self.idle;
        let mut ids: Vec<DeviceId> =
            self.devices.iter().filter(|(_, s)| s.episodes.iter().any(|e| now - e.last > idle)).map(|(d, _)| *d).collect();
        ids.sort_unstable();
        for d in ids {
            let Some(mut state) = self.devices.remove(&d) else { continue };
            let (done, keep): (Vec<Episode>, Vec<Episode>) = state.episodes.into_iter().partition(|e| now - e.last > idle);
            for ep in done {
                self.close(d, state.randomized, ep, out);
            }
            if !keep.is_empty() {
                state.episodes = keep;
                self.devices.insert(d, state);
            }
        }
    }

    /// Close everything (end of input).
    pub fn finish(&mut self, out: &mut Sessions) {
        self.advance(Millis::MAX / 2, out);
    }

    /// Move store indexes to a new site's (`map[old] = new`), dropping removed stores' episodes.
    pub fn remap_stores(&mut self, map: &[Option<u16>]) {
        for state in self.devices.values_mut() {
            state.episodes.retain_mut(|e| match map.get(e.store as usize).copied().flatten() {
                Some(n) => {
                    e.store = n;
                    true
                }
                None => false,
            });
        }
        self.devices.retain(|_, s| !s.episodes.is_empty());
    }

    /// Devices inside a store now: each open inside run whose last fix ends at or after
    /// `since`, with the zone of its last zone stay.
    pub fn present(&self, since: Millis) -> Vec<Presence> {
        let mut out: Vec<Presence> = self
            .devices
            .iter()
            .flat_map(|(d, s)| {
                s.episodes.iter().filter_map(move |e| {
                    let run = e.run.as_ref().filter(|r| r.end >= since)?;
                    Some(Presence { device: *d, store: e.store, zone: run.zones.last().map(|z| z.zone) })
                })
            })
            .collect();
        out.sort_unstable_by_key(|p| (p.store, p.device));
        out
    }

    /// Drop the open episodes of `device` without closing them; how many there were.
    pub fn forget(&mut self, device: DeviceId) -> usize {
        self.devices.remove(&device).map_or(0, |s| s.episodes.len())
    }

    pub fn open_devices(&self) -> usize {
        self.devices.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::time::MINUTE;

    fn fix(t: Millis, store: u16, zone: Option<u16>, inside: bool) -> Fix {
        Fix { device: DeviceId(1), randomized: false, t0: t, t1: t + 1_000, store, zone, inside }
    }

    fn run(fixes: &[Fix]) -> Sessions {
        let mut s = Sessionizer::new(&SessionizeConfig::default());
        let mut out = Sessions::default();
        for f in fixes {
            s.push(f, &mut out);
        }
        s.finish(&mut out);
        out.sort();
        out
    }

    #[test]
    fn a_visit_with_zone_path() {
        let out = run(&[
            fix(0, 0, None, false),
            fix(MINUTE, 0, Some(0), true),
            fix(2 * MINUTE, 0, Some(0), true),
            fix(3 * MINUTE, 0, Some(2), true),
            fix(5 * MINUTE, 0, Some(1), true),
            fix(6 * MINUTE, 0, None, false),
        ]);
        assert_eq!(out.passes, vec![]);
        assert_eq!(out.visits.len(), 1);
        let v = &out.visits[0];
        assert_eq!((v.start, v.end), (MINUTE, 5 * MINUTE + 1_000));
        assert_eq!(v.zones.iter().map(|z| z.zone).collect::<Vec<_>>(), vec![0, 2, 1]);
        assert_eq!(v.zones[0].end, 2 * MINUTE + 1_000);
    }

    #[test]
    fn short_presence_is_a_pass_and_idle_splits() {
        let out = run(&[
            fix(0, 3, None, false),
            fix(30_000, 3, Some(0), true),
            fix(60_000, 3, Some(0), true),
            // 11 minutes later: a new episode, which becomes a visit.
            fix(60_000 + 11 * MINUTE, 3, Some(0), true),
            fix(60_000 + 14 * MINUTE, 3, Some(0), true),
        ]);
        assert_eq!(out.passes.len(), 1);
        assert_eq!((out.passes[0].start, out.passes[0].end), (0, 61_000));
        assert_eq!(out.visits.len(), 1);
        assert_eq!(out.visits[0].start, 60_000 + 11 * MINUTE);
    }

    #[test]
    fn stores_are_independent() {
        let out = run(&[fix(0, 0, None, false), fix(10_000, 1, None, false), fix(20_000, 0, None, false)]);
        assert_eq!(out.passes.iter().map(|p| p.store).collect::<Vec<_>>(), vec![0, 1]);
    }
}
