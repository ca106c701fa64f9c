//! `footfall optout` and `footfall forget`: a device's owner asks to be erased (and, for
//! optout, never counted again).
//!
//! The submitted MAC or advertising ID is parsed, hashed under the deployment key into every
//! pseudonym the pipeline may have given it, and dropped at once; only the pseudonyms go
//! further. The saved pipeline state is restored, the device forgotten in it
//! (`Pipeline::forget`), and the store erases its rows and saves the new state in one
//! transaction (registering the pseudonyms for optout). This module must never print, log or
//! store the id itself; errors about it never echo it.

use crate::cli::SubjectArgs;
use crate::config::Config;
use anyhow::Context;
use footfall_store::Store;
use footfall_store::keyfile;
use footfall_store::privacy::{Erased, Erasure};
use footfall_transforms::Pipeline;
use footfall_transforms::geofence::AppTracker;
use footfall_transforms::optout;
use footfall_transforms::optout::Subject;
use std::io::Read;
use std::path::Path;

/// What an erasure did.
pub struct Outcome {
    pub kind: &'static str,
    pub ids: usize,
    pub erased: Erased,
}

/// Erase `subject` from the database at `db` (and register it with `register_ms`).
pub fn erase(db: &Path, config: &Config, key: Option<&Path>, subject: &Subject, register_ms: Option<i64>) -> anyhow::Result<Outcome> {
    let mut store = super::analysis::open_existing(db)?;
    let key_path = config.key_path(db, key);
    let key = keyfile::load(&key_path).with_context(|| {
        format!("the deployment key {} is needed to find the device's records (the key the database was ingested with)", key_path.display())
    })?;
    let mut pseudo = config.pseudonymizer(key);
    // The registry keeps master pseudonyms; with key rotation the rows are stored under each
    // epoch's pseudonym, over the span of the stored data (and up to now, for open state).
    let masters = pseudo.subject_ids(subject);
    let now = super::now_ms();
    let (from, to) = store.device_time_span()?.map_or((now, now), |(a, b)| (a.min(now), b.max(now)));
    let ids = optout::erasure_ids(&masters, pseudo.rotation(), from, to);
    let (state, open_state) = forget_in_saved_state(&store, config, &ids)?;
    let app = match store.app_state()? {
        Some(s) => Some(AppTracker::forget_in_snapshot(&s, &ids).context("reading the saved app-feed state")?),
        None => None,
    };
    let erased = store.erase_devices(Erasure {
        devices: &ids,
        pipeline_state: state.as_deref(),
        app_state: app.as_ref().map(|a| a.0.as_str()),
        open_state: open_state + app.as_ref().map_or(0, |a| a.1 as u64),
        register_ms,
        registry: &masters,
    })?;
    if register_ms.is_none() {
        // Check generically (every column of every table) that nothing is left.
        for id in &ids {
            let left = store.tables_holding(*id)?;
            if !left.is_empty() {
                let names: Vec<String> = left.iter().map(|(t, c)| format!("{t}.{c}")).collect();
                anyhow::bail!("erasure incomplete: the device is still referenced in {}; please report this bug", names.join(", "));
            }
        }
    }
    Ok(Outcome { kind: subject.kind(), ids: ids.len(), erased })
}

/// The saved pipeline state without `ids`, and how much of it was removed.
fn forget_in_saved_state(store: &Store, config: &Config, ids: &[footfall_core::DeviceId]) -> anyhow::Result<(Option<String>, u64)> {
    let Some(state) = store.pipeline_state()? else { return Ok((None, 0)) };
    let site = store.require_site()?;
    let mut pipeline = Pipeline::restore(&site, &config.pipeline(), &state)
        .context("reading the saved pipeline state (use the configuration it was built with)")?;
    let removed: usize = ids.iter().map(|id| pipeline.forget(*id).total()).sum();
    Ok((Some(pipeline.snapshot()), removed as u64))
}

fn read_id(arg: &str) -> anyhow::Result<Subject> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading the id from standard input")?;
        s
    } else {
        arg.to_string()
    };
    Ok(Subject::parse(&text)?)
}

pub fn run(a: SubjectArgs, register: bool) -> anyhow::Result<()> {
    let config = Config::load(a.db.config.as_deref())?;
    let subject = read_id(&a.id)?;
    let o = erase(&a.db.db, &config, a.key.as_deref(), &subject, register.then(super::now_ms))?;
    let e = &o.erased;
    eprintln!(
        "erased {} visits ({} zone stays), {} walk-bys, {} device-days and {} items of open state recorded under the {}'s {} keyed ids",
        e.visits, e.zone_stays, e.passes, e.device_days, e.open_state, o.kind, o.ids
    );
    if register {
        eprintln!("opted out: its keyed ids are in the opt-out registry, and every later ingest drops its observations");
    } else {
        eprintln!("checked: the database holds the device's keyed ids in no table; observations heard later are counted again");
    }
    Ok(())
}
