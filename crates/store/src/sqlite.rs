//! The embedded store: one SQLite file (bundled SQLite, no server), schema-versioned.
//!
//! Owns the schema, its migrations (`PRAGMA user_version`), and every read and write of
//! the file. An ingest is written by [`Store::commit_ingest`] in a single transaction, so a
//! failed ingest leaves nothing half-written, and files are recorded by content hash so the
//! same file is never counted twice. Only pseudonymous types cross this API.

use footfall_core::{DeviceId, Pass, Site, Visit, ZoneStay};
use footfall_transforms::activity::DayActivity;
use footfall_transforms::filter::{DropCounts, DropReason};
use footfall_transforms::occupancy::MinutePresence;
use footfall_transforms::sessionize::Sessions;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("database {path} has schema version {found}, newer than this footfall knows ({known}); upgrade footfall")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("database {path}: stored site is invalid: {message}")]
    BadSite { path: PathBuf, message: String },
    #[error("database {path} has no site yet: ingest once with --site SITE.json")]
    NoSite { path: PathBuf },
    #[error("database {path}: meta value {key} is not a number: {value:?}")]
    BadMeta { path: PathBuf, key: &'static str, value: String },
}

/// Migrations, in order; the schema version is their count.
/// The `meta` key prefix of sensor agents' high-water marks (`agent_batch:<agent id>`).
const AGENT_BATCH_PREFIX: &str = "agent_batch:";

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE site (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE ingested_files (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    bytes INTEGER NOT NULL,
    format TEXT NOT NULL,
    records INTEGER NOT NULL,
    bad INTEGER NOT NULL,
    ingested_ms INTEGER NOT NULL
);
CREATE TABLE visits (
    id INTEGER PRIMARY KEY,
    device INTEGER NOT NULL,
    store TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    randomized INTEGER NOT NULL
);
CREATE INDEX visits_store_start ON visits (store, start_ms);
CREATE INDEX visits_device ON visits (device);
CREATE TABLE zone_stays (
    visit_id INTEGER NOT NULL REFERENCES visits (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    zone TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    PRIMARY KEY (visit_id, seq)
) WITHOUT ROWID;
CREATE TABLE passes (
    id INTEGER PRIMARY KEY,
    device INTEGER NOT NULL,
    store TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    randomized INTEGER NOT NULL
);
CREATE INDEX passes_store_start ON passes (store, start_ms);
CREATE INDEX passes_device ON passes (device);
CREATE TABLE device_days (
    device INTEGER NOT NULL,
    day INTEGER NOT NULL,
    hours_mask INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    randomized INTEGER NOT NULL,
    PRIMARY KEY (device, day)
) WITHOUT ROWID;
CREATE TABLE pipeline_state (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
CREATE TABLE drops (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
"#,
    r#"
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    stores TEXT NOT NULL,
    label TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE optouts (device INTEGER PRIMARY KEY, created_ms INTEGER NOT NULL) WITHOUT ROWID;
"#,
    // People counting (issue 5): one row per pseudonymous MAC, fingerprint digest (0 = none),
    // sensor and minute, merged by min/max at every ingest; `footfall occupancy --db` links
    // and counts them. Self-contained: touches no other table.
    r#"
CREATE TABLE presence_minutes (
    sensor TEXT NOT NULL,
    minute_ms INTEGER NOT NULL,
    device INTEGER NOT NULL,
    ie INTEGER NOT NULL,
    randomized INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    max_rssi INTEGER NOT NULL,
    PRIMARY KEY (sensor, minute_ms, device, ie)
) WITHOUT ROWID;
"#,
    // Commerce (issue 7): POS transactions (no personal data), the app feed's visits and
    // passes per advertising-ID pseudonym (kept apart from the WiFi visits so nobody is
    // counted twice), the sealed advertising IDs the audience export needs, the audit log
    // of exports, and the app feed's saved state.
    r#"
CREATE TABLE transactions (
    id TEXT PRIMARY KEY,
    store TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    amount_cents INTEGER NOT NULL,
    till TEXT,
    zone TEXT
);
CREATE INDEX transactions_store_ts ON transactions (store, ts_ms);
CREATE TABLE app_visits (
    id INTEGER PRIMARY KEY,
    device INTEGER NOT NULL,
    store TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    zones TEXT NOT NULL
);
CREATE INDEX app_visits_device ON app_visits (device);
CREATE TABLE app_passes (
    id INTEGER PRIMARY KEY,
    device INTEGER NOT NULL,
    store TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL
);
CREATE INDEX app_passes_device ON app_passes (device);
CREATE TABLE adid_vault (device INTEGER PRIMARY KEY, sealed BLOB NOT NULL, last_seen_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE app_state (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
CREATE TABLE export_audit (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    store TEXT NOT NULL,
    segment TEXT NOT NULL,
    format TEXT NOT NULL,
    from_ms INTEGER NOT NULL,
    to_ms INTEGER NOT NULL,
    size INTEGER NOT NULL,
    file_sha256 TEXT NOT NULL
);
"#,
    // Location (issue 6): the site's survey-trained fingerprint model (`footfall locate
    // train --db`), one per site (the site row is id 1 too), as the model's own JSON
    // (`footfall_locate::Model::to_json`). See `locate_model.rs`.
    r#"
CREATE TABLE locate_model (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL,
    source TEXT NOT NULL,
    samples INTEGER NOT NULL,
    trained_ms INTEGER NOT NULL
);
"#,
    // Calibration (issue 5 part 4): the per-store, hour-of-day factors from WiFi-estimated
    // to counted people that `footfall calibrate --db --save` fitted on door-counter or
    // camera counts, one fit per database, as JSON (`footfall_transforms::calibrate::
    // SavedFit`). Aggregates only: neither the counts nor anything per person. See
    // `calibration.rs`.
    r#"
CREATE TABLE calibration (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL,
    source TEXT NOT NULL,
    windows INTEGER NOT NULL,
    fitted_ms INTEGER NOT NULL
);
"#,
];

const PUT_SITE: &str = "INSERT INTO site (id, json, updated_ms) VALUES (1, ?1, ?2) \
    ON CONFLICT (id) DO UPDATE SET json = excluded.json, updated_ms = excluded.updated_ms";

/// Record one input as ingested, inside the caller's transaction (observation files, POS and
/// ping files alike), so the same content is never counted twice.
pub(crate) fn record_file(tx: &rusqlite::Transaction<'_>, f: &IngestedFile) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO ingested_files (name, content_hash, bytes, format, records, bad, ingested_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![f.name, f.content_hash, f.bytes as i64, f.format, f.records as i64, f.bad as i64, f.ingested_ms])
}

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// One input recorded as ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestedFile {
    pub name: String,
    pub content_hash: String,
    pub bytes: u64,
    pub format: String,
    pub records: u64,
    pub bad: u64,
    pub ingested_ms: i64,
}

/// Everything one ingest run writes, committed atomically.
pub struct IngestBatch<'a> {
    pub site: &'a Site,
    pub files: &'a [IngestedFile],
    pub sessions: &'a Sessions,
    pub activity: &'a [DayActivity],
    /// Per-minute presence records (`Pipeline::take_presence`), merged into `presence_minutes`.
    pub presence: &'a [MinutePresence],
    pub drops: &'a DropCounts,
    pub pipeline_state: &'a str,
    pub now_ms: i64,
    /// The last server journal record this batch applies (see the server crate's journal),
    /// stored in `meta` as `journal_applied` in the same transaction, so that a restart
    /// re-applies exactly the records after it. `None` leaves the stored value as it is.
    pub journal_seq: Option<u64>,
    /// The first journal record whose observations the stored pipeline state does not hold
    /// (the server snapshots without the observations held for reordering and gives them
    /// back from the journal on restart; see `Pipeline::snapshot_without_held`). Stored in
    /// `meta` as `journal_replay_from`; the journal keeps records from here on.
    pub journal_replay_from: Option<u64>,
    /// Sensor agents' batches this commit applies: (agent id, highest batch sequence). Each
    /// is stored in `meta` as `agent_batch:<id>` in the same transaction, so the server's
    /// deduplication of agent batches survives the journal being compacted away.
    pub agent_batches: &'a [(String, u64)],
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (creating if needed) and migrate the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").map_err(err)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path: path.to_path_buf(), found: version, known: SCHEMA_VERSION });
        }
        if version < SCHEMA_VERSION {
            let tx = conn.transaction().map_err(err)?;
            for m in &MIGRATIONS[version as usize..] {
                tx.execute_batch(m).map_err(err)?;
            }
            tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}")).map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(Store { conn, path: path.to_path_buf() })
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite { path: self.path.clone(), source }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(self.err())
    }

    /// SQLite's `PRAGMA data_version`: changes whenever another connection commits, so a
    /// reader can tell when what it cached is stale.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(self.err())
    }

    /// The stored site, if any.
    pub fn site(&self) -> Result<Option<Site>, StoreError> {
        let json: Option<String> =
            self.conn.query_row("SELECT json FROM site WHERE id = 1", [], |r| r.get(0)).optional().map_err(self.err())?;
        json.map(|j| Site::from_json(&j).map_err(|e| StoreError::BadSite { path: self.path.clone(), message: e.to_string() })).transpose()
    }

    /// The stored site, or an error telling the user how to provide one.
    pub fn require_site(&self) -> Result<Site, StoreError> {
        self.site()?.ok_or_else(|| StoreError::NoSite { path: self.path.clone() })
    }

    /// Make every commit durable before it returns (`PRAGMA synchronous = FULL`: the WAL is
    /// synced at each commit). The default (`NORMAL`) survives a crash of the process but
    /// may lose the last commits on power loss; the server needs `FULL` because it deletes
    /// journal records once their commit has returned.
    pub fn sync_every_commit(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("PRAGMA synchronous = FULL;").map_err(self.err())
    }

    /// The last server journal record applied to this database (see [`IngestBatch::journal_seq`]).
    pub fn journal_applied(&self) -> Result<Option<u64>, StoreError> {
        let v: Option<String> =
            self.conn.query_row("SELECT value FROM meta WHERE key = 'journal_applied'", [], |r| r.get(0)).optional().map_err(self.err())?;
        v.map(|v| v.parse::<u64>().map_err(|_| StoreError::BadMeta { path: self.path.clone(), key: "journal_applied", value: v.clone() }))
            .transpose()
    }

    /// See [`IngestBatch::journal_replay_from`]; `None` for a database written before it
    /// existed (its saved state holds everything).
    pub fn journal_replay_from(&self) -> Result<Option<u64>, StoreError> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'journal_replay_from'", [], |r| r.get(0))
            .optional()
            .map_err(self.err())?;
        v.map(|v| {
            v.parse::<u64>().map_err(|_| StoreError::BadMeta { path: self.path.clone(), key: "journal_replay_from", value: v.clone() })
        })
        .transpose()
    }

    /// The highest batch applied per sensor agent (see [`IngestBatch::agent_batches`]).
    pub fn agent_batches(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut st = self.conn.prepare("SELECT key, value FROM meta WHERE substr(key, 1, 12) = ?1").map_err(self.err())?;
        let rows = st.query_map([AGENT_BATCH_PREFIX], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(self.err())?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (key, value) = row.map_err(self.err())?;
            let batch = value.parse::<u64>().map_err(|_| StoreError::BadMeta {
                path: self.path.clone(),
                key: "agent_batch",
                value: value.clone(),
            })?;
            out.insert(key[AGENT_BATCH_PREFIX.len()..].to_string(), batch);
        }
        Ok(out)
    }

    pub fn pipeline_state(&self) -> Result<Option<String>, StoreError> {
        self.conn.query_row("SELECT json FROM pipeline_state WHERE id = 1", [], |r| r.get(0)).optional().map_err(self.err())
    }

    /// The record of an already-ingested input with this content hash.
    pub fn find_ingested(&self, content_hash: &str) -> Result<Option<IngestedFile>, StoreError> {
        self.conn
            .query_row(
                "SELECT name, content_hash, bytes, format, records, bad, ingested_ms FROM ingested_files WHERE content_hash = ?1",
                [content_hash],
                row_to_file,
            )
            .optional()
            .map_err(self.err())
    }

    pub fn ingested_files(&self) -> Result<Vec<IngestedFile>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT name, content_hash, bytes, format, records, bad, ingested_ms FROM ingested_files ORDER BY id")
            .map_err(self.err())?;
        let rows = st.query_map([], row_to_file).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Store (or replace) the site alone.
    pub fn put_site(&self, site: &Site, now_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(PUT_SITE, params![site.to_json(), now_ms]).map(|_| ()).map_err(self.err())
    }

    /// Write one ingest run atomically.
    pub fn commit_ingest(&mut self, b: IngestBatch<'_>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(PUT_SITE, params![b.site.to_json(), b.now_ms]).map_err(err)?;
        {
            for f in b.files {
                record_file(&tx, f).map_err(err)?;
            }
            let mut vis =
                tx.prepare("INSERT INTO visits (device, store, start_ms, end_ms, randomized) VALUES (?1, ?2, ?3, ?4, ?5)").map_err(err)?;
            let mut zs =
                tx.prepare("INSERT INTO zone_stays (visit_id, seq, zone, start_ms, end_ms) VALUES (?1, ?2, ?3, ?4, ?5)").map_err(err)?;
            for v in &b.sessions.visits {
                let store = &b.site.stores[v.store as usize];
                vis.execute(params![v.device.as_i64(), store.id, v.start, v.end, v.randomized]).map_err(err)?;
                let id = tx.last_insert_rowid();
                for (i, z) in v.zones.iter().enumerate() {
                    let zone = store.zones.get(z.zone as usize).map(|z| z.id.as_str()).unwrap_or("?");
                    zs.execute(params![id, i as i64, zone, z.start, z.end]).map_err(err)?;
                }
            }
            let mut pas =
                tx.prepare("INSERT INTO passes (device, store, start_ms, end_ms, randomized) VALUES (?1, ?2, ?3, ?4, ?5)").map_err(err)?;
            for p in &b.sessions.passes {
                pas.execute(params![p.device.as_i64(), b.site.stores[p.store as usize].id, p.start, p.end, p.randomized]).map_err(err)?;
            }
            let mut act = tx
                .prepare(
                    "INSERT INTO device_days (device, day, hours_mask, first_ms, last_ms, randomized) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (device, day) DO UPDATE SET hours_mask = hours_mask | excluded.hours_mask,
                       first_ms = min(first_ms, excluded.first_ms), last_ms = max(last_ms, excluded.last_ms)",
                )
                .map_err(err)?;
            for a in b.activity {
                act.execute(params![a.device.as_i64(), a.day, a.hours_mask, a.first, a.last, a.randomized]).map_err(err)?;
            }
            let mut pm = tx
                .prepare(
                    "INSERT INTO presence_minutes (sensor, minute_ms, device, ie, randomized, first_ms, last_ms, max_rssi)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (sensor, minute_ms, device, ie) DO UPDATE SET first_ms = min(first_ms, excluded.first_ms),
                       last_ms = max(last_ms, excluded.last_ms), max_rssi = max(max_rssi, excluded.max_rssi)",
                )
                .map_err(err)?;
            for p in b.presence {
                let Some(sensor) = b.site.sensors.get(p.sensor as usize) else { continue };
                pm.execute(params![
                    sensor.id,
                    p.minute,
                    p.device.as_i64(),
                    p.ie.map_or(0, |d| d as i64),
                    p.randomized,
                    p.first,
                    p.last,
                    p.max_rssi
                ])
                .map_err(err)?;
            }
            let mut dr = tx
                .prepare(
                    "INSERT INTO drops (reason, count) VALUES (?1, ?2) ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count",
                )
                .map_err(err)?;
            for (r, n) in &b.drops.0 {
                dr.execute(params![r.name(), *n as i64]).map_err(err)?;
            }
        }
        tx.execute(
            "INSERT INTO pipeline_state (id, json) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET json = excluded.json",
            [b.pipeline_state],
        )
        .map_err(err)?;
        for (agent, batch) in b.agent_batches {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [format!("{AGENT_BATCH_PREFIX}{agent}"), batch.to_string()],
            )
            .map_err(err)?;
        }
        if let Some(seq) = b.journal_replay_from {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('journal_replay_from', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [seq.to_string()],
            )
            .map_err(err)?;
        }
        if let Some(seq) = b.journal_seq {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('journal_applied', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [seq.to_string()],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// All stored visits with their zone stays, as indexes into `site`. Visits of stores or
    /// zones the site no longer has are skipped.
    pub fn visits(&self, site: &Site) -> Result<Vec<Visit>, StoreError> {
        let stores: HashMap<&str, u16> = site.stores.iter().enumerate().map(|(i, s)| (s.id.as_str(), i as u16)).collect();
        let mut zones_of: HashMap<i64, Vec<(String, i64, i64)>> = HashMap::new();
        {
            let mut st =
                self.conn.prepare("SELECT visit_id, zone, start_ms, end_ms FROM zone_stays ORDER BY visit_id, seq").map_err(self.err())?;
            let mut rows = st.query([]).map_err(self.err())?;
            while let Some(r) = rows.next().map_err(self.err())? {
                zones_of.entry(r.get(0).map_err(self.err())?).or_default().push((
                    r.get(1).map_err(self.err())?,
                    r.get(2).map_err(self.err())?,
                    r.get(3).map_err(self.err())?,
                ));
            }
        }
        let mut st = self
            .conn
            .prepare("SELECT id, device, store, start_ms, end_ms, randomized FROM visits ORDER BY start_ms, id")
            .map_err(self.err())?;
        let mut rows = st.query([]).map_err(self.err())?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(self.err())? {
            let store_id: String = r.get(2).map_err(self.err())?;
            let Some(&store) = stores.get(store_id.as_str()) else { continue };
            let id: i64 = r.get(0).map_err(self.err())?;
            let zone_ids = &site.stores[store as usize].zones;
            let zones = zones_of
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(z, start, end)| zone_ids.iter().position(|x| x.id == z).map(|zi| ZoneStay { zone: zi as u16, start, end }))
                .collect();
            out.push(Visit {
                device: DeviceId::from_i64(r.get(1).map_err(self.err())?),
                store,
                start: r.get(3).map_err(self.err())?,
                end: r.get(4).map_err(self.err())?,
                randomized: r.get(5).map_err(self.err())?,
                zones,
            });
        }
        Ok(out)
    }

    pub fn passes(&self, site: &Site) -> Result<Vec<Pass>, StoreError> {
        let stores: HashMap<&str, u16> = site.stores.iter().enumerate().map(|(i, s)| (s.id.as_str(), i as u16)).collect();
        let mut st = self
            .conn
            .prepare("SELECT device, store, start_ms, end_ms, randomized FROM passes ORDER BY start_ms, id")
            .map_err(self.err())?;
        let mut rows = st.query([]).map_err(self.err())?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(self.err())? {
            let store_id: String = r.get(1).map_err(self.err())?;
            let Some(&store) = stores.get(store_id.as_str()) else { continue };
            out.push(Pass {
                device: DeviceId::from_i64(r.get(0).map_err(self.err())?),
                store,
                start: r.get(2).map_err(self.err())?,
                end: r.get(3).map_err(self.err())?,
                randomized: r.get(4).map_err(self.err())?,
            });
        }
        Ok(out)
    }

    pub fn activity(&self) -> Result<Vec<DayActivity>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT device, day, hours_mask, first_ms, last_ms, randomized FROM device_days ORDER BY day, device")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                Ok(DayActivity {
                    device: DeviceId::from_i64(r.get(0)?),
                    day: r.get(1)?,
                    hours_mask: r.get(2)?,
                    first: r.get(3)?,
                    last: r.get(4)?,
                    randomized: r.get(5)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The per-minute presence records, as indexes into `site`, in (minute, sensor id, device,
    /// digest) order; records of sensors the site no longer has are skipped.
    pub fn presence_minutes(&self, site: &Site) -> Result<Vec<MinutePresence>, StoreError> {
        let idx: HashMap<&str, u16> = site.sensors.iter().enumerate().map(|(i, s)| (s.id.as_str(), i as u16)).collect();
        let mut st = self
            .conn
            .prepare(
                "SELECT sensor, minute_ms, device, ie, randomized, first_ms, last_ms, max_rssi FROM presence_minutes
                 ORDER BY minute_ms, sensor, device, ie",
            )
            .map_err(self.err())?;
        let mut rows = st.query([]).map_err(self.err())?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(self.err())? {
            let sensor: String = r.get(0).map_err(self.err())?;
            let Some(&sensor) = idx.get(sensor.as_str()) else { continue };
            let ie: i64 = r.get(3).map_err(self.err())?;
            out.push(MinutePresence {
                sensor,
                minute: r.get(1).map_err(self.err())?,
                device: DeviceId::from_i64(r.get(2).map_err(self.err())?),
                ie: (ie != 0).then_some(ie as u64),
                randomized: r.get(4).map_err(self.err())?,
                first: r.get(5).map_err(self.err())?,
                last: r.get(6).map_err(self.err())?,
                max_rssi: r.get(7).map_err(self.err())?,
            });
        }
        Ok(out)
    }

    pub fn drop_counts(&self) -> Result<DropCounts, StoreError> {
        let mut st = self.conn.prepare("SELECT reason, count FROM drops").map_err(self.err())?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(self.err())?;
        let mut out = DropCounts::default();
        for row in rows {
            let (reason, n) = row.map_err(self.err())?;
            let r = DropReason::ALL.into_iter().find(|r| r.name() == reason);
            if let Some(r) = r {
                out.add(r, n as u64);
            }
        }
        Ok(out)
    }
}

fn row_to_file(r: &rusqlite::Row<'_>) -> rusqlite::Result<IngestedFile> {
    Ok(IngestedFile {
        name: r.get(0)?,
        content_hash: r.get(1)?,
        bytes: r.get::<_, i64>(2)? as u64,
        format: r.get(3)?,
        records: r.get::<_, i64>(4)? as u64,
        bad: r.get::<_, i64>(5)? as u64,
        ingested_ms: r.get(6)?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A one-store, one-zone, one-sensor site for this crate's tests.
    pub(crate) fn site() -> Site {
        Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[{"id":"s1","name":"S","category":"c","polygon":[[0,0],[10,0],[10,10],[0,10]],
            "zones":[{"id":"front","name":"F","polygon":[[0,0],[10,0],[10,5],[0,5]]}]}],
            "sensors":[{"id":"a","x":5,"y":2,"store":"s1"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_migration_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert!(store.site().unwrap().is_none());
        assert_eq!(store.journal_applied().unwrap(), None);
        store.sync_every_commit().unwrap();
        let site = site();
        let sessions = Sessions {
            visits: vec![Visit {
                device: DeviceId(u64::MAX - 3),
                store: 0,
                start: 1,
                end: 200_000,
                randomized: true,
                zones: vec![ZoneStay { zone: 0, start: 1, end: 9 }],
            }],
            passes: vec![Pass { device: DeviceId(5), store: 0, start: 3, end: 4, randomized: false }],
        };
        let act = [DayActivity { device: DeviceId(5), day: 3, hours_mask: 0b10, first: 10, last: 20, randomized: false }];
        let mut drops = DropCounts::default();
        drops.add(DropReason::Late, 2);
        let pm = |device: u64, ie: Option<u64>| MinutePresence {
            sensor: 0,
            minute: 60_000,
            device: DeviceId(device),
            ie,
            randomized: true,
            first: 61_000,
            last: 90_000,
            max_rssi: -60,
        };
        let pres = [pm(1, Some(u64::MAX)), pm(2, None)];
        let file = IngestedFile {
            name: "a.csv".into(),
            content_hash: "h".into(),
            bytes: 10,
            format: "csv".into(),
            records: 3,
            bad: 1,
            ingested_ms: 0,
        };
        store
            .commit_ingest(IngestBatch {
                site: &site,
                files: std::slice::from_ref(&file),
                sessions: &sessions,
                activity: &act,
                presence: &pres,
                drops: &drops,
                pipeline_state: "{}",
                now_ms: 0,
                journal_seq: None,
                journal_replay_from: None,
                agent_batches: &[],
            })
            .unwrap();
        let mut pres2 = pres;
        pres2[0].first = 1;
        pres2[0].max_rssi = -50;
        let act2 = [DayActivity { device: DeviceId(5), day: 3, hours_mask: 0b100, first: 5, last: 15, randomized: false }];
        store
            .commit_ingest(IngestBatch {
                site: &site,
                files: &[],
                sessions: &Sessions::default(),
                activity: &act2,
                presence: &pres2,
                drops: &drops,
                pipeline_state: "{\"x\":1}",
                now_ms: 0,
                journal_seq: Some(7),
                journal_replay_from: Some(5),
                agent_batches: &[("pos1-ab".to_string(), 4), ("p:2".to_string(), 9)],
            })
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.visits(&site).unwrap(), sessions.visits);
        assert_eq!(store.passes(&site).unwrap(), sessions.passes);
        assert_eq!(
            store.activity().unwrap(),
            vec![DayActivity { device: DeviceId(5), day: 3, hours_mask: 0b110, first: 5, last: 20, randomized: false }]
        );
        assert_eq!(store.drop_counts().unwrap().0[&DropReason::Late], 4);
        let mut merged = pres;
        merged[0].first = 1;
        merged[0].max_rssi = -50;
        assert_eq!(store.presence_minutes(&site).unwrap(), merged, "merged by min/max");
        assert_eq!(store.find_ingested("h").unwrap(), Some(file));
        assert_eq!(store.pipeline_state().unwrap().as_deref(), Some("{\"x\":1}"));
        assert_eq!(store.journal_applied().unwrap(), Some(7));
        assert_eq!(store.journal_replay_from().unwrap(), Some(5));
        let marks: Vec<(String, u64)> = store.agent_batches().unwrap().into_iter().collect();
        assert_eq!(marks, vec![("p:2".to_string(), 9), ("pos1-ab".to_string(), 4)]);
        assert_eq!(store.require_site().unwrap().venue, "T");
    }
}
