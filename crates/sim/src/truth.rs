//! Ground truth: what really happened, with the same definitions the pipeline uses.
//!
//! Per (shopper, store), *near* seconds (in the corridor, in no store, within
//! [`NEAR_RADIUS_M`] of the store's door point) and *inside* seconds (inside the store) form
//! presence intervals; intervals with gaps of at most [`EPISODE_GAP_S`] merge into episodes. In
//! an episode, inside intervals merged with the same gap rule form runs; a run lasting at least
//! [`MIN_VISIT_S`] is a visit (dwell = last inside second − first inside second). An episode
//! with no visit is a walk-by. Counts go to (store, local date of the start). This module owns
//! those definitions and the truth file's shape; it must not know about radio or MACs, and
//! staff and fixed devices never reach it.

use crate::layout::{Layout, Place};
use crate::{SimConfig, Transaction};
use chrono::NaiveDate;
use footfall_core::geometry::Point;
use footfall_core::time::{LocalCalendar, LocalDay, date_of_day};
use serde::{Deserialize, Serialize};

/// Radius around a door point within which a shopper in the corridor is "near" the store, m.
pub const NEAR_RADIUS_M: f64 = 8.0;
/// Largest gap, s, that still merges presence intervals (and inside intervals).
pub const EPISODE_GAP_S: i64 = 600;
/// Shortest inside run, s, that counts as a visit.
pub const MIN_VISIT_S: i64 = 120;
/// Window of the people-present counts (`counts.csv`), s.
pub const COUNT_WINDOW_S: i64 = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Near,
    Inside,
}

/// Consecutive seconds of one kind of presence; `start` and `end` are both included (s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    pub kind: Presence,
    pub start: i64,
    pub end: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Visit { start: i64, end: i64 },
    WalkBy { start: i64, end: i64 },
}

/// Episodes, visits and walk-bys of one (shopper, store) from its presence intervals.
pub fn classify(intervals: &[Interval]) -> Vec<Outcome> {
    let mut iv = intervals.to_vec();
    iv.sort_by_key(|i| (i.start, i.end));
    let mut out = Vec::new();
    let mut i = 0;
    while i < iv.len() {
        let mut j = i;
        let mut end = iv[i].end;
        while j + 1 < iv.len() && iv[j + 1].start - end <= EPISODE_GAP_S {
            j += 1;
            end = end.max(iv[j].end);
        }
        let mut visited = false;
        let mut run: Option<(i64, i64)> = None;
        let inside = iv[i..=j].iter().filter(|x| x.kind == Presence::Inside);
        for x in inside.map(|x| Some((x.start, x.end))).chain([None]) {
            match (run, x) {
                (Some((a, b)), Some((s, e))) if s - b <= EPISODE_GAP_S => run = Some((a, b.max(e))),
                (prev, next) => {
                    if let Some((a, b)) = prev
                        && b - a >= MIN_VISIT_S
                    {
                        out.push(Outcome::Visit { start: a, end: b });
                        visited = true;
                    }
                    run = next;
                }
            }
        }
        if !visited {
            out.push(Outcome::WalkBy { start: iv[i].start, end });
        }
        i = j + 1;
    }
    out
}

/// Presence intervals per store of a trajectory sampled every second from `t0_s` (s).
pub fn presence(layout: &Layout, t0_s: i64, samples: &[Point]) -> Vec<(u16, Vec<Interval>)> {
    let n = layout.stores.len();
    let mut open: Vec<Option<Interval>> = vec![None; n];
    let mut done: Vec<Vec<Interval>> = vec![Vec::new(); n];
    let mut note = |s: u16, kind: Presence, t: i64| {
        let slot = &mut open[s as usize];
        match slot {
            Some(iv) if iv.kind == kind && iv.end == t - 1 => iv.end = t,
            _ => {
                if let Some(iv) = slot.take() {
                    done[s as usize].push(iv);
                }
                *slot = Some(Interval { kind, start: t, end: t });
            }
        }
    };
    for (k, &p) in samples.iter().enumerate() {
        let t = t0_s + k as i64;
        match layout.place(p) {
            Place::Store(s) => note(s, Presence::Inside, t),
            Place::Corridor => layout.doors_within(p, NEAR_RADIUS_M).for_each(|s| note(s, Presence::Near, t)),
        }
    }
    for (s, slot) in open.into_iter().enumerate() {
        done[s].extend(slot);
    }
    done.into_iter().enumerate().filter(|(_, v)| !v.is_empty()).map(|(s, v)| (s as u16, v)).collect()
}

