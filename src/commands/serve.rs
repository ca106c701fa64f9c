//! `footfall serve`: the HTTP receiver (`footfall-server`) as a process. This file adds what
//! a process needs around the library: arguments and configuration, the tokio runtime,
//! logging to stderr, and Ctrl-C / SIGTERM for a graceful stop. It never prints a secret.

use crate::cli::ServeArgs;
use crate::config::Config;
use anyhow::Context;
use footfall_server::ServerConfig;
use std::time::Duration;

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(a.db.config.as_deref())?;
    if !(a.ingest_interval.is_finite() && (0.01..=86_400.0).contains(&a.ingest_interval)) {
        anyhow::bail!("--ingest-interval must be between 0.01 and 86400 seconds");
    }
    let mut server = ServerConfig::new(&a.db.db);
    server.site = a.site.as_deref().map(super::ingest::load_site).transpose()?;
    server.pipeline = config.pipeline();
    server.key_path = config.key_path(&a.db.db, a.key.as_deref());
    server.meraki_validator = a.meraki_validator;
    server.meraki_secret = a.meraki_secret;
    server.sensor_token = a.sensor_token;
    server.body_limit = a.max_body;
    server.ingest_interval = Duration::from_secs_f64(a.ingest_interval);
    if server.meraki_secret.is_none() && server.sensor_token.is_none() {
        eprintln!(
            "warning: no receiver is enabled: set --meraki-secret (or FOOTFALL_MERAKI_SECRET) and/or --sensor-token (or FOOTFALL_SENSOR_TOKEN)"
        );
    }
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&a.listen).await.with_context(|| format!("listening on {}", a.listen))?;
        eprintln!("footfall serve: listening on http://{}", listener.local_addr()?);
        footfall_server::serve(listener, shutdown_signal(), server).await.with_context(|| format!("serving {}", a.db.db.display()))
    })?;
    eprintln!("footfall serve: stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    eprintln!("footfall serve: stopping: finishing requests in flight, then applying the journal");
}
