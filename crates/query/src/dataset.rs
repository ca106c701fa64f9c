//! The loaded dataset: site, shopper visits and passes, and what was excluded.
//!
//! Owns reading the store into memory (stored sessions plus the provisional ones of the saved
//! pipeline state) and removing fixed and staff devices by the configured rules, and
//! precomputes each session's local day and hour. It must not write to the store.

use crate::QueryError;
use footfall_core::time::{LocalCalendar, LocalDay};
use footfall_core::{Pass, Site, Visit};
use footfall_store::{IngestedFile, Store};
use footfall_transforms::Pipeline;
use footfall_transforms::PipelineConfig;
use footfall_transforms::config::ExcludeConfig;
use footfall_transforms::exclude::{self, Excluded};
use footfall_transforms::filter::DropCounts;

/// Everything the read side works from.
pub struct Dataset {
    pub site: Site,
    /// Shopper visits and passes (fixed and staff devices removed unless asked otherwise).
    pub visits: Vec<Visit>,
    pub passes: Vec<Pass>,
    /// Local (day, hour) of each visit's and pass's start, index-aligned.
    pub visit_start: Vec<(LocalDay, u8)>,
    pub pass_start: Vec<(LocalDay, u8)>,
    pub excluded: Excluded,
    pub excluded_visits: usize,
    pub excluded_passes: usize,
    pub drops: DropCounts,
    pub files: Vec<IngestedFile>,
}

impl Dataset {
    /// Load from `store`. `pipeline` must be the configuration the data was ingested with
    /// (the saved state is refused otherwise). With `include_excluded`, fixed and staff
    /// devices stay in (they are still decided and reported).
    pub fn load(store: &Store, pipeline: &PipelineConfig, rules: &ExcludeConfig, include_excluded: bool) -> Result<Dataset, QueryError> {
        let site = store.require_site()?;
        let mut visits = store.visits(&site)?;
        let mut passes = store.passes(&site)?;
        if let Some(state) = store.pipeline_state()? {
            let open = Pipeline::restore(&site, pipeline, &state)?.provisional();
            visits.extend(open.visits);
            passes.extend(open.passes);
        }
        let excluded = exclude::decide(rules, &store.activity()?);
        let (before_v, before_p) = (visits.len(), passes.len());
        if !include_excluded {
            visits.retain(|v| !excluded.contains(&v.device));
            passes.retain(|p| !excluded.contains(&p.device));
        }
        let mut cal = LocalCalendar::new(site.tz());
        let visit_start = visits.iter().map(|v| cal.day_hour(v.start)).collect();
        let pass_start = passes.iter().map(|p| cal.day_hour(p.start)).collect();
        Ok(Dataset {
            excluded_visits: before_v - visits.len(),
            excluded_passes: before_p - passes.len(),
            site,
            visits,
            passes,
            visit_start,
            pass_start,
            excluded,
            drops: store.drop_counts()?,
            files: store.ingested_files()?,
        })
    }

    /// The first and last local day with a visit or a pass.
    pub fn day_span(&self) -> Option<(LocalDay, LocalDay)> {
        let days = self.visit_start.iter().chain(&self.pass_start).map(|(d, _)| *d);
        days.fold(None, |acc, d| Some(acc.map_or((d, d), |(a, b): (LocalDay, LocalDay)| (a.min(d), b.max(d)))))
    }

    /// The store index of a store id.
    pub fn store(&self, id: &str) -> Result<u16, QueryError> {
        self.site.store_index(id).ok_or_else(|| QueryError::UnknownStore(id.to_string()))
    }
}
