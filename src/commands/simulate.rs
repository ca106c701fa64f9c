//! `footfall simulate`: write a simulated mall (site, observations, POS, truth) to a folder.

use crate::cli::{SimArgs, SimulateArgs};
use crate::output::step_progress;
use footfall_sim::SimConfig;
use std::path::Path;

pub fn config(a: &SimArgs) -> SimConfig {
    SimConfig {
        seed: a.seed,
        days: a.days,
        stores: a.stores,
        shoppers_per_day: a.shoppers_per_day,
        randomized_share: a.randomized_share,
        ..SimConfig::default()
    }
}

/// Simulate into `out`, with a day-by-day progress bar on a terminal.
pub fn write(cfg: &SimConfig, out: &Path, quiet: bool) -> anyhow::Result<()> {
    let pb = step_progress(cfg.days as u64, quiet);
    pb.set_message("simulating days");
    let summary = footfall_sim::write_all(cfg, out, &mut |done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    eprintln!(
        "wrote {} days into {}: {} observations, {} visits and {} walk-bys in truth, {} sales",
        summary.days,
        summary.out_dir.display(),
        summary.frames,
        summary.visits,
        summary.walk_bys,
        summary.transactions
    );
    Ok(())
}

pub fn run(a: SimulateArgs) -> anyhow::Result<()> {
    write(&config(&a.sim), &a.out, false)?;
    eprintln!(
        "next: footfall ingest --site {0}/site.json --db mall.db {0}/observations.csv && footfall report --db mall.db",
        a.out.display()
    );
    Ok(())
}
