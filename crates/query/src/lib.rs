//! # footfall-query
//!
//! The read side. [`Dataset`] loads what every report, export and API answer is made of from
//! the store: the site, visits and passes (stored ones plus those still open in the saved
//! pipeline state), minus fixed and staff devices. [`views`] turns a dataset into the
//! figures the HTTP API serves (summaries with comparisons, hourly traffic, funnels, dwell
//! histograms, zone heatmaps, zone paths, store-to-store flows), every count passed through
//! the k-threshold of [`privacy::Threshold`] before it leaves; [`published`] does the same to
//! the aggregates `footfall report` prints, after the optional differential-privacy noise of
//! [`noise`], and [`calibrated`] scales its walk-ins by the stored door-counter factors.
//! [`commerce`] adds POS transactions attributed to
//! visits and the sales metrics; [`segments`] the five audience segments per store and their
//! published sizes; [`audience`] turns one segment into an ad-platform file behind the
//! audience k (the CLI writes it, the server sends it; both append the audit row it
//! describes). This crate computes and suppresses; it does not know about HTTP, tokens or
//! roles (the server decides who may ask), and it does not write to the store.

pub mod audience;
pub mod calibrated;
pub mod commerce;
pub mod dataset;
pub mod noise;
pub mod privacy;
pub mod published;
pub mod range;
pub mod segments;
pub mod views;

pub use dataset::Dataset;
pub use privacy::{Release, Threshold};
pub use range::DayRange;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Store(#[from] footfall_store::StoreError),
    #[error("reading the saved pipeline state (use the same configuration as for ingest): {0}")]
    Restore(#[from] footfall_transforms::pipeline::RestoreError),
    #[error("unknown store {0:?}")]
    UnknownStore(String),
    #[error("{0}")]
    BadRange(String),
    #[error("the database has no visits or walk-bys yet")]
    NoData,
}
