//! Attribute point-of-sale transactions to visits: which visit most plausibly stood at the
//! cashier just before the till recorded the sale.
//!
//! The rule (documented in `docs/privacy.md` and `docs/formats.md`): a visit is a candidate
//! for a transaction of its store when the transaction falls between `before_start_s` (60 s)
//! before the visit's start and `after_end_s` (120 s) after its end. Its *gap* is the time from
//! the transaction to the nearest of the visit's stays in a cashier zone (zero when the
//! transaction falls in one), a zone whose id is in `cashier_zones` or the till's own zone;
//! a visit with no cashier stay has the gap from the transaction to its end plus
//! `no_zone_penalty_s` (60 s), weaker evidence. Candidates with a gap of at most `max_gap_s`
//! (180 s) are matched one to one, smallest gap first (ties: earlier transaction, then the
//! visit listed first): a visit pays at most once, and a transaction with no candidate left
//! stays unattributed and is reported as such. App-feed visits, whose positions come tens of
//! seconds apart, use the visit's end instead ([`Evidence::VisitEnd`]): the gap is the distance
//! from the sale to the visit's end, plus `app_no_zone_penalty_s` (20 s) when none of the
//! visit's pings in the `app_cashier_s` (180 s) before the sale or after it was in a cashier
//! zone (the buyer queued and paid at the till; a browser leaving by chance just after someone
//! else's sale seldom was there), and a candidate has a gap of at most `app_end_s` (50 s). This
//! module owns the rule; it does not know who the devices are or whether they may be targeted.

use footfall_core::commerce::Transaction;
use footfall_core::{Millis, Site, Visit};
use serde::{Deserialize, Serialize};

/// The `[pos]` config section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributeConfig {
    /// Zone ids (case-insensitive) that are cashier zones.
    pub cashier_zones: Vec<String>,
    pub before_start_s: u32,
    pub after_end_s: u32,
    pub max_gap_s: u32,
    pub no_zone_penalty_s: u32,
    /// Seconds after a cashier stay ends within which the till may still ring.
    pub leave_s: u32,
    /// App-feed visits: the largest distance between the sale and the visit's end, s.
    pub app_end_s: u32,
    /// App-feed visits: added to that distance when none of the visit's pings in the last
    /// `app_cashier_s` before the sale (or after it) was in a cashier zone, s.
    pub app_no_zone_penalty_s: u32,
    /// App-feed visits: how long before the sale a ping in a cashier zone still shows the
    /// buyer at the till, s.
    pub app_cashier_s: u32,
}

impl Default for AttributeConfig {
    fn default() -> Self {
        Self {
            cashier_zones: ["cashier", "checkout", "till", "tills", "caisse", "kasse"].map(String::from).to_vec(),
            before_start_s: 60,
            after_end_s: 120,
            max_gap_s: 180,
            no_zone_penalty_s: 60,
            leave_s: 60,
            app_end_s: 50,
            app_no_zone_penalty_s: 20,
            app_cashier_s: 180,
        }
    }
}

fn distance(t: Millis, a: Millis, b: Millis) -> Millis {
    if t < a {
        a - t
    } else if t > b {
        t - b
    } else {
        0
    }
}

/// What locates the buyer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// Sensor visits: zone stays are dense enough to see who stood at the cashier.
    CashierZone,
    /// App-feed visits: positions come tens of seconds apart, too coarse to see who stood at
    /// the till at the sale; the buyer is the visit that ends (leaves the store) within
    /// `app_end_s` of it, sooner (by `app_no_zone_penalty_s`) when it was not seen in a cashier
    /// zone in the `app_cashier_s` before it.
    VisitEnd,
}

