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
//! fingerprint of its own, so the batch rules do not use sequence-number continuity (Vanhoef
//! et al. 2016); the streaming linker below does, for phones that carry their counter over.
//! Splitting concurrent MACs of a class separates same-model phones only when their
//! bursts interleave, and on Brno it adds more spurious estimates than it separates real
//! ones, hence off by default.
//!
//! **Streaming** ([`Linker`], used by the ingest pipeline and the server): the same idea
//! decided online, one observation at a time in event-time order, so that visits are built
//! on device estimates. Its rules are a strict subset of the batch ones, because a stream
//! cannot revisit a decision and a site has many sensors and many phones of one model:
//!
//! - a randomized MAC already heard today keeps its estimate;
//! - a new randomized MAC joins the open estimate (heard within the gap, or today under the
//!   day scope; its own MAC silent at that instant; same fingerprint class when both carry
//!   one) whose 802.11 sequence number it continues (+1..[`LinkConfig::seq_window`]),
//!   smallest step first, among those the same sensor heard within the gap; a step counts
//!   only while fewer than [`LinkConfig::seq_chance`] chance matches are expected among those
//!   candidates (each matches a step of at most d with probability d / 4096), so a newcomer's
//!   first MAC rarely takes a stranger's estimate in a crowd; and when a MAC linked that way
//!   turns out to take turns with the estimate's earlier MAC (a phone never returns to a
//!   MAC it left), it leaves with an estimate of its own from then on;
//! - failing that, with a fingerprint, it joins an open estimate of its class that the same
//!   sensor heard within the gap, RSSI-close first, then the most recent (the batch rule 4,
//!   scoped to a sensor's neighbourhood instead of a whole capture);
//! - otherwise it starts an estimate. No rare-class folding and no retroactive class
//!   merging (both need the whole day).
//!
//! All of its state is dropped at local midnight: estimate ids are derived from (fingerprint
//! or MAC, day, first instant) and are never reused on another day.
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
    /// Streaming linker: a new MAC whose first sequence number is 1 to this many steps after
    /// an estimate's last one continues it (0: sequence numbers are not used).
    pub seq_window: u16,
    /// Streaming linker: a sequence-number step is trusted only while fewer than this many
    /// chance matches are expected among the candidate estimates (each matches a step of at
    /// most `d` with probability d / 4096), so with N candidates the step must be at most
    /// `seq_chance` × 4096 / N. A new phone's first MAC then joins someone else's estimate
    /// with at most this probability, however crowded the sensor's neighbourhood.
    pub seq_chance: f64,
    /// Link randomized MACs in the ingest pipeline (visits built on estimates). Off: every
    /// randomized MAC is its own device for the day.
    pub ingest: bool,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            gap_s: 600,
            scope: LinkScope::Visit,
            rare_macs: 2,
            rssi_tolerance_db: 6,
            split_concurrent: false,
            seq_window: 64,
            seq_chance: 0.05,
            ingest: true,
        }
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

/// One open device estimate of the streaming [`Linker`].
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Open {
    id: u64,
    /// A fingerprint of the estimate (its class is found through the union-find).
    ie: Option<u64>,
    /// The MAC in use and the time of its last frame.
    mac: u64,
    last: Millis,
    seq: Option<u16>,
    rssi: i16,
    /// Sensors that heard it, each with its last time (a handful per estimate).
    sensors: Vec<(u16, Millis)>,
}

/// The streaming linker of the ingest pipeline (see the module doc). Its state serializes
/// with the pipeline's, so a stream linked whole or in chunks gives the same estimates.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Linker {
    day: Option<i32>,
    /// Randomized MAC pseudonym → (index of its estimate, its first fingerprint), today.
    macs: FxHashMap<u64, (u32, Option<u64>)>,
    estimates: Vec<Open>,
    /// Estimates that may still take a new MAC (pruned as they fall silent).
    active: Vec<u32>,
    /// Fingerprint classes heard today: union-find parent links.
    classes: FxHashMap<u64, u64>,
    /// MACs that joined an estimate today on a sequence-number step, with that instant.
    #[serde(default)]
    seq_linked: FxHashMap<u64, Millis>,
}

impl Linker {
    fn find(&mut self, x: u64) -> u64 {
        let mut uf = UnionFind { parent: std::mem::take(&mut self.classes) };
        let r = uf.find(x);
        self.classes = uf.parent;
        r
    }

    fn union(&mut self, a: u64, b: u64) {
        let mut uf = UnionFind { parent: std::mem::take(&mut self.classes) };
        uf.union(a, b);
        self.classes = uf.parent;
    }

