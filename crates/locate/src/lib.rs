//! Survey-trained location: where in the store a phone is, from the signals that sensors (or
//! the phone itself) hear, learned from a site survey.
//!
//! # Layout
//!
//! - [`fingerprint`]: the data: a sparse RSSI [`Fingerprint`], its [`Label`] (building, floor,
//!   zone, x/y) and a [`Survey`] (named access points or sensors plus labelled samples).
//! - [`uji`]: the reader of the UJIIndoorLoc wide-CSV layout (520 WAP columns, 100 = not heard).
//! - [`repr`]: how RSSI becomes a feature: the documented representation of missing signals
//!   and the powed/exponential/positive transforms.
//! - [`model`]: the fingerprint model (weighted kNN on powed RSSI with the Sørensen distance,
//!   over an inverted index of access points; hierarchical building → floor → position;
//!   per-zone probabilities). Saved and loaded as JSON.
//! - [`survey`]: site-survey notes (`start,end,zone` or `start,end,x,y`) joined with the
//!   surveyor phone's observations into labelled fingerprints.
//! - [`metrics`]: building/floor hit, zone accuracy, error in metres, the EvAAL-style score,
//!   and few-shot subsets.
//! - [`track`]: an HMM forward filter over a store's zone graph with a walking-speed limit.
//!
//! This crate reads no clock and does no I/O beyond the readers it is handed; it knows nothing
//! of observations' devices or of the pipeline.

pub mod fingerprint;
pub mod metrics;
pub mod model;
pub mod repr;
pub mod survey;
pub mod track;
pub mod uji;

pub use fingerprint::{Fingerprint, Label, Sample, Survey};
pub use model::{Estimate, Model, ModelConfig, Scratch, Search};
pub use repr::Representation;

/// An input that cannot be read, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}, line {line}: {reason}")]
    Line { file: String, line: usize, reason: String },
    #[error("{file}: not a footfall location model: {reason}")]
    Model { file: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}
