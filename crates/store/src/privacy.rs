//! Privacy operations on the store: the opt-out registry, erasure of a device (WiFi rows, and
//! an advertising ID's app visits, passes and sealed vault entry), retention.
//!
//! The registry (`optouts`) holds only pseudonyms: the keyed hashes the pipeline gives a
//! device (one per radio kind for a MAC), never a MAC or an advertising ID. Erasure deletes
//! every row of a device (visits with their zone stays, passes, per-day activity) and saves
//! the caller's pipeline state (from which the caller removed the device with
//! `Pipeline::forget`) in one transaction, so an erasure is complete or not done at all.
//! [`Store::tables_holding`] checks every column of every table of the schema generically, so
//! a table added later is covered by the tests that use it. Retention deletes visits, passes
//! and activity older than the cutoffs the caller computed from its clock. This module does
//! not hash anything and does not know the key.

use crate::{Store, StoreError};
use footfall_core::{DeviceId, Millis};
use rusqlite::params;
use serde::Serialize;

/// Rows erased for one subject.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    pub visits: u64,
    pub zone_stays: u64,
    pub passes: u64,
    pub device_days: u64,
    /// Per-minute presence rows (what `occupancy --db` counts).
    pub presence_minutes: u64,
    /// The app feed's visits and passes of an advertising ID, and its sealed vault entry.
    pub app_visits: u64,
    pub app_passes: u64,
    pub vault: u64,
    /// Observations, location windows and open episodes removed from the saved pipeline state.
    pub open_state: u64,
}

impl Erased {
    pub fn total(&self) -> u64 {
        self.visits
            + self.zone_stays
            + self.passes
            + self.device_days
            + self.presence_minutes
            + self.app_visits
            + self.app_passes
            + self.vault
            + self.open_state
    }
}

/// What one erasure writes.
pub struct Erasure<'a> {
    pub devices: &'a [DeviceId],
    /// The pipeline state without the devices (`Pipeline::forget` then `snapshot`); `None`
    /// when the database has none yet.
    pub pipeline_state: Option<&'a str>,
    /// The app feed's state without the devices (`AppTracker::forget`), when there is one.
    pub app_state: Option<&'a str>,
    /// How much of the open state `Pipeline::forget` removed (reported only).
    pub open_state: u64,
    /// Register `registry` as opted out at this time (`None`: erase only).
    pub register_ms: Option<Millis>,
    /// The pseudonyms the opt-out registry keeps (the master pseudonyms; with key rotation
    /// `devices` also holds each epoch's pseudonym, which the registry need not keep).
    pub registry: &'a [DeviceId],
}

/// Rows deleted by retention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Retained {
    pub visits: u64,
    pub passes: u64,
    pub device_days: u64,
    /// Per-minute presence rows, kept as long as walk-bys (they are finer-grained).
    pub presence_minutes: u64,
    /// The app feed's visits (as visits) and passes (as passes).
    pub app_visits: u64,
    pub app_passes: u64,
    /// Sealed advertising IDs not seen since the visits' cutoff.
    pub vault: u64,
    /// Transactions, kept as long as visits.
    pub transactions: u64,
}

