//! `footfall segments`: the sizes of a store's five audience segments over a window, and
//! their evaluation against a simulator's truth (membership F1, printed by `footfall eval`).
//!
//! The window, the definitions and the published sizes are `footfall_query::segments` (the
//! API serves the same); this command adds the flags, the table and the evaluation. Sizes
//! are published through the k-threshold like every report cell; the members never leave
//! this command (exporting them is `footfall export segment`, advertising IDs only).

use super::analysis;
use crate::cli::{SegmentWindowArgs, SegmentsArgs};
use crate::config::Config;
use crate::output::{Table, num};
use anyhow::Context;
use footfall_core::time::{LocalCalendar, day_of_date};
use footfall_core::{DeviceId, RadioKind};
use footfall_query::Dataset;
use footfall_query::commerce::Commerce;
use footfall_query::segments::{self, Act, Event, Identity, Segment, StoreSizes, Window};
use footfall_store::Store;
use footfall_transforms::Pseudonymizer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// The window of the flags (else the configured days ending with the last day with data).
pub fn window(ds: &Dataset, config: &Config, a: &SegmentWindowArgs) -> anyhow::Result<Window> {
    Ok(Window::resolve(ds, &config.segments, a.from.map(day_of_date), a.to.map(day_of_date), a.lost_after_days)?)
}

pub fn load(db: &Path, config: &Config) -> anyhow::Result<(Store, Dataset, Commerce)> {
    let store = analysis::open_existing(db)?;
    let ds = Dataset::load(&store, &config.pipeline(), &config.exclude, false).with_context(|| format!("reading {}", db.display()))?;
    let c = Commerce::load(&store, &ds, &config.pos).with_context(|| format!("reading {}", db.display()))?;
    Ok((store, ds, c))
}

pub fn run(a: SegmentsArgs) -> anyhow::Result<()> {
    let config = Config::load(a.db.config.as_deref())?;
    let (_, ds, c) = load(&a.db.db, &config)?;
    let w = window(&ds, &config, &a.window)?;
    let stores: Vec<u16> = match &a.store {
        Some(s) => vec![ds.store(s)?],
        None => (0..ds.site.stores.len() as u16).collect(),
    };
    let seg = segments::compute(&ds, &c, w);
    let t = config.threshold();
    let audience_k = config.audience.k();
    let noise = config.noise(&a.db.db, a.key.as_deref())?;
    let out: Vec<StoreSizes> = stores.iter().map(|&s| segments::store_sizes(&ds, &seg, s, t, audience_k, noise.as_ref())).collect();
    if a.json {
        let epsilon = noise.as_ref().map(|n| n.epsilon());
        let doc =
            serde_json::json!({ "window": w, "k": t.k(), "audience_k": audience_k, "noise_epsilon_per_count": epsilon, "stores": out });
        return crate::output::print(&(serde_json::to_string_pretty(&doc)? + "\n"));
    }
    let mut text = format!(
        "Segments {} to {} (lost = not seen in the last {} days); sizes below k = {} are shown as <k\n",
        w.first,
        w.last,
        w.lost_after_days,
        t.k()
    );
    for s in &out {
        let mut tab = Table::new(["segment", "WiFi devices", "ad IDs", &format!("exportable (>= {audience_k} ad IDs)")]);
        let cell = |n: Option<u64>| n.map_or("<k".to_string(), |n| n.to_string());
        for r in &s.segments {
            tab.row([r.title.clone(), cell(r.wifi_devices), cell(r.ad_ids), if r.exportable { "yes" } else { "no" }.to_string()]);
        }
        text += &format!("\n{} ({})\n{}", s.name, s.store, tab.render());
    }
    text += "\nWiFi devices are phones with a globally unique MAC (randomizing phones are never put in a segment); only advertising IDs of the consented app feed can be exported.\n";
    crate::output::print(&text)
}

/// The simulator's truth about people (`truth.json`, `people`).
#[derive(Deserialize)]
struct TruthPeople {
    #[serde(default)]
    people: Vec<Person>,
}

#[derive(Deserialize)]
struct Person {
    #[serde(default)]
    mac: Option<String>,
    #[serde(default)]
    adid: Option<String>,
    days: Vec<PersonDay>,
}

#[derive(Deserialize)]
struct PersonDay {
    date: chrono::NaiveDate,
    store: String,
    visited: bool,
    walked_by: bool,
    bought: bool,
}

