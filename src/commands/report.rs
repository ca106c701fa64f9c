//! `footfall report`: readable tables (or JSON) of the aggregates, k-thresholded like the API:
//! every count of 1..k-1 (and every rate or median computed from one) is shown as `<k` in the
//! tables and `null` in JSON. With a calibration stored (`footfall calibrate --db --save`), a
//! last section shows walk-ins per store and hour raw and calibrated with the factor's
//! interval, under the same threshold; without one it says so.

use super::analysis::{self, Analysis};
use crate::cli::ReportArgs;
use crate::config::Config;
use crate::output::{Table, minutes, num, pct};
use footfall_core::metrics::DWELL_BUCKETS;
use footfall_core::time::format_rfc3339;
use footfall_query::Threshold;
use footfall_query::calibrated::{self, PublishedCalibrated, PublishedCalibration};
use footfall_query::noise::Noise;
use footfall_query::published::{self, PublishedAggregates, PublishedMetrics};
use footfall_transforms::aggregate::{self, Aggregates, Row};
use footfall_transforms::calibrate::{SavedFit, Source};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct JsonReport<'a> {
    venue: &'a str,
    timezone: &'a str,
    inputs: usize,
    observations: u64,
    dropped: BTreeMap<&'static str, u64>,
    /// Device counts like every other figure: null when 1..k-1.
    excluded_devices: BTreeMap<&'static str, Option<u64>>,
    excluded_visits: Option<u64>,
    excluded_passes: Option<u64>,
    /// Epsilon per published count when differential-privacy noise is on (`[privacy]
    /// epsilon`), absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    noise_epsilon_per_count: Option<f64>,
    #[serde(flatten)]
    aggregates: &'a PublishedAggregates,
    /// `calibrated`, or why there are no calibrated figures.
    calibration_status: String,
    /// Walk-ins per store and hour, raw and calibrated (null without a stored calibration).
    calibration: Option<CalibrationJson>,
}

#[derive(Serialize)]
struct CalibrationJson {
    counts_file: String,
    fitted_at: String,
    fitted_windows: u64,
    fitted_from: String,
    fitted_to: String,
    #[serde(flatten)]
    published: PublishedCalibration,
}

const NO_CALIBRATION: &str = "none: no door-counter calibration is stored in this database; fit one with \
`footfall calibrate --db DB --counts COUNTS.csv --save`";

/// The stored calibration applied to `agg`, with its bookkeeping; `None` when none is stored.
fn calibration(db: &std::path::Path, agg: &Aggregates, t: Threshold) -> anyhow::Result<Option<CalibrationJson>> {
    let Some(stored) = analysis::open_existing(db)?.calibration()? else { return Ok(None) };
    let fit: SavedFit = serde_json::from_str(&stored.json).map_err(|e| {
        anyhow::anyhow!(
            "the stored calibration is unreadable ({e}); fit it again with `footfall calibrate --db {} --counts ... --save`",
            db.display()
        )
    })?;
    Ok(Some(CalibrationJson {
        counts_file: stored.source,
        fitted_at: format_rfc3339(stored.fitted_ms),
        fitted_windows: stored.windows,
        fitted_from: format_rfc3339(fit.from_ms),
        fitted_to: format_rfc3339(fit.to_ms),
        published: calibrated::calibration(agg, &fit, t),
    }))
}

/// A calibrated figure with its interval: `<k` when suppressed.
fn calibrated_cells(c: &PublishedCalibrated, k: u64) -> [String; 2] {
    match (c.value, c.low, c.high) {
        (Some(v), Some(l), Some(h)) => [num(v, 0), format!("{}-{}", num(l, 0), num(h, 0))],
        _ => [format!("<{k}"), format!("<{k}")],
    }
}

