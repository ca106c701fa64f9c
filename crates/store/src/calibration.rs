//! The calibration stored with the site: the per-store, hour-of-day factors from
//! WiFi-estimated to counted people that `footfall calibrate --db DB --save` fitted on
//! door-counter or camera counts, so that `footfall report` can show calibrated figures.
//!
//! One fit per database, kept as the text the fit writes of itself
//! (`footfall_transforms::calibrate::SavedFit`, JSON) with where the counts came from, how
//! many windows it was fitted on and when. The counts themselves are not stored, and a fit
//! holds nothing about a person or a device (ratios of sums per store and hour), so erasure
//! and retention have nothing to do here. This module stores and returns the text; it does
//! not parse it or apply it.

use crate::{Store, StoreError};
use rusqlite::{OptionalExtension, params};

/// A stored fit and its bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCalibration {
    /// The fit as `SavedFit` serializes it.
    pub json: String,
    /// The counts file it was fitted on (its name), for messages.
    pub source: String,
    /// Matched (store, window) pairs it was fitted on.
    pub windows: u64,
    pub fitted_ms: i64,
}

impl Store {
    /// Store the calibration, replacing any earlier one.
    pub fn put_calibration(&self, c: &StoredCalibration) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO calibration (id, json, source, windows, fitted_ms) VALUES (1, ?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET json = excluded.json, source = excluded.source,
                   windows = excluded.windows, fitted_ms = excluded.fitted_ms",
                params![c.json, c.source, c.windows as i64, c.fitted_ms],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    /// The stored calibration, if any.
    pub fn calibration(&self) -> Result<Option<StoredCalibration>, StoreError> {
        self.conn()
            .query_row("SELECT json, source, windows, fitted_ms FROM calibration WHERE id = 1", [], |r| {
                Ok(StoredCalibration { json: r.get(0)?, source: r.get(1)?, windows: r.get::<_, i64>(2)? as u64, fitted_ms: r.get(3)? })
            })
            .optional()
            .map_err(self.err())
    }

    /// Forget the calibration (reports show raw figures only); whether there was one.
    pub fn remove_calibration(&self) -> Result<bool, StoreError> {
        self.conn().execute("DELETE FROM calibration WHERE id = 1", []).map(|n| n > 0).map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_replaces_and_removes_the_calibration() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        assert_eq!(store.calibration().unwrap(), None);
        assert!(!store.remove_calibration().unwrap());
        let c = StoredCalibration { json: "{\"a\":1}".into(), source: "counts.csv".into(), windows: 40, fitted_ms: 5 };
        store.put_calibration(&c).unwrap();
        assert_eq!(store.calibration().unwrap(), Some(c.clone()));
        let c2 = StoredCalibration { json: "{\"b\":2}".into(), windows: 7, fitted_ms: 9, ..c };
        store.put_calibration(&c2).unwrap();
        assert_eq!(store.calibration().unwrap(), Some(c2));
        drop(store);
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        assert_eq!(store.calibration().unwrap().map(|c| c.windows), Some(7));
        assert!(store.remove_calibration().unwrap());
        assert_eq!(store.calibration().unwrap(), None);
    }
}
