//! The five audience segments of a store over a window, as sets of pseudonymous IDs.
//!
//! Definitions (configurable through `[segments]`, documented in `docs/privacy.md`), for store
//! S and the window `[from, to)`:
//! - **outside potential**: walked by S in the window and never visited S in the window;
//! - **just looking**: visited S in the window, no purchase attributed at S in the window;
//! - **best customers**: a purchase attributed at S in the window;
//! - **lost customers**: visited S in the window before its last `lost_after_days` (30) days
//!   and not within them;
//! - **competitors' customers**: visited a competitor of S (the site's list, default the same
//!   category) in the window and never S.
//!
//! Who can be in a segment: WiFi devices with a globally unique MAC (a randomizing phone has
//! asked not to be followed: its visits count in traffic but never enter a segment; fixed and
//! staff devices are already removed by the dataset) and advertising IDs of the consented app
//! feed. The two are kept apart ([`Identity`]): nothing links a MAC to an advertising ID, and
//! only advertising IDs can be exported. The set logic is generic over the ID type so the
//! evaluation can run the very same definitions on the simulator's truth. This module decides
//! membership over a [`Window`] (the one `footfall segments`, `footfall export segment` and
//! the API share) and publishes only sizes, through the k-threshold ([`store_sizes`]); it
//! never hands out members' identifiers (exports go through [`crate::audience`] and its
//! audience k).

use crate::commerce::Commerce;
use crate::noise::Noise;
use crate::range::{MAX_DAYS, parse_date};
use crate::{Dataset, QueryError, Threshold};
use footfall_core::time::{DAY, LocalCalendar, LocalDay, date_of_day};
use footfall_core::{DeviceId, Millis, Site};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// `[segments]` in the config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentConfig {
    /// Default window: the last `window_days` local days.
    pub window_days: u32,
    /// A customer not seen in the last `lost_after_days` days of the window is lost.
    pub lost_after_days: u32,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        Self { window_days: 90, lost_after_days: 30 }
    }
}

/// A segment window: local days `first..=last`, as UTC instants `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, ToSchema)]
pub struct Window {
    /// First local day, `YYYY-MM-DD`.
    #[schema(value_type = String)]
    pub first: chrono::NaiveDate,
    /// Last local day (inclusive).
    #[schema(value_type = String)]
    pub last: chrono::NaiveDate,
    #[serde(skip)]
    pub from: Millis,
    #[serde(skip)]
    pub to: Millis,
    /// A customer not seen in the last this many days of the window is lost.
    pub lost_after_days: u32,
}

impl Window {
    /// The window of the given local days, else `[segments] window_days` days ending with
    /// the last day with data; `lost_after_days` else the configured one.
    pub fn resolve(
        ds: &Dataset,
        cfg: &SegmentConfig,
        first: Option<LocalDay>,
        last: Option<LocalDay>,
        lost_after_days: Option<u32>,
    ) -> Result<Window, QueryError> {
        let last = match last {
            Some(d) => d,
            None => ds.day_span().ok_or(QueryError::NoData)?.1,
        };
        let first = first.unwrap_or(last - cfg.window_days.max(1) as LocalDay + 1);
        if first > last {
            return Err(QueryError::BadRange(format!("from ({}) is after to ({})", date_of_day(first), date_of_day(last))));
        }
        if (last - first) as i64 >= MAX_DAYS {
            return Err(QueryError::BadRange(format!("a segment window may cover at most {MAX_DAYS} days")));
        }
        let cal = LocalCalendar::new(ds.site.tz());
        Ok(Window {
            first: date_of_day(first),
            last: date_of_day(last),
            from: cal.utc_of_local(first, 0, 0),
            to: cal.utc_of_local(last + 1, 0, 0),
            lost_after_days: lost_after_days.unwrap_or(cfg.lost_after_days),
        })
    }

    /// [`Window::resolve`] from `YYYY-MM-DD` query values (empty = not given).
    pub fn parse(
        ds: &Dataset,
        cfg: &SegmentConfig,
        from: Option<&str>,
        to: Option<&str>,
        lost_after_days: Option<u32>,
    ) -> Result<Window, QueryError> {
        let day = |what, v: Option<&str>| v.filter(|s| !s.is_empty()).map(|s| parse_date(what, s)).transpose();
        Window::resolve(ds, cfg, day("from", from)?, day("to", to)?, lost_after_days)
    }

    pub fn lost_after_ms(&self) -> Millis {
        self.lost_after_days as Millis * DAY
    }
}

/// Members of every store's segments, per identity space.
pub struct Computed {
    pub wifi: Members<DeviceId>,
    pub app: Members<DeviceId>,
}