    /// The device id observation `o` (of local day `day`, in event-time order) counts under:
    /// its MAC pseudonym when globally unique, else its estimate for the day.
    pub fn assign(&mut self, cfg: &LinkConfig, day: i32, o: &Observation) -> DeviceId {
        if !o.randomized {
            return o.device;
        }
        if self.day != Some(day) {
            // Never across days: everything of the previous day is forgotten.
            *self = Linker { day: Some(day), ..Linker::default() };
        }
        if let Some(&(mut i, first_ie)) = self.macs.get(&o.device.0) {
            if let (Some(a), Some(b)) = (first_ie, o.ie)
                && a != b
            {
                self.union(a, b);
            }
            let current = self.estimates[i as usize].mac;
            if current != o.device.0 {
                // A phone never returns to a MAC it left: two MACs of one estimate taking turns
                // are two phones. The one linked last on a sequence number leaves, with an
                // estimate of its own from now on (what it already counted stays).
                let joined = |m: u64| self.seq_linked.get(&m).copied();
                let leaver = match (joined(current), joined(o.device.0)) {
                    (Some(a), Some(b)) => Some(if a >= b { current } else { o.device.0 }),
                    (Some(_), None) => Some(current),
                    (None, Some(_)) => Some(o.device.0),
                    (None, None) => None,
                };
                if let Some(x) = leaver {
                    let n = self.detach(x, day);
                    if x == o.device.0 {
                        i = n;
                    }
                }
            }
            let e = &mut self.estimates[i as usize];
            if o.ts >= e.last {
                e.last = o.ts;
                e.seq = o.seq.or(e.seq);
                e.rssi = o.rssi;
            }
            e.mac = o.device.0;
            match e.sensors.iter_mut().find(|s| s.0 == o.sensor) {
                Some(s) => s.1 = s.1.max(o.ts),
                None => e.sensors.push((o.sensor, o.ts)),
            }
            return DeviceId(e.id);
        }
        let gap = cfg.gap_s as Millis * 1000;
        let within = |e: &Open| cfg.scope == LinkScope::Day || o.ts - e.last <= gap;
        let mut active = std::mem::take(&mut self.active);
        active.retain(|&i| within(&self.estimates[i as usize]));
        let class = o.ie.map(|ie| self.find(ie));
        // The candidates: a phone uses one MAC at a time (the estimate's own MAC is silent
        // now), the same sensor must have heard it recently, and fingerprints must agree.
        let mut candidates = Vec::new();
        for &i in &active {
            let e = &self.estimates[i as usize];
            let heard = |&(s, t): &(u16, Millis)| s == o.sensor && (cfg.scope == LinkScope::Day || o.ts - t <= gap);
            if e.last >= o.ts || !e.sensors.iter().any(heard) {
                continue;
            }
            let same_class = match (e.ie, class) {
                (Some(a), Some(c)) => self.find(a) == c,
                (None, None) => true,
                _ => false,
            };
            if same_class {
                candidates.push(i);
            }
        }
        // A step as small as d matches one candidate by chance with probability d / 4096:
        // trust it only while fewer than `seq_chance` chance matches are expected among them.
        let trusted = (cfg.seq_chance * 4096.0 / candidates.len().max(1) as f64).floor().min(cfg.seq_window as f64) as u16;
        // (sequence step or MAX, not RSSI-close, -last) : smaller is better.
        let mut best: Option<((u16, bool, Millis), u32)> = None;
        for &i in &candidates {
            let e = &self.estimates[i as usize];
            let step = match (e.seq, o.seq) {
                (Some(a), Some(b)) if cfg.seq_window > 0 => {
                    let d = b.wrapping_sub(a) & 0x0fff;
                    (1..=trusted).contains(&d).then_some(d)
                }
                _ => None,
            };
            if step.is_none() && class.is_none() {
                continue; // no fingerprint and no continuity: nothing links it
            }
            let far = (e.rssi - o.rssi).unsigned_abs() > cfg.rssi_tolerance_db as u16;
            let key = (step.unwrap_or(u16::MAX), far, -e.last);
            if best.is_none_or(|(k, _)| key < k) {
                best = Some((key, i));
            }
        }
        let i = match best {
            Some(((step, _, _), i)) => {
                if step != u16::MAX {
                    self.seq_linked.insert(o.device.0, o.ts);
                }
                i
            }
            None => {
                // The estimate's rank in the day tells apart two of one class starting at once.
                let seed = o.ie.unwrap_or(o.device.0) ^ (self.estimates.len() as u64).rotate_left(48);
                self.estimates.push(Open {
                    id: estimate_id(seed, day as u32, o.ts).0,
                    ie: o.ie,
                    mac: o.device.0,
                    last: o.ts,
                    seq: o.seq,
                    rssi: o.rssi,
                    sensors: Vec::new(),
                });
                let i = (self.estimates.len() - 1) as u32;
                active.push(i);
                i
            }
        };
        self.active = active;
        self.macs.insert(o.device.0, (i, o.ie));
        let e = &mut self.estimates[i as usize];
        e.mac = o.device.0;
        e.last = e.last.max(o.ts);
        e.seq = o.seq.or(e.seq);
        e.rssi = o.rssi;
        match e.sensors.iter_mut().find(|s| s.0 == o.sensor) {
            Some(s) => s.1 = s.1.max(o.ts),
            None => e.sensors.push((o.sensor, o.ts)),
        }
        DeviceId(e.id)
    }

