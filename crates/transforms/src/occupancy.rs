//! Occupancy: how many people are present per scope (a sensor, a store) and time window,
//! from device estimates (see [`crate::link`]), beside the naive distinct-MAC count.
//!
//! The rules, each with its one parameter in [`OccupancyConfig`]:
//!
//! - **Present**: a device estimate is present from a frame heard at or above
//!   `presence_rssi` (dBm; default -68: "in the room", not next door) until its next such
//!   frame, if the silence between them is *usual for that estimate*. It counts in every
//!   window its presence touches: a window's figure is the number of people there at some
//!   time in it.
//! - **Its own rhythm**: phones probe at very different rates (a phone in use every few
//!   seconds, one asleep in a pocket every few minutes), so one fixed bridge either keeps a
//!   chatty phone "present" long after it left or drops a pocketed one between its probes.
//!   An estimate's strong frames are grouped into bursts (frames under 1 s apart); its
//!   rhythm is the median interval between its bursts in the scope-day, and a silence up to
//!   `rhythm_k` times that (default 3), clamped to `bridge_min_s`..`bridge_max_s` (60 s to
//!   1,200 s, twice the visit idle timeout), is bridged. An estimate with fewer than three
//!   bursts has no rhythm: the link gap bridges it. `rhythm_k = 0` turns the rule off (the
//!   link gap for every estimate).
//! - **Deny list**: devices the operator names (fixed computers, the sensor's own
//!   neighbours) are removed before linking, so they neither count nor bridge a fingerprint.
//! - **Present most of the day** (fixed or staff): an estimate present in at least
//!   `fixed_share` (default 0.75) of the windows of a scope's day, on a day the scope heard
//!   frames for at least `fixed_min_span_s` (default 2 h), is not a person that day.
//!   Devices on the **allow list** are never excluded by this rule.
//! - **Naive**: distinct pseudonyms (MACs) heard in the window, at any signal, nothing
//!   excluded: what a distinct-MAC counter reports.
//!
//! This module counts only; it does not read files or know about sites, and it keeps no
//! estimate id beyond the call.

use crate::link::{self, Estimate, LinkConfig};
use footfall_core::time::LocalCalendar;
use footfall_core::{DeviceId, Millis, Observation};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OccupancyConfig {
    /// A frame at or above this signal (dBm) means the phone is in the sensor's room.
    pub presence_rssi: i16,
    /// An estimate present in at least this share of a scope-day's windows is a fixed or
    /// staff device that day, not a person...
    pub fixed_share: f64,
    /// ...when the scope heard frames for at least this long that day (seconds).
    pub fixed_min_span_s: u32,
    /// A silence up to this many times the estimate's median interval between bursts is
    /// bridged (0: bridge by the link gap alone).
    pub rhythm_k: f64,
    /// Bounds of the rhythm bridge (seconds).
    pub bridge_min_s: u32,
    pub bridge_max_s: u32,
}

impl Default for OccupancyConfig {
    fn default() -> Self {
        Self { presence_rssi: -68, fixed_share: 0.75, fixed_min_span_s: 2 * 3600, rhythm_k: 3.0, bridge_min_s: 60, bridge_max_s: 1200 }
    }
}

/// Strong frames under this far apart are one probe burst.
const BURST_MS: Millis = 1000;

/// The longest silence bridged for an estimate whose strong frames are `ts` (time order).
pub fn bridge_ms(cfg: &OccupancyConfig, link_gap_ms: Millis, ts: &[Millis]) -> Millis {
    if cfg.rhythm_k <= 0.0 {
        return link_gap_ms;
    }
    let mut intervals: Vec<Millis> = Vec::new();
    let mut burst = None;
    for &t in ts {
        match burst {
            Some(b) if t - b < BURST_MS => {}
            Some(b) => {
                intervals.push(t - b);
                burst = Some(t);
            }
            None => burst = Some(t),
        }
    }
    if intervals.len() < 2 {
        return link_gap_ms;
    }
    let mid = intervals.len() / 2;
    let median = *intervals.select_nth_unstable(mid).1;
    let lo = cfg.bridge_min_s as Millis * 1000;
    let hi = (cfg.bridge_max_s as Millis * 1000).max(lo);
    ((median as f64 * cfg.rhythm_k) as Millis).clamp(lo, hi)
}

