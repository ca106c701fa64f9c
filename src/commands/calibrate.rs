//! `footfall calibrate`: fits per store and local hour a factor from WiFi-estimated people
//! (`footfall occupancy` on capture files, one store per file; from a database, the visitors
//! present per window from the stored visits, the estimate reports are built on) to people
//! counted by a door counter or a camera system, and prints raw and calibrated figures with
//! the factor's interval.
//!
//! Reading the counts file and the fit are `footfall_transforms::calibrate`; counting is
//! `occupancy`'s. This module joins the two per (store, window) and prints; with `--db
//! --save` it stores the fitted factors (never the counts, never a MAC) for `footfall
//! report`, and `--forget` removes them.

use crate::cli::{CalibrateArgs, TableFormat};
use crate::commands::accuracy::fit as score;
use crate::commands::occupancy;
use crate::config::Config;
use crate::output::{Table, num};
use anyhow::{Context, bail};
use footfall_core::time::{LocalCalendar, format_rfc3339};
use footfall_store::calibration::StoredCalibration;
use footfall_transforms::calibrate::{self, FitConfig, Pair, SavedFit, Source, StoreFit};
use serde::Serialize;

#[derive(Serialize)]
struct WindowRow {
    store: String,
    window_start: String,
    hour: u8,
    people_raw: u32,
    people_calibrated: f64,
    low: f64,
    high: f64,
    factor_source: Source,
    counted: f64,
    /// Not fitted on (at or after --fit-before).
    held_out: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    window_s: i64,
    timezone: String,
    min_intervals: usize,
    stores: &'a [StoreFit],
    unfit_stores: &'a [String],
    /// Count windows with no WiFi window of their store (no capture then, or an unknown store).
    unmatched_count_windows: usize,
    windows: &'a [WindowRow],
}

