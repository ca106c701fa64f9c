//! `footfall ingest`: files → pseudonymized observations → visits and passes → the store,
//! in one transaction per run. Opted-out devices (the store's registry) are dropped at intake.

use super::feeds::{self, Feed, FeedFile};
use crate::cli::IngestArgs;
use crate::config::Config;
use crate::output::byte_progress;
use anyhow::Context;
use footfall_core::Site;
use footfall_sources::{Format, SourceReport};
use footfall_store::keyfile::{self, KeyOrigin};
use footfall_store::privacy::Retained;
use footfall_store::{IngestBatch, IngestedFile, Store};
use footfall_transforms::filter::{DropCounts, DropReason};
use footfall_transforms::intake::Intake;
use footfall_transforms::sessionize::Sessions;
use footfall_transforms::{Pipeline, runner};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What happened to one input.
pub struct FileOutcome {
    pub path: PathBuf,
    pub format: Format,
    pub report: SourceReport,
}

pub struct Outcome {
    pub ingested: Vec<FileOutcome>,
    /// Inputs not read again, with why.
    pub skipped: Vec<(PathBuf, String)>,
    pub drops: DropCounts,
    pub unknown_sensors: BTreeSet<String>,
    pub visits: usize,
    pub passes: usize,
    pub key_created: Option<PathBuf>,
    /// Rows deleted as past their retention period (`[retention]`).
    pub retained: Retained,
    /// POS and app-ping files, in the order given.
    pub feeds: Vec<super::feeds::FeedOutcome>,
}

pub struct Request<'a> {
    pub db: &'a Path,
    pub site: Option<&'a Path>,
    pub config: &'a Config,
    pub key: Option<&'a Path>,
    pub inputs: &'a [PathBuf],
    pub quiet: bool,
    /// The sensor of capture files (pcap, pcapng) that name none themselves.
    pub sensor: Option<&'a str>,
    /// Wall-clock now (bookkeeping, and what retention counts back from).
    pub now_ms: i64,
    /// A trained fingerprint model file (`footfall locate train --out`) for zones within
    /// stores, instead of the one stored in the database (used when this is `None`).
    pub locate_model: Option<&'a Path>,
    /// The operator states that an app-ping feed without consent flags holds only consented
    /// pings.
    pub feed_has_consent: bool,
}

fn content_hash(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((h.finalize().to_hex().to_string(), n))
}

pub(super) fn load_site(path: &Path) -> anyhow::Result<Site> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading site file {}", path.display()))?;
    Site::from_json(&text).with_context(|| format!("site file {}", path.display()))
}

pub fn ingest(req: Request<'_>) -> anyhow::Result<Outcome> {
    // Everything that can be checked is checked before anything is written.
    let new_site = req.site.map(load_site).transpose()?;
    let opts = footfall_sources::OpenOptions { sensor: req.sensor.map(str::to_string) };
    let mut plan: Vec<(PathBuf, String, u64)> = Vec::new();
    let mut feed_plan: Vec<FeedFile> = Vec::new();
    let mut skipped = Vec::new();
    for path in req.inputs {
        let (hash, bytes) = content_hash(path)?;
        if let Some(feed) = feeds::sniff(path)? {
            match feed_plan.iter().find(|f| f.hash == hash) {
                Some(first) => skipped.push((path.clone(), format!("same content as {} earlier in this run", first.path.display()))),
                None => feed_plan.push(FeedFile { path: path.clone(), feed, hash, bytes }),
            }
            continue;
        }
        footfall_sources::open_path(path, &path.display().to_string(), &opts)?;
        match plan.iter().find(|p| p.1 == hash) {
            Some(first) => skipped.push((path.clone(), format!("same content as {} earlier in this run", first.0.display()))),
            None => plan.push((path.clone(), hash, bytes)),
        }
    }
    if new_site.is_none() && !req.db.exists() {
        anyhow::bail!("database {} does not exist yet: give the site file with --site SITE.json on the first ingest", req.db.display());
    }
    let mut store = Store::open(req.db)?;
    let site = match new_site {
        Some(s) => s,
        None => store.require_site()?,
    };
    for f in &feed_plan {
        feeds::check(&f.path, f.feed, &site, req.feed_has_consent)?;
    }
    let site_model = super::locate::site_model(&store, &site, req.locate_model)?;
    let pipeline_config = req.config.pipeline();
    let mut pipeline = match store.pipeline_state()? {
        Some(state) => Pipeline::restore(&site, &pipeline_config, &state).context("continuing from the saved pipeline state")?,
        None => Pipeline::new(&site, pipeline_config),
    };
    pipeline.set_locate_model(site_model);
    let key_path = req.config.key_path(req.db, req.key);
    let (key, origin) = keyfile::load_or_create(&key_path)?;
    let mut intake = Intake::new(&site, req.config.pseudonymizer(key));
    // Devices whose owners opted out are dropped right after hashing.
    intake.refuse(store.optouts()?);
    let mut sessions = Sessions::default();
    let late_before = pipeline.late();

    let mut todo = Vec::new();
    for (path, hash, bytes) in plan {
        match store.find_ingested(&hash)? {
            Some(prev) => skipped.push((path, format!("same content already ingested as {} ({} observations)", prev.name, prev.records))),
            None => todo.push((path, hash, bytes)),
        }
    }
    let total: u64 = todo.iter().map(|t| t.2).sum();
    let pb = byte_progress(total, req.quiet);
    let mut done = 0u64;
    let mut ingested = Vec::new();
    let mut records = Vec::new();
    let now = req.now_ms;
    for (path, hash, bytes) in todo {
        let what = path.display().to_string();
        let (format, mut source) = footfall_sources::open_path(&path, &what, &opts)?;
        pb.set_message(format!("{} ({})", path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(), format.name()));
        let report =
            runner::run(&mut intake, &mut pipeline, &mut sessions, |emit| source.run(emit, &mut |offset| pb.set_position(done + offset)))?;
        done += bytes;
        records.push(IngestedFile {
            name: what,
            content_hash: hash,
            bytes,
            format: format.name().to_string(),
            records: report.records,
            bad: report.bad,
            ingested_ms: now,
        });
        ingested.push(FileOutcome { path, format, report });
    }
    pb.finish_and_clear();
    let mut drops = intake.drops.clone();
    drops.add(DropReason::Late, pipeline.late() - late_before);
    let activity = pipeline.take_activity();
    let presence = pipeline.take_presence();
    let state = pipeline.snapshot();
    sessions.sort();
    store.commit_ingest(IngestBatch {
        site: &site,
        files: &records,
        sessions: &sessions,
        activity: &activity,
        presence: &presence,
        drops: &drops,
        pipeline_state: &state,
        now_ms: now,
        journal_seq: None,
        journal_replay_from: None,
        agent_batches: &[],
    })?;
    // Retention at every ingest: what has aged past its period goes, new or old.
    let (visits_before, passes_before) = req.config.retention.cutoffs(now);
    let mut feed_outcomes = Vec::new();
    for f in feed_plan {
        if let Some(prev) = store.find_ingested(&f.hash)? {
            skipped.push((f.path, format!("same content already ingested as {} ({} records)", prev.name, prev.records)));
            continue;
        }
        feed_outcomes.push(match f.feed {
            Feed::Pos => feeds::import_pos(&mut store, &site, &f, now)?,
            Feed::Pings => feeds::import_pings(&mut store, &site, req.config, key, &f, now)?,
        });
    }
    let retained = store.apply_retention(visits_before, passes_before)?;
    Ok(Outcome {
        feeds: feed_outcomes,
        retained,
        ingested,
        skipped,
        drops,
        unknown_sensors: intake.unknown_sensors.clone(),
        visits: sessions.visits.len(),
        passes: sessions.passes.len(),
        key_created: (origin == KeyOrigin::Created).then_some(key_path),
    })
}