/// Run the five definitions over a dataset's WiFi devices and app-feed IDs in a window.
pub fn compute(ds: &Dataset, c: &Commerce, w: Window) -> Computed {
    let run = |id| members(&ds.site, &events(ds, c, id), w.from, w.to, w.lost_after_ms());
    Computed { wifi: run(Identity::Wifi), app: run(Identity::App) }
}

/// One segment's published size at one store.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct SegmentSize {
    pub segment: Segment,
    pub title: String,
    /// WiFi devices with a globally unique MAC (never exported); `null` below k.
    pub wifi_devices: Option<u64>,
    /// Advertising IDs of the consented app feed; `null` below k.
    pub ad_ids: Option<u64>,
    /// Whether the segment may be exported: at least the audience k advertising IDs.
    pub exportable: bool,
}

/// The five segments' sizes of one store.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct StoreSizes {
    pub store: String,
    pub name: String,
    pub segments: Vec<SegmentSize>,
}

/// The published sizes of store `s`: every count through the optional noise, then `t`;
/// `exportable` against the audience k on the true count (the export holds exactly that many
/// IDs; the audience k is at least k, so it reveals nothing below it).
pub fn store_sizes(ds: &Dataset, seg: &Computed, s: u16, t: Threshold, audience_k: u64, noise: Option<&Noise>) -> StoreSizes {
    let store = &ds.site.stores[s as usize];
    let len = |m: &Members<DeviceId>, g| {
        m.get(s as usize).and_then(|x: &BTreeMap<Segment, BTreeSet<DeviceId>>| x.get(&g)).map_or(0, |x| x.len() as u64)
    };
    StoreSizes {
        store: store.id.clone(),
        name: store.name.clone(),
        segments: Segment::ALL
            .iter()
            .map(|&g| {
                let ads = len(&seg.app, g);
                let publish = |identity: &str, n: u64| {
                    t.count(noise.map_or(n, |z| z.count(&format!("segment|{}|{}|{identity}", store.id, g.name()), n)))
                };
                SegmentSize {
                    segment: g,
                    title: g.title().to_string(),
                    wifi_devices: publish("wifi", len(&seg.wifi, g)),
                    ad_ids: publish("app", ads),
                    exportable: ads >= audience_k.max(t.k()),
                }
            })
            .collect(),
    }
}

/// The five segments, in the order reports list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Segment {
    OutsidePotential,
    JustLooking,
    BestCustomers,
    LostCustomers,
    CompetitorsCustomers,
}

impl Segment {
    pub const ALL: [Segment; 5] =
        [Segment::OutsidePotential, Segment::JustLooking, Segment::BestCustomers, Segment::LostCustomers, Segment::CompetitorsCustomers];

    /// The kebab-case name used on the command line, in the API and in files.
    pub fn name(self) -> &'static str {
        match self {
            Segment::OutsidePotential => "outside-potential",
            Segment::JustLooking => "just-looking",
            Segment::BestCustomers => "best-customers",
            Segment::LostCustomers => "lost-customers",
            Segment::CompetitorsCustomers => "competitors-customers",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Segment::OutsidePotential => "Outside potential",
            Segment::JustLooking => "Just looking",
            Segment::BestCustomers => "Best customers",
            Segment::LostCustomers => "Lost customers",
            Segment::CompetitorsCustomers => "Competitors' customers",
        }
    }

    pub fn parse(s: &str) -> Option<Segment> {
        Segment::ALL.into_iter().find(|g| g.name() == s)
    }
}

/// Which identifiers a segment holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Identity {
    /// WiFi devices with a globally unique MAC: counted, never exported.
    Wifi,
    /// Advertising IDs from the consented app feed: the only exportable ones.
    App,
}

/// What an ID did at a store at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Visit,
    Pass,
    Purchase,
}

/// One event of the set logic.
#[derive(Clone, Debug)]
pub struct Event<K> {
    pub id: K,
    pub store: u16,
    pub at: Millis,
    pub act: Act,
}

/// Segment members per store: `out[store][segment]`.
pub type Members<K> = Vec<BTreeMap<Segment, BTreeSet<K>>>;

