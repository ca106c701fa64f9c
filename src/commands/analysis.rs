//! Loading what reports, exports and evaluation share: the site, visits and passes (stored
//! plus the provisional ones still open in the saved pipeline state), and the exclusion of
//! fixed and staff devices.

use crate::config::Config;
use anyhow::Context;
use footfall_core::{Pass, Site, Visit};
use footfall_store::{IngestedFile, Store};
use footfall_transforms::Pipeline;
use footfall_transforms::exclude::{self, Excluded};
use footfall_transforms::filter::DropCounts;
use std::path::Path;

pub struct Analysis {
    pub site: Site,
    /// Shopper visits and passes (fixed and staff devices removed).
    pub visits: Vec<Visit>,
    pub passes: Vec<Pass>,
    pub excluded: Excluded,
    pub excluded_visits: usize,
    pub excluded_passes: usize,
    pub drops: DropCounts,
    pub files: Vec<IngestedFile>,
}

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
    let site = store.require_site()?;
    let mut visits = store.visits(&site)?;
    let mut passes = store.passes(&site)?;
    if let Some(state) = store.pipeline_state()? {
        let pipeline = Pipeline::restore(&site, &config.pipeline(), &state)
            .context("reading the saved pipeline state (use the same --config as for ingest)")?;
        let mut open = pipeline.provisional();
        visits.append(&mut open.visits);
        passes.append(&mut open.passes);
    }
    let activity = store.activity()?;
    let excluded = exclude::decide(&config.exclude, &activity);
    let (before_v, before_p) = (visits.len(), passes.len());
    if !include_excluded {
        visits.retain(|v| !excluded.contains(&v.device));
        passes.retain(|p| !excluded.contains(&p.device));
    }
    Ok(Analysis {
        excluded_visits: before_v - visits.len(),
        excluded_passes: before_p - passes.len(),
        site,
        visits,
        passes,
        excluded,
        drops: store.drop_counts()?,
        files: store.ingested_files()?,
    })
}