/// Devices named by the operator, already pseudonymized under the run's key.
#[derive(Clone, Debug, Default)]
pub struct DeviceLists {
    /// Never counted (fixed computers...).
    pub deny: FxHashSet<DeviceId>,
    /// Never excluded by the present-most-of-the-day rule.
    pub allow: FxHashSet<DeviceId>,
}

/// Length of the per-minute presence records kept at ingest (see [`MinutePresence`]).
pub const PRESENCE_MINUTE_MS: Millis = 60_000;

/// One pseudonymous MAC (with one fingerprint digest) heard by one sensor in one minute,
/// WiFi only: what ingest keeps so that occupancy can be counted from a database, where
/// observations are not stored. Records of the same key merge by min/max, so a stream
/// ingested whole or in chunks gives the same records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MinutePresence {
    pub sensor: u16,
    /// UTC ms, a multiple of [`PRESENCE_MINUTE_MS`].
    pub minute: Millis,
    pub device: DeviceId,
    pub ie: Option<u64>,
    pub randomized: bool,
    pub first: Millis,
    pub last: Millis,
    pub max_rssi: i16,
}

/// A record while [`PresenceRecorder`] keeps it: a [`MinutePresence`] in 32 bytes instead of
/// 56 (the sensor is the list it is in, the minute counts minutes since the epoch, the first
/// and last frame are milliseconds into the minute), so the half-million records of a day of
/// a mall take half the memory traffic to append, sort and hand over.
#[derive(Clone, Copy, Debug, Default)]
struct Kept {
    device: u64,
    /// The digest, 0 without one (see [`HAS_IE`]).
    ie: u64,
    minute: i32,
    first: u16,
    last: u16,
    max_rssi: i16,
    /// [`HAS_IE`] and [`RANDOMIZED`].
    flags: u8,
}

const HAS_IE: u8 = 1;
const RANDOMIZED: u8 = 2;

impl Kept {
    /// The order of [`MinutePresence`] within one sensor and minute (`None` before `Some`).
    fn key(&self) -> (u64, u8, u64) {
        (self.device, self.flags & HAS_IE, self.ie)
    }

    fn full(&self, sensor: u16) -> MinutePresence {
        let minute = self.minute as Millis * PRESENCE_MINUTE_MS;
        MinutePresence {
            sensor,
            minute,
            device: DeviceId(self.device),
            ie: (self.flags & HAS_IE != 0).then_some(self.ie),
            randomized: self.flags & RANDOMIZED != 0,
            first: minute + self.first as Millis,
            last: minute + self.last as Millis,
            max_rssi: self.max_rssi,
        }
    }
}

/// Per-minute presence records of a stream of observations (see [`MinutePresence`]).
///
/// The pipeline records observations in time order, so only the newest minute's records can
/// still change: records are appended to one list per sensor (so the take needs no sort by
/// sensor), and only the newest minute's are found through a small open-addressing table of
/// their places (a map of every record of a long run would grow to millions of entries and
/// was most of the pipeline's time). An observation of an earlier minute (out of order), or
/// of a time too far from the epoch for [`Kept`], goes to a map of its own and is merged at
/// [`PresenceRecorder::drain`], so any order of input gives the same records.
#[derive(Clone, Debug, Default)]
pub struct PresenceRecorder {
    /// The newest minute seen, in minutes since the epoch (`None` before any observation).
    minute: Option<i32>,
    /// The newest minute's records: `sensor << 32 | (1 + index in its list)`, 0 for an empty
    /// slot; a power of two long, at most half full.
    slots: Vec<u64>,
    /// The newest minute's records, how many.
    newest: usize,
    /// Per sensor: where the newest minute's records start in its list.
    minute_start: Vec<usize>,
    /// Per sensor: its records of the newest and earlier minutes, in minute order, each key
    /// once.
    kept: Vec<Vec<Kept>>,
    /// Records of observations that came after a later minute had started.
    out_of_order: FxHashMap<(u16, Millis, DeviceId, Option<u64>), MinutePresence>,
}

