//! Commerce in the store: point-of-sale transactions, the app feed's visits and passes, the
//! sealed advertising-ID vault, and the audit log of audience exports.
//!
//! Transactions carry no personal data. App visits and passes are keyed by the pseudonym of
//! an advertising ID, in their own tables, so the WiFi counts never include them twice. The
//! vault holds advertising IDs only sealed (`transforms::seal`): this module stores and
//! returns opaque bytes and never sees a key. Every write is one transaction with the
//! ingested-file records, like [`Store::commit_ingest`].

use crate::sqlite::record_file;
use crate::{IngestedFile, Store, StoreError};
use footfall_core::commerce::Transaction;
use footfall_core::{DeviceId, Millis, Pass, Site, Visit, ZoneStay};
use footfall_transforms::sessionize::Sessions;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::HashMap;

/// One imported POS file's transactions.
pub struct PosBatch<'a> {
    pub site: &'a Site,
    pub file: &'a IngestedFile,
    pub transactions: &'a [Transaction],
    /// The till of each transaction (same order), when given.
    pub tills: &'a [Option<String>],
}

/// One imported pings file's results.
pub struct AppBatch<'a> {
    pub site: &'a Site,
    pub file: &'a IngestedFile,
    pub sessions: &'a Sessions,
    /// (pseudonym, sealed advertising ID, last ping) of every consented ID seen.
    pub vault: &'a [(DeviceId, [u8; 16], Millis)],
    pub state: &'a str,
}

/// One line of the export audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportAudit {
    pub at_ms: Millis,
    /// Who exported: `cli:<user>` or `token:<id>`.
    pub actor: String,
    pub store: String,
    pub segment: String,
    pub format: String,
    pub from_ms: Millis,
    pub to_ms: Millis,
    pub size: u64,
    pub file_sha256: String,
}

