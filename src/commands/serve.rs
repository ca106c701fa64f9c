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
    server.threshold = config.threshold();
    server.epsilon = config.privacy.epsilon();
    server.alerts = config.alerts.clone();
    server.alert_webhook = config.alerts_webhook.as_ref().map(|w| w.url.clone());
    server.retention = Some(config.retention);
    server.key_epoch_days = config.privacy.key_epoch_days;
    server.clock = std::sync::Arc::new(super::BinClock);
    server.locate_model = a.locate_model.as_deref().map(super::locate::read_model).transpose()?;
    server.attribute = config.pos.clone();
    server.segments = config.segments.clone();
    server.audience = config.audience.clone();
    if server.meraki_secret.is_none() {
        eprintln!("note: the Meraki receiver is off until --meraki-secret (or FOOTFALL_MERAKI_SECRET) is set");
    }
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async {
        let stop = shutdown_signal();
        let listener = tokio::net::TcpListener::bind(&a.listen).await.with_context(|| format!("listening on {}", a.listen))?;
        let addr = listener.local_addr()?;
        eprintln!("footfall serve: listening on http://{addr} (dashboard: http://{addr}/, API: http://{addr}/api/v1/openapi.json)");
        footfall_server::serve(listener, stop, server).await.with_context(|| format!("serving {}", a.db.db.display()))
    })?;
    eprintln!("footfall serve: stopped");
    Ok(())
}

/// Logs on stderr: readable on a terminal, one JSON object per line otherwise (for journald,
/// Docker and log shippers). `RUST_LOG`-style filtering is not needed: info and above.
fn init_logging() {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub(super) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    // Registered now, not when first polled: a SIGTERM right after start must stop the
    // server gracefully, not kill it.
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
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
}
