//! `footfall eval`: how close the ingested figures are to a simulator's ground truth, per
//! store: visits per store-day, capture rate, median dwell and walk-bys, with the targets.

use super::analysis::Analysis;
use super::segments;
use crate::cli::EvalArgs;
use crate::config::Config;
use crate::output::{Table, num};
use anyhow::Context;
use footfall_query::commerce::Commerce;
use footfall_transforms::aggregate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
struct TruthStoreDay {
    store: String,
    date: String,
    visits: u64,
    walk_bys: u64,
    #[serde(default)]
    dwell_s: Vec<f64>,
    /// Seconds of visits per zone of the store (truth files from before zones have none).
    #[serde(default)]
    zone_s: Vec<f64>,
}

#[derive(Deserialize)]
struct Truth {
    store_days: Vec<TruthStoreDay>,
}

/// Targets of the core issue.
pub const VISITS_MAPE_TARGET: f64 = 0.05;
pub const CAPTURE_POINTS_TARGET: f64 = 2.0;
pub const DWELL_TARGET: f64 = 0.10;

#[derive(Serialize, Default, Clone)]
pub struct StoreEval {
    pub store: String,
    pub truth_visits: u64,
    pub est_visits: u64,
    /// Mean absolute percentage error of visits per store-day.
    pub visits_mape: f64,
    pub truth_capture: f64,
    pub est_capture: f64,
    pub truth_median_dwell_s: f64,
    pub est_median_dwell_s: f64,
    pub truth_walk_bys: u64,
    pub est_walk_bys: u64,
}

/// Where in the store visitors spent their time, truth against the visits' zone stays.
#[derive(Serialize, Clone)]
pub struct ZoneEval {
    pub store: String,
    pub zones: Vec<String>,
    /// Share of visit time per zone.
    pub truth_share: Vec<f64>,
    pub est_share: Vec<f64>,
    /// Σ min(truth, est) over zones: the share of visit time placed in the right zone, as far
    /// as aggregate shares can tell (1 = same distribution).
    pub overlap: f64,
}