    /// Give MAC `x` an estimate of its own (its state copied from the one it leaves); the new
    /// estimate's index.
    fn detach(&mut self, x: u64, day: i32) -> u32 {
        let Some(&(i, ie)) = self.macs.get(&x) else { return 0 };
        let e = &self.estimates[i as usize];
        let start = self.seq_linked.remove(&x).unwrap_or(e.last);
        let seed = ie.unwrap_or(x) ^ (self.estimates.len() as u64).rotate_left(48);
        let new = Open {
            id: estimate_id(seed, day as u32, start).0,
            ie,
            mac: x,
            last: e.last,
            seq: e.seq,
            rssi: e.rssi,
            sensors: e.sensors.clone(),
        };
        self.estimates.push(new);
        let n = (self.estimates.len() - 1) as u32;
        self.macs.insert(x, (n, ie));
        self.active.push(n);
        n
    }

    /// Forget `device` (a MAC pseudonym) for opt-out and erasure: its estimate stops taking
    /// new MACs. Returns the estimate's id, under which its open state is held.
    pub fn forget(&mut self, device: DeviceId) -> Option<DeviceId> {
        let (i, _) = self.macs.remove(&device.0)?;
        self.active.retain(|&a| a != i);
        Some(DeviceId(self.estimates[i as usize].id))
    }
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

    fn frame(ts: Millis, sensor: u16, mac: u64, ie: Option<u64>, seq: Option<u16>) -> Observation {
        let mut o = obs(ts, mac, ie, true);
        o.sensor = sensor;
        o.seq = seq;
        o
    }

    fn stream(cfg: &LinkConfig, o: &[Observation]) -> Vec<DeviceId> {
        let mut c = cal();
        let mut l = Linker::default();
        o.iter().map(|x| l.assign(cfg, c.day_hour(x.ts).0, x)).collect()
    }

    #[test]
    fn streaming_follows_a_sequence_number_across_a_mac_change() {
        let t = 20_000 * 24 * HOUR + 10 * HOUR;
        let cfg = LinkConfig::default();
        // Phone A: MAC 1 (seq 100-101) then MAC 2 (seq 103). Phone B: MAC 3, seq far away.
        let o = vec![
            frame(t, 0, 1, None, Some(100)),
            frame(t + 5000, 0, 1, None, Some(101)),
            frame(t + 9000, 0, 3, None, Some(2000)),
            frame(t + 20_000, 0, 2, None, Some(103)),
            frame(t + 21_000, 0, 4, None, Some(2500)),
        ];
        let e = stream(&cfg, &o);
        assert_eq!(e[0], e[1]);
        assert_eq!(e[3], e[0], "seq 101 -> 103 continues phone A");
        assert_ne!(e[2], e[0]);
        assert_ne!(e[4], e[2], "no fingerprint and no continuity: a new estimate");
        // Without sequence numbers, nothing links a MAC that has no fingerprint.
        let e = stream(&LinkConfig { seq_window: 0, ..cfg.clone() }, &o);
        assert_ne!(e[3], e[0]);
        // Another sensor that never heard phone A does not take its estimate.
        let mut far = o.clone();
        far[3].sensor = 5;
        assert_ne!(stream(&cfg, &far)[3], e[0]);
        // Globally unique MACs are themselves.
        let g = obs(t, 77, None, false);
        assert_eq!(stream(&cfg, &[g]), vec![DeviceId(77)]);
    }