/// For each transaction, the index in `visits` of the visit it is attributed to.
pub fn attribute(site: &Site, cfg: &AttributeConfig, evidence: Evidence, visits: &[Visit], txs: &[Transaction]) -> Vec<Option<usize>> {
    let cashier: Vec<Vec<u16>> = site
        .stores
        .iter()
        .map(|s| {
            s.zones
                .iter()
                .enumerate()
                .filter(|(_, z)| cfg.cashier_zones.iter().any(|c| c.eq_ignore_ascii_case(&z.id)))
                .map(|(i, _)| i as u16)
                .collect()
        })
        .collect();
    let mut by_store: Vec<Vec<usize>> = vec![Vec::new(); site.stores.len()];
    for (i, v) in visits.iter().enumerate() {
        if let Some(list) = by_store.get_mut(v.store as usize) {
            list.push(i);
        }
    }
    for list in &mut by_store {
        list.sort_by_key(|&i| visits[i].start);
    }
    let (before, after) = (cfg.before_start_s as Millis * 1000, cfg.after_end_s as Millis * 1000);
    let max_gap = cfg.max_gap_s as Millis * 1000;
    let mut pairs: Vec<(Millis, usize, usize)> = Vec::new();
    for (ti, t) in txs.iter().enumerate() {
        let Some(list) = by_store.get(t.store as usize) else { continue };
        let zones = &cashier[t.store as usize];
        // Visits start in order; none starting after the transaction + `before` qualifies.
        let end = list.partition_point(|&i| visits[i].start - before <= t.ts);
        for &vi in &list[..end] {
            let v = &visits[vi];
            if t.ts > v.end + after {
                continue;
            }
            let is_cashier = |z: u16| zones.contains(&z) || t.zone == Some(z);
            if evidence == Evidence::VisitEnd {
                let at_till = v.zones.iter().any(|s| is_cashier(s.zone) && s.end >= t.ts - cfg.app_cashier_s as Millis * 1000);
                let penalty = if at_till { 0 } else { cfg.app_no_zone_penalty_s as Millis * 1000 };
                let gap = (v.end - t.ts).abs() + penalty;
                if gap <= cfg.app_end_s as Millis * 1000 {
                    pairs.push((gap, ti, vi));
                }
                continue;
            }
            let gap = v
                .zones
                .iter()
                .filter(|s| is_cashier(s.zone))
                .map(|s| if t.ts <= s.end + cfg.leave_s as Millis * 1000 { (s.end - t.ts).abs() } else { distance(t.ts, s.start, s.end) })
                .min()
                .unwrap_or_else(|| (t.ts - v.end).abs() + cfg.no_zone_penalty_s as Millis * 1000);
            if gap <= max_gap {
                pairs.push((gap, ti, vi));
            }
        }
    }
    pairs.sort_unstable();
    let mut out = vec![None; txs.len()];
    let mut taken = vec![false; visits.len()];
    for (_, ti, vi) in pairs {
        if out[ti].is_none() && !taken[vi] {
            out[ti] = Some(vi);
            taken[vi] = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::{DeviceId, ZoneStay};

    fn site() -> Site {
        Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[
              {"id":"s1","name":"A","category":"c","polygon":[[0,0],[10,0],[10,10],[0,10]],
               "zones":[{"id":"front","name":"F","polygon":[[0,5],[10,5],[10,10],[0,10]]},{"id":"Cashier","name":"C","polygon":[[0,0],[10,0],[10,5],[0,5]]}]},
              {"id":"s2","name":"B","category":"c","polygon":[[10,0],[20,0],[20,10],[10,10]]}],
            "sensors":[]}"#,
        )
        .unwrap()
    }

    fn visit(d: u64, store: u16, start: Millis, end: Millis, zones: &[(u16, Millis, Millis)]) -> Visit {
        Visit {
            device: DeviceId(d),
            store,
            start,
            end,
            randomized: false,
            zones: zones.iter().map(|&(zone, start, end)| ZoneStay { zone, start, end }).collect(),
        }
    }

    fn tx(store: u16, ts: Millis) -> Transaction {
        Transaction { id: format!("T{ts}"), store, ts, amount_cents: 100, zone: None }
    }

    #[test]
    fn the_visit_at_the_cashier_gets_the_sale() {
        let s = site();
        let c = AttributeConfig::default();
        let visits = vec![
            // Browsing at the front while the sale happens.
            visit(1, 0, 0, 900_000, &[(0, 0, 900_000)]),
            // At the cashier 400-500 s, leaves at 520 s.
            visit(2, 0, 100_000, 520_000, &[(0, 100_000, 400_000), (1, 400_000, 500_000)]),
            // Another store.
            visit(3, 1, 0, 900_000, &[]),
        ];
        assert_eq!(attribute(&s, &c, Evidence::CashierZone, &visits, &[tx(0, 500_000)]), vec![Some(1)]);
        // Two sales, one cashier visitor: the second goes to the browsing visit only if it is
        // plausible (ends near the sale), otherwise it stays unattributed.
        assert_eq!(attribute(&s, &c, Evidence::CashierZone, &visits, &[tx(0, 500_000), tx(0, 505_000)]), vec![Some(1), None]);
        assert_eq!(attribute(&s, &c, Evidence::CashierZone, &visits, &[tx(0, 500_000), tx(0, 880_000)]), vec![Some(1), Some(0)]);
        // No zones in s2: the visit ending near the sale.
        assert_eq!(attribute(&s, &c, Evidence::CashierZone, &visits, &[tx(1, 950_000)]), vec![Some(2)]);
        assert_eq!(attribute(&s, &c, Evidence::CashierZone, &visits, &[tx(1, 2_000_000)]), vec![None]);
        // App visits: only the one leaving right after the sale.
        assert_eq!(attribute(&s, &c, Evidence::VisitEnd, &visits, &[tx(0, 500_000), tx(0, 300_000)]), vec![Some(1), None]);
    }

    #[test]
    fn app_visits_seen_at_the_till_are_preferred() {
        let s = site();
        let c = AttributeConfig { app_end_s: 60, app_no_zone_penalty_s: 30, ..AttributeConfig::default() };
        let visits = vec![
            // Browsing at the front, leaves 10 s after the sale.
            visit(1, 0, 0, 510_000, &[(0, 0, 490_000)]),
            // Pinged at the till 2 minutes before the sale, leaves 25 s after it.
            visit(2, 0, 100_000, 525_000, &[(0, 100_000, 300_000), (1, 380_000, 380_000)]),
            // At the till, but 4 minutes before the sale (longer than app_cashier_s).
            visit(3, 0, 0, 535_000, &[(1, 200_000, 260_000), (0, 300_000, 500_000)]),
        ];
        // The one seen at the till wins though the browser leaves closer to the sale.
        assert_eq!(attribute(&s, &c, Evidence::VisitEnd, &visits, &[tx(0, 500_000)]), vec![Some(1)]);
        // Without till evidence a visit needs to leave within app_end_s - penalty (30 s).
        assert_eq!(attribute(&s, &c, Evidence::VisitEnd, &visits[2..], &[tx(0, 500_000)]), vec![None]);
        assert_eq!(attribute(&s, &c, Evidence::VisitEnd, &visits[2..], &[tx(0, 505_000)]), vec![Some(0)]);
        // With no penalty the zone does not matter.
        let plain = AttributeConfig { app_end_s: 60, app_no_zone_penalty_s: 0, ..AttributeConfig::default() };
        assert_eq!(attribute(&s, &plain, Evidence::VisitEnd, &visits, &[tx(0, 500_000)]), vec![Some(0)]);
    }
}