/// Truth for one store on one local date.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreDay {
    pub store: String,
    pub date: NaiveDate,
    pub visits: u32,
    pub walk_bys: u32,
    /// Every visit's dwell, s, in the order the visits were generated.
    pub dwell_s: Vec<u32>,
    pub transactions: u32,
    /// Seconds of the visits spent in each zone of the store (zone order of the site), for
    /// zone accuracy: where in the store the visitors really were.
    #[serde(default)]
    pub zone_s: Vec<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceCounts {
    /// Distinct shopper phones (a regular counts once).
    pub shoppers: u64,
    pub staff: u64,
    pub fixed: u64,
    /// Distinct shopper phones that randomize their MAC.
    pub randomized_shoppers: u64,
    /// Shopper appearances summed over days (with and without a phone).
    pub shopper_days: u64,
    /// Of which without a phone with WiFi on (see `phone_share`): never heard.
    #[serde(default)]
    pub phoneless_shopper_days: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameCounts {
    /// Frame records emitted (one per frame per sensor that heard it).
    pub total: u64,
    /// Of which with the broadcast address as source.
    pub broadcast: u64,
}

/// What one shopper did at one store on one local date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonDay {
    pub date: NaiveDate,
    pub store: String,
    pub visited: bool,
    /// An episode near the store front that was not a visit.
    pub walked_by: bool,
    pub bought: bool,
}

/// One shopper with an identifier the segments can be built on: the phone's MAC when it does
/// not randomize, the app's advertising ID when the shopper consented to sharing. Shoppers
/// with neither (randomizing phone and no consenting app, or no phone) are not listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonTruth {
    /// `r<k>` for the k-th regular, `d<day>-<i>` for a one-off shopper.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adid: Option<String>,
    /// Date, then store order.
    pub days: Vec<PersonDay>,
}

/// The app feed's totals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AppCounts {
    /// Distinct shoppers with the app (a regular counts once).
    pub users: u64,
    /// Of which consented to sharing.
    pub consenting: u64,
    pub pings: u64,
    /// Pings flagged without consent (the pipeline must reject them).
    pub pings_without_consent: u64,
}

/// The truth file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub seed: u64,
    pub config: SimConfig,
    pub timezone: String,
    /// Every store on every simulated date, date-major then store order.
    pub store_days: Vec<StoreDay>,
    pub devices: DeviceCounts,
    pub frames: FrameCounts,
    #[serde(default)]
    pub app: AppCounts,
    /// Shoppers with a stable identifier and what they did (segment evaluation).
    #[serde(default)]
    pub people: Vec<PersonTruth>,
}

/// Accumulates truth while the engine runs.
pub(crate) struct TruthBuilder {
    first_day: LocalDay,
    n_stores: usize,
    pub(crate) truth: Truth,
    /// (store, window start ms) → shoppers inside at some time in the window.
    pub(crate) present: std::collections::BTreeMap<(u16, i64), u32>,
}

impl TruthBuilder {
    pub(crate) fn new(cfg: &SimConfig, layout: &Layout, first_day: LocalDay) -> Self {
        let store_days = (0..cfg.days as i32)
            .flat_map(|d| {
                layout.site.stores.iter().map(move |s| StoreDay {
                    store: s.id.clone(),
                    date: date_of_day(first_day + d),
                    visits: 0,
                    walk_bys: 0,
                    dwell_s: Vec::new(),
                    transactions: 0,
                    zone_s: vec![0; s.zones.len()],
                })
            })
            .collect();
        let truth = Truth {
            seed: cfg.seed,
            config: cfg.clone(),
            timezone: cfg.timezone.clone(),
            store_days,
            devices: DeviceCounts::default(),
            frames: FrameCounts::default(),
            app: AppCounts::default(),
            people: Vec::new(),
        };
        Self { first_day, n_stores: layout.stores.len(), truth, present: Default::default() }
    }

    fn slot(&mut self, cal: &mut LocalCalendar, store: u16, ts_ms: i64) -> Option<&mut StoreDay> {
        let d = cal.day_hour(ts_ms).0 - self.first_day;
        let i = usize::try_from(d).ok()? * self.n_stores + store as usize;
        self.truth.store_days.get_mut(i)
    }

