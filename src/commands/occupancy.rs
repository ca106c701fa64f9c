//! `footfall occupancy`: people present per sensor and window, straight from capture files
//! (one sensor per file, no site, no database), or per store or sensor from the per-minute
//! presence records an ingest kept (`--db`), beside the naive distinct-MAC count.
//!
//! On capture files MACs are keyed-hashed in memory under a key drawn for this run and never
//! written; with `--db` the deployment key hashes the deny and allow lists (it must exist:
//! never created here). Counting is `footfall_transforms::occupancy`; this module reads
//! inputs and prints.

use crate::cli::{By, CountArgs, OccupancyArgs, TableFormat};
use crate::config::Config;
use crate::output::{Table, byte_progress};
use anyhow::Context;
use footfall_core::time::{LocalCalendar, format_rfc3339};
use footfall_core::{MacAddr, Observation, RadioKind, RawObservation};
use footfall_store::{Store, keyfile};
use footfall_transforms::Pseudonymizer;
use footfall_transforms::filter::{self, DropCounts};
use footfall_transforms::occupancy::{self, DeviceLists, WindowCount};
use footfall_transforms::occupancy::{PRESENCE_MINUTE_MS, observations_of};
use std::path::{Path, PathBuf};

/// Observations of a set of files, one sensor (index) per file, in time order.
pub struct Loaded {
    pub sensors: Vec<String>,
    pub obs: Vec<Observation>,
    pub drops: DropCounts,
    pub pseudo: Pseudonymizer,
}

/// A key for this run only: nothing hashed under it is kept.
pub fn run_key() -> anyhow::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no OS randomness for the run key: {e}"))?;
    Ok(key)
}

/// The sensor name of a file: its name without the extension.
fn sensor_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| path.display().to_string())
}

/// Read every file as one sensor. `rewrite` may change a raw observation before the
/// plausibility filter (the linking evaluation clears a meaningless group bit there).
pub fn load(inputs: &[PathBuf], quiet: bool, rewrite: &dyn Fn(&mut RawObservation<'_>)) -> anyhow::Result<Loaded> {
    let mut sensors: Vec<String> = Vec::new();
    for p in inputs {
        let mut name = sensor_name(p);
        if sensors.contains(&name) {
            name = p.display().to_string();
        }
        sensors.push(name);
    }
    let total: u64 = inputs.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
    let pb = byte_progress(total, quiet);
    let mut pseudo = Pseudonymizer::new(run_key()?);
    let mut drops = DropCounts::default();
    let mut obs = Vec::new();
    let mut done = 0u64;
    for (i, path) in inputs.iter().enumerate() {
        let what = path.display().to_string();
        let opts = footfall_sources::OpenOptions { sensor: Some(sensors[i].clone()) };
        let (_, mut source) = footfall_sources::open_path(path, &what, &opts).with_context(|| format!("opening {what}"))?;
        pb.set_message(sensors[i].clone());
        let report = source.run(
            &mut |raw| {
                let mut raw = raw;
                rewrite(&mut raw);
                match filter::check(&raw) {
                    Ok(()) => obs.push(pseudo.apply(&raw, i as u16)),
                    Err(r) => drops.add(r, 1),
                }
            },
            &mut |offset| pb.set_position(done + offset),
        )?;
        done += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if report.bad > 0 {
            eprintln!("footfall: {what}: {} bad records skipped", report.bad);
        }
    }
    pb.finish_and_clear();
    obs.sort_by_key(|o| o.ts);
    Ok(Loaded { sensors, obs, drops, pseudo })
}

fn read_mac_file(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().map(|l| l.split('#').next().unwrap_or("").trim().to_string()).filter(|l| !l.is_empty()).collect())
}

/// The deny and allow lists of the config and files, hashed under the run's key.
pub fn device_lists(config: &Config, args: &CountArgs, pseudo: &mut Pseudonymizer) -> anyhow::Result<DeviceLists> {
    let mut lists = DeviceLists::default();
    let mut add = |macs: Vec<String>, what: &str, deny: bool| -> anyhow::Result<()> {
        for (i, m) in macs.iter().enumerate() {
            let mac = MacAddr::parse(m).map_err(|e| anyhow::anyhow!("{what}, entry {}: {m:?} is not a MAC address ({e})", i + 1))?;
            let id = pseudo.device_id(RadioKind::Wifi, &mac);
            if deny {
                lists.deny.insert(id)
            } else {
                lists.allow.insert(id)
            };
        }
        Ok(())
    };
    add(config.devices.deny.clone(), "config [devices] deny", true)?;
    add(config.devices.allow.clone(), "config [devices] allow", false)?;
    if let Some(p) = &args.deny_file {
        add(read_mac_file(p)?, &format!("deny file {}", p.display()), true)?;
    }
    if let Some(p) = &args.allow_file {
        add(read_mac_file(p)?, &format!("allow file {}", p.display()), false)?;
    }
    Ok(lists)
}