pub fn run(a: CalibrateArgs) -> anyhow::Result<()> {
    if a.forget {
        let db = a.db.as_deref().context("--forget needs --db")?;
        let removed = crate::commands::analysis::open_existing(db)?.remove_calibration()?;
        eprintln!(
            "footfall calibrate: {}",
            if removed { "stored calibration removed; reports show raw figures only" } else { "no calibration was stored" }
        );
        return Ok(());
    }
    let counts_path = a.counts.as_deref().context("--counts is required")?;
    let file = counts_path.display().to_string();
    let text = std::fs::read_to_string(counts_path).with_context(|| format!("reading counts {file}"))?;
    let counts = calibrate::parse_counts(&file, &text)?;
    if counts.rows.is_empty() {
        bail!("{file}: no count rows after the header");
    }
    if a.min_intervals == 0 {
        bail!("--min-intervals must be at least 1");
    }
    let config = Config::load(a.count.config.as_deref())?;
    let (counted, tz) = match &a.db {
        Some(db) => {
            // The estimate the report's figures are built on: visitors present per store and
            // window, from the stored visits of shoppers (fixed and staff devices excluded).
            let analysis = crate::commands::analysis::load(db, &config, false)?;
            let scopes: Vec<String> = analysis.site.stores.iter().map(|s| s.id.clone()).collect();
            let counts = calibrate::visitors_per_window(&analysis.visits, scopes.len(), a.count.window);
            (occupancy::Counted { scopes, counts }, analysis.site.tz())
        }
        None => (occupancy::from_files(&config, &a.count, &a.inputs)?, a.count.tz),
    };
    let (scopes, wifi) = (counted.scopes, counted.counts);
    let mut per_window = calibrate::counts_per_window(&counts, a.count.window);
    let mut pairs = Vec::new();
    let mut raw = Vec::new();
    for c in &wifi {
        let store = &scopes[c.scope as usize];
        if let Some(n) = per_window.remove(&(store.clone(), c.start)) {
            pairs.push(Pair { store: store.clone(), time: c.start, estimated: c.people as f64, counted: n });
            raw.push(c.people);
        }
    }
    let unmatched = per_window.len();
    let unknown: std::collections::BTreeSet<&str> =
        per_window.keys().map(|k| k.0.as_str()).filter(|s| !scopes.iter().any(|n| n == s)).collect();
    if pairs.is_empty() {
        bail!(
            "no window of the captures has a count: the counts' stores must be the capture file names or the site's store ids ({}) and their times must fall within the captures{}",
            scopes.join(", "),
            if unknown.is_empty() {
                String::new()
            } else {
                format!(" (unknown stores in the counts: {})", unknown.into_iter().collect::<Vec<_>>().join(", "))
            }
        );
    }
    let split = match &a.fit_before {
        Some(t) => footfall_core::time::parse_rfc3339(t.as_bytes())
            .map_err(|_| anyhow::anyhow!("--fit-before {t:?}: expected an RFC 3339 time such as 2026-03-04T00:00:00Z"))?,
        None => footfall_core::Millis::MAX,
    };
    let fit_on: Vec<Pair> = pairs.iter().filter(|p| p.time < split).cloned().collect();
    if fit_on.is_empty() {
        bail!("no counted window before --fit-before: nothing to fit on");
    }
    let fit_cfg = FitConfig { min_intervals: a.min_intervals, ..FitConfig::default() };
    let mut cal = LocalCalendar::new(tz);
    let (fits, unfit) = calibrate::fit(&fit_cfg, &mut cal, &fit_on, &counts);
    if a.save {
        let db = a.db.as_deref().context("--save needs --db")?;
        let saved = SavedFit {
            window_s: a.count.window / 1000,
            min_intervals: a.min_intervals,
            from_ms: fit_on.iter().map(|p| p.time).min().unwrap_or_default(),
            to_ms: fit_on.iter().map(|p| p.time).max().unwrap_or_default(),
            stores: fits.clone(),
        };
        let name = counts_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| file.clone());
        let stored = StoredCalibration {
            json: serde_json::to_string(&saved)?,
            source: name,
            windows: fit_on.len() as u64,
            fitted_ms: crate::commands::now_ms(),
        };
        crate::commands::analysis::open_existing(db)?.put_calibration(&stored)?;
        eprintln!(
            "footfall calibrate: saved the factors of {} store(s) in {}; `footfall report` shows calibrated figures",
            fits.len(),
            db.display()
        );
    }
    let mut windows = Vec::new();
    for (p, &people) in pairs.iter().zip(&raw) {
        let Some(f) = fits.iter().find(|f| f.store == p.store) else { continue };
        let hour = cal.day_hour(p.time).1;
        let (factor, source) = f.factor_at(hour);
        let r = people as f64;
        windows.push(WindowRow {
            store: p.store.clone(),
            window_start: format_rfc3339(p.time),
            hour,
            people_raw: people,
            people_calibrated: r * factor.factor,
            low: r * factor.low,
            high: r * factor.high,
            factor_source: source,
            counted: p.counted,
            held_out: p.time >= split,
        });
    }
    let out = Output {
        window_s: a.count.window / 1000,
        timezone: tz.to_string(),
        min_intervals: a.min_intervals,
        stores: &fits,
        unfit_stores: &unfit,
        unmatched_count_windows: unmatched,
        windows: if a.windows || a.format == TableFormat::Json { &windows } else { &[] },
    };
    let text = match a.format {
        TableFormat::Json => serde_json::to_string_pretty(&out)? + "\n",
        TableFormat::Csv if a.windows => {
            let mut s = String::from("store,window_start,hour,people_raw,people_calibrated,low,high,factor_source,counted\n");
            for w in &windows {
                s.push_str(&format!(
                    "{},{},{},{},{:.2},{:.2},{:.2},{},{}\n",
                    w.store,
                    w.window_start,
                    w.hour,
                    w.people_raw,
                    w.people_calibrated,
                    w.low,
                    w.high,
                    source_name(w.factor_source),
                    w.counted
                ));
            }
            s
        }
        TableFormat::Csv => {
            let mut s = String::from("store,hour,factor,low,high,intervals,estimated,counted,source\n");
            for f in &fits {
                let o = &f.overall;
                s.push_str(&format!(
                    "{},all,{:.4},{:.4},{:.4},{},{},{},store\n",
                    f.store, o.factor, o.low, o.high, o.intervals, o.estimated, o.counted
                ));
                for h in &f.hours {
                    let x = &h.factor;
                    s.push_str(&format!(
                        "{},{},{:.4},{:.4},{:.4},{},{},{},{}\n",
                        f.store,
                        h.hour,
                        x.factor,
                        x.low,
                        x.high,
                        h.intervals,
                        if h.source == Source::Hour { x.estimated.to_string() } else { String::new() },
                        if h.source == Source::Hour { x.counted.to_string() } else { String::new() },
                        source_name(h.source)
                    ));
                }
            }
            s
        }
        TableFormat::Table => table(&a, &out, &windows),
    };
    if !unfit.is_empty() {
        eprintln!("footfall calibrate: no WiFi estimate in any counted window of {}: no factor", unfit.join(", "));
    }
    if unmatched > 0 {
        eprintln!("footfall calibrate: {unmatched} count window(s) without a WiFi window of their store (ignored)");
    }
    crate::output::print(&text)
}

