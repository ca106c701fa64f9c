//! Audience exports: one store's segment as the advertising IDs an ad platform takes.
//!
//! Owns the audience minimum (`[audience] k`: 20, configurable upward only), the three file
//! formats (`meta`, `google`, `ttd`; documented in `docs/formats.md`), and building one
//! export: the k-gate ([`gate`]: fewer advertising IDs than the audience k is refused before
//! any ID is opened), opening the sealed IDs with the deployment key ([`Gated::open`]), the
//! file's bytes and SHA-256, and the audit row describing it ([`Export::audit`]). Only
//! advertising IDs of the consented app feed can be exported: WiFi devices are never in an
//! [`Export`] (a sniffed MAC is not an ad identifier). It must not write: `footfall export
//! segment` writes the file atomically and the server sends it, and both append
//! [`Export::audit`] with `Store::append_export_audit` before reporting success. It must not
//! log or print an ID.

use crate::Threshold;
use crate::segments::{Computed, Segment, Window};
use footfall_core::DeviceId;
use footfall_store::commerce::ExportAudit;
use footfall_store::{Store, StoreError};
use footfall_transforms::seal::Sealer;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use utoipa::ToSchema;

/// The smallest audience footfall exports.
pub const MIN_AUDIENCE_K: u64 = 20;

/// `[audience]` in the config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudienceConfig {
    /// Segments with fewer advertising IDs are refused. At least [`MIN_AUDIENCE_K`]: the
    /// binary refuses a config below it, and [`AudienceConfig::k`] never returns less.
    pub k: u64,
}

impl Default for AudienceConfig {
    fn default() -> Self {
        AudienceConfig { k: MIN_AUDIENCE_K }
    }
}

impl AudienceConfig {
    /// The effective audience k: the configured one, raised to the minimum.
    pub fn k(&self) -> u64 {
        self.k.max(MIN_AUDIENCE_K)
    }
}