fn zones_text(site: &Site, v: &Visit) -> String {
    let zones = &site.stores[v.store as usize].zones;
    let list: Vec<(String, Millis, Millis)> =
        v.zones.iter().map(|z| (zones.get(z.zone as usize).map(|z| z.id.clone()).unwrap_or_default(), z.start, z.end)).collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

impl Store {
    /// Store a POS file's transactions; a transaction id seen before is replaced (a till
    /// re-exporting a day corrects it rather than doubling it).
    pub fn commit_pos(&mut self, b: PosBatch<'_>) -> Result<(), StoreError> {
        let path = self.path().to_path_buf();
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn_mut().transaction().map_err(err)?;
        record_file(&tx, b.file).map_err(err)?;
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO transactions (id, store, ts_ms, amount_cents, till, zone) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (id) DO UPDATE SET store = excluded.store, ts_ms = excluded.ts_ms,
                       amount_cents = excluded.amount_cents, till = excluded.till, zone = excluded.zone",
                )
                .map_err(err)?;
            for (t, till) in b.transactions.iter().zip(b.tills.iter().chain(std::iter::repeat(&None))) {
                let store = &b.site.stores[t.store as usize];
                let zone = t.zone.and_then(|z| store.zones.get(z as usize)).map(|z| z.id.as_str());
                ins.execute(params![t.id, store.id, t.ts, t.amount_cents, till, zone]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Every stored transaction of a store the site has, in time order.
    pub fn transactions(&self, site: &Site) -> Result<Vec<Transaction>, StoreError> {
        let mut st =
            self.conn().prepare("SELECT id, store, ts_ms, amount_cents, zone FROM transactions ORDER BY ts_ms, id").map_err(self.err())?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?, r.get::<_, Option<String>>(4)?)))
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (id, store, ts, amount_cents, zone) = row.map_err(self.err())?;
            let Some(si) = site.store_index(&store) else { continue };
            let zone = zone.and_then(|z| site.stores[si as usize].zones.iter().position(|x| x.id == z)).map(|z| z as u16);
            out.push(Transaction { id, store: si, ts, amount_cents, zone });
        }
        Ok(out)
    }

    /// Write one pings file's results.
    pub fn commit_app(&mut self, b: AppBatch<'_>) -> Result<(), StoreError> {
        let path = self.path().to_path_buf();
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn_mut().transaction().map_err(err)?;
        record_file(&tx, b.file).map_err(err)?;
        {
            let mut vis =
                tx.prepare("INSERT INTO app_visits (device, store, start_ms, end_ms, zones) VALUES (?1, ?2, ?3, ?4, ?5)").map_err(err)?;
            for v in &b.sessions.visits {
                vis.execute(params![v.device.as_i64(), b.site.stores[v.store as usize].id, v.start, v.end, zones_text(b.site, v)])
                    .map_err(err)?;
            }
            let mut pas = tx.prepare("INSERT INTO app_passes (device, store, start_ms, end_ms) VALUES (?1, ?2, ?3, ?4)").map_err(err)?;
            for p in &b.sessions.passes {
                pas.execute(params![p.device.as_i64(), b.site.stores[p.store as usize].id, p.start, p.end]).map_err(err)?;
            }
            let mut vault = tx
                .prepare(
                    "INSERT INTO adid_vault (device, sealed, last_seen_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (device) DO UPDATE SET last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
                )
                .map_err(err)?;
            for (d, sealed, last) in b.vault {
                vault.execute(params![d.as_i64(), &sealed[..], last]).map_err(err)?;
            }
        }
        tx.execute("INSERT INTO app_state (id, json) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET json = excluded.json", [b.state])
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// The app feed's saved state, if any.
    pub fn app_state(&self) -> Result<Option<String>, StoreError> {
        self.conn().query_row("SELECT json FROM app_state WHERE id = 1", [], |r| r.get(0)).optional().map_err(self.err())
    }

    /// The app feed's visits (zones by index), of stores the site has.
    pub fn app_visits(&self, site: &Site) -> Result<Vec<Visit>, StoreError> {
        let mut st = self
            .conn()
            .prepare("SELECT device, store, start_ms, end_ms, zones FROM app_visits ORDER BY start_ms, id")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?, r.get::<_, String>(4)?)))
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (device, store, start, end, zones) = row.map_err(self.err())?;
            let Some(si) = site.store_index(&store) else { continue };
            let list: Vec<(String, Millis, Millis)> = serde_json::from_str(&zones).unwrap_or_default();
            let zs = &site.stores[si as usize].zones;
            let zones = list
                .into_iter()
                .filter_map(|(z, start, end)| zs.iter().position(|x| x.id == z).map(|i| ZoneStay { zone: i as u16, start, end }))
                .collect();
            out.push(Visit { device: DeviceId::from_i64(device), store: si, start, end, randomized: false, zones });
        }
        Ok(out)
    }

    /// The app feed's passes, of stores the site has.
    pub fn app_passes(&self, site: &Site) -> Result<Vec<Pass>, StoreError> {
        let mut st =
            self.conn().prepare("SELECT device, store, start_ms, end_ms FROM app_passes ORDER BY start_ms, id").map_err(self.err())?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?))).map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (device, store, start, end) = row.map_err(self.err())?;
            if let Some(si) = site.store_index(&store) {
                out.push(Pass { device: DeviceId::from_i64(device), store: si, start, end, randomized: false });
            }
        }
        Ok(out)
    }

    /// The sealed advertising IDs of `devices` (those the vault has).
    pub fn vault(&self, devices: &[DeviceId]) -> Result<HashMap<DeviceId, Vec<u8>>, StoreError> {
        let mut st = self.conn().prepare("SELECT sealed FROM adid_vault WHERE device = ?1").map_err(self.err())?;
        let mut out = HashMap::new();
        for d in devices {
            if let Some(b) = st.query_row([d.as_i64()], |r| r.get::<_, Vec<u8>>(0)).optional().map_err(self.err())? {
                out.insert(*d, b);
            }
        }
        Ok(out)
    }

    /// Append one export to the audit log.
    pub fn append_export_audit(&self, a: &ExportAudit) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO export_audit (at_ms, actor, store, segment, format, from_ms, to_ms, size, file_sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![a.at_ms, a.actor, a.store, a.segment, a.format, a.from_ms, a.to_ms, a.size as i64, a.file_sha256],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// The audit log, oldest first.
    pub fn export_audit(&self) -> Result<Vec<ExportAudit>, StoreError> {
        let mut st = self
            .conn()
            .prepare("SELECT at_ms, actor, store, segment, format, from_ms, to_ms, size, file_sha256 FROM export_audit ORDER BY id")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                Ok(ExportAudit {
                    at_ms: r.get(0)?,
                    actor: r.get(1)?,
                    store: r.get(2)?,
                    segment: r.get(3)?,
                    format: r.get(4)?,
                    from_ms: r.get(5)?,
                    to_ms: r.get(6)?,
                    size: r.get::<_, i64>(7)? as u64,
                    file_sha256: r.get(8)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::tests::site;

    fn file(name: &str) -> IngestedFile {
        IngestedFile { name: name.into(), content_hash: name.into(), bytes: 1, format: "x".into(), records: 1, bad: 0, ingested_ms: 0 }
    }

    #[test]
    fn transactions_app_rows_vault_and_audit_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        let site = site();
        let t = Transaction { id: "T1".into(), store: 0, ts: 5, amount_cents: 1250, zone: None };
        store
            .commit_pos(PosBatch { site: &site, file: &file("a"), transactions: std::slice::from_ref(&t), tills: &[Some("t1".into())] })
            .unwrap();
        // Re-import of the same id with a correction replaces it.
        let t2 = Transaction { amount_cents: 1300, ..t.clone() };
        store.commit_pos(PosBatch { site: &site, file: &file("b"), transactions: std::slice::from_ref(&t2), tills: &[] }).unwrap();
        assert_eq!(store.transactions(&site).unwrap(), vec![t2]);

        let d = DeviceId(0xabc);
        let v = Visit {
            device: d,
            store: 0,
            start: 10,
            end: 200_000,
            randomized: false,
            zones: vec![ZoneStay { zone: 0, start: 10, end: 20 }],
        };
        let p = Pass { device: d, store: 0, start: 1, end: 2, randomized: false };
        let sessions = Sessions { visits: vec![v.clone()], passes: vec![p.clone()] };
        store.commit_app(AppBatch { site: &site, file: &file("c"), sessions: &sessions, vault: &[(d, [9; 16], 7)], state: "{}" }).unwrap();
        assert_eq!(store.app_visits(&site).unwrap(), vec![v]);
        assert_eq!(store.app_passes(&site).unwrap(), vec![p]);
        assert_eq!(store.app_state().unwrap().as_deref(), Some("{}"));
        assert_eq!(store.vault(&[d, DeviceId(1)]).unwrap().get(&d), Some(&vec![9u8; 16]));
        let a = ExportAudit {
            at_ms: 1,
            actor: "cli:x".into(),
            store: "s1".into(),
            segment: "best-customers".into(),
            format: "meta".into(),
            from_ms: 0,
            to_ms: 9,
            size: 25,
            file_sha256: "ab".into(),
        };
        store.append_export_audit(&a).unwrap();
        assert_eq!(store.export_audit().unwrap(), vec![a]);
    }
}
