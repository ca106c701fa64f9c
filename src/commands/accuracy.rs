//! `footfall accuracy`: people counting and MAC linking measured against labelled captures.
//!
//! - `headcount`: one capture and a headcount CSV (the Brno layout: `datetime`, `occupancy`)
//!   → per-window MAE, RMSE and Pearson r of the naive distinct-MAC count and of footfall;
//! - `linking`: per-phone captures overlaid in one window → pairwise precision/recall of the
//!   linking and estimated vs true devices.
//!
//! Inputs are only what the user names; nothing here reads a fixed path, so a clone without
//! the public data sets just has nothing to measure.

use super::occupancy::{count, device_lists, load};
use crate::cli::{HeadcountArgs, LinkingArgs};
use crate::config::Config;
use crate::output::{Table, num};
use anyhow::{Context, bail};
use footfall_core::time::{LocalCalendar, format_rfc3339};
use footfall_core::{DeviceId, MacAddr, Millis};
use footfall_transforms::link;
use footfall_transforms::occupancy::WindowCount;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Mean absolute error, root mean square error and Pearson correlation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub mae: f64,
    pub rmse: f64,
    pub r: f64,
    pub mean_est: f64,
    pub mean_truth: f64,
}

pub fn fit(est: &[f64], truth: &[f64]) -> Fit {
    let n = est.len().max(1) as f64;
    let mae = est.iter().zip(truth).map(|(a, b)| (a - b).abs()).sum::<f64>() / n;
    let rmse = (est.iter().zip(truth).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n).sqrt();
    let (ma, mb) = (est.iter().sum::<f64>() / n, truth.iter().sum::<f64>() / n);
    let cov: f64 = est.iter().zip(truth).map(|(a, b)| (a - ma) * (b - mb)).sum();
    let va: f64 = est.iter().map(|a| (a - ma).powi(2)).sum();
    let vb: f64 = truth.iter().map(|b| (b - mb).powi(2)).sum();
    let r = if va > 0.0 && vb > 0.0 { cov / (va * vb).sqrt() } else { f64::NAN };
    Fit { mae, rmse, r, mean_est: ma, mean_truth: mb }
}

/// Parse "+01:00", "-0530", "Z" into milliseconds east of UTC.
fn parse_offset(s: &str) -> anyhow::Result<i64> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("z") || t == "0" {
        return Ok(0);
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => bail!("--truth-offset {s:?}: expected +HH:MM or -HH:MM"),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        bail!("--truth-offset {s:?}: expected +HH:MM or -HH:MM");
    }
    let h: i64 = digits[..2].parse()?;
    let m: i64 = digits[2..].parse()?;
    Ok(sign * (h * 3600 + m * 60) * 1000)
}

/// The headcount series: (UTC ms, people), in time order.
pub fn read_truth(path: &Path, offset: Option<&str>) -> anyhow::Result<Vec<(Millis, f64)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading headcount file {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else { bail!("{}: empty file", path.display()) };
    let sep = if header.contains(';') { ';' } else { ',' };
    let cols: Vec<&str> = header.split(sep).map(str::trim).collect();
    let find = |name: &str| cols.iter().position(|c| c.eq_ignore_ascii_case(name));
    let (Some(ti), Some(oi)) = (find("datetime").or_else(|| find("time")), find("occupancy").or_else(|| find("count"))) else {
        bail!("{}, line 1: expected a header with `datetime` and `occupancy` columns, got {header:?}", path.display());
    };
    let offset_ms = offset.map(parse_offset).transpose()?;
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(sep).collect();
        let (Some(t), Some(o)) = (f.get(ti), f.get(oi)) else {
            bail!("{}, line {}: expected {} fields, got {}", path.display(), i + 1, cols.len(), f.len());
        };
        if o.trim().is_empty() {
            continue;
        }
        let occ: f64 =
            o.trim().parse().map_err(|_| anyhow::anyhow!("{}, line {}: occupancy {o:?} is not a number", path.display(), i + 1))?;
        let t = t.trim();
        let ts = match footfall_core::time::parse_rfc3339(t.as_bytes()) {
            Ok(ts) => ts,
            Err(_) => {
                let naive = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").map_err(|_| {
                    anyhow::anyhow!("{}, line {}: datetime {t:?} is not `YYYY-MM-DD HH:MM:SS[.ffffff]`", path.display(), i + 1)
                })?;
                let Some(off) = offset_ms else {
                    bail!(
                        "{}, line {}: datetime {t:?} has no UTC offset: give it with --truth-offset (+01:00 for Brno)",
                        path.display(),
                        i + 1
                    )
                };
                naive.and_utc().timestamp_millis() - off
            }
        };
        out.push((ts, occ));
    }
    out.sort_by_key(|p| p.0);
    if out.is_empty() {
        bail!("{}: no headcount rows", path.display());
    }
    Ok(out)
}