/// An ad-platform file format for mobile advertising IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Meta Custom Audience: one `madid` column.
    Meta,
    /// Google Customer Match mobile device IDs: one `Mobile Device ID` column.
    Google,
    /// The Trade Desk / LiveRamp-style CSV: `id,id_type,segment` with `id_type` MAID.
    Ttd,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Meta, Format::Google, Format::Ttd];

    pub fn name(self) -> &'static str {
        match self {
            Format::Meta => "meta",
            Format::Google => "google",
            Format::Ttd => "ttd",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The file: a header line and one line per ID.
    pub fn render(self, ids: &[String], segment: Segment) -> String {
        let mut out = String::from(match self {
            Format::Meta => "madid\n",
            Format::Google => "Mobile Device ID\n",
            Format::Ttd => "id,id_type,segment\n",
        });
        for id in ids {
            match self {
                Format::Meta | Format::Google => out.push_str(&format!("{id}\n")),
                Format::Ttd => out.push_str(&format!("{id},MAID,{}\n", segment.name())),
            }
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AudienceError {
    /// `size` is the segment's size as published (`None` below the privacy k: a refusal must
    /// not reveal what the sizes hide).
    #[error(
        "refused: the {seg} segment of store {store} has {shown} advertising IDs in {first} to {last}, fewer than the audience minimum k = {k}; nothing was exported (audiences are groups, never people)",
        seg = .segment.name(),
        shown = shown(.size, .privacy_k)
    )]
    TooSmall {
        store: String,
        segment: Segment,
        size: Option<u64>,
        privacy_k: u64,
        first: chrono::NaiveDate,
        last: chrono::NaiveDate,
        k: u64,
    },
    #[error(
        "{missing} of {size} advertising IDs cannot be opened with the deployment key (another deployment's key?); nothing was exported"
    )]
    Unopenable { missing: usize, size: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn shown(size: &Option<u64>, privacy_k: &u64) -> String {
    size.map_or_else(|| format!("fewer than {privacy_k}"), |n| n.to_string())
}

/// A segment that passed the audience k: its members' pseudonyms, not yet opened.
pub struct Gated {
    store: String,
    segment: Segment,
    window: Window,
    members: Vec<DeviceId>,
}

/// The k-gate: store `s`'s `segment` in the advertising-ID space, refused below `k` (raised
/// to [`MIN_AUDIENCE_K`]); the refusal states the size through the privacy threshold `t`.
pub fn gate(
    site: &footfall_core::Site,
    seg: &Computed,
    s: u16,
    segment: Segment,
    window: Window,
    k: u64,
    t: Threshold,
) -> Result<Gated, AudienceError> {
    let members: Vec<DeviceId> =
        seg.app.get(s as usize).and_then(|m| m.get(&segment)).map(|m| m.iter().copied().collect()).unwrap_or_default();
    let store = site.stores.get(s as usize).map(|x| x.id.clone()).unwrap_or_default();
    let k = k.max(MIN_AUDIENCE_K);
    if (members.len() as u64) < k {
        let size = t.count(members.len() as u64);
        return Err(AudienceError::TooSmall { store, segment, size, privacy_k: t.k(), first: window.first, last: window.last, k });
    }
    Ok(Gated { store, segment, window, members })
}

impl Gated {
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// Open the sealed IDs from the store's vault and render the file. Every member must open
    /// under `sealer`'s key, or nothing is exported.
    pub fn open(self, store: &Store, sealer: &Sealer, format: Format) -> Result<Export, AudienceError> {
        let vault = store.vault(&self.members)?;
        let mut ids: Vec<String> = self
            .members
            .iter()
            .filter_map(|d| vault.get(d).and_then(|s| sealer.open(*d, s)))
            .map(|id| id.uuid_for_audience_export())
            .collect();
        if ids.len() != self.members.len() {
            return Err(AudienceError::Unopenable { missing: self.members.len() - ids.len(), size: self.members.len() });
        }
        ids.sort();
        let body = format.render(&ids, self.segment);
        let sha256 = format!("{:x}", sha2::Sha256::digest(body.as_bytes()));
        Ok(Export { store: self.store, segment: self.segment, format, window: self.window, size: ids.len() as u64, body, sha256 })
    }
}

/// One audience file, ready to be written or sent.
pub struct Export {
    pub store: String,
    pub segment: Segment,
    pub format: Format,
    pub window: Window,
    pub size: u64,
    /// The file's content (advertising IDs in clear: only for the file itself).
    pub body: String,
    /// SHA-256 of `body`, lowercase hex.
    pub sha256: String,
}

impl Export {
    /// The audit row of this export by `actor` (`cli:<user>` or `token:<id>`) at `at_ms`.
    pub fn audit(&self, at_ms: footfall_core::Millis, actor: String) -> ExportAudit {
        ExportAudit {
            at_ms,
            actor,
            store: self.store.clone(),
            segment: self.segment.name().into(),
            format: self.format.name().into(),
            from_ms: self.window.from,
            to_ms: self.window.to,
            size: self.size,
            file_sha256: self.sha256.clone(),
        }
    }

    /// A file name for downloads: `<store>-<segment>-<first>-<last>-<format>.csv`.
    pub fn file_name(&self) -> String {
        let safe: String = self.store.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        format!("{safe}-{}-{}-{}-{}.csv", self.segment.name(), self.window.first, self.window.last, self.format.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::{AdId, Site};
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn formats_have_their_headers() {
        let ids = vec!["6d92078a-8246-4ba4-ae5b-76104861e7dc".to_string()];
        assert_eq!(Format::Meta.render(&ids, Segment::JustLooking), "madid\n6d92078a-8246-4ba4-ae5b-76104861e7dc\n");
        assert!(Format::Google.render(&ids, Segment::JustLooking).starts_with("Mobile Device ID\n"));
        assert_eq!(
            Format::Ttd.render(&ids, Segment::BestCustomers).lines().nth(1),
            Some("6d92078a-8246-4ba4-ae5b-76104861e7dc,MAID,best-customers")
        );
        assert!(Format::ALL.iter().all(|f| Format::parse(f.name()) == Some(*f)));
        assert_eq!(AudienceConfig { k: 3 }.k(), MIN_AUDIENCE_K);
        assert_eq!(AudienceConfig { k: 30 }.k(), 30);
    }

    fn site() -> Site {
        Site::from_json(r#"{"venue":"T","timezone":"UTC","stores":[{"id":"a","name":"A","category":"c","polygon":[[0,0],[1,0],[1,1],[0,1]]}],"sensors":[]}"#)
            .unwrap()
    }

    const T: Threshold = Threshold::DEFAULT;

    fn window() -> Window {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        Window { first: d, last: d, from: 0, to: 86_400_000, lost_after_days: 30 }
    }

    /// A segment of `n` sealed IDs in a fresh store, under key `key`.
    fn sealed(n: u8, key: u8) -> (tempfile::TempDir, Store, Computed, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("a.db")).unwrap();
        let sealer = Sealer::new([key; 32]);
        let mut clear = Vec::new();
        let mut vault = Vec::new();
        let mut set = BTreeSet::new();
        for i in 0..n {
            let text = format!("6d92078a-8246-4ba4-ae5b-76104861e7{i:02x}");
            let id = AdId::parse(&text).unwrap();
            let (d, s) = sealer.seal(&id);
            set.insert(d);
            vault.push((d, s, 0));
            clear.push(text);
        }
        let file = footfall_store::IngestedFile {
            name: "p".into(),
            content_hash: "p".into(),
            bytes: 1,
            format: "pings".into(),
            records: 1,
            bad: 0,
            ingested_ms: 0,
        };
        let site = site();
        let sessions = footfall_transforms::sessionize::Sessions::default();
        store
            .commit_app(footfall_store::commerce::AppBatch { site: &site, file: &file, sessions: &sessions, vault: &vault, state: "{}" })
            .unwrap();
        let mut m = BTreeMap::new();
        for g in Segment::ALL {
            m.insert(g, if g == Segment::BestCustomers { set.clone() } else { BTreeSet::new() });
        }
        let seg = Computed { wifi: vec![m.clone()], app: vec![m] };
        clear.sort();
        (dir, store, seg, clear)
    }

    #[test]
    fn below_the_audience_k_nothing_is_opened_and_at_it_every_id_is() {
        let (_d, store, seg, clear) = sealed(20, 7);
        let e = gate(&site(), &seg, 0, Segment::BestCustomers, window(), 21, T).err().unwrap().to_string();
        assert!(e.contains("has 20 advertising IDs") && e.contains("k = 21"), "{e}");
        // A configured k below the minimum is raised: an empty segment is refused at 20.
        assert!(matches!(gate(&site(), &seg, 0, Segment::JustLooking, window(), 1, T), Err(AudienceError::TooSmall { k: 20, .. })));
        let g = gate(&site(), &seg, 0, Segment::BestCustomers, window(), 20, T).unwrap();
        let x = g.open(&store, &Sealer::new([7; 32]), Format::Meta).unwrap();
        assert_eq!(x.body.lines().skip(1).map(String::from).collect::<Vec<_>>(), clear);
        assert_eq!(x.size, 20);
        assert_eq!(x.sha256, format!("{:x}", sha2::Sha256::digest(x.body.as_bytes())));
        let a = x.audit(5, "token:ab".into());
        assert_eq!(
            (a.actor.as_str(), a.segment.as_str(), a.format.as_str(), a.size, a.to_ms),
            ("token:ab", "best-customers", "meta", 20, 86_400_000)
        );
        assert_eq!(x.file_name(), "a-best-customers-2026-03-02-2026-03-02-meta.csv");
        // A refusal does not state a size the published sizes suppress.
        let (_d2, _s2, few, _) = sealed(3, 7);
        let e = gate(&site(), &few, 0, Segment::BestCustomers, window(), 20, T).err().unwrap().to_string();
        assert!(e.contains("has fewer than 5 advertising IDs") && !e.contains(" 3 "), "{e}");
        // Another deployment's key opens nothing, and nothing is exported.
        let g = gate(&site(), &seg, 0, Segment::BestCustomers, window(), 20, T).unwrap();
        assert!(matches!(g.open(&store, &Sealer::new([8; 32]), Format::Meta), Err(AudienceError::Unopenable { missing: 20, size: 20 })));
    }
}