#[derive(Serialize)]
pub struct EvalReport {
    pub zones: Vec<ZoneEval>,
    /// Overall zone accuracy: per-store overlaps weighted by truth visit time.
    pub zone_overlap: Option<f64>,
    pub stores: Vec<StoreEval>,
    pub overall: StoreEval,
    pub visits_mape_ok: bool,
    pub capture_ok: bool,
    pub dwell_ok: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn rate(a: u64, b: u64) -> f64 {
    if a + b == 0 { 0.0 } else { a as f64 / (a + b) as f64 }
}

pub fn evaluate(a: &Analysis, truth_path: &Path) -> anyhow::Result<EvalReport> {
    let text = std::fs::read_to_string(truth_path).with_context(|| format!("reading {}", truth_path.display()))?;
    let truth: Truth = serde_json::from_str(&text).with_context(|| format!("{} is not a footfall truth file", truth_path.display()))?;
    let agg = aggregate::aggregate(&a.site, &a.visits, &a.passes);
    let est: BTreeMap<(&str, &str), (u64, u64)> =
        agg.daily.iter().filter_map(|r| Some(((r.store.as_str(), r.date.as_deref()?), (r.metrics.walk_ins, r.metrics.walk_bys)))).collect();
    let mut est_dwell: BTreeMap<u16, Vec<f64>> = BTreeMap::new();
    for v in &a.visits {
        est_dwell.entry(v.store).or_default().push(v.dwell_ms() as f64 / 1000.0);
    }
    let mut per_store: BTreeMap<&str, (StoreEval, Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for td in &truth.store_days {
        let e = per_store
            .entry(td.store.as_str())
            .or_insert_with(|| (StoreEval { store: td.store.clone(), ..Default::default() }, Vec::new(), Vec::new()));
        let (ev, ew) = est.get(&(td.store.as_str(), td.date.as_str())).copied().unwrap_or((0, 0));
        e.0.truth_visits += td.visits;
        e.0.est_visits += ev;
        e.0.truth_walk_bys += td.walk_bys;
        e.0.est_walk_bys += ew;
        if td.visits > 0 {
            e.1.push((ev as f64 - td.visits as f64).abs() / td.visits as f64);
        }
        e.2.extend(td.dwell_s.iter().copied());
    }
    let mut stores = Vec::new();
    let mut all_ape = Vec::new();
    let mut all_truth_dwell = Vec::new();
    let mut overall = StoreEval { store: "*".into(), ..Default::default() };
    for (id, (mut s, apes, truth_dwell)) in per_store {
        let idx = a.site.store_index(id);
        s.visits_mape = apes.iter().sum::<f64>() / apes.len().max(1) as f64;
        s.truth_capture = rate(s.truth_visits, s.truth_walk_bys);
        s.est_capture = rate(s.est_visits, s.est_walk_bys);
        s.truth_median_dwell_s = median(truth_dwell.clone());
        s.est_median_dwell_s = median(idx.and_then(|i| est_dwell.get(&i).cloned()).unwrap_or_default());
        overall.truth_visits += s.truth_visits;
        overall.est_visits += s.est_visits;
        overall.truth_walk_bys += s.truth_walk_bys;
        overall.est_walk_bys += s.est_walk_bys;
        all_ape.extend(apes);
        all_truth_dwell.extend(truth_dwell);
        stores.push(s);
    }
    overall.visits_mape = all_ape.iter().sum::<f64>() / all_ape.len().max(1) as f64;
    overall.truth_capture = rate(overall.truth_visits, overall.truth_walk_bys);
    overall.est_capture = rate(overall.est_visits, overall.est_walk_bys);
    overall.truth_median_dwell_s = median(all_truth_dwell);
    overall.est_median_dwell_s = median(a.visits.iter().map(|v| v.dwell_ms() as f64 / 1000.0).collect());
    let rel = |e: f64, t: f64| if t == 0.0 { 0.0 } else { (e - t).abs() / t };
    // Zones: truth seconds per zone against the visits' zone stays (each stay lasts until the
    // next one starts, the last until the visit ends).
    let mut truth_zone: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for td in &truth.store_days {
        let e = truth_zone.entry(td.store.as_str()).or_default();
        e.resize(e.len().max(td.zone_s.len()), 0.0);
        e.iter_mut().zip(&td.zone_s).for_each(|(a, b)| *a += b);
    }
    let mut est_zone: BTreeMap<u16, Vec<f64>> = BTreeMap::new();
    for v in &a.visits {
        let n = a.site.stores.get(v.store as usize).map_or(0, |s| s.zones.len());
        let e = est_zone.entry(v.store).or_insert_with(|| vec![0.0; n]);
        for (i, z) in v.zones.iter().enumerate() {
            let end = v.zones.get(i + 1).map_or(v.end, |n| n.start);
            if let Some(slot) = e.get_mut(z.zone as usize) {
                *slot += (end - z.start).max(0) as f64 / 1000.0;
            }
        }
    }
    let share = |v: &[f64]| {
        let t: f64 = v.iter().sum();
        v.iter().map(|x| if t > 0.0 { x / t } else { 0.0 }).collect::<Vec<f64>>()
    };
    let mut zones = Vec::new();
    let (mut weighted, mut weight) = (0.0, 0.0);
    for (id, t) in truth_zone {
        let total: f64 = t.iter().sum();
        let Some(idx) = a.site.store_index(id) else { continue };
        if total <= 0.0 {
            continue;
        }
        let e = est_zone.get(&idx).cloned().unwrap_or_else(|| vec![0.0; t.len()]);
        let (ts, es) = (share(&t), share(&e));
        let overlap = ts.iter().zip(&es).map(|(x, y)| x.min(*y)).sum::<f64>();
        weighted += overlap * total;
        weight += total;
        zones.push(ZoneEval {
            store: id.to_string(),
            zones: a.site.stores[idx as usize].zones.iter().map(|z| z.id.clone()).collect(),
            truth_share: ts,
            est_share: es,
            overlap,
        });
    }
    Ok(EvalReport {
        zone_overlap: (weight > 0.0).then(|| weighted / weight),
        zones,
        visits_mape_ok: overall.visits_mape <= VISITS_MAPE_TARGET,
        capture_ok: stores.iter().all(|s| (s.est_capture - s.truth_capture).abs() * 100.0 <= CAPTURE_POINTS_TARGET),
        dwell_ok: stores.iter().all(|s| rel(s.est_median_dwell_s, s.truth_median_dwell_s) <= DWELL_TARGET),
        stores,
        overall,
    })
}

pub fn render(r: &EvalReport) -> String {
    let mut t = Table::new([
        "store",
        "visits truth",
        "visits est",
        "visits/day MAPE",
        "capture truth",
        "capture est",
        "diff (pts)",
        "median dwell truth",
        "est",
        "err",
        "walk-bys truth",
        "est",
    ]);
    for s in r.stores.iter().chain(std::iter::once(&r.overall)) {
        let dwell_err =
            if s.truth_median_dwell_s > 0.0 { (s.est_median_dwell_s - s.truth_median_dwell_s) / s.truth_median_dwell_s } else { 0.0 };
        t.row([
            s.store.clone(),
            s.truth_visits.to_string(),
            s.est_visits.to_string(),
            format!("{}%", num(s.visits_mape * 100.0, 1)),
            format!("{}%", num(s.truth_capture * 100.0, 1)),
            format!("{}%", num(s.est_capture * 100.0, 1)),
            format!("{:+.1}", (s.est_capture - s.truth_capture) * 100.0),
            format!("{} min", num(s.truth_median_dwell_s / 60.0, 1)),
            format!("{} min", num(s.est_median_dwell_s / 60.0, 1)),
            format!("{:+.1}%", dwell_err * 100.0),
            s.truth_walk_bys.to_string(),
            s.est_walk_bys.to_string(),
        ]);
    }
    let ok = |b: bool| if b { "PASS" } else { "FAIL" };
    let mut zone_text = String::new();
    if let Some(all) = r.zone_overlap {
        let mut z = Table::new(["store", "zone shares of visit time: truth", "est", "zone accuracy"]);
        let fmt =
            |names: &[String], v: &[f64]| names.iter().zip(v).map(|(n, x)| format!("{n} {:.0}%", x * 100.0)).collect::<Vec<_>>().join(" ");
        for e in &r.zones {
            z.row([e.store.clone(), fmt(&e.zones, &e.truth_share), fmt(&e.zones, &e.est_share), format!("{}%", num(e.overlap * 100.0, 1))]);
        }
        z.row(["*".to_string(), String::new(), String::new(), format!("{}%", num(all * 100.0, 1))]);
        zone_text = format!("\nzones (zone accuracy = share of visit time in the right zone, from per-store zone shares):\n{}", z.render());
    }
    let text = format!(
        "{}\ntargets: visits per store-day MAPE <= {}%: {} ({}%); capture rate within {} points in every store: {}; median dwell within {}% in every store: {}\n",
        t.render(),
        VISITS_MAPE_TARGET * 100.0,
        ok(r.visits_mape_ok),
        num(r.overall.visits_mape * 100.0, 2),
        CAPTURE_POINTS_TARGET,
        ok(r.capture_ok),
        DWELL_TARGET * 100.0,
        ok(r.dwell_ok)
    );
    text + &zone_text
}

/// Segment membership scores, when the database has a key file (it always has after ingest)
/// and the truth lists people.
fn evaluate_segments(
    ds: &Analysis,
    c: &Commerce,
    config: &Config,
    a: &EvalArgs,
) -> anyhow::Result<Option<(footfall_query::segments::Window, Vec<segments::SegmentScore>)>> {
    let Ok(key) = footfall_store::keyfile::load(&config.key_path(&a.db.db, a.key.as_deref())) else { return Ok(None) };
    let w = segments::window(ds, config, &a.window)?;
    let truth = a.truth.as_path();
    let scores = segments::evaluate(ds, c, config.pseudonymizer(key), truth, w)?;
    Ok((scores.iter().any(|s| s.truth > 0)).then_some((w, scores)))
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    let config = Config::load(a.db.config.as_deref())?;
    let (_, analysis, commerce) = segments::load(&a.db.db, &config)?;
    let report = evaluate(&analysis, &a.truth)?;
    let seg = evaluate_segments(&analysis, &commerce, &config, &a)?;
    if a.json {
        let mut doc = serde_json::to_value(&report)?;
        doc["segments"] = serde_json::json!(seg.as_ref().map(|(w, s)| serde_json::json!({"window": w, "scores": s})));
        crate::output::print(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
    } else {
        let mut text = render(&report);
        if let Some((w, s)) = &seg {
            text += &segments::render_scores(w, s);
        }
        crate::output::print(&text)?;
    }
    Ok(())
}
