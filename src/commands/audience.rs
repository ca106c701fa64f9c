//! `footfall export segment`: a store's segment as an audience file for an ad platform.
//!
//! The k-gate, opening the sealed advertising IDs, the formats and the audit row are
//! `footfall_query::audience` (the server's export endpoint uses the same); this command adds
//! the flags, loads the deployment key only once the segment passed the gate, writes the
//! file atomically (temporary file, then rename) and appends the audit row with actor
//! `cli:<user>`. Only advertising IDs of the consented app feed leave; WiFi devices never do.

use super::segments;
use crate::cli::{AudienceFormat, ExportSegmentArgs};
use crate::config::Config;
use anyhow::Context;
use footfall_query::audience::{self, Format};
use footfall_query::segments::Segment;
use footfall_store::keyfile;
use footfall_transforms::seal::Sealer;
use std::io::Write;

impl From<AudienceFormat> for Format {
    fn from(f: AudienceFormat) -> Format {
        match f {
            AudienceFormat::Meta => Format::Meta,
            AudienceFormat::Google => Format::Google,
            AudienceFormat::Ttd => Format::Ttd,
        }
    }
}

pub fn run(a: ExportSegmentArgs) -> anyhow::Result<()> {
    let config = Config::load(a.db.config.as_deref())?;
    let segment = Segment::parse(&a.segment).with_context(|| {
        format!("unknown segment {:?}; one of: {}", a.segment, Segment::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "))
    })?;
    let (store, ds, c) = segments::load(&a.db.db, &config)?;
    let si = ds.store(&a.store)?;
    let w = segments::window(&ds, &config, &a.window)?;
    let seg = footfall_query::segments::compute(&ds, &c, w);
    let gated = audience::gate(&ds.site, &seg, si, segment, w, config.audience.k(), config.threshold())?;
    let key_path = config.key_path(&a.db.db, a.key.as_deref());
    let key = keyfile::load(&key_path)
        .with_context(|| format!("the deployment key {} is needed to open the advertising IDs", key_path.display()))?;
    let export = gated.open(&store, &Sealer::new(key), a.format.into()).with_context(|| format!("key {}", key_path.display()))?;
    let dir = a.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(export.body.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&a.out).with_context(|| format!("writing {}", a.out.display()))?;
    let actor = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    store.append_export_audit(&export.audit(super::now_ms(), actor))?;
    eprintln!(
        "wrote {} advertising IDs of {} ({}) at store {} to {} ({} format, sha256 {}); recorded in the export audit log",
        export.size,
        segment.title(),
        segment.name(),
        a.store,
        a.out.display(),
        export.format.name(),
        export.sha256
    );
    Ok(())
}