    #[test]
    fn streaming_trusts_a_sequence_step_only_while_a_chance_match_is_unlikely() {
        // Regression (walk-bys lost in the 70%-randomized simulation): a newcomer's first MAC
        // whose counter happened to sit 30 steps after one of the 20 phones around took that
        // phone's estimate, and its walk-bys merged into the other person's.
        let t = 20_000 * 24 * HOUR + 10 * HOUR;
        let cfg = LinkConfig::default();
        let mut o: Vec<Observation> = (0..20).map(|k| frame(t + k as Millis * 100, 0, 100 + k, None, Some(200 * k as u16))).collect();
        o.push(frame(t + 10_000, 0, 500, None, Some(200 * 7 + 30)));
        o.push(frame(t + 11_000, 0, 501, None, Some(200 * 9 + 1)));
        let e = stream(&cfg, &o);
        // 20 candidates: 0.05 × 4096 / 20 = 10 steps are trusted.
        assert!(!e[..20].contains(&e[20]), "a step of 30 among 20 candidates is chance");
        assert_eq!(e[21], e[9], "a step of 1 is a MAC change");
        // Alone, the same step of 30 is a continuation (0.05 × 4096 / 1 > 64: the window rules).
        let alone = vec![o[7], o[20]];
        let e = stream(&cfg, &alone);
        assert_eq!(e[1], e[0]);
        // Setting the chance to 1 trusts the whole window again.
        let e = stream(&LinkConfig { seq_chance: 1.0, ..cfg.clone() }, &o);
        assert_eq!(e[20], e[7]);
    }

    #[test]
    fn streaming_undoes_a_sequence_link_when_the_old_mac_returns() {
        let t = 20_000 * 24 * HOUR + 10 * HOUR;
        let cfg = LinkConfig::default();
        // MAC 1 (seq 100); MAC 2 starts at seq 101 and is linked; then MAC 1 is heard again:
        // a phone never returns to a MAC it left, so MAC 2 is someone else from now on.
        let o = vec![
            frame(t, 0, 1, None, Some(100)),
            frame(t + 5000, 0, 2, None, Some(101)),
            frame(t + 9000, 0, 1, None, Some(102)),
            frame(t + 12_000, 0, 2, None, Some(120)),
            frame(t + 15_000, 0, 1, None, Some(103)),
        ];
        let e = stream(&cfg, &o);
        assert_eq!(e[1], e[0], "linked on the step");
        assert_eq!(e[2], e[0], "the returning MAC keeps the estimate");
        assert_ne!(e[3], e[0], "the later-linked MAC leaves");
        assert_eq!(e[4], e[0]);
        // A real MAC change (the old MAC silent from then on) stays linked.
        let e = stream(&cfg, &[o[0], o[1], frame(t + 12_000, 0, 2, None, Some(104))]);
        assert!(e.iter().all(|&d| d == e[0]));
        // Class-linked MACs taking turns (one model, batch rule 4) are left as they are.
        let c = [frame(t, 0, 1, Some(7), None), frame(t + 5000, 0, 2, Some(7), None), frame(t + 9000, 0, 1, Some(7), None)];
        let e = stream(&cfg, &c);
        assert!(e.iter().all(|&d| d == e[0]));
    }

    #[test]
    fn streaming_chains_a_class_within_the_gap_and_never_across_midnight() {
        let t = 20_000 * 24 * HOUR + 23 * HOUR + 40 * MINUTE;
        let cfg = LinkConfig::default();
        let o = vec![
            frame(t, 0, 1, Some(7), None),
            frame(t + MINUTE, 0, 2, Some(7), None),
            frame(t + 2 * MINUTE, 0, 3, Some(8), None),  // another class
            frame(t + 15 * MINUTE, 0, 4, Some(7), None), // 14 min of silence: past the gap
            frame(t + 19 * MINUTE, 0, 5, Some(7), None),
            frame(t + 21 * MINUTE, 0, 6, Some(7), None), // after midnight
        ];
        let e = stream(&cfg, &o);
        assert_eq!(e[0], e[1]);
        assert_ne!(e[2], e[0]);
        assert_ne!(e[3], e[1]);
        assert_eq!(e[4], e[3]);
        assert_ne!(e[5], e[4], "midnight ends every estimate");
        // The day scope bridges the silence, still not midnight.
        let e = stream(&LinkConfig { scope: LinkScope::Day, ..cfg }, &o);
        assert_eq!(e[3], e[0]);
        assert_ne!(e[5], e[4]);
    }

    #[test]
    fn streaming_never_gives_two_macs_on_air_one_estimate() {
        let t = 20_000 * 24 * HOUR + 10 * HOUR;
        // MAC 2 starts in the same instant MAC 1 is heard: two phones of one model.
        let o = vec![frame(t, 0, 1, Some(7), None), frame(t, 0, 2, Some(7), None), frame(t + 1000, 0, 1, Some(7), None)];
        let e = stream(&LinkConfig::default(), &o);
        assert_ne!(e[0], e[1]);
        assert_eq!(e[2], e[0]);
        let mut l = Linker::default();
        let mut c = cal();
        let first = l.assign(&LinkConfig::default(), c.day_hour(t).0, &o[0]);
        assert_eq!(l.forget(DeviceId(1)), Some(first));
        assert_eq!(l.forget(DeviceId(1)), None);
    }
}
