//! # footfall-store
//!
//! Persistence. The embedded store ([`sqlite::Store`]) keeps a whole deployment in one
//! SQLite file: the site, what was ingested, visits with zone stays, passes, per-day device
//! activity, drop counts, the pipeline's saved state and the API tokens (hashed), under a schema version with
//! migrations. Its API accepts only pseudonymous types (`Visit`, `Pass`, `DayActivity`...):
//! there is no way to hand it a raw MAC. [`keyfile`] keeps the deployment's secret
//! pseudonymization key in its own file (mode 0600), never in the database.
//!
//! [`commerce`] holds POS transactions, the app feed's visits and passes (per advertising-ID
//! pseudonym), the sealed advertising-ID vault and the export audit log.
//! [`locate_model`] keeps the site's survey-trained location model (as the model's JSON);
//! [`calibration`] the factors fitted on door-counter or camera counts (as the fit's JSON).
//!
//! [`privacy`] holds the opt-out registry (pseudonyms only), erasure of a device from every
//! table, and retention.
//!
//! A PostgreSQL implementation for server mode joins later behind the same operations.

pub mod calibration;
pub mod commerce;
pub mod keyfile;
pub mod locate_model;
pub mod privacy;
pub mod sqlite;
pub mod tokens;

pub use sqlite::{IngestBatch, IngestedFile, Store, StoreError};