/// Run the definitions over events in `[from, to)`.
pub fn members<K: Ord + Clone>(site: &Site, events: &[Event<K>], from: Millis, to: Millis, lost_after_ms: Millis) -> Members<K> {
    let n = site.stores.len();
    let mut visited: Vec<BTreeSet<K>> = vec![BTreeSet::new(); n];
    let mut recent: Vec<BTreeSet<K>> = vec![BTreeSet::new(); n];
    let mut earlier: Vec<BTreeSet<K>> = vec![BTreeSet::new(); n];
    let mut passed: Vec<BTreeSet<K>> = vec![BTreeSet::new(); n];
    let mut bought: Vec<BTreeSet<K>> = vec![BTreeSet::new(); n];
    let recent_from = to - lost_after_ms;
    for e in events.iter().filter(|e| (from..to).contains(&e.at) && (e.store as usize) < n) {
        let s = e.store as usize;
        match e.act {
            Act::Visit => {
                visited[s].insert(e.id.clone());
                if e.at >= recent_from {
                    recent[s].insert(e.id.clone());
                } else {
                    earlier[s].insert(e.id.clone());
                }
            }
            Act::Pass => {
                passed[s].insert(e.id.clone());
            }
            Act::Purchase => {
                bought[s].insert(e.id.clone());
            }
        }
    }
    (0..n)
        .map(|s| {
            let mut m = BTreeMap::new();
            m.insert(Segment::OutsidePotential, passed[s].difference(&visited[s]).cloned().collect());
            m.insert(Segment::JustLooking, visited[s].difference(&bought[s]).cloned().collect());
            m.insert(Segment::BestCustomers, bought[s].clone());
            m.insert(Segment::LostCustomers, earlier[s].difference(&recent[s]).cloned().collect());
            let rivals: BTreeSet<K> = site.competitors(s as u16).iter().flat_map(|&c| visited[c as usize].iter().cloned()).collect();
            m.insert(Segment::CompetitorsCustomers, rivals.difference(&visited[s]).cloned().collect());
            m
        })
        .collect()
}