/// Count with the config's thresholds.
pub fn count(config: &Config, args: &CountArgs, obs: &[Observation], lists: &DeviceLists) -> Vec<WindowCount> {
    let mut cal = LocalCalendar::new(args.tz);
    occupancy::count(&config.occupancy, &config.link, &mut cal, obs, |o| o.sensor as u32, args.window, lists)
}

/// People per scope and window, with the scopes' names.
pub struct Counted {
    pub scopes: Vec<String>,
    pub counts: Vec<WindowCount>,
}

/// Count from the per-minute presence records of an ingested database, per store or sensor,
/// in the site's time zone.
pub fn from_db(config: &Config, args: &CountArgs, db: &Path, by: By) -> anyhow::Result<Counted> {
    if !db.exists() {
        anyhow::bail!("database {} does not exist: ingest first", db.display());
    }
    if args.window % PRESENCE_MINUTE_MS != 0 {
        anyhow::bail!("--window must be a whole number of minutes with --db (the database keeps presence per minute)");
    }
    let store = Store::open(db)?;
    let site = store.require_site()?;
    let rows = store.presence_minutes(&site)?;
    if rows.is_empty() {
        anyhow::bail!(
            "database {} holds no presence records: nothing was heard, or it was ingested by a footfall that did not keep them (re-ingest into a new database)",
            db.display()
        );
    }
    let named =
        !config.devices.deny.is_empty() || !config.devices.allow.is_empty() || args.deny_file.is_some() || args.allow_file.is_some();
    let lists = if named {
        // The lists name raw MACs: hashed with the deployment key (config key_file, or DB.key).
        let key = keyfile::load(&config.key_path(db, None)).context("the deny and allow lists are hashed with the deployment key")?;
        device_lists(config, args, &mut Pseudonymizer::new(key))?
    } else {
        DeviceLists::default()
    };
    let obs = observations_of(&rows);
    let mut cal = LocalCalendar::new(site.tz());
    let (scopes, counts) = match by {
        By::Store => (
            site.stores.iter().map(|s| s.id.clone()).collect(),
            occupancy::count(&config.occupancy, &config.link, &mut cal, &obs, |o| site.sensor_store(o.sensor) as u32, args.window, &lists),
        ),
        By::Sensor => (
            site.sensors.iter().map(|s| s.id.clone()).collect(),
            occupancy::count(&config.occupancy, &config.link, &mut cal, &obs, |o| o.sensor as u32, args.window, &lists),
        ),
    };
    Ok(Counted { scopes, counts })
}

/// Count on capture files, one sensor per file, named after the file.
pub fn from_files(config: &Config, args: &CountArgs, inputs: &[PathBuf]) -> anyhow::Result<Counted> {
    let mut loaded = load(inputs, args.quiet, &|_| {})?;
    let lists = device_lists(config, args, &mut loaded.pseudo)?;
    let counts = count(config, args, &loaded.obs, &lists);
    if loaded.drops.total() > 0 {
        eprintln!("footfall: {} frames dropped by the plausibility filter", loaded.drops.total());
    }
    Ok(Counted { scopes: loaded.sensors, counts })
}

struct Row<'a> {
    sensor: &'a str,
    window_start: String,
    people: u32,
    naive_macs: u32,
    excluded_fixed: u32,
}

pub fn run(a: OccupancyArgs) -> anyhow::Result<()> {
    let config = Config::load(a.count.config.as_deref())?;
    let (counted, scope_name) = match &a.db {
        Some(db) => (from_db(&config, &a.count, db, a.by)?, if a.by == By::Store { "store" } else { "sensor" }),
        None => (from_files(&config, &a.count, &a.inputs)?, "sensor"),
    };
    let rows: Vec<Row> = counted
        .counts
        .iter()
        .map(|c| Row {
            sensor: &counted.scopes[c.scope as usize],
            window_start: format_rfc3339(c.start),
            people: c.people,
            naive_macs: c.naive,
            excluded_fixed: c.excluded,
        })
        .collect();
    let text = match a.format {
        TableFormat::Json => {
            let objs: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        scope_name: r.sensor,
                        "window_start": r.window_start,
                        "people": r.people,
                        "naive_macs": r.naive_macs,
                        "excluded_fixed": r.excluded_fixed,
                    })
                })
                .collect();
            serde_json::to_string_pretty(&objs)? + "\n"
        }
        TableFormat::Csv => {
            let mut s = format!("{scope_name},window_start,people,naive_macs,excluded_fixed\n");
            for r in &rows {
                s.push_str(&format!("{},{},{},{},{}\n", csv_field(r.sensor), r.window_start, r.people, r.naive_macs, r.excluded_fixed));
            }
            s
        }
        TableFormat::Table => {
            let mut t = Table::new([scope_name, "window start (UTC)", "people", "naive MACs", "excluded fixed"]);
            for r in &rows {
                t.row([
                    r.sensor.to_string(),
                    r.window_start.clone(),
                    r.people.to_string(),
                    r.naive_macs.to_string(),
                    r.excluded_fixed.to_string(),
                ]);
            }
            t.render()
        }
    };
    crate::output::print(&text)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}