fn source_name(s: Source) -> &'static str {
    match s {
        Source::Hour => "hour",
        Source::Store => "store",
    }
}

fn table(a: &CalibrateArgs, out: &Output, windows: &[WindowRow]) -> String {
    let mut s = format!(
        "calibration: {} matched windows of {} s ({} fitted on), local hours in {}; an hour with fewer than {} windows uses its store's factor\n\n",
        windows.len(),
        out.window_s,
        windows.iter().filter(|w| !w.held_out).count(),
        out.timezone,
        out.min_intervals
    );
    let mut t = Table::new(["store", "hour", "windows", "WiFi people", "counted", "factor", "95% interval", "factor from"]);
    for f in out.stores {
        let o = &f.overall;
        t.row([
            f.store.clone(),
            "all".into(),
            o.intervals.to_string(),
            num(o.estimated, 0),
            num(o.counted, 0),
            num(o.factor, 2),
            format!("{}-{}", num(o.low, 2), num(o.high, 2)),
            "store".into(),
        ]);
        for h in &f.hours {
            let x = &h.factor;
            let own = h.source == Source::Hour;
            t.row([
                String::new(),
                format!("{:02}", h.hour),
                h.intervals.to_string(),
                if own { num(x.estimated, 0) } else { "-".into() },
                if own { num(x.counted, 0) } else { "-".into() },
                num(x.factor, 2),
                format!("{}-{}", num(x.low, 2), num(x.high, 2)),
                if own { "hour".into() } else { "store (too few)".into() },
            ]);
        }
        for (name, share) in &f.shares {
            s.push_str(&format!("{}: {name} {:.1}% of counted people\n", f.store, share * 100.0));
        }
    }
    s.push_str(&t.render());
    let mut e = Table::new(["against the counts", "windows", "MAE", "RMSE", "r", "mean est", "mean counted"]);
    for (part, held) in [("fitted on (in-sample)", false), ("held out (--fit-before)", true)] {
        let ws: Vec<&WindowRow> = windows.iter().filter(|w| w.held_out == held).collect();
        if ws.is_empty() {
            continue;
        }
        let counted: Vec<f64> = ws.iter().map(|w| w.counted).collect();
        let rawv: Vec<f64> = ws.iter().map(|w| w.people_raw as f64).collect();
        let calv: Vec<f64> = ws.iter().map(|w| w.people_calibrated).collect();
        for (name, f) in [("WiFi people (raw)", score(&rawv, &counted)), ("calibrated", score(&calv, &counted))] {
            e.row([
                format!("{part}: {name}"),
                ws.len().to_string(),
                num(f.mae, 2),
                num(f.rmse, 2),
                num(f.r, 3),
                num(f.mean_est, 1),
                num(f.mean_truth, 1),
            ]);
        }
    }
    s.push('\n');
    s.push_str(&e.render());
    if a.windows {
        let mut w = Table::new(["store", "window start (UTC)", "raw", "calibrated", "95% interval", "counted"]);
        for x in windows {
            w.row([
                x.store.clone(),
                x.window_start.clone(),
                x.people_raw.to_string(),
                num(x.people_calibrated, 1),
                format!("{}-{}", num(x.low, 1), num(x.high, 1)),
                num(x.counted, 0),
            ]);
        }
        s.push('\n');
        s.push_str(&w.render());
    }
    s
}
