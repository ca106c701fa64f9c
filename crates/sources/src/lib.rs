//! # footfall-sources
//!
//! One module per input format. A source reads bytes, validates them and emits
//! [`RawObservation`]s through a callback; it knows nothing about stores, zones or visits,
//! and it never stores or logs what it reads. Every source follows the same contract:
//!
//! - it checks up front that the input *is* its format and fails with
//!   [`SourceError::NotThisFormat`] before emitting anything when it is not;
//! - a bad record does not stop it: it is counted, its position and reason are kept (the
//!   first [`MAX_BAD_SAMPLES`]) in the [`SourceReport`], and reading goes on;
//! - it reports progress in bytes, so a caller can draw a progress bar.
//!
//! ## Layout
//! - [`lines`]: the chunked line reader the text formats share.
//! - [`csv`]: `time,sensor,mac,rssi` CSV.
//! - [`jsonl`]: the JSON-lines sensor format (`docs/formats.md`).
//! - [`meraki`]: Cisco Meraki Scanning API posts (v2.0, v2.1, v3, MQTT), as files or bodies.
//! - [`capture`]: pcap and pcapng captures of 802.11 probe requests, built from [`pcap`]
//!   (the containers), [`radiotap`] (radiotap and PPI radio headers) and [`dot11`] (frames
//!   and the information-element fingerprint). Besides bad records, a capture counts the
//!   frames it skips by reason ([`SourceReport::skipped`]).
//! - [`kismet`]: Kismet logs (`.kismet`, SQLite): the `packets` table's frames, decoded like
//!   a capture's, one row at a time.
//! - `live` (feature `live`): frames from libpcap (a monitor-mode interface, or a file read
//!   by libpcap itself), decoded by the same per-frame step as capture files.
//! - Business feeds, read whole through [`table`] (header-driven CSV or JSON lines):
//!   [`pos`] (point-of-sale transactions) and [`pings`] (app location pings with
//!   advertising IDs and consent flags).
//! - [`detect`]: picks the format of an input from its first bytes ([`open_path`] also
//!   recognises Kismet logs, which need a file path).

pub mod capture;
pub mod csv;
pub mod detect;
pub mod dot11;
pub mod jsonl;
pub mod kismet;
pub mod lines;
#[cfg(feature = "live")]
pub mod live;
pub mod meraki;
pub mod meraki_fast;
pub mod pcap;
pub mod pings;
pub mod pos;
pub mod radiotap;
pub mod table;

use footfall_core::RawObservation;
use std::collections::BTreeMap;
use std::fmt;

/// How many bad records a report keeps with their positions (all are counted).
pub const MAX_BAD_SAMPLES: usize = 20;

/// One record that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// 1-based line number (text formats) or frame number (captures).
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What a source did with its input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceReport {
    /// Records emitted.
    pub records: u64,
    /// Records skipped as bad.
    pub bad: u64,
    /// The first bad records with their positions.
    pub bad_samples: Vec<BadRecord>,
    pub bytes: u64,
    /// Records that are sound but not used, counted by reason (captures: frames that are
    /// not probe requests, carry no signal strength, ...).
    pub skipped: BTreeMap<&'static str, u64>,
}

impl SourceReport {
    pub fn bad_record(&mut self, line: u64, reason: impl Into<String>) {
        self.bad += 1;
        if self.bad_samples.len() < MAX_BAD_SAMPLES {
            self.bad_samples.push(BadRecord { line, reason: reason.into() });
        }
    }

    /// Count a record skipped for `reason`.
    pub fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{what}: not {format} input: {why}")]
    NotThisFormat { what: String, format: &'static str, why: String },
    #[error("{what}: read failed at byte {offset}: {source}")]
    Io { what: String, offset: u64, source: std::io::Error },
    /// The input can be read but not used as given (e.g. a capture that names no sensor).
    #[error("{what}: {why}")]
    Config { what: String, why: String },
}

/// Receives each observation a source emits.
pub type Emit<'e> = dyn FnMut(RawObservation<'_>) + 'e;
/// Receives the number of bytes consumed so far.
pub type Progress<'p> = dyn FnMut(u64) + 'p;

/// An input format reader. `what` in errors names the input (a path, "stdin", a URL).
pub trait Source {
    /// The format's short name, e.g. `csv`.
    fn format(&self) -> &'static str;
    /// Read everything, emitting observations in input order.
    fn run(&mut self, emit: &mut Emit<'_>, progress: &mut Progress<'_>) -> Result<SourceReport, SourceError>;
}

pub use detect::{Format, OpenOptions, detect, open, open_path};