/// The report's calibrated section: per store its total and hours, raw beside calibrated.
fn render_calibration(c: Option<&CalibrationJson>, k: u64) -> String {
    let Some(c) = c else {
        return format!("\nCalibrated figures: {NO_CALIBRATION}\n");
    };
    let p = &c.published;
    let mut out = format!(
        "\nCalibrated walk-ins: door-counter factors from {} ({} windows of {} s, {} to {}; fitted {})\n\
         (raw: walk-ins estimated from WiFi over the period; calibrated: raw x the store's factor for the hour, \
         an hour with fewer than {} windows using the store-wide factor; intervals: the factor's 95% bootstrap interval)\n",
        c.counts_file,
        c.fitted_windows,
        p.window_s,
        &c.fitted_from[..10.min(c.fitted_from.len())],
        &c.fitted_to[..10.min(c.fitted_to.len())],
        &c.fitted_at[..10.min(c.fitted_at.len())],
        p.min_intervals
    );
    let mut tb = Table::new(["store", "hour", "walk-ins raw", "calibrated", "95% interval", "factor", "factor 95%", "factor from"]);
    for s in &p.stores {
        let [v, i] = calibrated_cells(&s.walk_ins_calibrated, k);
        tb.row([s.store.clone(), "all".into(), count(s.walk_ins, k), v, i, String::new(), String::new(), String::new()]);
        for h in &s.hours {
            let [v, i] = calibrated_cells(&h.walk_ins_calibrated, k);
            tb.row([
                String::new(),
                format!("{:02}:00", h.hour),
                count(h.walk_ins, k),
                v,
                i,
                num(h.factor, 2),
                format!("{}-{}", num(h.factor_low, 2), num(h.factor_high, 2)),
                match h.factor_source {
                    Source::Hour => "hour".into(),
                    Source::Store => "store (too few)".into(),
                },
            ]);
        }
    }
    out.push_str(&tb.render());
    if !p.uncalibrated_stores.is_empty() {
        out.push_str(&format!(
            "no factor for {}: the counts had no window of theirs with a WiFi estimate (raw figures only)\n",
            p.uncalibrated_stores.join(", ")
        ));
    }
    out
}

/// The aggregates as released: with the configured noise on every count when there is one.
pub fn release(agg: Aggregates, noise: Option<&Noise>) -> Aggregates {
    match noise {
        Some(n) => n.aggregates(&agg),
        None => agg,
    }
}

pub fn build(a: &Analysis, store: Option<&str>) -> anyhow::Result<Aggregates> {
    if let Some(s) = store
        && a.site.store_index(s).is_none()
    {
        anyhow::bail!("unknown store {s:?}; the site has {}", a.site.stores.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", "));
    }
    let mut agg = aggregate::aggregate(&a.site, &a.visits, &a.passes);
    if let Some(s) = store {
        let keep = |r: &Row| r.store == s;
        agg.totals.retain(keep);
        agg.daily.retain(keep);
        agg.hourly.retain(keep);
    }
    Ok(agg)
}

/// A published count: the number, or `<k` when suppressed.
fn count(n: Option<u64>, k: u64) -> String {
    n.map(|n| n.to_string()).unwrap_or_else(|| format!("<{k}"))
}

/// A published rate or median: formatted, `<k` when one of the counts it comes from is
/// suppressed, `-` when there is nothing to compute it from.
fn derived(v: Option<f64>, from: &[Option<u64>], k: u64, fmt: impl Fn(Option<f64>) -> String) -> String {
    if v.is_none() && from.iter().any(Option::is_none) { format!("<{k}") } else { fmt(v) }
}

fn store_row(t: &mut Table, label: &str, m: &PublishedMetrics, k: u64) {
    t.row([
        label.to_string(),
        count(m.walk_bys, k),
        count(m.walk_ins, k),
        derived(m.capture_rate, &[m.walk_ins, m.walk_bys], k, pct),
        derived(m.median_dwell_s, &[m.walk_ins], k, minutes),
        derived(m.bounce_rate, &[m.walk_ins, m.dwell_buckets[0]], k, pct),
        count(m.unique_devices, k),
        count(m.new_devices, k),
        count(m.returning_devices, k),
        count(m.untracked_devices, k),
        derived(m.visit_frequency, &[m.walk_ins, m.unique_devices], k, |f| f.map(|f| num(f, 2)).unwrap_or_else(|| "-".into())),
    ]);
}