    /// Add one shopper's day; returns (store, visited, walked by) per store they came near.
    pub(crate) fn add_track(&mut self, layout: &Layout, cal: &mut LocalCalendar, t0_s: i64, samples: &[Point]) -> Vec<(u16, bool, bool)> {
        let mut seen = Vec::new();
        for (store, ivs) in presence(layout, t0_s, samples) {
            let (mut visited, mut walked) = (false, false);
            let mut last = None;
            for iv in ivs.iter().filter(|iv| iv.kind == Presence::Inside) {
                let mut w = iv.start.div_euclid(COUNT_WINDOW_S);
                while w <= iv.end.div_euclid(COUNT_WINDOW_S) {
                    if last != Some(w) {
                        *self.present.entry((store, w * COUNT_WINDOW_S * 1000)).or_default() += 1;
                        last = Some(w);
                    }
                    w += 1;
                }
            }
            for o in classify(&ivs) {
                match o {
                    Outcome::Visit { start, end } => {
                        visited = true;
                        let zones = &layout.site.stores[store as usize].zones;
                        let mut zone_s = vec![0u64; zones.len()];
                        for t in start..=end {
                            let Some(&p) = samples.get((t - t0_s) as usize) else { continue };
                            if let Some(z) = zones.iter().position(|z| z.polygon.contains(p)) {
                                zone_s[z] += 1;
                            }
                        }
                        if let Some(sd) = self.slot(cal, store, start * 1000) {
                            sd.visits += 1;
                            sd.dwell_s.push((end - start) as u32);
                            sd.zone_s.iter_mut().zip(zone_s).for_each(|(a, b)| *a += b);
                        }
                    }
                    Outcome::WalkBy { start, .. } => {
                        walked = true;
                        if let Some(sd) = self.slot(cal, store, start * 1000) {
                            sd.walk_bys += 1;
                        }
                    }
                }
            }
            seen.push((store, visited, walked));
        }
        seen
    }

    pub(crate) fn add_transaction(&mut self, cal: &mut LocalCalendar, store: u16, t: &Transaction) {
        if let Some(sd) = self.slot(cal, store, t.ts) {
            sd.transactions += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Presence::*;

    fn iv(kind: Presence, start: i64, end: i64) -> Interval {
        Interval { kind, start, end }
    }

    #[test]
    fn episodes_visits_and_walk_bys() {
        // A pass: near only.
        assert_eq!(classify(&[iv(Near, 0, 12)]), vec![Outcome::WalkBy { start: 0, end: 12 }]);
        // Approach, 5 min inside, leave: one visit, no walk-by.
        let v = classify(&[iv(Near, 0, 9), iv(Inside, 10, 310), iv(Near, 311, 320)]);
        assert_eq!(v, vec![Outcome::Visit { start: 10, end: 310 }]);
        // A bounce shorter than 120 s is a walk-by of the whole episode.
        let v = classify(&[iv(Near, 0, 9), iv(Inside, 10, 129), iv(Near, 130, 140)]);
        assert_eq!(v, vec![Outcome::WalkBy { start: 0, end: 140 }]);
        // Exactly 120 s is a visit.
        assert_eq!(classify(&[iv(Inside, 10, 130)]), vec![Outcome::Visit { start: 10, end: 130 }]);
        // Two short inside stints 10 min apart merge into one visit.
        let v = classify(&[iv(Inside, 0, 60), iv(Near, 61, 100), iv(Inside, 660, 700)]);
        assert_eq!(v, vec![Outcome::Visit { start: 0, end: 700 }]);
        // A gap over 10 min splits episodes: a walk-by then a visit.
        let v = classify(&[iv(Near, 0, 10), iv(Near, 611, 620), iv(Inside, 621, 900)]);
        assert_eq!(v, vec![Outcome::WalkBy { start: 0, end: 10 }, Outcome::Visit { start: 621, end: 900 }]);
        // Inside runs kept apart by > 10 min of near presence: two visits in one episode.
        let v = classify(&[iv(Inside, 0, 200), iv(Near, 201, 900), iv(Inside, 901, 1200)]);
        assert_eq!(v, vec![Outcome::Visit { start: 0, end: 200 }, Outcome::Visit { start: 901, end: 1200 }]);
        assert!(classify(&[]).is_empty());
    }

    #[test]
    fn presence_from_a_trajectory() {
        let l = Layout::new(4, "UTC").unwrap();
        // Walk east along the corridor from x=0 past s1's door, then into s3 for 3 minutes.
        let mut pts: Vec<Point> = (0..=18).map(|x| Point::new(x as f64, 19.0)).collect();
        pts.extend((0..4).map(|k| Point::new(18.0, 18.0 - k as f64)));
        pts.extend((0..180).map(|_| Point::new(18.0, 10.0)));
        pts.extend((0..4).map(|k| Point::new(18.0, 15.0 + k as f64)));
        let p = presence(&l, 1000, &pts);
        let s1 = &p.iter().find(|(s, _)| *s == 0).unwrap().1;
        assert_eq!(s1, &vec![iv(Near, 1000, 1012)]);
        let s3 = &p.iter().find(|(s, _)| *s == 2).unwrap().1;
        assert_eq!(s3[1].kind, Inside);
        assert_eq!(classify(s3), vec![Outcome::Visit { start: s3[1].start, end: s3[1].end }]);
        assert_eq!(classify(s1), vec![Outcome::WalkBy { start: 1000, end: 1012 }]);
    }
}
