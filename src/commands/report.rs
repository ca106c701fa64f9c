//! `footfall report`: readable tables (or JSON) of the aggregates.

use super::analysis::{self, Analysis};
use crate::cli::ReportArgs;
use crate::config::Config;
use crate::output::{Table, minutes, num, pct};
use footfall_core::metrics::{DWELL_BUCKETS, Metrics};
use footfall_transforms::aggregate::{self, Aggregates, Row};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct JsonReport<'a> {
    venue: &'a str,
    timezone: &'a str,
    inputs: usize,
    observations: u64,
    dropped: BTreeMap<&'static str, u64>,
    excluded_devices: BTreeMap<&'static str, usize>,
    excluded_visits: usize,
    excluded_passes: usize,
    #[serde(flatten)]
    aggregates: &'a Aggregates,
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

fn store_row(t: &mut Table, label: &str, m: &Metrics) {
    t.row([
        label.to_string(),
        m.walk_bys.to_string(),
        m.walk_ins.to_string(),
        pct(m.capture_rate),
        minutes(m.median_dwell_s),
        pct(m.bounce_rate),
        m.unique_devices.to_string(),
        m.new_devices.to_string(),
        m.returning_devices.to_string(),
        m.untracked_devices.to_string(),
        m.visit_frequency.map(|f| num(f, 2)).unwrap_or_else(|| "-".into()),
    ]);
}

pub fn render(a: &Analysis, agg: &Aggregates) -> String {
    let mut out = String::new();
    let name = |id: &str| a.site.stores.iter().find(|s| s.id == id).map(|s| s.name.clone()).unwrap_or_else(|| "all stores".into());
    let dates: Vec<&str> = {
        let mut d: Vec<&str> = agg.daily.iter().filter_map(|r| r.date.as_deref()).collect();
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
    out.push_str(&format!(
        "excluded as non-shoppers: {} fixed and {} staff devices ({} visits, {} walk-bys removed)\n\n",
        a.excluded.fixed.len(),
        a.excluded.staff.len(),
        a.excluded_visits,
        a.excluded_passes
    ));

    out.push_str("Stores, whole period\n");
    out.push_str(
        "(new / returning / untracked count walk-ins: by a device new to the store, by one seen there on an earlier day, \
         or by one with a randomized MAC, which is never followed across days)\n",
    );
    let mut t = Table::new([
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
    for r in &agg.totals {
        store_row(&mut t, &format!("{} {}", r.store, if r.store == "*" { "all stores".into() } else { name(&r.store) }), &r.metrics);
    }
    out.push_str(&t.render());

    out.push_str("\nDwell (walk-ins per bucket, minutes)\n");
    let mut t = Table::new(std::iter::once("store".to_string()).chain(DWELL_BUCKETS.iter().map(|b| b.to_string())));
    for r in &agg.totals {
        t.row(std::iter::once(r.store.clone()).chain(r.metrics.dwell_buckets.iter().map(|n| n.to_string())));
    }
    out.push_str(&t.render());

    let stores: Vec<&str> = agg.totals.iter().map(|r| r.store.as_str()).collect();
    let mut daily: BTreeMap<(&str, &str), &Metrics> = BTreeMap::new();
    for r in &agg.daily {
        if let Some(d) = r.date.as_deref() {
            daily.insert((d, r.store.as_str()), &r.metrics);
        }
    }
    out.push_str("\nDaily walk-ins / capture rate\n");
    let mut t = Table::new(std::iter::once("date".to_string()).chain(stores.iter().map(|s| s.to_string())));
    for d in &dates {
        t.row(std::iter::once(d.to_string()).chain(stores.iter().map(|s| match daily.get(&(*d, *s)) {
            Some(m) => format!("{} / {}", m.walk_ins, pct(m.capture_rate)),
            None => "-".into(),
        })));
    }
    out.push_str(&t.render());

    out.push_str("\nHour of day: mean walk-ins and walk-bys per day with data (staffing)\n");
    let days = dates.len().max(1) as f64;
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
    let mut t = Table::new(std::iter::once("hour".to_string()).chain(stores.iter().map(|s| format!("{s} in/by"))));
    for h in hours {
        t.row(std::iter::once(format!("{h:02}:00")).chain(stores.iter().map(|s| match by_hour.get(&(h, *s)) {
            Some((i, b)) => format!("{} / {}", num(*i as f64 / days, 1), num(*b as f64 / days, 1)),
            None => "-".into(),
        })));
    }
    out.push_str(&t.render());

    out.push_str("\nZones: exposure (share of visits reaching the zone) and median time there\n");
    let mut t = Table::new(["store", "zone", "exposure", "median dwell"]);
    for r in agg.totals.iter().filter(|r| r.store != "*") {
        for (z, zm) in &r.metrics.zones {
            t.row([r.store.clone(), z.clone(), pct(Some(zm.exposure)), minutes(zm.median_dwell_s)]);
        }
    }
    out.push_str(&t.render());
    out
}

pub fn run(a: ReportArgs) -> anyhow::Result<()> {
    let config = Config::load(a.db.config.as_deref())?;
    let analysis = analysis::load(&a.db.db, &config, false)?;
    let agg = build(&analysis, a.store.as_deref())?;
    if a.json {
        let report = JsonReport {
            venue: &analysis.site.venue,
            timezone: &analysis.site.timezone,
            inputs: analysis.files.len(),
            observations: analysis.files.iter().map(|f| f.records).sum(),
            dropped: analysis.drops.0.iter().map(|(r, n)| (r.name(), *n)).collect(),
            excluded_devices: BTreeMap::from([("fixed", analysis.excluded.fixed.len()), ("staff", analysis.excluded.staff.len())]),
            excluded_visits: analysis.excluded_visits,
            excluded_passes: analysis.excluded_passes,
            aggregates: &agg,
        };
        crate::output::print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        crate::output::print(&render(&analysis, &agg))?;
    }
    Ok(())
}
