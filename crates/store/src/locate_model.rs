//! The site's survey-trained location model, stored with the site so that every ingest and
//! `footfall serve` use it without being told (`footfall locate train --db`).
//!
//! One model per database (the database holds one site), kept as the text the model writes
//! of itself (`footfall_locate::Model::to_json`) with where it came from and when. This module
//! stores and returns that text; it does not parse it, check it against the site, or know
//! what a model is (that is `footfall_transforms::locate::SiteModel`'s job when it is used).

use crate::{Store, StoreError};
use rusqlite::{OptionalExtension, params};

/// A stored model and its bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredModel {
    /// The model as `footfall_locate::Model::to_json` wrote it.
    pub json: String,
    /// What it was trained from (the survey file's name), for messages.
    pub source: String,
    /// Survey fingerprints it holds.
    pub samples: u64,
    pub trained_ms: i64,
}

impl Store {
    /// Store the site's model, replacing any earlier one.
    pub fn put_locate_model(&self, m: &StoredModel) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO locate_model (id, json, source, samples, trained_ms) VALUES (1, ?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET json = excluded.json, source = excluded.source,
                   samples = excluded.samples, trained_ms = excluded.trained_ms",
                params![m.json, m.source, m.samples as i64, m.trained_ms],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// The site's model, if one was stored.
    pub fn locate_model(&self) -> Result<Option<StoredModel>, StoreError> {
        self.conn()
            .query_row("SELECT json, source, samples, trained_ms FROM locate_model WHERE id = 1", [], |r| {
                Ok(StoredModel { json: r.get(0)?, source: r.get(1)?, samples: r.get::<_, i64>(2)? as u64, trained_ms: r.get(3)? })
            })
            .optional()
            .map_err(self.err())
    }

    /// What tells one stored model from another without reading it (when it was trained,
    /// from what, on how many fingerprints); `None` when none is stored.
    pub fn locate_model_stamp(&self) -> Result<Option<(i64, String, u64)>, StoreError> {
        self.conn()
            .query_row("SELECT trained_ms, source, samples FROM locate_model WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })
            .optional()
            .map_err(self.err())
    }

    /// Forget the site's model (the strongest-sensor rule places zones again); whether
    /// there was one.
    pub fn remove_locate_model(&self) -> Result<bool, StoreError> {
        self.conn().execute("DELETE FROM locate_model WHERE id = 1", []).map(|n| n > 0).map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_replaces_and_removes_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        assert_eq!(store.locate_model().unwrap(), None);
        assert!(!store.remove_locate_model().unwrap());
        let m = StoredModel { json: "{\"a\":1}".into(), source: "survey.json".into(), samples: 12, trained_ms: 5 };
        store.put_locate_model(&m).unwrap();
        assert_eq!(store.locate_model().unwrap(), Some(m.clone()));
        let m2 = StoredModel { json: "{\"b\":2}".into(), samples: 3, trained_ms: 9, ..m };
        store.put_locate_model(&m2).unwrap();
        assert_eq!(store.locate_model().unwrap(), Some(m2));
        // Survives reopening (the migration ran once).
        drop(store);
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        assert_eq!(store.locate_model().unwrap().map(|m| m.samples), Some(3));
        assert!(store.remove_locate_model().unwrap());
        assert_eq!(store.locate_model().unwrap(), None);
    }
}
