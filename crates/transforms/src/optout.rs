//! Opt-out and erasure subjects: what an owner submits to be forgotten.
//!
//! A [`Subject`] is a MAC address or a mobile advertising ID, parsed from the text its owner
//! typed. It lives only long enough to be hashed into the pseudonyms the pipeline uses
//! ([`crate::Pseudonymizer::subject_ids`]); the registry (store) keeps those hashes, and
//! [`crate::intake::Intake`] and the pipeline's drivers drop observations of them. This
//! module owns the parsing and its error messages; it must not print, store or log the
//! subject (neither [`footfall_core::MacAddr`] nor [`footfall_core::AdId`] can be printed),
//! and an error never echoes the input.

use crate::pseudonymize::Rotation;
use footfall_core::adid::AdIdParseError;
use footfall_core::{AdId, DeviceId, MacAddr, Millis};
use rustc_hash::{FxHashMap, FxHashSet};
use std::cell::RefCell;

/// The rotation, and each epoch's pseudonyms of the refused devices derived so far.
type Epochs = (Option<Rotation>, FxHashMap<i64, FxHashSet<DeviceId>>);

/// The opted-out devices, by master pseudonym (what the registry keeps), and with key
/// rotation their pseudonyms per epoch, derived on first need (from the master pseudonyms
/// alone: no MAC is kept anywhere).
#[derive(Debug, Default)]
pub struct Refused {
    masters: FxHashSet<DeviceId>,
    epochs: RefCell<Epochs>,
}

impl Refused {
    pub fn new(rotation: Option<Rotation>) -> Self {
        Refused { masters: FxHashSet::default(), epochs: RefCell::new((rotation, FxHashMap::default())) }
    }

    pub fn extend(&mut self, masters: impl IntoIterator<Item = DeviceId>) {
        self.masters.extend(masters);
        self.epochs.get_mut().1.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.masters.is_empty()
    }

    pub fn masters(&self) -> Vec<DeviceId> {
        self.masters.iter().copied().collect()
    }

    /// Whether a master pseudonym is refused.
    pub fn has_master(&self, master: DeviceId) -> bool {
        self.masters.contains(&master)
    }

    /// Whether the device whose pseudonym at event time `ts` is `id` is refused.
    pub fn has(&self, id: DeviceId, ts: Millis) -> bool {
        if self.masters.is_empty() {
            return false;
        }
        let mut epochs = self.epochs.borrow_mut();
        let (rotation, per_epoch) = &mut *epochs;
        let Some(r) = rotation else { return self.masters.contains(&id) };
        let e = r.epoch(ts);
        per_epoch.entry(e).or_insert_with(|| self.masters.iter().map(|&m| r.id(m, e)).collect()).contains(&id)
    }
}

/// Every pseudonym the devices of these master pseudonyms may have been stored under
/// between `from_ms` and `to_ms`: the masters themselves, and with rotation their pseudonym
/// in each epoch of the span.
pub fn erasure_ids(masters: &[DeviceId], rotation: Option<Rotation>, from_ms: Millis, to_ms: Millis) -> Vec<DeviceId> {
    let mut out = masters.to_vec();
    if let Some(mut r) = rotation {
        for &m in masters {
            out.extend(r.span(m, from_ms, to_ms));
        }
    }
    out
}

/// What an owner asks to be forgotten by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Mac(MacAddr),
    AdId(AdId),
}

/// Why a submitted id is refused. The message never repeats the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("no id given: enter a WiFi/Bluetooth MAC address (aa:bb:cc:dd:ee:ff) or an advertising ID (IDFA/GAID)")]
    Empty,
    #[error(
        "not a MAC address or an advertising ID: give six hex pairs like aa:bb:cc:dd:ee:ff (or aa-bb-cc-dd-ee-ff), or a UUID like 6d92078a-8246-4ba4-ae5b-76104861e7dc"
    )]
    Malformed,
    #[error("that is a group (multicast or broadcast) address, which no single phone sends from; check the address")]
    GroupAddress,
    #[error(transparent)]
    ZeroAdId(AdIdParseError),
}

impl Subject {
    /// Parse a MAC (`aa:bb:cc:dd:ee:ff`, `aa-bb-...`, 12 hex digits) or an advertising ID
    /// (UUID, with or without dashes), surrounding blanks ignored.
    pub fn parse(s: &str) -> Result<Subject, SubjectError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(SubjectError::Empty);
        }
        if let Ok(mac) = MacAddr::parse(s) {
            if mac.is_group() {
                return Err(SubjectError::GroupAddress);
            }
            return Ok(Subject::Mac(mac));
        }
        match AdId::parse(s) {
            Ok(id) => Ok(Subject::AdId(id)),
            Err(e @ AdIdParseError::Zero) => Err(SubjectError::ZeroAdId(e)),
            Err(AdIdParseError::Malformed) => Err(SubjectError::Malformed),
        }
    }

    /// "MAC address" or "advertising ID", for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Mac(_) => "MAC address",
            Subject::AdId(_) => "advertising ID",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_macs_and_ad_ids_and_explains_refusals() {
        assert!(matches!(Subject::parse(" aa:bb:cc:dd:ee:f0 "), Ok(Subject::Mac(_))));
        assert!(matches!(Subject::parse("AABBCCDDEEF0"), Ok(Subject::Mac(_))));
        assert!(matches!(Subject::parse("6D92078A-8246-4BA4-AE5B-76104861E7DC"), Ok(Subject::AdId(_))));
        assert_eq!(Subject::parse(""), Err(SubjectError::Empty));
        assert_eq!(Subject::parse("ff:ff:ff:ff:ff:ff"), Err(SubjectError::GroupAddress));
        assert!(matches!(Subject::parse("00000000-0000-0000-0000-000000000000"), Err(SubjectError::ZeroAdId(_))));
        for bad in ["12:34:56:78:9a", "hello", "12:34:56:78:9a:fg", "1d92078a-8246-4ba4-ae5b"] {
            let e = Subject::parse(bad).unwrap_err();
            assert_eq!(e, SubjectError::Malformed, "{bad}");
            assert!(!e.to_string().contains(bad), "the error must not echo the input");
        }
    }
}