impl Store {
    /// The earliest and latest event time of any device's stored rows (visits, walk-bys,
    /// activity, presence minutes): the span an erasure under key rotation must cover.
    pub fn device_time_span(&self) -> Result<Option<(Millis, Millis)>, StoreError> {
        self.conn()
            .query_row(
                "SELECT min(a), max(b) FROM (SELECT min(start_ms) a, max(end_ms) b FROM visits UNION ALL SELECT min(start_ms), max(end_ms) FROM passes \
                 UNION ALL SELECT min(first_ms), max(last_ms) FROM device_days UNION ALL SELECT min(first_ms), max(last_ms) FROM presence_minutes)",
                [],
                |r| Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?)),
            )
            .map_err(self.err())
    }

    /// Every registered opted-out pseudonym.
    pub fn optouts(&self) -> Result<Vec<DeviceId>, StoreError> {
        let mut st = self.conn().prepare("SELECT device FROM optouts ORDER BY device").map_err(self.err())?;
        let rows = st.query_map([], |r| Ok(DeviceId::from_i64(r.get(0)?))).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Delete every row of `devices`, save the pipeline state and (optionally) register them
    /// as opted out, in one transaction.
    pub fn erase_devices(&mut self, e: Erasure<'_>) -> Result<Erased, StoreError> {
        let path = self.path().to_path_buf();
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn_mut().transaction().map_err(err)?;
        let mut out = Erased { open_state: e.open_state, ..Erased::default() };
        for d in e.devices {
            let id = d.as_i64();
            out.zone_stays +=
                tx.execute("DELETE FROM zone_stays WHERE visit_id IN (SELECT id FROM visits WHERE device = ?1)", [id]).map_err(err)? as u64;
            out.visits += tx.execute("DELETE FROM visits WHERE device = ?1", [id]).map_err(err)? as u64;
            out.passes += tx.execute("DELETE FROM passes WHERE device = ?1", [id]).map_err(err)? as u64;
            out.device_days += tx.execute("DELETE FROM device_days WHERE device = ?1", [id]).map_err(err)? as u64;
            out.presence_minutes += tx.execute("DELETE FROM presence_minutes WHERE device = ?1", [id]).map_err(err)? as u64;
            out.app_visits += tx.execute("DELETE FROM app_visits WHERE device = ?1", [id]).map_err(err)? as u64;
            out.app_passes += tx.execute("DELETE FROM app_passes WHERE device = ?1", [id]).map_err(err)? as u64;
            out.vault += tx.execute("DELETE FROM adid_vault WHERE device = ?1", [id]).map_err(err)? as u64;
        }
        if let Some(ms) = e.register_ms {
            for d in e.registry {
                tx.execute(
                    "INSERT INTO optouts (device, created_ms) VALUES (?1, ?2) ON CONFLICT (device) DO NOTHING",
                    params![d.as_i64(), ms],
                )
                .map_err(err)?;
            }
        }
        if let Some(state) = e.app_state {
            tx.execute("INSERT INTO app_state (id, json) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET json = excluded.json", [state])
                .map_err(err)?;
        }
        if let Some(state) = e.pipeline_state {
            tx.execute("INSERT INTO pipeline_state (id, json) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET json = excluded.json", [state])
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(out)
    }

    /// Delete visits ending before `visits_before`, passes ending before `passes_before` and
    /// per-day activity last heard before `visits_before` (it serves only the visits' staff
    /// rule), in one transaction.
    pub fn apply_retention(&mut self, visits_before: Millis, passes_before: Millis) -> Result<Retained, StoreError> {
        let path = self.path().to_path_buf();
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn_mut().transaction().map_err(err)?;
        tx.execute("DELETE FROM zone_stays WHERE visit_id IN (SELECT id FROM visits WHERE end_ms < ?1)", [visits_before]).map_err(err)?;
        let out = Retained {
            visits: tx.execute("DELETE FROM visits WHERE end_ms < ?1", [visits_before]).map_err(err)? as u64,
            passes: tx.execute("DELETE FROM passes WHERE end_ms < ?1", [passes_before]).map_err(err)? as u64,
            device_days: tx.execute("DELETE FROM device_days WHERE last_ms < ?1", [visits_before]).map_err(err)? as u64,
            presence_minutes: tx.execute("DELETE FROM presence_minutes WHERE last_ms < ?1", [passes_before]).map_err(err)? as u64,
            app_visits: tx.execute("DELETE FROM app_visits WHERE end_ms < ?1", [visits_before]).map_err(err)? as u64,
            app_passes: tx.execute("DELETE FROM app_passes WHERE end_ms < ?1", [passes_before]).map_err(err)? as u64,
            vault: tx.execute("DELETE FROM adid_vault WHERE last_seen_ms < ?1", [visits_before]).map_err(err)? as u64,
            transactions: tx.execute("DELETE FROM transactions WHERE ts_ms < ?1", [visits_before]).map_err(err)? as u64,
        };
        tx.commit().map_err(err)?;
        Ok(out)
    }

    /// The (table, column) pairs of every table of the schema that hold `device`: as an
    /// integer (how rows store a pseudonym) or inside text as its 16-digit hex spelling (how
    /// JSON such as the pipeline state writes it). Generic over the schema, for erasure checks.
    pub fn tables_holding(&self, device: DeviceId) -> Result<Vec<(String, String)>, StoreError> {
        let mut tables = Vec::new();
        {
            let mut st = self.conn().prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").map_err(self.err())?;
            let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(self.err())?;
            for t in rows {
                tables.push(t.map_err(self.err())?);
            }
        }
        let hex = device.to_string();
        let mut out = Vec::new();
        for t in tables {
            let mut cols = Vec::new();
            {
                let mut st =
                    self.conn().prepare(&format!("SELECT name FROM pragma_table_info('{}')", t.replace('\'', "''"))).map_err(self.err())?;
                let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(self.err())?;
                for c in rows {
                    cols.push(c.map_err(self.err())?);
                }
            }
            for c in cols {
                let q = format!(
                    "SELECT count(*) FROM \"{t}\" WHERE \"{c}\" = ?1 OR (typeof(\"{c}\") = 'text' AND instr(lower(\"{c}\"), ?2) > 0)",
                    t = t.replace('"', "\"\""),
                    c = c.replace('"', "\"\"")
                );
                let n: i64 = self.conn().query_row(&q, params![device.as_i64(), hex], |r| r.get(0)).map_err(self.err())?;
                if n > 0 {
                    out.push((t.clone(), c));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IngestBatch;
    use crate::sqlite::tests::site;
    use footfall_core::{Pass, Visit, ZoneStay};
    use footfall_transforms::activity::DayActivity;
    use footfall_transforms::filter::DropCounts;
    use footfall_transforms::sessionize::Sessions;

    fn fill(store: &mut Store, devices: &[u64], state: &str) {
        let visit = |d: u64, end| Visit {
            device: DeviceId(d),
            store: 0,
            start: end - 200_000,
            end,
            randomized: false,
            zones: vec![ZoneStay { zone: 0, start: end - 200_000, end }],
        };
        let sessions = Sessions {
            visits: devices.iter().flat_map(|&d| [visit(d, 1_000_000), visit(d, 9_000_000)]).collect(),
            passes: devices.iter().map(|&d| Pass { device: DeviceId(d), store: 0, start: 10, end: 20, randomized: false }).collect(),
        };
        let act: Vec<DayActivity> = devices
            .iter()
            .map(|&d| DayActivity { device: DeviceId(d), day: 1, hours_mask: 1, first: 5, last: 9_000_000, randomized: false })
            .collect();
        store
            .commit_ingest(IngestBatch {
                site: &site(),
                files: &[],
                sessions: &sessions,
                activity: &act,
                drops: &DropCounts::default(),
                pipeline_state: state,
                now_ms: 0,
                journal_seq: None,
                journal_replay_from: None,
                presence: &[],
                agent_batches: &[],
            })
            .unwrap();
    }

    #[test]
    fn erasure_leaves_the_device_in_no_table_and_registers_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("p.db")).unwrap();
        let (gone, kept) = (DeviceId(0x00ab_cdef_0123_4567), DeviceId(77));
        fill(&mut store, &[gone.0, kept.0], &format!("{{\"open\":[\"{gone}\",\"{kept}\"]}}"));
        let holding: Vec<String> = store.tables_holding(gone).unwrap().into_iter().map(|(t, _)| t).collect();
        let (from, to) = store.device_time_span().unwrap().expect("rows to span");
        assert!(from <= 10 && to >= 20, "covers the walk-bys at 10..20: {from}..{to}");
        for t in ["device_days", "passes", "pipeline_state", "visits"] {
            assert!(holding.iter().any(|h| h == t), "the check sees {t}: {holding:?}");
        }
        let erased = store
            .erase_devices(Erasure {
                devices: &[gone],
                pipeline_state: Some(&format!("{{\"open\":[\"{kept}\"]}}")),
                app_state: None,
                open_state: 1,
                register_ms: None,
                registry: &[],
            })
            .unwrap();
        assert_eq!(erased, Erased { visits: 2, zone_stays: 2, passes: 1, device_days: 1, open_state: 1, ..Erased::default() });
        assert_eq!(store.tables_holding(gone).unwrap(), vec![]);
        assert!(!store.tables_holding(kept).unwrap().is_empty(), "others are kept");
        assert!(store.optouts().unwrap().is_empty(), "forgetting does not register");
        let again = store
            .erase_devices(Erasure {
                devices: &[gone, kept],
                pipeline_state: None,
                app_state: None,
                open_state: 0,
                register_ms: Some(5),
                registry: &[gone, kept],
            })
            .unwrap();
        assert_eq!(again.visits, 2);
        assert_eq!(store.optouts().unwrap(), vec![kept, gone], "in id order");
        assert_eq!(store.tables_holding(gone).unwrap(), vec![("optouts".to_string(), "device".to_string())], "only the registry");
        assert_eq!(store.device_time_span().unwrap(), None, "no device rows left");
    }

    #[test]
    fn retention_deletes_what_is_older_than_the_cutoffs() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("r.db")).unwrap();
        fill(&mut store, &[1, 2], "{}");
        let r = store.apply_retention(5_000_000, 15).unwrap();
        assert_eq!(r, Retained { visits: 2, ..Retained::default() });
        let r = store.apply_retention(9_000_001, 21).unwrap();
        assert_eq!(r, Retained { visits: 2, passes: 2, device_days: 2, ..Retained::default() });
        assert!(store.visits(&site()).unwrap().is_empty());
        let n: i64 = store.conn().query_row("SELECT count(*) FROM zone_stays", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }
}