/// Membership accuracy of one segment in one identity space, over all stores.
#[derive(Serialize, Clone, Debug)]
pub struct SegmentScore {
    pub segment: Segment,
    pub identity: Identity,
    pub truth: u64,
    pub estimated: u64,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
}

/// The F1 target of the commerce issue.
pub const F1_TARGET: f64 = 0.9;

/// Score the segments against the truth's people: their MACs and advertising IDs are hashed
/// by the deployment's pseudonymizer in memory, as ingest would, to meet the pseudonyms (with
/// key rotation, a MAC's pseudonym of each day's epoch).
pub fn evaluate(ds: &Dataset, c: &Commerce, mut p: Pseudonymizer, truth_path: &Path, w: Window) -> anyhow::Result<Vec<SegmentScore>> {
    let text = std::fs::read_to_string(truth_path).with_context(|| format!("reading {}", truth_path.display()))?;
    let truth: TruthPeople = serde_json::from_str(&text).with_context(|| format!("{} is not a truth file", truth_path.display()))?;
    let cal = LocalCalendar::new(ds.site.tz());
    let (mut wifi, mut app) = (Vec::new(), Vec::new());
    for person in &truth.people {
        let mac = person.mac.as_deref().and_then(|m| footfall_core::MacAddr::parse(m).ok()).map(|m| p.device_id(RadioKind::Wifi, &m));
        let ad = person.adid.as_deref().and_then(|a| footfall_core::AdId::parse(a).ok()).map(|a| p.ad_id(&a));
        for d in &person.days {
            let Some(store) = ds.site.store_index(&d.store) else { continue };
            let at = cal.utc_of_local(day_of_date(d.date), 12, 0);
            let mac = mac.map(|m| p.at(m, at));
            let acts = [(d.visited, Act::Visit), (d.walked_by, Act::Pass), (d.bought, Act::Purchase)];
            for (_, act) in acts.iter().filter(|(yes, _)| *yes) {
                for (id, list) in [(mac, &mut wifi), (ad, &mut app)] {
                    if let Some(id) = id {
                        list.push(Event { id, store, at, act: *act });
                    }
                }
            }
        }
    }
    let est = segments::compute(ds, c, w);
    let lost = w.lost_after_ms();
    let truth_wifi = segments::members(&ds.site, &wifi, w.from, w.to, lost);
    let truth_app = segments::members(&ds.site, &app, w.from, w.to, lost);
    let mut out = Vec::new();
    for (identity, t, e) in [(Identity::Wifi, &truth_wifi, &est.wifi), (Identity::App, &truth_app, &est.app)] {
        for g in Segment::ALL {
            let (mut tp, mut nt, mut ne) = (0u64, 0u64, 0u64);
            for (ts, es) in t.iter().zip(e) {
                let (a, b): (&BTreeSet<DeviceId>, &BTreeSet<DeviceId>) = (&ts[&g], &es[&g]);
                tp += a.intersection(b).count() as u64;
                nt += a.len() as u64;
                ne += b.len() as u64;
            }
            let precision = (ne > 0).then(|| tp as f64 / ne as f64);
            let recall = (nt > 0).then(|| tp as f64 / nt as f64);
            let f1 = match (precision, recall) {
                (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
                (Some(_), Some(_)) => Some(0.0),
                _ => None,
            };
            out.push(SegmentScore { segment: g, identity, truth: nt, estimated: ne, precision, recall, f1 });
        }
    }
    Ok(out)
}

pub fn render_scores(w: &Window, scores: &[SegmentScore]) -> String {
    let mut t = Table::new(["segment", "identity", "truth", "estimated", "precision", "recall", "F1", "target"]);
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{}%", num(v * 100.0, 1)));
    for s in scores {
        let verdict = match s.f1 {
            Some(f) if f >= F1_TARGET => "PASS",
            Some(_) => "FAIL",
            None => "n/a (empty)",
        };
        t.row([
            s.segment.title().to_string(),
            match s.identity {
                Identity::Wifi => "WiFi devices",
                Identity::App => "ad IDs",
            }
            .to_string(),
            s.truth.to_string(),
            s.estimated.to_string(),
            pct(s.precision),
            pct(s.recall),
            pct(s.f1),
            verdict.to_string(),
        ]);
    }
    format!(
        "\nsegments {} to {} (lost = not seen in the last {} days), membership summed over stores; target F1 >= {}%:\n{}",
        w.first,
        w.last,
        w.lost_after_days,
        F1_TARGET * 100.0,
        t.render()
    )
}
