//! Link: randomized MACs → device estimates, so that counts and visits are built on phones,
//! not on addresses.
//!
//! A phone that randomizes its MAC changes it every few minutes, often on every scan burst
//! (median life of a randomized MAC in the Brno lab capture: 10 ms, two frames). What stays
//! the same across the change is what the phone *is*: its information-element fingerprint
//! (supported rates, HT/VHT/HE capabilities, extended capabilities, vendor element OUIs; the
//! SSID never enters it) and its continuity in time. The rules, in order:
//!
//! 1. A **globally unique** MAC is its own device estimate, as before (the estimate id is the
//!    MAC's pseudonym).
//! 2. Fingerprints are put in one **class** when one MAC was heard with both (a phone that
//!    varies its elements between probes is still one phone). Union-find over fingerprint
//!    digests.
//! 3. Each randomized MAC with a fingerprint is a **track** (per scope and local day): one
//!    MAC is one phone, however long it is silent within the day.
//! 4. Within a class and a *scope* (the caller's choice: a sensor, a store), tracks are
//!    **chained** into one device estimate while they continue: a silence longer than
//!    [`LinkConfig::gap_s`] (default 600 s, the visit idle timeout) starts a new estimate
//!    under [`LinkScope::Visit`]; under [`LinkScope::Day`] only the local day ends it. With
//!    [`LinkConfig::split_concurrent`] (off by default, see below) a track that starts while
//!    every estimate of its class has a MAC on air within the same burst is another phone;
//!    when several estimates are free, one whose strongest frame is within
//!    [`LinkConfig::rssi_tolerance_db`] is preferred, then the most recent.
//! 5. **Rare classes**: a class heard from at most [`LinkConfig::rare_macs`] MACs in a
//!    scope-day (a phone's occasional second element set: Oppo, S21, iPhone 11 and XR do this
//!    in the Baccichet files) is folded into the nearest estimate of the scope-day heard
//!    within the gap that has no MAC on air at the same time; otherwise it is its own.
//! 6. **Never across days**: a randomizing phone has asked not to be followed, so an estimate
//!    always ends at local midnight, whatever the scope; estimate ids are derived from the
//!    class, the scope and the estimate's first instant, so they do not repeat across days.
//! 7. A randomized MAC without a fingerprint is its own estimate (within the same limits it
//!    cannot be linked to anything).
//!
//! Known limit (measured in `docs/accuracy.md`): phones of one model share a fingerprint, and
//! modern iPhones and Androids draw a fresh random sequence number with every MAC. In the
//! Baccichet files only the iPhone 7 carries its counter over a MAC change (27 of 27 changes
//! within 60 s continue by +1..64; the other phones 0-3%, chance being 1.6%), and it has a
//! fingerprint of its own, so sequence-number continuity (Vanhoef et al. 2016) is not used
//! yet. Splitting concurrent MACs of a class separates same-model phones only when their
//! bursts interleave, and on Brno it adds more spurious estimates than it separates real
//! ones, hence off by default.
//!
//! This module decides membership only: it never sees a MAC (only pseudonyms) and it must
//! not persist estimate ids of randomized devices beyond their day.

use footfall_core::time::LocalCalendar;
use footfall_core::{DeviceId, Millis, Observation};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// How long a randomized phone's estimate may last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LinkScope {
    /// Until a silence longer than `gap_s` (one visit).
    #[default]
    Visit,
    /// Until the end of the local day (the longest allowed).
    Day,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkConfig {
    /// A randomized estimate ends after this long without a frame of its class (seconds).
    /// The default is the visit idle timeout: the same silence that ends a visit.
    pub gap_s: u32,
    /// `visit` (default) or `day`; estimates never cross local midnight either way.
    pub scope: LinkScope,
    /// A fingerprint class heard from at most this many MACs in a scope-day is a phone's
    /// occasional second element set: folded into the nearest estimate (0: never).
    pub rare_macs: u32,
    /// Two MACs whose strongest frames are within this many dB are preferred as one phone.
    pub rssi_tolerance_db: u8,
    /// A MAC that starts while every estimate of its class still has a MAC on air is another
    /// phone (a phone uses one MAC at a time).
    pub split_concurrent: bool,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self { gap_s: 600, scope: LinkScope::Visit, rare_macs: 2, rssi_tolerance_db: 6, split_concurrent: false }
    }
}