/// The operator's diagnostics of device exclusion are device counts too: thresholded.
fn excluded_counts(a: &Analysis, t: Threshold) -> [Option<u64>; 4] {
    [a.excluded.fixed.len(), a.excluded.staff.len(), a.excluded_visits, a.excluded_passes].map(|n| t.count(n as u64))
}

/// The tables of `footfall report`. Every cell comes from the thresholded aggregates: a count
/// of 1..k-1 (and whatever is computed from it) prints as `<k`.
pub fn render(a: &Analysis, agg: &Aggregates, t: Threshold, noise: Option<&Noise>) -> String {
    let k = t.k();
    let pubd = published::aggregates(agg, t);
    let mut out = String::new();
    let name = |id: &str| a.site.stores.iter().find(|s| s.id == id).map(|s| s.name.clone()).unwrap_or_else(|| "all stores".into());
    let dates: Vec<&str> = {
        let mut d: Vec<&str> = pubd.daily.iter().filter_map(|r| r.date.as_deref()).collect();
        d.sort_unstable();
        d.dedup();
        d
    };
    out.push_str(&format!(
        "footfall report: {} ({}), {} to {} ({} days with data)\n",
        a.site.venue,
        a.site.timezone,
        dates.first().unwrap_or(&"-"),
        dates.last().unwrap_or(&"-"),
        dates.len()
    ));
    if let Some(n) = noise {
        out.push_str(&format!(
            "noise: every count carries two-sided geometric noise of epsilon {} (differential privacy; medians are not noised)\n",
            n.epsilon()
        ));
    }
    let observations: u64 = a.files.iter().map(|f| f.records).sum();
    out.push_str(&format!(
        "inputs: {} files, {} observations; dropped: {}\n",
        a.files.len(),
        observations,
        if a.drops.total() == 0 {
            "none".to_string()
        } else {
            a.drops.0.iter().map(|(r, n)| format!("{n} {}", r.name().replace('_', " "))).collect::<Vec<_>>().join(", ")
        }
    ));
    let [fixed, staff, visits, passes] = excluded_counts(a, t).map(|n| count(n, k));
    out.push_str(&format!(
        "excluded as non-shoppers: {fixed} fixed and {staff} staff devices ({visits} visits, {passes} walk-bys removed)\n"
    ));
    out.push_str(&format!(
        "k-anonymity: counts of 1 to {} are suppressed (shown as <{k}), with the rates and medians computed from them\n\n",
        k - 1
    ));

    out.push_str("Stores, whole period\n");
    out.push_str(
        "(new / returning / untracked count walk-ins: by a device new to the store, by one seen there on an earlier day, \
         or by one with a randomized MAC, which is never followed across days)\n",
    );
    let mut tb = Table::new([
        "store",
        "walk-bys",
        "walk-ins",
        "capture",
        "median dwell",
        "bounce",
        "devices",
        "new",
        "returning",
        "untracked",
        "visits/device",
    ]);
    for r in &pubd.totals {
        store_row(&mut tb, &format!("{} {}", r.store, if r.store == "*" { "all stores".into() } else { name(&r.store) }), &r.metrics, k);
    }
    out.push_str(&tb.render());

    out.push_str("\nDwell (walk-ins per bucket, minutes)\n");
    let mut tb = Table::new(std::iter::once("store".to_string()).chain(DWELL_BUCKETS.iter().map(|b| b.to_string())));
    for r in &pubd.totals {
        tb.row(std::iter::once(r.store.clone()).chain(r.metrics.dwell_buckets.iter().map(|n| count(*n, k))));
    }
    out.push_str(&tb.render());

    let stores: Vec<&str> = pubd.totals.iter().map(|r| r.store.as_str()).collect();
    let mut daily: BTreeMap<(&str, &str), &PublishedMetrics> = BTreeMap::new();
    for r in &pubd.daily {
        if let Some(d) = r.date.as_deref() {
            daily.insert((d, r.store.as_str()), &r.metrics);
        }
    }
    out.push_str("\nDaily walk-ins / capture rate\n");
    let mut tb = Table::new(std::iter::once("date".to_string()).chain(stores.iter().map(|s| s.to_string())));
    for d in &dates {
        tb.row(std::iter::once(d.to_string()).chain(stores.iter().map(|s| match daily.get(&(*d, *s)) {
            Some(m) => format!("{} / {}", count(m.walk_ins, k), derived(m.capture_rate, &[m.walk_ins, m.walk_bys], k, pct)),
            None => "-".into(),
        })));
    }
    out.push_str(&tb.render());

    out.push_str("\nHour of day: mean walk-ins and walk-bys per day with data (staffing)\n");
    let days = dates.len().max(1) as f64;
    // Summed over the days before the threshold, so a mean is shown only when its total is
    // publishable.
    let mut by_hour: BTreeMap<(u8, &str), (u64, u64)> = BTreeMap::new();
    for r in &agg.hourly {
        if let Some(h) = r.hour {
            let e = by_hour.entry((h, r.store.as_str())).or_default();
            e.0 += r.metrics.walk_ins;
            e.1 += r.metrics.walk_bys;
        }
    }
    let hours: Vec<u8> = {
        let mut h: Vec<u8> = by_hour.keys().map(|k| k.0).collect();
        h.dedup();
        h
    };
    let mean = |n: u64| t.count(n).map(|n| num(n as f64 / days, 1)).unwrap_or_else(|| format!("<{k}"));
    let mut tb = Table::new(std::iter::once("hour".to_string()).chain(stores.iter().map(|s| format!("{s} in/by"))));
    for h in hours {
        tb.row(std::iter::once(format!("{h:02}:00")).chain(stores.iter().map(|s| match by_hour.get(&(h, *s)) {
            Some((i, b)) => format!("{} / {}", mean(*i), mean(*b)),
            None => "-".into(),
        })));
    }
    out.push_str(&tb.render());

    out.push_str("\nZones: exposure (share of visits reaching the zone) and median time there\n");
    let mut tb = Table::new(["store", "zone", "exposure", "median dwell"]);
    for r in pubd.totals.iter().filter(|r| r.store != "*") {
        for (z, zm) in &r.metrics.zones {
            tb.row([
                r.store.clone(),
                z.clone(),
                derived(zm.exposure, &[zm.visits, r.metrics.walk_ins], k, pct),
                derived(zm.median_dwell_s, &[zm.visits], k, minutes),
            ]);
        }
    }
    out.push_str(&tb.render());
    out
}