/// Per window: the largest headcount in it and its time-weighted mean (the count holds until
/// the next row). Windows without a row are absent.
pub fn truth_windows(series: &[(Millis, f64)], window: Millis) -> BTreeMap<Millis, (f64, f64)> {
    let mut max: BTreeMap<Millis, f64> = BTreeMap::new();
    let mut acc: BTreeMap<Millis, (f64, f64)> = BTreeMap::new();
    for (i, &(t, occ)) in series.iter().enumerate() {
        let w = t.div_euclid(window) * window;
        let m = max.entry(w).or_insert(occ);
        *m = m.max(occ);
        let end = series.get(i + 1).map_or(t, |n| n.0);
        let mut s = t;
        while s < end {
            let we = (s.div_euclid(window) + 1) * window;
            let x = end.min(we);
            let a = acc.entry(s.div_euclid(window) * window).or_default();
            a.0 += occ * (x - s) as f64;
            a.1 += (x - s) as f64;
            s = x;
        }
    }
    max.into_iter()
        .map(|(w, m)| {
            let mean = acc.get(&w).filter(|a| a.1 > 0.0).map_or(m, |a| a.0 / a.1);
            (w, (m, mean))
        })
        .collect()
}

struct Scored {
    naive_max: Fit,
    est_max: Fit,
    naive_mean: Fit,
    est_mean: Fit,
    n: usize,
}

fn score(counts: &[WindowCount], truth: &BTreeMap<Millis, (f64, f64)>) -> Scored {
    let (mut naive, mut est, mut tmax, mut tmean) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for c in counts {
        if let Some(&(m, mean)) = truth.get(&c.start) {
            naive.push(c.naive as f64);
            est.push(c.people as f64);
            tmax.push(m);
            tmean.push(mean);
        }
    }
    Scored {
        naive_max: fit(&naive, &tmax),
        est_max: fit(&est, &tmax),
        naive_mean: fit(&naive, &tmean),
        est_mean: fit(&est, &tmean),
        n: est.len(),
    }
}

fn fit_row(t: &mut Table, name: &str, truth: &str, f: &Fit) {
    t.row([
        name.to_string(),
        truth.to_string(),
        num(f.mae, 2),
        num(f.rmse, 2),
        num(f.r, 3),
        num(f.mean_est, 1),
        num(f.mean_truth, 1),
        format!("{}x", num(f.mean_est / f.mean_truth.max(1e-9), 1)),
    ]);
}