/// Slots of an empty table.
const SLOTS: usize = 1024;

/// Records from which [`PresenceRecorder::drain`] sorts and expands on two threads.
const PARALLEL_DRAIN: usize = 1 << 16;

impl PresenceRecorder {
    pub fn record(&mut self, o: &Observation) {
        if o.kind != footfall_core::RadioKind::Wifi {
            return;
        }
        let minutes = o.ts.div_euclid(PRESENCE_MINUTE_MS);
        let minute_ms = minutes * PRESENCE_MINUTE_MS;
        let minute = match i32::try_from(minutes) {
            Ok(m) if self.minute.is_none_or(|n| n <= m) => m,
            _ => {
                let fresh = MinutePresence {
                    sensor: o.sensor,
                    minute: minute_ms,
                    device: o.device,
                    ie: o.ie,
                    randomized: o.randomized,
                    first: o.ts,
                    last: o.ts,
                    max_rssi: o.rssi,
                };
                let r = self.out_of_order.entry((o.sensor, minute_ms, o.device, o.ie)).or_insert(fresh);
                Self::merge(r, &fresh);
                return;
            }
        };
        if self.minute != Some(minute) {
            self.minute = Some(minute);
            self.newest = 0;
            self.minute_start.clear();
            self.minute_start.extend(self.kept.iter().map(Vec::len));
            if self.slots.len() == SLOTS {
                self.slots.fill(0);
            } else {
                self.slots = vec![0; SLOTS];
            }
        }
        let sensor = o.sensor as usize;
        if sensor >= self.kept.len() {
            self.kept.resize_with(sensor + 1, Vec::new);
            self.minute_start.resize(sensor + 1, 0);
        }
        let at = (o.ts - minute_ms) as u16;
        let (has_ie, ie) = (o.ie.map_or(0, |_| HAS_IE), o.ie.unwrap_or(0));
        let mask = self.slots.len() - 1;
        let mut i = Self::slot_of(self.slots.len(), o.sensor, o.device.0, has_ie, ie);
        loop {
            match self.slots[i] {
                0 => break,
                s => {
                    if (s >> 32) as usize == sensor {
                        let r = &mut self.kept[sensor][(s as u32 - 1) as usize];
                        if r.device == o.device.0 && r.ie == ie && r.flags & HAS_IE == has_ie {
                            r.first = r.first.min(at);
                            r.last = r.last.max(at);
                            r.max_rssi = r.max_rssi.max(o.rssi);
                            return;
                        }
                    }
                    i = (i + 1) & mask;
                }
            }
        }
        let list = &mut self.kept[sensor];
        let flags = has_ie | if o.randomized { RANDOMIZED } else { 0 };
        list.push(Kept { device: o.device.0, ie, minute, first: at, last: at, max_rssi: o.rssi, flags });
        // A list of 2^32 records (128 GB) is beyond any run.
        self.slots[i] = (sensor as u64) << 32 | list.len() as u64;
        self.newest += 1;
        if 2 * self.newest > self.slots.len() {
            self.grow();
        }
    }

