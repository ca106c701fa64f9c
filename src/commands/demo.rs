//! `footfall demo`: simulate a small mall, ingest it, print the report and the accuracy
//! check against the simulator's truth. Uses a temporary folder unless `--out` is given.

use super::{analysis, eval, ingest, report};
use crate::cli::DemoArgs;
use crate::config::Config;
use footfall_sim::SimConfig;
use std::path::PathBuf;

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    let (dir, temporary) = match &a.out {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("footfall-demo-{}-{}", std::process::id(), super::now_ms())), true),
    };
    let result = demo_in(&a, &dir);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn demo_in(a: &DemoArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    let cfg = SimConfig { seed: a.seed, days: a.days, stores: a.stores, shoppers_per_day: a.shoppers_per_day, ..SimConfig::default() };
    eprintln!("simulating {} days of a {}-store mall into {} ...", cfg.days, cfg.stores, dir.display());
    super::simulate::write(&cfg, dir, false)?;
    let db = dir.join("mall.db");
    let config = Config::default();
    let inputs: Vec<PathBuf> = vec![dir.join("observations.csv")];
    let outcome = ingest::ingest(ingest::Request {
        db: &db,
        site: Some(&dir.join("site.json")),
        config: &config,
        key: None,
        inputs: &inputs,
        quiet: false,
        sensor: None,
        locate_model: None,
    })?;
    ingest::print_outcome(&outcome);
    let analysis = analysis::load(&db, &config, false)?;
    let agg = report::build(&analysis, None)?;
    println!("{}", report::render(&analysis, &agg));
    println!("Accuracy against the simulator's ground truth");
    println!("{}", eval::render(&eval::evaluate(&analysis, &dir.join("truth.json"))?));
    if a.out.is_some() {
        println!("files kept in {}; try: footfall report --db {}", dir.display(), db.display());
    }
    Ok(())
}