pub fn headcount(a: HeadcountArgs) -> anyhow::Result<()> {
    let mut config = Config::load(a.count.config.as_deref())?;
    let series = read_truth(&a.truth, a.truth_offset.as_deref())?;
    let mut loaded = load(std::slice::from_ref(&a.capture), a.count.quiet, &|_| {})?;
    if loaded.obs.is_empty() {
        bail!("{}: no probe requests", a.capture.display());
    }
    let lists = device_lists(&config, &a.count, &mut loaded.pseudo)?;
    let truth = truth_windows(&series, a.count.window);
    let counts = count(&config, &a.count, &loaded.obs, &lists);
    let s = score(&counts, &truth);
    if s.n == 0 {
        bail!("no window of the capture has a headcount row: check --truth-offset and that both files are the same day");
    }
    let mut out = format!(
        "{}: {} probe requests, {} windows of {} s with a headcount; {} denied devices\n\n",
        a.capture.display(),
        loaded.obs.len(),
        s.n,
        a.count.window / 1000,
        lists.deny.len()
    );
    let mut t = Table::new(["count", "truth per window", "MAE", "RMSE", "r", "mean est", "mean truth", "est/truth"]);
    fit_row(&mut t, "naive distinct MACs", "max headcount", &s.naive_max);
    fit_row(&mut t, "footfall", "max headcount", &s.est_max);
    fit_row(&mut t, "naive distinct MACs", "time-mean headcount", &s.naive_mean);
    fit_row(&mut t, "footfall", "time-mean headcount", &s.est_mean);
    out.push_str(&t.render());
    out.push_str(&format!(
        "\nsettings: presence_rssi {} dBm, link gap {} s ({:?} scope), rhythm_k {} (bridge {}-{} s), fixed_share {}, fixed_min_span {} s\n",
        config.occupancy.presence_rssi,
        config.link.gap_s,
        config.link.scope,
        config.occupancy.rhythm_k,
        config.occupancy.bridge_min_s,
        config.occupancy.bridge_max_s,
        config.occupancy.fixed_share,
        config.occupancy.fixed_min_span_s
    ));
    if a.windows {
        let mut t = Table::new(["window start (UTC)", "naive", "footfall", "excluded", "truth max", "truth mean"]);
        for c in &counts {
            let (m, mean) = truth.get(&c.start).map_or(("-".into(), "-".into()), |&(m, mean)| (num(m, 0), num(mean, 1)));
            t.row([format_rfc3339(c.start), c.naive.to_string(), c.people.to_string(), c.excluded.to_string(), m, mean]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    if a.sweep {
        let base = (config.link.clone(), config.occupancy.clone());
        out.push_str("\nsensitivity (truth: max headcount per window; one setting changed at a time)\n");
        let mut t = Table::new(["setting", "value", "MAE", "RMSE", "r"]);
        let mut run = |name: &str, value: String, cfg: &Config| {
            let s = score(&count(cfg, &a.count, &loaded.obs, &lists), &truth);
            t.row([name.to_string(), value, num(s.est_max.mae, 2), num(s.est_max.rmse, 2), num(s.est_max.r, 3)]);
        };
        for rssi in [-62i16, -64, -66, -68, -70, -72, -75] {
            (config.link, config.occupancy) = (base.0.clone(), base.1.clone());
            config.occupancy.presence_rssi = rssi;
            run("presence_rssi (dBm)", rssi.to_string(), &config);
        }
        for gap in [120u32, 300, 600, 900, 1200] {
            (config.link, config.occupancy) = (base.0.clone(), base.1.clone());
            config.link.gap_s = gap;
            run("link gap_s", gap.to_string(), &config);
        }
        for k in [0.0, 2.0, 3.0, 5.0, 10.0] {
            (config.link, config.occupancy) = (base.0.clone(), base.1.clone());
            config.occupancy.rhythm_k = k;
            run("rhythm_k", if k == 0.0 { "off".into() } else { k.to_string() }, &config);
        }
        for max in [600u32, 900, 1200, 1800] {
            (config.link, config.occupancy) = (base.0.clone(), base.1.clone());
            config.occupancy.bridge_max_s = max;
            run("bridge_max_s", max.to_string(), &config);
        }
        for share in [0.5, 0.75, 0.9, 1.01] {
            (config.link, config.occupancy) = (base.0.clone(), base.1.clone());
            config.occupancy.fixed_share = share;
            run("fixed_share", if share > 1.0 { "off".into() } else { share.to_string() }, &config);
        }
        (config.link, config.occupancy) = (base.0.clone(), base.1.clone());
        config.link.scope = link::LinkScope::Day;
        run("link scope", "day".into(), &config);
        for rare in [0u32, 1, 2, 3, 5] {
            (config.link, config.occupancy) = (base.0.clone(), base.1.clone());
            config.link.rare_macs = rare;
            run("link rare_macs", rare.to_string(), &config);
        }
        for tol in [0u8, 3, 6, 10, 20] {
            (config.link, config.occupancy) = (base.0.clone(), base.1.clone());
            config.link.rssi_tolerance_db = tol;
            run("link rssi_tolerance_db", tol.to_string(), &config);
        }
        for split in [false, true] {
            (config.link, config.occupancy) = (base.0.clone(), base.1.clone());
            config.link.split_concurrent = split;
            run("link split_concurrent", split.to_string(), &config);
        }
        out.push_str(&t.render());
    }
    crate::output::print(&out)
}

/// Pairwise precision and recall of a clustering of items against their true labels.
pub fn pairwise(truth: &[usize], est: &[DeviceId]) -> (f64, f64) {
    let (mut tp, mut fp, mut fneg) = (0u64, 0u64, 0u64);
    for i in 0..truth.len() {
        for j in i + 1..truth.len() {
            match (truth[i] == truth[j], est[i] == est[j]) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fneg += 1,
                (false, false) => {}
            }
        }
    }
    let p = if tp + fp == 0 { 1.0 } else { tp as f64 / (tp + fp) as f64 };
    let r = if tp + fneg == 0 { 1.0 } else { tp as f64 / (tp + fneg) as f64 };
    (p, r)
}

pub fn linking(a: LinkingArgs) -> anyhow::Result<()> {
    let config = Config::load(a.count.config.as_deref())?;
    let all = a.all_randomized;
    let rewrite = move |raw: &mut footfall_core::RawObservation<'_>| {
        if all {
            let mut o = raw.mac.octets();
            o[0] &= !0x01; // the group bit is meaningless in re-randomized data
            o[0] |= 0x02; // and every address is randomized
            raw.mac = MacAddr::new(o);
        }
    };
    let mut loaded = load(&a.inputs, a.count.quiet, &rewrite)?;
    if a.inputs.len() < 2 {
        bail!("give at least two per-phone files");
    }
    // Overlay: every file starts at the earliest first frame.
    let mut first: HashMap<u16, Millis> = HashMap::new();
    for o in &loaded.obs {
        first.entry(o.sensor).or_insert(o.ts);
    }
    let origin = first.values().copied().min().unwrap_or(0);
    if a.first_day {
        loaded.obs.retain(|o| o.ts - first[&o.sensor] < 24 * footfall_core::time::HOUR);
    }
    for o in &mut loaded.obs {
        o.ts = o.ts - first[&o.sensor] + origin;
    }
    loaded.obs.sort_by_key(|o| o.ts);
    let lists = device_lists(&config, &a.count, &mut loaded.pseudo)?;
    let obs: Vec<_> = loaded.obs.iter().filter(|o| !lists.deny.contains(&o.device)).copied().collect();
    let mut cal = LocalCalendar::new(a.count.tz);
    // One room: every observation in one scope.
    let est = link::link(&config.link, &mut cal, &obs, |_| 0);
    // Per MAC: its phone (file) and its first estimate.
    let mut per_mac: BTreeMap<DeviceId, (usize, DeviceId)> = BTreeMap::new();
    let mut per_file: BTreeMap<usize, (u64, std::collections::BTreeSet<DeviceId>, std::collections::BTreeSet<DeviceId>)> = BTreeMap::new();
    for (o, e) in obs.iter().zip(&est) {
        per_mac.entry(o.device).or_insert((o.sensor as usize, e.id));
        let f = per_file.entry(o.sensor as usize).or_default();
        f.0 += 1;
        f.1.insert(o.device);
        f.2.insert(e.id);
    }
    let truth: Vec<usize> = per_mac.values().map(|v| v.0).collect();
    let labels: Vec<DeviceId> = per_mac.values().map(|v| v.1).collect();
    let (p, r) = pairwise(&truth, &labels);
    let estimates: std::collections::BTreeSet<DeviceId> = est.iter().map(|e| e.id).collect();
    let mut t = Table::new(["phone (file)", "frames", "MACs", "estimates"]);
    for (i, (frames, macs, ests)) in &per_file {
        t.row([loaded.sensors[*i].clone(), frames.to_string(), macs.len().to_string(), ests.len().to_string()]);
    }
    let mut out = t.render();
    let f1 = if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
    out.push_str(&format!(
        "\ntrue devices {}, estimated devices {} (difference {:+}); {} MACs; pairwise precision {}, recall {}, F1 {}\nsettings: link gap {} s ({:?} scope), rare_macs {}, split_concurrent {}{}\n",
        per_file.len(),
        estimates.len(),
        estimates.len() as i64 - per_file.len() as i64,
        per_mac.len(),
        num(p, 3),
        num(r, 3),
        num(f1, 3),
        config.link.gap_s,
        config.link.scope,
        config.link.rare_macs,
        config.link.split_concurrent,
        if a.first_day { ", first day of each file" } else { "" }
    ));
    crate::output::print(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_and_pairwise() {
        let f = fit(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]);
        assert!((f.r - 1.0).abs() < 1e-12);
        assert!((f.mae - 2.0).abs() < 1e-12);
        let (p, r) = pairwise(&[0, 0, 1, 1], &[DeviceId(1), DeviceId(1), DeviceId(1), DeviceId(2)]);
        // Pairs linked: (0,1) right, (0,2) (1,2) wrong; same-phone pairs (0,1) (2,3): one found.
        assert!((p - 1.0 / 3.0).abs() < 1e-12);
        assert!((r - 0.5).abs() < 1e-12);
    }

    #[test]
    fn truth_windows_max_and_time_mean() {
        // 0 people for 60 s, then 10 for 240 s, in one 300 s window.
        let w = truth_windows(&[(0, 0.0), (60_000, 10.0), (300_000, 10.0)], 300_000);
        let (m, mean) = w[&0];
        assert_eq!(m, 10.0);
        assert!((mean - 8.0).abs() < 1e-9);
        assert_eq!(parse_offset("+01:00").unwrap(), 3_600_000);
        assert_eq!(parse_offset("-0530").unwrap(), -19_800_000);
        assert!(parse_offset("1").is_err());
    }
}