    /// Where a record's key starts probing in a table of `slots` (a power of two): the top
    /// bits of a multiplicative hash, which depend on every bit of the key. (The bits just
    /// above the 32nd, used before, ignored the sensor in the key's top bits: one device
    /// heard by many sensors made one long run of probes.)
    fn slot_of(slots: usize, sensor: u16, device: u64, has_ie: u8, ie: u64) -> usize {
        let ie = if has_ie == 0 { 0x5bd1_e995 } else { ie.rotate_left(29) };
        let k = device ^ ((sensor as u64) << 48) ^ ie;
        (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - slots.trailing_zeros())) as usize
    }

    /// Double the table and place the newest minute's records again.
    fn grow(&mut self) {
        self.slots = vec![0; self.slots.len() * 2];
        let mask = self.slots.len() - 1;
        for (sensor, list) in self.kept.iter().enumerate() {
            for (j, r) in list.iter().enumerate().skip(self.minute_start[sensor]) {
                let mut i = Self::slot_of(self.slots.len(), sensor as u16, r.device, r.flags & HAS_IE, r.ie);
                while self.slots[i] != 0 {
                    i = (i + 1) & mask;
                }
                self.slots[i] = (sensor as u64) << 32 | (j as u64 + 1);
            }
        }
    }

    /// Sort each sensor's records of each minute (they are already in minute order) and
    /// append them, expanded, to `out`: the order of [`MinutePresence`], sensor by sensor.
    fn expand_into(first_sensor: usize, lists: &mut [Vec<Kept>], out: &mut Vec<MinutePresence>) {
        for (s, list) in lists.iter_mut().enumerate() {
            for group in list.chunk_by_mut(|a, b| a.minute == b.minute) {
                group.sort_unstable_by_key(Kept::key);
            }
            let sensor = (first_sensor + s) as u16;
            out.extend(list.iter().map(|r| r.full(sensor)));
        }
    }

    /// The kept records, sorted; on two threads (each a range of sensors) when there are
    /// at least `parallel_from`.
    fn sorted(mut kept: Vec<Vec<Kept>>, parallel_from: usize) -> Vec<MinutePresence> {
        let n: usize = kept.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(n);
        if n < parallel_from {
            Self::expand_into(0, &mut kept, &mut out);
            return out;
        }
        // The first sensors whose records make about half go to this thread.
        let mut split = 0;
        let mut before = 0;
        while split < kept.len() && 2 * (before + kept[split].len()) <= n {
            before += kept[split].len();
            split += 1;
        }
        let (head, tail) = kept.split_at_mut(split);
        let rest = std::thread::scope(|scope| {
            let other = scope.spawn(|| {
                let mut v = Vec::with_capacity(n - before);
                Self::expand_into(split, tail, &mut v);
                v
            });
            Self::expand_into(0, head, &mut out);
            other.join()
        });
        match rest {
            Ok(v) => out.extend(v),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    }

    /// Fold `o` (of the same key) into `r`; `r` keeps its own `randomized` (the first one).
    fn merge(r: &mut MinutePresence, o: &MinutePresence) {
        r.first = r.first.min(o.first);
        r.last = r.last.max(o.last);
        r.max_rssi = r.max_rssi.max(o.max_rssi);
    }

    /// The records since the last call, sorted.
    pub fn drain(&mut self) -> Vec<MinutePresence> {
        self.drain_with(PARALLEL_DRAIN)
    }

    fn drain_with(&mut self, parallel_from: usize) -> Vec<MinutePresence> {
        let kept = std::mem::take(&mut self.kept);
        self.minute = None;
        self.minute_start.clear();
        let mut v = Self::sorted(kept, parallel_from);
        if self.out_of_order.is_empty() {
            return v;
        }
        let key = |r: &MinutePresence| (r.sensor, r.minute, r.device, r.ie);
        let mut at: FxHashMap<(u16, Millis, DeviceId, Option<u64>), usize> = v.iter().enumerate().map(|(i, r)| (key(r), i)).collect();
        // Merging is order-free except for `randomized`, which the record seen first
        // keeps: one kept in order came before any out-of-order one.
        for (k, r) in self.out_of_order.drain() {
            match at.get(&k) {
                Some(&i) => Self::merge(&mut v[i], &r),
                None => {
                    at.insert(k, v.len());
                    v.push(r);
                }
            }
        }
        v.sort_unstable();
        v
    }
}