/// Print what an ingest did, to stderr (stdout stays clean for pipes).
pub fn print_outcome(o: &Outcome) {
    if let Some(k) = &o.key_created {
        eprintln!("created a new deployment key at {} (mode 0600); back it up: without it, new data cannot be linked to old", k.display());
    }
    for f in &o.ingested {
        eprintln!("{}: read as {}: {} observations, {} bad lines", f.path.display(), f.format.name(), f.report.records, f.report.bad);
        for b in &f.report.bad_samples {
            eprintln!("  {}:{}", f.path.display(), b);
        }
        if f.report.bad > f.report.bad_samples.len() as u64 {
            eprintln!("  ... and {} more bad lines", f.report.bad - f.report.bad_samples.len() as u64);
        }
        if !f.report.skipped.is_empty() {
            let parts: Vec<String> = f.report.skipped.iter().map(|(r, n)| format!("{n} {}", r.replace('_', " "))).collect();
            eprintln!("  skipped {} frames: {}", f.report.skipped.values().sum::<u64>(), parts.join(", "));
        }
    }
    for f in &o.feeds {
        eprintln!(
            "{}: read as {}: {} records, {} bad lines; stored {}",
            f.path.display(),
            f.feed.name(),
            f.report.records,
            f.report.bad,
            f.stored
        );
        for b in &f.report.bad_samples {
            eprintln!("  {}:{}", f.path.display(), b);
        }
        if f.report.bad > f.report.bad_samples.len() as u64 {
            eprintln!("  ... and {} more bad lines", f.report.bad - f.report.bad_samples.len() as u64);
        }
        for (why, n) in &f.report.skipped {
            eprintln!("  skipped {n}: {why}");
        }
    }
    for (p, why) in &o.skipped {
        eprintln!("{}: skipped: {why}", p.display());
    }
    if o.drops.total() > 0 {
        let parts: Vec<String> = o.drops.0.iter().map(|(r, n)| format!("{} {}", n, r.name().replace('_', " "))).collect();
        eprintln!("dropped: {}", parts.join(", "));
    }
    if let Some(late) = o.drops.0.get(&footfall_transforms::filter::DropReason::Late) {
        eprintln!(
            "warning: {late} observations arrived later than the allowed lateness behind newer ones and were dropped; ingest files in time order (or raise [sessionize] lateness_s)"
        );
    }
    if !o.unknown_sensors.is_empty() {
        eprintln!("unknown sensors (not in the site file): {}", o.unknown_sensors.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    eprintln!("stored {} finished visits and {} walk-bys (visits still open are kept in the pipeline state)", o.visits, o.passes);
    let r = &o.retained;
    if r.visits + r.passes + r.device_days + r.presence_minutes > 0 {
        eprintln!(
            "retention: deleted {} visits, {} walk-bys, {} device-days and {} presence minutes older than the [retention] periods (FOOTFALL_NOW sets the date to count from, for replaying history)",
            r.visits, r.passes, r.device_days, r.presence_minutes
        );
    }
}

pub fn run(a: IngestArgs) -> anyhow::Result<()> {
    let config = Config::load(a.db.config.as_deref())?;
    let outcome = ingest(Request {
        db: &a.db.db,
        site: a.site.as_deref(),
        config: &config,
        key: a.key.as_deref(),
        inputs: &a.inputs,
        quiet: a.quiet,
        sensor: a.sensor.as_deref(),
        now_ms: super::now_ms(),
        locate_model: a.locate_model.as_deref(),
        feed_has_consent: a.feed_has_consent,
    })?;
    print_outcome(&outcome);
    Ok(())
}