/// The device estimate an observation belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Estimate {
    pub id: DeviceId,
    /// Built from randomized MACs: counted, never followed across days, never exported.
    pub randomized: bool,
}

struct UnionFind {
    parent: FxHashMap<u64, u64>,
}

impl UnionFind {
    fn find(&mut self, x: u64) -> u64 {
        let mut root = x;
        while let Some(&p) = self.parent.get(&root) {
            if p == root {
                break;
            }
            root = p;
        }
        // Path compression.
        let mut cur = x;
        while cur != root {
            let next = *self.parent.get(&cur).unwrap_or(&root);
            self.parent.insert(cur, root);
            cur = next;
        }
        self.parent.entry(root).or_insert(root);
        root
    }
    fn union(&mut self, a: u64, b: u64) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The smaller digest wins, so the result does not depend on input order.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent.insert(hi, lo);
        }
    }
}

fn estimate_id(class: u64, scope: u32, start: Millis) -> DeviceId {
    let mut h = blake3::Hasher::new_derive_key("footfall 2026 linked device estimate");
    h.update(&class.to_le_bytes());
    h.update(&scope.to_le_bytes());
    h.update(&start.to_le_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.finalize().as_bytes()[..8]);
    DeviceId(u64::from_le_bytes(b))
}

/// A probe burst lasts under a second (iPhones 0.5 s, Androids 0.7 s in the Baccichet files):
/// two MACs of one class on air together within it are two phones.
const BURST_MS: Millis = 1000;

/// One randomized MAC within a scope and local day: the unit the linker chains.
struct Track {
    scope: u32,
    day: i32,
    class: u64,
    first: Millis,
    last: Millis,
    /// Strongest frame (dBm): with several sniffers on one scope the nearest one counts.
    rssi: i16,
    macs_in_class: u32,
}

/// A device estimate being built: the tracks chained to it so far.
struct Chain {
    id: DeviceId,
    scope: u32,
    day: i32,
    class: u64,
    last: Millis,
    rssi: i16,
    /// Track spans, for the never-two-MACs-at-once check of rare-class folding.
    spans: Vec<(Millis, Millis)>,
}

impl Chain {
    /// A new estimate that starts with track `t` (its spans are added by the caller).
    fn starting_at(t: &Track) -> Chain {
        Chain {
            id: estimate_id(t.class, t.scope, t.first),
            scope: t.scope,
            day: t.day,
            class: t.class,
            last: t.last,
            rssi: t.rssi,
            spans: Vec::new(),
        }
    }
}

impl Chain {
    fn overlaps(&self, a: Millis, b: Millis) -> bool {
        self.spans.iter().any(|&(x, y)| a <= y && x <= b)
    }
    /// Time from the span `a..=b` to the nearest of the chain's tracks (0 when touching).
    fn distance(&self, a: Millis, b: Millis) -> Millis {
        self.spans
            .iter()
            .map(|&(x, y)| {
                if y < a {
                    a - y
                } else if x > b {
                    x - b
                } else {
                    0
                }
            })
            .min()
            .unwrap_or(Millis::MAX)
    }
}