/// The events of one identity space of a dataset: non-randomized WiFi devices, or the app
/// feed's advertising-ID pseudonyms; purchases are the attributed transactions.
pub fn events(ds: &Dataset, c: &Commerce, identity: Identity) -> Vec<Event<DeviceId>> {
    let mut out = Vec::new();
    match identity {
        Identity::Wifi => {
            out.extend(ds.visits.iter().filter(|v| !v.randomized).map(|v| Event {
                id: v.device,
                store: v.store,
                at: v.start,
                act: Act::Visit,
            }));
            out.extend(ds.passes.iter().filter(|p| !p.randomized).map(|p| Event {
                id: p.device,
                store: p.store,
                at: p.start,
                act: Act::Pass,
            }));
            for (t, v) in c.transactions.iter().zip(&c.wifi_visit) {
                if let Some(v) = v.map(|i| &ds.visits[i]).filter(|v| !v.randomized) {
                    out.push(Event { id: v.device, store: t.store, at: t.ts, act: Act::Purchase });
                }
            }
        }
        Identity::App => {
            out.extend(c.app_visits.iter().map(|v| Event { id: v.device, store: v.store, at: v.start, act: Act::Visit }));
            out.extend(c.app_passes.iter().map(|p| Event { id: p.device, store: p.store, at: p.start, act: Act::Pass }));
            for (t, v) in c.transactions.iter().zip(&c.app_visit) {
                if let Some(i) = v {
                    out.push(Event { id: c.app_visits[*i].device, store: t.store, at: t.ts, act: Act::Purchase });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[
              {"id":"a","name":"A","category":"shoes","polygon":[[0,0],[1,0],[1,1],[0,1]]},
              {"id":"b","name":"B","category":"shoes","polygon":[[2,0],[3,0],[3,1],[2,1]]},
              {"id":"c","name":"C","category":"books","polygon":[[4,0],[5,0],[5,1],[4,1]]}],
            "sensors":[]}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_five_definitions() {
        const DAY: Millis = 86_400_000;
        let e = |id: u8, store: u16, day: i64, act: Act| Event { id, store, at: day * DAY + 1, act };
        let events = vec![
            e(1, 0, 1, Act::Pass),     // 1: walked by a only → outside potential of a
            e(2, 0, 1, Act::Pass),     // 2: walked by a, visited a later → not outside potential
            e(2, 0, 9, Act::Visit),    //    visited a recently, no purchase → just looking
            e(3, 0, 2, Act::Visit),    // 3: visited a early, bought → best; not recent → lost
            e(3, 0, 2, Act::Purchase), //
            e(4, 1, 3, Act::Visit),    // 4: visited b (a's competitor), never a → competitors' of a
            e(5, 2, 3, Act::Visit),    // 5: visited c (not a competitor of a)
            e(6, 0, 20, Act::Visit),   // 6: outside the window
        ];
        let m = members(&site(), &events, 0, 10 * DAY, 5 * DAY);
        let a = &m[0];
        let ids = |s: Segment| a[&s].iter().copied().collect::<Vec<u8>>();
        assert_eq!(ids(Segment::OutsidePotential), vec![1]);
        assert_eq!(ids(Segment::JustLooking), vec![2]);
        assert_eq!(ids(Segment::BestCustomers), vec![3]);
        assert_eq!(ids(Segment::LostCustomers), vec![3]);
        assert_eq!(ids(Segment::CompetitorsCustomers), vec![4]);
        assert_eq!(m[1][&Segment::CompetitorsCustomers].iter().copied().collect::<Vec<u8>>(), vec![2, 3]);
        assert!(m[2][&Segment::CompetitorsCustomers].is_empty());
        assert!(Segment::ALL.iter().all(|s| Segment::parse(s.name()) == Some(*s)));
    }

    #[test]
    fn windows_default_to_the_config_and_refuse_bad_bounds() {
        use crate::views::tests::{DAY_MS, T0, dataset, visit};
        let cfg = SegmentConfig::default();
        assert!(matches!(Window::resolve(&dataset(Vec::new(), Vec::new()), &cfg, None, None, None), Err(QueryError::NoData)));
        let ds = dataset(vec![visit(1, 0, T0, 5, &[])], Vec::new());
        let day = (T0 / DAY_MS) as LocalDay;
        let w = Window::resolve(&ds, &cfg, None, None, None).unwrap();
        assert_eq!(
            (w.first, w.last, w.lost_after_days),
            (date_of_day(day - cfg.window_days as LocalDay + 1), date_of_day(day), cfg.lost_after_days)
        );
        assert_eq!((w.from, w.to), ((day as i64 - cfg.window_days as i64 + 1) * DAY_MS, (day as i64 + 1) * DAY_MS), "UTC site");
        assert_eq!(w.lost_after_ms(), cfg.lost_after_days as Millis * DAY);
        let w = Window::parse(&ds, &cfg, Some("2024-10-01"), Some(""), Some(2)).unwrap();
        assert_eq!((w.first.to_string(), w.last.to_string(), w.lost_after_days), ("2024-10-01".into(), "2024-10-04".into(), 2));
        let e = Window::parse(&ds, &cfg, Some("2024-10-05"), Some("2024-10-04"), None).unwrap_err().to_string();
        assert!(e.contains("after"), "{e}");
        assert!(Window::parse(&ds, &cfg, Some("1/10/2024"), None, None).unwrap_err().to_string().contains("YYYY-MM-DD"));
        assert!(Window::parse(&ds, &cfg, Some("2020-01-01"), None, None).is_err(), "longer than a query may cover");
    }

    #[test]
    fn sizes_are_thresholded_and_exportable_only_at_the_audience_k() {
        use crate::views::tests::dataset;
        let ds = dataset(Vec::new(), Vec::new());
        let ids = |n: u64| (0..n).map(DeviceId).collect::<BTreeSet<_>>();
        let space = |sizes: [u64; 5]| {
            vec![Segment::ALL.into_iter().zip(sizes).map(|(g, n)| (g, ids(n))).collect::<BTreeMap<_, _>>(), BTreeMap::new()]
        };
        let seg = Computed { wifi: space([3, 0, 7, 40, 5]), app: space([19, 20, 4, 0, 25]) };
        let out = store_sizes(&ds, &seg, 0, Threshold::new(5), 20, None);
        assert_eq!((out.store.as_str(), out.segments.len()), ("a", 5));
        let got: Vec<(Option<u64>, Option<u64>, bool)> = out.segments.iter().map(|g| (g.wifi_devices, g.ad_ids, g.exportable)).collect();
        assert_eq!(
            got,
            vec![
                (None, Some(19), false),
                (Some(0), Some(20), true),
                (Some(7), None, false),
                (Some(40), Some(0), false),
                (Some(5), Some(25), true)
            ]
        );
        // A store without members (b) has empty segments, all zero.
        assert!(store_sizes(&ds, &seg, 1, Threshold::new(5), 20, None).segments.iter().all(|g| g.ad_ids == Some(0) && !g.exportable));
        // With noise: sizes move, the threshold applies to the noisy sizes, the export gate
        // stays on the true count, and the same data gives the same answer.
        let noise = Noise::new(0.2, &[3; 32]).unwrap();
        let noisy = store_sizes(&ds, &seg, 0, Threshold::new(5), 20, Some(&noise));
        let published: Vec<Option<u64>> = noisy.segments.iter().flat_map(|g| [g.wifi_devices, g.ad_ids]).collect();
        assert_ne!(published, got.iter().flat_map(|g| [g.0, g.1]).collect::<Vec<_>>(), "noise moved some size");
        assert!(published.iter().flatten().all(|&n| n == 0 || n >= 5), "{published:?}");
        assert_eq!(noisy.segments.iter().map(|g| g.exportable).collect::<Vec<_>>(), got.iter().map(|g| g.2).collect::<Vec<_>>());
        assert_eq!(store_sizes(&ds, &seg, 0, Threshold::new(5), 20, Some(&noise)).segments, noisy.segments);
    }
}