pub fn run(a: ReportArgs) -> anyhow::Result<()> {
    let config = Config::load(a.db.config.as_deref())?;
    let analysis = analysis::load(&a.db.db, &config, false)?;
    let noise = config.noise(&a.db.db, a.key.as_deref())?;
    let agg = release(build(&analysis, a.store.as_deref())?, noise.as_ref());
    let t = config.threshold();
    if a.json {
        let [fixed, staff, excluded_visits, excluded_passes] = excluded_counts(&analysis, t);
        let published = published::aggregates(&agg, t);
        let calibration = calibration(&a.db.db, &agg, t)?;
        let report = JsonReport {
            venue: &analysis.site.venue,
            timezone: &analysis.site.timezone,
            inputs: analysis.files.len(),
            observations: analysis.files.iter().map(|f| f.records).sum(),
            dropped: analysis.drops.0.iter().map(|(r, n)| (r.name(), *n)).collect(),
            excluded_devices: BTreeMap::from([("fixed", fixed), ("staff", staff)]),
            excluded_visits,
            excluded_passes,
            noise_epsilon_per_count: noise.as_ref().map(Noise::epsilon),
            aggregates: &published,
            calibration_status: if calibration.is_some() { "calibrated".into() } else { NO_CALIBRATION.into() },
            calibration,
        };
        crate::output::print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        let c = calibration(&a.db.db, &agg, t)?;
        crate::output::print(&(render(&analysis, &agg, t, noise.as_ref()) + &render_calibration(c.as_ref(), t.k())))?;
    }
    Ok(())
}