/// Link a batch of observations, given in time order (ties in any order). `scope_of` names
/// the scope of an observation (e.g. its sensor); estimates never span scopes. Returns one
/// estimate per observation, in the same order.
pub fn link(cfg: &LinkConfig, cal: &mut LocalCalendar, obs: &[Observation], scope_of: impl Fn(&Observation) -> u32) -> Vec<Estimate> {
    // Classes: fingerprints heard from one MAC belong together.
    let mut uf = UnionFind { parent: FxHashMap::default() };
    let mut first_ie: FxHashMap<DeviceId, u64> = FxHashMap::default();
    for o in obs.iter().filter(|o| o.randomized) {
        if let Some(ie) = o.ie {
            match first_ie.get(&o.device) {
                Some(&f) if f != ie => uf.union(f, ie),
                Some(_) => {}
                None => {
                    first_ie.insert(o.device, ie);
                    uf.find(ie);
                }
            }
        }
    }
    // Tracks: one per (scope, MAC, day) of randomized MACs with a fingerprint. A MAC's class
    // is its first fingerprint's (all its fingerprints are in one class).
    let mut track_of: FxHashMap<(u32, DeviceId, i32), usize> = FxHashMap::default();
    let mut tracks: Vec<Track> = Vec::new();
    let mut obs_track: Vec<Option<usize>> = Vec::with_capacity(obs.len());
    let mut days: Vec<i32> = Vec::with_capacity(obs.len());
    for o in obs {
        let (day, _) = cal.day_hour(o.ts);
        days.push(day);
        if !o.randomized || o.ie.is_none() {
            obs_track.push(None);
            continue;
        }
        let scope = scope_of(o);
        let ti = *track_of.entry((scope, o.device, day)).or_insert_with(|| {
            let class = uf.find(first_ie[&o.device]);
            tracks.push(Track { scope, day, class, first: o.ts, last: o.ts, rssi: o.rssi, macs_in_class: 0 });
            tracks.len() - 1
        });
        let t = &mut tracks[ti];
        t.first = t.first.min(o.ts);
        t.last = t.last.max(o.ts);
        t.rssi = t.rssi.max(o.rssi);
        obs_track.push(Some(ti));
    }
    // How many MACs each class has in its scope-day: a class of very few is "rare".
    let mut class_macs: FxHashMap<(u32, i32, u64), u32> = FxHashMap::default();
    for t in &tracks {
        *class_macs.entry((t.scope, t.day, t.class)).or_default() += 1;
    }
    for t in &mut tracks {
        t.macs_in_class = class_macs[&(t.scope, t.day, t.class)];
    }
    let rare = |t: &Track| t.macs_in_class <= cfg.rare_macs;
    let mut order: Vec<usize> = (0..tracks.len()).collect();
    order.sort_by_key(|&i| (tracks[i].first, tracks[i].last));
    let gap = cfg.gap_s as Millis * 1000;
    let within_gap = |since: Millis| cfg.scope == LinkScope::Day || since <= gap;
    let close_rssi = |a: i16, b: i16| (a - b).unsigned_abs() <= cfg.rssi_tolerance_db as u16;
    // Pass 1: chain the tracks of each class. A track joins a chain of its class whose MACs
    // have all ended before it starts (a phone uses one MAC at a time) and within the gap,
    // preferring one whose last strongest frame is within the RSSI tolerance, then the most
    // recent; when every chain of the class is busy, the track is another device.
    let mut chains: Vec<Chain> = Vec::new();
    let mut open: FxHashMap<(u32, i32, u64), Vec<usize>> = FxHashMap::default();
    let mut track_chain: Vec<Option<usize>> = vec![None; tracks.len()];
    for &ti in &order {
        let t = &tracks[ti];
        if rare(t) {
            continue;
        }
        let list = open.entry((t.scope, t.day, t.class)).or_default();
        list.retain(|&c| within_gap(t.first - chains[c].last) || chains[c].last >= t.first);
        let busy = |c: &Chain| c.last >= t.first && c.spans.last().is_some_and(|s| t.first - s.0 <= BURST_MS);
        let free = list.iter().copied().filter(|&c| !cfg.split_concurrent || !busy(&chains[c]));
        let best = free.max_by_key(|&c| (close_rssi(chains[c].rssi, t.rssi), chains[c].last));
        let ci = match best {
            Some(c) => c,
            None => {
                chains.push(Chain::starting_at(t));
                list.push(chains.len() - 1);
                chains.len() - 1
            }
        };
        let c = &mut chains[ci];
        c.last = c.last.max(t.last);
        c.rssi = t.rssi;
        c.spans.push((t.first, t.last));
        track_chain[ti] = Some(ci);
    }
    // Pass 2: a rare class (a phone's occasional second element set, heard from very few
    // MACs) is folded into the nearest estimate of the same scope-day that is heard within
    // the gap and has no MAC at the same time, RSSI-close ones first; otherwise it is its own.
    let mut by_scope_day: FxHashMap<(u32, i32), Vec<usize>> = FxHashMap::default();
    for (i, c) in chains.iter().enumerate() {
        by_scope_day.entry((c.scope, c.day)).or_default().push(i);
    }
    let mut rare_chain: FxHashMap<(u32, i32, u64), usize> = FxHashMap::default();
    for &ti in &order {
        let t = &tracks[ti];
        if !rare(t) {
            continue;
        }
        let target = by_scope_day.get(&(t.scope, t.day)).and_then(|cs| {
            cs.iter()
                .copied()
                .filter(|&c| chains[c].class != t.class && !chains[c].overlaps(t.first, t.last))
                .map(|c| (c, chains[c].distance(t.first, t.last)))
                .filter(|&(_, d)| d <= gap)
                .min_by_key(|&(c, d)| (!close_rssi(chains[c].rssi, t.rssi), d))
                .map(|(c, _)| c)
        });
        let ci = match target.or_else(|| rare_chain.get(&(t.scope, t.day, t.class)).copied()) {
            Some(c) => c,
            None => {
                chains.push(Chain::starting_at(t));
                rare_chain.insert((t.scope, t.day, t.class), chains.len() - 1);
                chains.len() - 1
            }
        };
        chains[ci].spans.push((t.first, t.last));
        track_chain[ti] = Some(ci);
    }
    let mut own: FxHashMap<(u32, DeviceId, i32), DeviceId> = FxHashMap::default();
    let mut out = Vec::with_capacity(obs.len());
    for (i, o) in obs.iter().enumerate() {
        if !o.randomized {
            out.push(Estimate { id: o.device, randomized: false });
            continue;
        }
        let id = match obs_track[i] {
            Some(ti) => chains[track_chain[ti].expect("every track is chained")].id,
            // No fingerprint: the MAC alone, still cut at midnight.
            None => *own.entry((scope_of(o), o.device, days[i])).or_insert_with(|| estimate_id(o.device.0, scope_of(o), o.ts)),
        };
        out.push(Estimate { id, randomized: true });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::time::{HOUR, MINUTE};

    fn obs(ts: Millis, mac: u64, ie: Option<u64>, randomized: bool) -> Observation {
        let mut o = Observation::basic(ts, 0, DeviceId(mac), -60);
        o.randomized = randomized;
        o.ie = ie;
        o
    }

    fn cal() -> LocalCalendar {
        LocalCalendar::new(chrono_tz::UTC)
    }

    #[test]
    fn rotating_macs_of_one_fingerprint_are_one_estimate_within_the_gap() {
        let day = 20_000 * 24 * HOUR + 10 * HOUR;
        let o = vec![
            obs(day, 1, Some(7), true),
            obs(day + MINUTE, 2, Some(7), true),
            obs(day + 5 * MINUTE, 3, Some(7), true),
            obs(day + 20 * MINUTE, 4, Some(7), true),  // 15 min silence: a new estimate
            obs(day + 21 * MINUTE, 5, Some(8), true),  // another fingerprint
            obs(day + 22 * MINUTE, 9, Some(8), false), // global: itself
        ];
        let no_fold = LinkConfig { rare_macs: 0, ..LinkConfig::default() };
        let e = link(&no_fold, &mut cal(), &o, |_| 0);
        assert_eq!(e[0], e[1]);
        assert_eq!(e[1], e[2]);
        assert_ne!(e[2], e[3]);
        assert_ne!(e[3], e[4]);
        assert_eq!(e[5], Estimate { id: DeviceId(9), randomized: false });
        // A day scope bridges the silence, not midnight.
        let day_scope = LinkConfig { scope: LinkScope::Day, ..no_fold };
        let e = link(&day_scope, &mut cal(), &o, |_| 0);
        assert_eq!(e[2], e[3]);
    }

    #[test]
    fn never_across_midnight_or_scopes() {
        let late = 20_000 * 24 * HOUR + 24 * HOUR - MINUTE;
        let o = vec![obs(late, 1, Some(7), true), obs(late + 2 * MINUTE, 2, Some(7), true), obs(late + 3 * MINUTE, 3, Some(7), true)];
        let day_scope = LinkConfig { scope: LinkScope::Day, ..LinkConfig::default() };
        let e = link(&day_scope, &mut cal(), &o, |_| 0);
        assert_ne!(e[0], e[1], "midnight ends an estimate");
        assert_eq!(e[1], e[2]);
        let e = link(&day_scope, &mut cal(), &o, |o| o.device.0 as u32);
        assert_ne!(e[1], e[2], "scopes never share an estimate");
    }

    #[test]
    fn fingerprints_of_one_mac_form_one_class() {
        let t = 20_000 * 24 * HOUR + 10 * HOUR;
        // MAC 2 shows fingerprints 7 and 8: MACs 1 (only 7) and 3 (only 8) are one phone.
        let o = vec![
            obs(t, 1, Some(7), true),
            obs(t + 1000, 2, Some(7), true),
            obs(t + 1001, 2, Some(8), true),
            obs(t + 9000, 3, Some(8), true),
        ];
        let e = link(&LinkConfig::default(), &mut cal(), &o, |_| 0);
        assert!(e.iter().all(|x| *x == e[0]));
        // Without the bridging MAC they stay apart.
        let o2 = vec![o[0], o[3]];
        let e = link(&LinkConfig::default(), &mut cal(), &o2, |_| 0);
        assert_ne!(e[0], e[1]);
    }

    #[test]
    fn no_fingerprint_means_the_mac_alone() {
        let t = 20_000 * 24 * HOUR;
        let o = vec![obs(t, 1, None, true), obs(t + 1000, 2, None, true), obs(t + 2000, 1, None, true)];
        let e = link(&LinkConfig::default(), &mut cal(), &o, |_| 0);
        assert_eq!(e[0], e[2]);
        assert_ne!(e[0], e[1]);
        assert!(e[0].randomized);
    }

    #[test]
    fn a_mac_is_one_estimate_and_a_rare_class_folds_into_its_neighbour() {
        let t = 20_000 * 24 * HOUR + 10 * HOUR;
        // MAC 1 (class 7) silent for 20 minutes is still one estimate; MAC 9 (class 8, one
        // MAC) is heard between MACs of class 7.
        let o = vec![
            obs(t, 1, Some(7), true),
            obs(t + MINUTE, 2, Some(7), true),
            obs(t + 2 * MINUTE, 3, Some(7), true),
            obs(t + 2 * MINUTE + 5000, 9, Some(8), true),
            obs(t + 3 * MINUTE, 4, Some(7), true),
        ];
        let one = [o[0], obs(t + 20 * MINUTE, 1, Some(7), true)];
        let e = link(&LinkConfig::default(), &mut cal(), &one, |_| 0);
        assert_eq!(e[0], e[1], "one MAC, one estimate within the day");
        let e = link(&LinkConfig::default(), &mut cal(), &o, |_| 0);
        assert_eq!(e[3], e[2], "the rare class joins the estimate heard next to it");
        let off = LinkConfig { rare_macs: 0, ..LinkConfig::default() };
        let e = link(&off, &mut cal(), &o, |_| 0);
        assert_ne!(e[3], e[2]);
    }

    #[test]
    fn concurrent_macs_of_one_class_split_when_asked() {
        let t = 20_000 * 24 * HOUR + 10 * HOUR;
        // Two phones of one model burst together: MAC 1 on air 0-400 ms, MAC 2 starts at 100 ms.
        let o =
            vec![obs(t, 1, Some(7), true), obs(t + 100, 2, Some(7), true), obs(t + 400, 1, Some(7), true), obs(t + 5000, 3, Some(7), true)];
        let on = LinkConfig { split_concurrent: true, ..LinkConfig::default() };
        let e = link(&on, &mut cal(), &o, |_| 0);
        assert_ne!(e[0], e[1]);
        assert!(e[3] == e[0] || e[3] == e[1]);
        let e = link(&LinkConfig::default(), &mut cal(), &o, |_| 0);
        assert_eq!(e[0], e[1]);
    }
}
