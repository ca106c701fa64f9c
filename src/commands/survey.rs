//! `footfall survey import`: survey notes + the observations of the surveyor's phone →
//! labelled fingerprints (a footfall survey file). The surveyor MAC is hashed with the
//! deployment key as soon as it is parsed; only its pseudonym is compared.

use crate::cli::SurveyImportArgs;
use crate::output::byte_progress;
use anyhow::Context;
use footfall_core::{MacAddr, RadioKind, Site};
use footfall_locate::survey::{Joiner, read_rows};
use footfall_transforms::Pseudonymizer;
use footfall_transforms::intake::Intake;
use std::path::Path;

/// Where a survey zone name is: `STORE/ZONE` (the zone's centroid), `STORE` (the store's), or
/// a name starting with `outside` (no position).
pub fn place(site: &Site, name: &str) -> Result<Option<(f64, f64)>, String> {
    if name.starts_with("outside") {
        return Ok(None);
    }
    let (store_id, zone_id) = match name.split_once('/') {
        Some((s, z)) => (s, Some(z)),
        None => (name, None),
    };
    let store = site.stores.iter().find(|s| s.id == store_id).ok_or_else(|| {
        format!("zone {name:?}: no store {store_id:?} in the site (expected STORE/ZONE, STORE, or a name starting with \"outside\")")
    })?;
    let poly = match zone_id {
        None => &store.polygon,
        Some(z) => {
            &store.zones.iter().find(|x| x.id == z).ok_or_else(|| format!("zone {name:?}: store {store_id:?} has no zone {z:?}"))?.polygon
        }
    };
    let c = poly.centroid();
    Ok(Some((c.x, c.y)))
}

pub fn import(a: SurveyImportArgs) -> anyhow::Result<()> {
    let site = super::ingest::load_site(&a.site)?;
    let notes_name = a.notes.display().to_string();
    let notes = std::fs::File::open(&a.notes).with_context(|| format!("opening survey notes {notes_name}"))?;
    let rows = read_rows(std::io::BufReader::new(notes), &notes_name)?;
    let (key, origin) = footfall_store::keyfile::load_or_create(&a.key).with_context(|| format!("deployment key {}", a.key.display()))?;
    if origin == footfall_store::keyfile::KeyOrigin::Created {
        eprintln!("created a new deployment key at {} (mode 0600); ingest with the same key (DB.key beside the database)", a.key.display());
    }
    // The surveyor MAC exists only here, to compute its pseudonyms.
    let surveyor = {
        let mac = MacAddr::parse(&a.surveyor).map_err(|_| anyhow::anyhow!("--surveyor: expected a MAC such as 02:00:00:aa:bb:cc"))?;
        let mut p = Pseudonymizer::new(key);
        [p.device_id(RadioKind::Wifi, &mac), p.device_id(RadioKind::Ble, &mac)]
    };
    let opts = footfall_sources::OpenOptions { sensor: a.sensor.clone() };
    let mut sources = Vec::new();
    let mut total = 0;
    for path in &a.inputs {
        let what = path.display().to_string();
        sources.push((path.clone(), footfall_sources::open_path(path, &what, &opts)?.1));
        total += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    }
    let mut intake = Intake::new(&site, Pseudonymizer::new(key));
    let mut joiner = Joiner::new(rows, a.slice_s as i64 * 1000);
    let pb = byte_progress(total, a.quiet);
    pb.set_message("reading observations");
    let mut done = 0;
    for (path, mut source) in sources {
        source
            .run(
                &mut |raw| {
                    if let Some(o) = intake.accept(&raw)
                        && surveyor.contains(&o.device)
                    {
                        joiner.push(o.ts, o.sensor, o.rssi as f64);
                    }
                },
                &mut |offset| pb.set_position(done + offset),
            )
            .with_context(|| format!("reading {}", path.display()))?;
        done += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    }
    pb.finish_and_clear();
    let (matched, outside) = (joiner.matched, joiner.outside);
    let sensors = site.sensors.iter().map(|s| s.id.clone()).collect();
    let (survey, silent) = joiner.finish(sensors, |z| place(&site, z), &notes_name)?;
    if survey.samples.is_empty() {
        anyhow::bail!(
            "no observation of the surveyor's phone falls in a survey interval ({outside} heard outside them): check --surveyor, the key, and the times in {notes_name}"
        );
    }
    write(&a.out, &survey.to_json())?;
    eprintln!(
        "{} labelled fingerprints ({} zones) from {matched} observations of the surveyor's phone ({outside} outside the survey intervals) written to {}",
        survey.samples.len(),
        survey.zones.len(),
        a.out.display()
    );
    if !silent.is_empty() {
        eprintln!("warning: no sensor heard the surveyor during the intervals of lines {silent:?} of {notes_name}");
    }
    eprintln!("next: footfall locate train --survey {} --out site.model.json", a.out.display());
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    super::locate::write_atomic(path, text)
}
