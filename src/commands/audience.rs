//! `footfall export segment`: a store's segment as an audience file for an ad platform.
//!
//! Only advertising IDs of the consented app feed leave, opened from the sealed vault with the
//! deployment key at the moment the file is written; WiFi devices are never exported (a
//! sniffed MAC is not an ad identifier). A segment with fewer IDs than the audience k (20 by
//! default, `[audience] k`, never lower) is refused before anything is written. The file is
//! written atomically (temporary file, then rename) and every export is appended to the
//! audit log (when, who, store, segment, format, window, size, SHA-256 of the file) in the
//! database. Formats are documented in `docs/formats.md`.

use super::segments::{self, Window};
use crate::cli::{AudienceFormat, ExportSegmentArgs};
use crate::config::Config;
use anyhow::Context;
use footfall_query::segments::Segment;
use footfall_store::commerce::ExportAudit;
use footfall_store::keyfile;
use footfall_transforms::seal::Sealer;
use sha2::Digest;
use std::io::Write;

impl AudienceFormat {
    pub fn name(self) -> &'static str {
        match self {
            AudienceFormat::Meta => "meta",
            AudienceFormat::Google => "google",
            AudienceFormat::Ttd => "ttd",
        }
    }

    /// The file: header line and one line per ID.
    fn render(self, ids: &[String], segment: &str) -> String {
        let mut out = String::new();
        match self {
            AudienceFormat::Meta => {
                out.push_str("madid\n");
                ids.iter().for_each(|i| out.push_str(&format!("{i}\n")));
            }
            AudienceFormat::Google => {
                out.push_str("Mobile Device ID\n");
                ids.iter().for_each(|i| out.push_str(&format!("{i}\n")));
            }
            AudienceFormat::Ttd => {
                out.push_str("id,id_type,segment\n");
                ids.iter().for_each(|i| out.push_str(&format!("{i},MAID,{segment}\n")));
            }
        }
        out
    }
}

pub fn run(a: ExportSegmentArgs) -> anyhow::Result<()> {
    let config = Config::load(a.db.config.as_deref())?;
    let segment = Segment::parse(&a.segment).with_context(|| {
        format!("unknown segment {:?}; one of: {}", a.segment, Segment::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "))
    })?;
    let (store, ds, c) = segments::load(&a.db.db, &config)?;
    let si = ds.store(&a.store)?;
    let w = Window::of(&ds, &config, &a.window)?;
    let seg = segments::compute(&ds, &c, w);
    let members: Vec<_> = seg.app[si as usize][&segment].iter().copied().collect();
    let k = config.audience.k;
    if (members.len() as u64) < k {
        anyhow::bail!(
            "refused: the {} segment of store {} has {} advertising IDs in {} to {}, fewer than the audience minimum k = {k}; nothing was written (audiences are groups, never people)",
            segment.name(),
            a.store,
            members.len(),
            w.first,
            w.last
        );
    }
    let key_path = config.key_path(&a.db.db, a.key.as_deref());
    let key = keyfile::load(&key_path)
        .with_context(|| format!("the deployment key {} is needed to open the advertising IDs", key_path.display()))?;
    let sealer = Sealer::new(key);
    let vault = store.vault(&members)?;
    let mut ids: Vec<String> =
        members.iter().filter_map(|d| vault.get(d).and_then(|s| sealer.open(*d, s))).map(|id| id.uuid_for_audience_export()).collect();
    if ids.len() != members.len() {
        anyhow::bail!(
            "{} of {} advertising IDs cannot be opened with the key {} (another deployment's key?); nothing was written",
            members.len() - ids.len(),
            members.len(),
            key_path.display()
        );
    }
    ids.sort();
    let body = a.format.render(&ids, segment.name());
    let sha = format!("{:x}", sha2::Sha256::digest(body.as_bytes()));
    let dir = a.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(body.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&a.out).with_context(|| format!("writing {}", a.out.display()))?;
    let actor = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    store.append_export_audit(&ExportAudit {
        at_ms: super::now_ms(),
        actor,
        store: a.store.clone(),
        segment: segment.name().into(),
        format: a.format.name().into(),
        from_ms: w.from,
        to_ms: w.to,
        size: ids.len() as u64,
        file_sha256: sha.clone(),
    })?;
    eprintln!(
        "wrote {} advertising IDs of {} ({}) at store {} to {} ({} format, sha256 {sha}); recorded in the export audit log",
        ids.len(),
        segment.title(),
        segment.name(),
        a.store,
        a.out.display(),
        a.format.name()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_their_headers() {
        let ids = vec!["6d92078a-8246-4ba4-ae5b-76104861e7dc".to_string()];
        assert_eq!(AudienceFormat::Meta.render(&ids, "x"), "madid\n6d92078a-8246-4ba4-ae5b-76104861e7dc\n");
        assert!(AudienceFormat::Google.render(&ids, "x").starts_with("Mobile Device ID\n"));
        assert_eq!(
            AudienceFormat::Ttd.render(&ids, "best-customers").lines().nth(1),
            Some("6d92078a-8246-4ba4-ae5b-76104861e7dc,MAID,best-customers")
        );
    }
}
