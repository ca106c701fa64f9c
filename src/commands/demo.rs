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
    let cfg = SimConfig {
        seed: a.seed,
        days: a.days,
        stores: a.stores,
        shoppers_per_day: a.shoppers_per_day,
        start_date: super::simulate::recent_start(super::now_ms(), a.days),
        ..SimConfig::default()
    };
    eprintln!("simulating {} days of a {}-store mall into {} ...", cfg.days, cfg.stores, dir.display());
    super::simulate::write(&cfg, dir, false)?;
    let db = dir.join("mall.db");
    let config = Config::default();
    let inputs: Vec<PathBuf> = vec![dir.join("observations.csv"), dir.join("pos.csv"), dir.join("pings.csv")];
    let outcome = ingest::ingest(ingest::Request {
        db: &db,
        site: Some(&dir.join("site.json")),
        config: &config,
        key: None,
        inputs: &inputs,
        quiet: false,
        sensor: None,
        // As of the end of the simulated days, so retention keeps the simulated history.
        now_ms: cfg
            .start_date
            .and_hms_opt(0, 0, 0)
            .map_or_else(super::now_ms, |t| t.and_utc().timestamp_millis() + cfg.days as i64 * 86_400_000),
        locate_model: None,
        feed_has_consent: false,
    })?;
    ingest::print_outcome(&outcome);
    let analysis = analysis::load(&db, &config, false)?;
    let noise = config.noise(&db, None)?;
    let agg = report::release(report::build(&analysis, None)?, noise.as_ref());
    println!("{}", report::render(&analysis, &agg, config.threshold(), noise.as_ref()));
    println!("Accuracy against the simulator's ground truth");
    println!("{}", eval::render(&eval::evaluate(&analysis, &dir.join("truth.json"))?));
    if a.out.is_some() {
        println!("files kept in {}; try: footfall report --db {}", dir.display(), db.display());
    }
    use std::io::IsTerminal;
    if a.serve || (!a.no_serve && std::io::stdout().is_terminal()) {
        serve_dashboard(&db, &a.listen, &config)?;
    }
    Ok(())
}

/// Serve the demo database with a fresh operator token until Ctrl-C, with the report's
/// threshold and noise (so the dashboard shows the figures the report printed).
fn serve_dashboard(db: &std::path::Path, listen: &str, config: &Config) -> anyhow::Result<()> {
    use anyhow::Context;
    let token = footfall_store::Store::open(db)?.create_token(footfall_store::tokens::Role::Operator, &[], "demo", super::now_ms())?;
    let mut server = footfall_server::ServerConfig::new(db);
    server.threshold = config.threshold();
    server.epsilon = config.privacy.epsilon();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async {
        let stop = super::serve::shutdown_signal();
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen} (another program uses it? try --listen 127.0.0.1:0 or --no-serve)"))?;
        let addr = listener.local_addr()?;
        println!("\nDashboard: http://{addr}/#/mall?token={}", token.token);
        println!("API:       http://{addr}/api/v1/openapi.json (Authorization: Bearer {})", token.token);
        println!("Ctrl-C stops the demo and deletes its files (unless --out was given).");
        footfall_server::serve(listener, stop, server).await.context("serving the demo")
    })
}
