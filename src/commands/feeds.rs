//! The business feeds `footfall ingest` also takes: point-of-sale transactions and app
//! location pings. Each file is recognised by its columns, checked before anything is written,
//! and stored in one transaction of its own after the observation files of the same run.
//!
//! Pings: the advertising ID is hashed (and sealed for the audience export) the moment a ping
//! is parsed; opted-out IDs are dropped right there; a feed whose pings carry no consent flag
//! is refused unless the operator states the feed's consent basis (`--feed-has-consent`).
//! This module must never print or store an advertising ID or a raw position.

use crate::config::Config;
use anyhow::Context;
use footfall_core::commerce::Transaction;
use footfall_core::{DeviceId, Millis, Site};
use footfall_sources::{SourceReport, pings, pos};
use footfall_store::commerce::{AppBatch, PosBatch};
use footfall_store::{IngestedFile, Store};
use footfall_transforms::geofence::{AppTracker, PingDrop};
use footfall_transforms::pseudonymize::KEY_LEN;
use footfall_transforms::seal::Sealer;
use footfall_transforms::sessionize::Sessions;
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A business feed recognised by its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Pos,
    Pings,
}

impl Feed {
    pub fn name(self) -> &'static str {
        match self {
            Feed::Pos => "pos",
            Feed::Pings => "pings",
        }
    }
}

/// Which feed a file is, from its first line (CSV header or first JSON object); `None` for
/// anything else (observation formats included).
pub fn sniff(path: &Path) -> anyhow::Result<Option<Feed>> {
    let mut head = vec![0u8; 4096];
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let n = f.read(&mut head).with_context(|| format!("reading {}", path.display()))?;
    head.truncate(n);
    let text = String::from_utf8_lossy(head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head)).to_ascii_lowercase();
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let names: Vec<String> = if first.starts_with('{') {
        match serde_json::from_str::<serde_json::Value>(first) {
            Ok(serde_json::Value::Object(o)) => o.keys().cloned().collect(),
            _ => return Ok(None),
        }
    } else {
        first.split(',').map(|s| s.trim().trim_matches('"').to_string()).collect()
    };
    let has = |n: &str| names.iter().any(|x| x == n);
    if pings::ADID_COLUMNS.iter().any(|n| has(n)) {
        return Ok(Some(Feed::Pings));
    }
    if has("transaction_id") || (has("amount") && has("store") && (has("time") || has("ts"))) {
        return Ok(Some(Feed::Pos));
    }
    Ok(None)
}

/// What one feed file did.
pub struct FeedOutcome {
    pub path: PathBuf,
    pub feed: Feed,
    pub report: SourceReport,
    /// A one-line summary of what was stored.
    pub stored: String,
}

/// One file to import, checked already.
pub struct FeedFile {
    pub path: PathBuf,
    pub feed: Feed,
    pub hash: String,
    pub bytes: u64,
}

/// Checks a feed file can be imported into this site before anything is written.
pub fn check(path: &Path, feed: Feed, site: &Site, feed_has_consent: bool) -> anyhow::Result<()> {
    let what = path.display().to_string();
    let open = || std::fs::File::open(path).with_context(|| format!("opening {what}"));
    match feed {
        Feed::Pos => {
            pos::read(std::io::BufReader::new(open()?).take(64 * 1024), &what, &mut |_| {})?;
        }
        Feed::Pings => {
            if site.geo.is_none() {
                anyhow::bail!(
                    "{what}: app pings need the site's \"geo\" anchor (latitude/longitude of the site's (0, 0) and the bearing of +x) to be placed on the floor plan; add it to the site file (docs/formats.md)"
                );
            }
            let has = pings::peek_consent_column(std::io::BufReader::new(open()?), &what)?;
            if !has && !feed_has_consent {
                anyhow::bail!(
                    "{what}: this feed carries no consent flag. Only pings of shoppers who consented may be used: add a `consent` column (1/0) from the app's consent records, or, if the feed only ever contains consented pings, say so with --feed-has-consent"
                );
            }
        }
    }
    Ok(())
}

fn file_record(f: &FeedFile, report: &SourceReport, now: Millis) -> IngestedFile {
    IngestedFile {
        name: f.path.display().to_string(),
        content_hash: f.hash.clone(),
        bytes: f.bytes,
        format: f.feed.name().to_string(),
        records: report.records,
        bad: report.bad,
        ingested_ms: now,
    }
}