/// Observations standing for stored minute records, in time order: one at the first and one
/// at the last frame of each record, both at the record's strongest signal (so a minute
/// heard at or above `presence_rssi` is presence from its first to its last frame).
pub fn observations_of(rows: &[MinutePresence]) -> Vec<Observation> {
    let mut out = Vec::with_capacity(rows.len() * 2);
    for r in rows {
        let mut o = Observation::basic(r.first, r.sensor, r.device, r.max_rssi);
        o.randomized = r.randomized;
        o.ie = r.ie;
        out.push(o);
        if r.last != r.first {
            o.ts = r.last;
            out.push(o);
        }
    }
    out.sort_by_key(|o| o.ts);
    out
}

/// One scope and window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WindowCount {
    pub scope: u32,
    /// UTC milliseconds, a multiple of the window length.
    pub start: Millis,
    /// Estimated people present at some time in the window.
    pub people: u32,
    /// Distinct MACs heard in the window (any signal, nothing excluded).
    pub naive: u32,
    /// Estimates present but excluded as present most of the day.
    pub excluded: u32,
}

/// Count people per scope and window. `obs` must be in time order; `scope_of` names each
/// observation's scope (the same function is used for linking).
pub fn count(
    cfg: &OccupancyConfig,
    link_cfg: &LinkConfig,
    cal: &mut LocalCalendar,
    obs: &[Observation],
    scope_of: impl Fn(&Observation) -> u32 + Copy,
    window_ms: Millis,
    lists: &DeviceLists,
) -> Vec<WindowCount> {
    assert!(window_ms > 0, "window length must be positive");
    let win = |ts: Millis| ts.div_euclid(window_ms) * window_ms;
    // Naive counts and each scope's range of windows, from every frame.
    let mut naive: FxHashMap<(u32, Millis), FxHashSet<DeviceId>> = FxHashMap::default();
    let mut range: BTreeMap<u32, (Millis, Millis)> = BTreeMap::new();
    // Span of each scope-day, for the present-most-of-the-day rule.
    let mut day_span: FxHashMap<(u32, i32), (Millis, Millis)> = FxHashMap::default();
    for o in obs {
        let s = scope_of(o);
        naive.entry((s, win(o.ts))).or_default().insert(o.device);
        let r = range.entry(s).or_insert((o.ts, o.ts));
        r.0 = r.0.min(o.ts);
        r.1 = r.1.max(o.ts);
        let d = day_span.entry((s, cal.day_hour(o.ts).0)).or_insert((o.ts, o.ts));
        d.0 = d.0.min(o.ts);
        d.1 = d.1.max(o.ts);
    }
    let kept: Vec<Observation> = obs.iter().filter(|o| !lists.deny.contains(&o.device)).copied().collect();
    let est = link::link(link_cfg, cal, &kept, scope_of);
    // Presence intervals per (scope, estimate, day), from strong frames bridged by the
    // estimate's own rhythm (or the link gap).
    let gap = link_cfg.gap_s as Millis * 1000;
    let mut allowed: FxHashSet<Estimate> = FxHashSet::default();
    let mut strong: FxHashMap<(u32, Estimate), Vec<Millis>> = FxHashMap::default();
    for (o, e) in kept.iter().zip(&est) {
        if lists.allow.contains(&o.device) {
            allowed.insert(*e);
        }
        if o.rssi >= cfg.presence_rssi {
            strong.entry((scope_of(o), *e)).or_default().push(o.ts);
        }
    }
    let mut intervals: FxHashMap<(u32, Estimate), Vec<(Millis, Millis)>> = FxHashMap::default();
    for (key, ts) in &strong {
        // A global MAC's estimate spans days: its rhythm is taken per local day.
        let mut days: BTreeMap<i32, Vec<Millis>> = BTreeMap::new();
        for &t in ts {
            days.entry(cal.day_hour(t).0).or_default().push(t);
        }
        let iv = intervals.entry(*key).or_default();
        for ts in days.values() {
            let bridge = bridge_ms(cfg, gap, ts);
            for &t in ts {
                match iv.last_mut() {
                    Some(last) if t - last.1 <= bridge => last.1 = last.1.max(t),
                    _ => iv.push((t, t)),
                }
            }
        }
    }
    // Windows each estimate is present in, per local day.
    let mut present: FxHashMap<(u32, Estimate), Vec<Millis>> = FxHashMap::default();
    for (key, ivs) in &intervals {
        let ws = present.entry(*key).or_default();
        for &(a, b) in ivs {
            let mut w = win(a);
            while w <= b {
                if ws.last() != Some(&w) {
                    ws.push(w);
                }
                w += window_ms;
            }
        }
    }
    let mut people: FxHashMap<(u32, Millis), (u32, u32)> = FxHashMap::default();
    for ((scope, e), ws) in &present {
        let mut per_day: BTreeMap<i32, Vec<Millis>> = BTreeMap::new();
        for &w in ws {
            per_day.entry(cal.day_hour(w.max(range[scope].0)).0).or_default().push(w);
        }
        for (day, ws) in per_day {
            let fixed = !allowed.contains(e)
                && day_span.get(&(*scope, day)).is_some_and(|&(a, b)| {
                    let n = ((win(b) - win(a)) / window_ms + 1) as f64;
                    b - a >= cfg.fixed_min_span_s as Millis * 1000 && ws.len() as f64 >= cfg.fixed_share * n
                });
            for w in ws {
                let c = people.entry((*scope, w)).or_default();
                if fixed {
                    c.1 += 1;
                } else {
                    c.0 += 1;
                }
            }
        }
    }
    let mut out = Vec::new();
    for (&scope, &(first, last)) in &range {
        let mut w = win(first);
        while w <= last {
            let (p, x) = people.get(&(scope, w)).copied().unwrap_or((0, 0));
            let n = naive.get(&(scope, w)).map_or(0, |s| s.len() as u32);
            out.push(WindowCount { scope, start: w, people: p, naive: n, excluded: x });
            w += window_ms;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::time::{HOUR, MINUTE};

    fn obs(ts: Millis, mac: u64, ie: Option<u64>, randomized: bool, rssi: i16) -> Observation {
        let mut o = Observation::basic(ts, 0, DeviceId(mac), rssi);
        o.randomized = randomized;
        o.ie = ie;
        o
    }

    fn run(o: &[Observation], lists: &DeviceLists) -> Vec<WindowCount> {
        let mut cal = LocalCalendar::new(chrono_tz::UTC);
        count(&OccupancyConfig::default(), &LinkConfig::default(), &mut cal, o, |_| 0, 5 * MINUTE, lists)
    }

    #[test]
    fn minute_records_merge_and_count_like_the_frames() {
        let t0 = 20_000 * 24 * HOUR + 10 * HOUR;
        let o: Vec<Observation> = (0..30).map(|i| obs(t0 + i * 20_000, 100 + (i / 3) as u64, Some(7), true, -55)).collect();
        let mut whole = PresenceRecorder::default();
        o.iter().for_each(|x| whole.record(x));
        let whole = whole.drain();
        assert_eq!(whole.len(), 10, "one record per MAC and minute");
        // In two halves: the records merge (min/max) to the same.
        let mut a = PresenceRecorder::default();
        o[..14].iter().for_each(|x| a.record(x));
        let mut b = PresenceRecorder::default();
        o[14..].iter().for_each(|x| b.record(x));
        let mut merged: BTreeMap<(u16, Millis, DeviceId, Option<u64>), MinutePresence> = BTreeMap::new();
        for r in a.drain().into_iter().chain(b.drain()) {
            merged
                .entry((r.sensor, r.minute, r.device, r.ie))
                .and_modify(|m| {
                    m.first = m.first.min(r.first);
                    m.last = m.last.max(r.last);
                    m.max_rssi = m.max_rssi.max(r.max_rssi);
                })
                .or_insert(r);
        }
        assert_eq!(merged.into_values().collect::<Vec<_>>(), whole);
        let from_rows = run(&observations_of(&whole), &DeviceLists::default());
        let from_frames = run(&o, &DeviceLists::default());
        assert_eq!(from_rows, from_frames);
    }

    #[test]
    fn minute_records_do_not_depend_on_input_order() {
        // The reference: one map of every record, first observation's `randomized` kept.
        let reference = |o: &[Observation]| {
            let mut m: BTreeMap<(u16, Millis, DeviceId, Option<u64>), MinutePresence> = BTreeMap::new();
            for x in o {
                let minute = x.ts.div_euclid(PRESENCE_MINUTE_MS) * PRESENCE_MINUTE_MS;
                let r = m.entry((x.sensor, minute, x.device, x.ie)).or_insert(MinutePresence {
                    sensor: x.sensor,
                    minute,
                    device: x.device,
                    ie: x.ie,
                    randomized: x.randomized,
                    first: x.ts,
                    last: x.ts,
                    max_rssi: x.rssi,
                });
                r.first = r.first.min(x.ts);
                r.last = r.last.max(x.ts);
                r.max_rssi = r.max_rssi.max(x.rssi);
            }
            m.into_values().collect::<Vec<_>>()
        };
        let t0 = 20_000 * 24 * HOUR;
        let mut o: Vec<Observation> = (0..3_000u64)
            .map(|i| {
                let mut x = obs(
                    t0 + (i as i64 * 7_919) % 600_000,
                    i % 7,
                    if i % 3 == 0 { None } else { Some(i % 2) },
                    i % 5 == 0,
                    -40 - (i % 50) as i16,
                );
                x.sensor = (i % 4) as u16;
                x
            })
            .collect();
        // Many records in one minute (the table grows), some of them heard again.
        o.extend((0..6_000u64).map(|i| {
            let mut x = obs(t0 + 600_000 + (i as i64 % 59_000), (i * 13) % 2_500, None, false, -60 + (i % 7) as i16);
            x.sensor = (i % 3) as u16;
            x
        }));
        // Far from the epoch (no minute index of 32 bits): through the map.
        o.push(obs(i64::MAX / 2, 3, None, false, -50));
        o.push(obs(i64::MAX / 2 + 5, 3, None, false, -40));
        for sorted in [false, true] {
            if sorted {
                o.sort_by_key(|x| x.ts);
            }
            // The take on one thread, and on two from any size.
            for parallel_from in [usize::MAX, 1] {
                let mut r = PresenceRecorder::default();
                o.iter().for_each(|x| r.record(x));
                assert_eq!(r.drain_with(parallel_from), reference(&o), "sorted: {sorted}, parallel from {parallel_from}");
                assert!(r.drain().is_empty());
            }
        }
    }

    #[test]
    fn rotating_phone_is_one_person_and_naive_counts_macs() {
        let t0 = 20_000 * 24 * HOUR + 10 * HOUR;
        // One phone rotating its MAC every 20 s for 10 minutes, one global phone, one
        // phone next door (weak), all in the first two windows.
        let mut o: Vec<Observation> = (0..30).map(|i| obs(t0 + i * 20_000, 100 + i as u64, Some(7), true, -55)).collect();
        o.push(obs(t0 + 1000, 1, None, false, -60));
        o.push(obs(t0 + 2000, 2, Some(9), true, -85));
        o.sort_by_key(|o| o.ts);
        let c = run(&o, &DeviceLists::default());
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].people, 2);
        assert_eq!(c[0].naive, 15 + 2);
        assert_eq!(c[1].people, 1);
        let deny = DeviceLists { deny: [DeviceId(1)].into_iter().collect(), ..Default::default() };
        assert_eq!(run(&o, &deny)[0].people, 1);
    }

    #[test]
    fn quiet_phone_is_bridged_and_all_day_device_excluded() {
        let t0 = 20_000 * 24 * HOUR + 8 * HOUR;
        let mut o = Vec::new();
        // A PC heard every minute for 4 hours.
        for i in 0..240 {
            o.push(obs(t0 + i * MINUTE, 1, None, false, -50));
        }
        // A phone heard at 60 and 68 minutes: present in between (windows 12 and 13).
        o.push(obs(t0 + 60 * MINUTE, 2, None, false, -60));
        o.push(obs(t0 + 68 * MINUTE, 2, None, false, -60));
        o.sort_by_key(|o| o.ts);
        let c = run(&o, &DeviceLists::default());
        assert_eq!(c.len(), 48);
        assert_eq!(c[12].people, 1);
        assert_eq!(c[13].people, 1);
        assert_eq!(c[14].people, 0);
        assert!(c.iter().all(|w| w.excluded <= 1));
        assert_eq!(c[0].excluded, 1);
        // Allowed: the PC counts.
        let allow = DeviceLists { allow: [DeviceId(1)].into_iter().collect(), ..Default::default() };
        assert_eq!(run(&o, &allow)[0].people, 1);
    }

    #[test]
    fn each_estimate_is_bridged_by_its_own_rhythm() {
        let cfg = OccupancyConfig::default();
        let gap = 600_000;
        // Bursts every 10 s (two frames each): 3 x 10 s is under the 60 s floor.
        let chatty: Vec<Millis> = (0..20).flat_map(|i| [i * 10_000, i * 10_000 + 20]).collect();
        assert_eq!(bridge_ms(&cfg, gap, &chatty), 60_000);
        // Bursts every 4 minutes: 12 minutes, beyond the link gap.
        let quiet: Vec<Millis> = (0..5).map(|i| i * 240_000).collect();
        assert_eq!(bridge_ms(&cfg, gap, &quiet), 720_000);
        // Every 10 minutes: capped at bridge_max_s.
        let rare: Vec<Millis> = (0..5).map(|i| i * 600_000).collect();
        assert_eq!(bridge_ms(&cfg, gap, &rare), 1_200_000);
        // Two bursts: no rhythm yet, the link gap. Off: the link gap for all.
        assert_eq!(bridge_ms(&cfg, gap, &[0, 100_000]), gap);
        let off = OccupancyConfig { rhythm_k: 0.0, ..cfg.clone() };
        assert_eq!(bridge_ms(&off, gap, &chatty), gap);
        // In counts: a chatty phone silent for 9.5 minutes (under the link gap) had left.
        let t0 = 20_000 * 24 * HOUR + 10 * HOUR;
        let mut o: Vec<Observation> = (0..10).map(|i| obs(t0 + i * 10_000, 1, None, false, -55)).collect();
        o.extend((0..10).map(|i| obs(t0 + 11 * MINUTE + i * 10_000, 1, None, false, -55)));
        o.sort_by_key(|o| o.ts);
        let c = run(&o, &DeviceLists::default());
        assert_eq!(c.iter().map(|w| w.people).collect::<Vec<_>>(), vec![1, 0, 1]);
        let mut cal = LocalCalendar::new(chrono_tz::UTC);
        let fixed_gap = count(&off, &LinkConfig::default(), &mut cal, &o, |_| 0, 5 * MINUTE, &DeviceLists::default());
        assert_eq!(fixed_gap.iter().map(|w| w.people).collect::<Vec<_>>(), vec![1, 1, 1]);
    }
}
