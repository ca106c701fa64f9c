//! Opening the database for reports, exports and evaluation: the read side
//! ([`footfall_query::Dataset`]) with the configuration's thresholds and exclusion rules.

use crate::config::Config;
use anyhow::Context;
use footfall_store::Store;
use std::path::Path;

pub type Analysis = footfall_query::Dataset;

pub fn open_existing(db: &Path) -> anyhow::Result<Store> {
    if !db.exists() {
        anyhow::bail!(
            "database {} does not exist; create it with `footfall ingest --site SITE.json --db {} FILE...`",
            db.display(),
            db.display()
        );
    }
    Ok(Store::open(db)?)
}

pub fn load(db: &Path, config: &Config, include_excluded: bool) -> anyhow::Result<Analysis> {
    let store = open_existing(db)?;
    footfall_query::Dataset::load(&store, &config.pipeline(), &config.exclude, include_excluded)
        .with_context(|| format!("reading {}", db.display()))
}