/// Import a POS file.
pub fn import_pos(store: &mut Store, site: &Site, f: &FeedFile, now: Millis) -> anyhow::Result<FeedOutcome> {
    let what = f.path.display().to_string();
    let file = std::fs::File::open(&f.path).with_context(|| format!("opening {what}"))?;
    let (records, mut report) = pos::read(std::io::BufReader::new(file), &what, &mut |_| {})?;
    let mut txs = Vec::with_capacity(records.len());
    let mut tills = Vec::with_capacity(records.len());
    for r in records {
        let Some(si) = site.store_index(&r.store) else {
            report.records -= 1;
            report.bad_record(r.line, format!("unknown store id {:?} (not in the site)", r.store));
            continue;
        };
        let zone = match &r.zone {
            None => None,
            Some(z) => match site.stores[si as usize].zones.iter().position(|x| &x.id == z) {
                Some(i) => Some(i as u16),
                None => {
                    report.records -= 1;
                    report.bad_record(r.line, format!("unknown zone id {z:?} in store {:?}", r.store));
                    continue;
                }
            },
        };
        txs.push(Transaction { id: r.id, store: si, ts: r.ts, amount_cents: r.amount_cents, zone });
        tills.push(r.till);
    }
    store.commit_pos(PosBatch { site, file: &file_record(f, &report, now), transactions: &txs, tills: &tills })?;
    let stored = format!("{} transactions", txs.len());
    Ok(FeedOutcome { path: f.path.clone(), feed: f.feed, report, stored })
}

/// Import an app pings file, continuing the saved app-feed state.
pub fn import_pings(
    store: &mut Store,
    site: &Site,
    config: &Config,
    key: [u8; KEY_LEN],
    f: &FeedFile,
    now: Millis,
) -> anyhow::Result<FeedOutcome> {
    let what = f.path.display().to_string();
    let mut tracker = match store.app_state()? {
        Some(s) => AppTracker::restore(site, &s).context("continuing from the saved app-feed state")?,
        None => AppTracker::new(site, config.pings.clone(), &config.sessionize)?,
    };
    let refused: HashSet<DeviceId> = store.optouts()?.into_iter().collect();
    let sealer = Sealer::new(key);
    let mut sessions = Sessions::default();
    let mut vault: BTreeMap<DeviceId, ([u8; 16], Millis)> = BTreeMap::new();
    let mut drops: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut newest = Millis::MIN;
    let file = std::fs::File::open(&f.path).with_context(|| format!("opening {what}"))?;
    let (mut report, _) = pings::run(
        std::io::BufReader::new(file),
        &what,
        &mut |p| {
            // The raw ID ends here: only its pseudonym and sealed form go on.
            let (id, sealed) = sealer.seal(&p.adid);
            if refused.contains(&id) {
                *drops.entry("opted out").or_default() += 1;
                return;
            }
            match tracker.push(id, p.ts, p.lat, p.lon, p.accuracy_m, &mut sessions) {
                Ok(()) => {
                    let e = vault.entry(id).or_insert((sealed, p.ts));
                    e.1 = e.1.max(p.ts);
                }
                Err(PingDrop::Inaccurate) => *drops.entry("less accurate than [pings] max_accuracy_m").or_default() += 1,
                Err(PingDrop::OutOfOrder) => *drops.entry("older than the ID's previous ping").or_default() += 1,
            }
            newest = newest.max(p.ts);
        },
        &mut |_| {},
    )?;
    if newest > Millis::MIN {
        tracker.advance(newest, &mut sessions);
    }
    for (why, n) in drops {
        report.skipped.insert(why, n);
    }
    sessions.sort();
    let vault: Vec<(DeviceId, [u8; 16], Millis)> = vault.into_iter().map(|(d, (s, t))| (d, s, t)).collect();
    store.commit_app(AppBatch {
        site,
        file: &file_record(f, &report, now),
        sessions: &sessions,
        vault: &vault,
        state: &tracker.snapshot(),
    })?;
    let stored =
        format!("{} advertising IDs, {} app visits and {} app walk-bys", vault.len(), sessions.visits.len(), sessions.passes.len());
    Ok(FeedOutcome { path: f.path.clone(), feed: f.feed, report, stored })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_feeds_by_columns() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("transaction_id,store,time,amount\n", Some(Feed::Pos)),
            ("\u{feff}Store,Time,Amount\n", Some(Feed::Pos)),
            ("time,adid,lat,lon,accuracy_m\n", Some(Feed::Pings)),
            ("{\"ts\":\"x\",\"maid\":\"y\"}\n", Some(Feed::Pings)),
            ("time,sensor,mac,rssi\n", None),
            ("{\"ts\":\"x\",\"sensor\":\"a\",\"mac\":\"m\",\"rssi\":-50}\n", None),
        ];
        for (i, (text, want)) in cases.iter().enumerate() {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, text).unwrap();
            assert_eq!(sniff(&p).unwrap(), *want, "{text}");
        }
    }
}
