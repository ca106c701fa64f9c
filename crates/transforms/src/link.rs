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
//! 3. Within a class and a *scope* (the caller's choice: a sensor, a store), randomized
//!    observations form one **device estimate** while they continue: a silence longer than
//!    [`LinkConfig::gap_s`] (default 600 s, the visit idle timeout) starts a new estimate
//!    under [`LinkScope::Visit`]; under [`LinkScope::Day`] only the local day ends it.
//! 4. **Never across days**: a randomizing phone has asked not to be followed, so an estimate
//!    always ends at local midnight, whatever the scope; estimate ids are derived from the
//!    class, the scope and the estimate's first instant, so they do not repeat across days.
//! 5. A randomized MAC without a fingerprint is its own estimate (within the same limits it
//!    cannot be linked to anything).
//!
//! Known limit (measured in `docs/accuracy.md`): phones of one model share a fingerprint, and
//! modern iPhones and Androids draw a fresh random sequence number with every MAC, so two such
//! phones heard at the same time in the same scope become one estimate. Sequence-number
//! continuity (Vanhoef et al. 2016) only separates phones that keep their counter; it is not
//! used yet.
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
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self { gap_s: 600, scope: LinkScope::Visit }
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
    // Chains: (scope, class) → (estimate, last frame, local day).
    let gap = cfg.gap_s as Millis * 1000;
    let mut chains: FxHashMap<(u32, u64), (DeviceId, Millis, i32)> = FxHashMap::default();
    let mut own: FxHashMap<(u32, DeviceId, i32), DeviceId> = FxHashMap::default();
    let mut out = Vec::with_capacity(obs.len());
    for o in obs {
        if !o.randomized {
            out.push(Estimate { id: o.device, randomized: false });
            continue;
        }
        let scope = scope_of(o);
        let (day, _) = cal.day_hour(o.ts);
        let id = match o.ie {
            Some(ie) => {
                let class = uf.find(ie);
                let entry = chains.entry((scope, class)).or_insert((estimate_id(class, scope, o.ts), o.ts, day));
                let ended = entry.2 != day || (cfg.scope == LinkScope::Visit && o.ts - entry.1 > gap);
                if ended {
                    *entry = (estimate_id(class, scope, o.ts), o.ts, day);
                }
                entry.1 = entry.1.max(o.ts);
                entry.0
            }
            // No fingerprint: the MAC alone, still cut at midnight.
            None => *own.entry((scope, o.device, day)).or_insert_with(|| estimate_id(o.device.0, scope, o.ts)),
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
        let e = link(&LinkConfig::default(), &mut cal(), &o, |_| 0);
        assert_eq!(e[0], e[1]);
        assert_eq!(e[1], e[2]);
        assert_ne!(e[2], e[3]);
        assert_ne!(e[3], e[4]);
        assert_eq!(e[5], Estimate { id: DeviceId(9), randomized: false });
        // A day scope bridges the silence, not midnight.
        let day_scope = LinkConfig { scope: LinkScope::Day, ..LinkConfig::default() };
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
}
