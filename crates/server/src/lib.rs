//! # footfall-server
//!
//! The HTTP receiver of footfall: Cisco Meraki Scanning API posts and sensor JSON lines come
//! in, are pseudonymized at once, made durable in a journal, and applied to the database in
//! the background; the sensor agent's batches (`footfall sensor`) arrive already
//! pseudonymized and are deduplicated by (agent, batch). [`serve`] runs it on a listener until a shutdown future completes.
//!
//! The path of a post:
//!
//! 1. **routes**: authenticate (Meraki `secret`, or the sensor's bearer token, both compared
//!    in constant time), limit the body, refuse bad input with a 4xx problem+json.
//! 2. **accept**: parse with `footfall-sources` and run every raw observation through the
//!    [`Intake`](footfall_transforms::intake::Intake) (sensor lookup incl. AP MAC, filter,
//!    keyed pseudonymization). No raw MAC leaves this step; none is ever written.
//! 3. **writer**: group commit: concurrent posts' records are appended to the journal with
//!    one fsync, and each post is answered 200 only after that fsync.
//! 4. **ingester**: every interval, the records not yet applied go through the
//!    [`Pipeline`](footfall_transforms::Pipeline) and are committed with
//!    [`Store::commit_ingest`](footfall_store::Store::commit_ingest) together with the last
//!    applied journal sequence; then the journal is compacted. On startup the records after
//!    the stored sequence are re-applied, so every accepted observation is counted exactly
//!    once whatever the crash point.
//!
//! ## Layout
//! - [`journal`]: the journal file: format, fsynced appends, torn-tail recovery, compaction.
//! - `writer`: the group-commit thread that owns the journal's appends.
//! - `ingester`: the thread that owns the store and the pipeline.
//! - `accept`: request bodies → pseudonymous batches (the source boundary).
//! - `routes`: the endpoints, authentication, status codes; `problem`: RFC 9457 bodies.
//! - `api`: the read API (figures, sales, segment sizes, live occupancy) and its OpenAPI
//!   document; `auth`: tokens and roles; `audience`: the audience export endpoint (k-gated,
//!   audited); `dashboard`: the embedded page.
//!
//! Opt-outs (`POST /api/v1/optout`, no token) hash the submitted MAC or advertising ID at
//! once in `routes` (through the intake's key), make the intake refuse the pseudonyms, and
//! hand them to the ingester thread, which erases the device from the store and the pipeline
//! state (see `ingester`).
//!
//! Threads, not tasks, own the journal and the store: both do blocking I/O. Errors are
//! typed ([`ServerError`]); the `footfall serve` command adds the process around it
//! (arguments, signals, logging).

pub mod journal;
pub mod live;

mod accept;
mod api;
mod audience;
mod auth;
mod dashboard;
mod ingester;
mod ops;
mod problem;
mod routes;
mod writer;

pub use api::openapi_json;
pub use footfall_query::Threshold;
pub use live::AlertRule;

use footfall_core::Site;
use footfall_core::clock::{Clock, SystemClock};
use footfall_store::keyfile::{self, KeyError, KeyOrigin};
use footfall_store::{Store, StoreError};
use footfall_transforms::intake::Intake;
use footfall_transforms::locate::SiteModel;
use footfall_transforms::pipeline::RestoreError;
use footfall_transforms::{PipelineConfig, Pseudonymizer};
use journal::{Journal, JournalError};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The default body limit of a post: 10 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 10 << 20;
/// The default interval between applications of the journal to the database.
pub const DEFAULT_INGEST_INTERVAL: Duration = Duration::from_secs(2);

/// Everything [`serve`] needs. Secrets are never printed: `Debug` redacts them.
#[derive(Clone)]
pub struct ServerConfig {
    /// The database (created when `site` is given and it does not exist).
    pub db: PathBuf,
    /// A site to use and store (on first use, or to replace the stored one); `None` uses
    /// the database's.
    pub site: Option<Site>,
    /// Pipeline thresholds; must match those the database's saved state was built with.
    pub pipeline: PipelineConfig,
    /// The deployment key file (created, mode 0600, if missing).
    pub key_path: PathBuf,
    /// Answered to `GET /meraki`.
    pub meraki_validator: Option<String>,
    /// The shared secret Meraki posts must carry; `None` disables `POST /meraki`. An empty
    /// secret accepts posts without one (MQTT bridges).
    pub meraki_secret: Option<String>,
    /// The bearer token of `POST /api/v1/ingest/jsonl` and `POST /api/v1/ingest/observations`;
    /// `None` disables both.
    pub sensor_token: Option<String>,
    /// Largest accepted body, in bytes.
    pub body_limit: usize,
    /// How often the journal is applied to the database.
    pub ingest_interval: Duration,
    /// Apply the journal before exiting (the default). Tests turn it off to leave records
    /// unapplied, as a crash would.
    pub flush_on_shutdown: bool,
    /// The k-threshold of every published figure.
    pub threshold: Threshold,
    /// Differential-privacy noise on every count of the API but live occupancy (`[privacy]
    /// epsilon`), keyed by the deployment key; `None` publishes exact counts (still
    /// k-thresholded). The library's default is `None`; `footfall serve` and `footfall demo`
    /// turn it on unless the config says `noise = false`.
    pub epsilon: Option<f64>,
    /// Live alert rules.
    pub alerts: Vec<AlertRule>,
    /// A URL each alert is POSTed to as JSON.
    pub alert_webhook: Option<String>,
    /// Wall-clock time (sensor silence, retention, the opt-out rate limit, bookkeeping);
    /// tests inject a manual clock.
    pub clock: Arc<dyn Clock>,
    /// Delete visits and walk-bys past these periods, hourly on `clock`. `None` (the
    /// library's default) keeps everything; `footfall serve` sets it from `[retention]`,
    /// which is on by default.
    pub retention: Option<footfall_transforms::config::RetentionConfig>,
    /// Opt-out requests (`POST /api/v1/optout`, no token) accepted per minute of `clock`,
    /// across all callers; more are answered 429.
    pub optouts_per_minute: u32,
    /// A location model to use instead of the one stored with the site (`footfall locate
    /// train --db`, used when this is `None`); with neither, zones follow the strongest
    /// sensor.
    pub locate_model: Option<footfall_locate::Model>,
    /// Key rotation: MAC pseudonyms change every this many UTC days (`[privacy]
    /// key_epoch_days`); `None` keeps the master key's.
    pub key_epoch_days: Option<u32>,
    /// Attributing POS transactions to visits (`[pos]`), for the sales and segment figures.
    pub attribute: footfall_transforms::attribute::AttributeConfig,
    /// The default segment window (`[segments]`).
    pub segments: footfall_query::segments::SegmentConfig,
    /// The smallest exportable audience (`[audience]`; never below 20).
    pub audience: footfall_query::audience::AudienceConfig,
}

impl ServerConfig {
    /// Defaults for a database: the key beside it (`<db>.key`), default thresholds, no
    /// endpoint secrets (so both receivers are off until configured).
    pub fn new(db: impl Into<PathBuf>) -> Self {
        let db = db.into();
        ServerConfig {
            key_path: keyfile::default_path(&db),
            db,
            site: None,
            pipeline: PipelineConfig::default(),
            meraki_validator: None,
            meraki_secret: None,
            sensor_token: None,
            body_limit: DEFAULT_BODY_LIMIT,
            ingest_interval: DEFAULT_INGEST_INTERVAL,
            flush_on_shutdown: true,
            threshold: Threshold::default(),
            epsilon: None,
            alerts: Vec::new(),
            alert_webhook: None,
            clock: Arc::new(SystemClock),
            retention: None,
            optouts_per_minute: routes::OPTOUTS_PER_MINUTE,
            locate_model: None,
            key_epoch_days: None,
            attribute: Default::default(),
            segments: Default::default(),
            audience: Default::default(),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("ServerConfig")
            .field("db", &self.db)
            .field("site", &self.site.as_ref().map(|s| &s.venue))
            .field("key_path", &self.key_path)
            .field("meraki_validator", &self.meraki_validator)
            .field("meraki_secret", &redacted(&self.meraki_secret))
            .field("sensor_token", &redacted(&self.sensor_token))
            .field("body_limit", &self.body_limit)
            .field("ingest_interval", &self.ingest_interval)
            .field("flush_on_shutdown", &self.flush_on_shutdown)
            .field("threshold", &self.threshold)
            .field("epsilon", &self.epsilon)
            .field("alerts", &self.alerts)
            .field("alert_webhook", &self.alert_webhook.as_ref().map(|_| "<set>"))
            .field("retention", &self.retention)
            .field("optouts_per_minute", &self.optouts_per_minute)
            .field("locate_model", &self.locate_model.as_ref().map(|m| m.len()))
            .field("key_epoch_days", &self.key_epoch_days)
            .field("segments", &self.segments)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("database {0} does not exist yet: give the site file (--site SITE.json) on the first start")]
    NoDatabase(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("continuing from the saved pipeline state: {0}")]
    Restore(#[from] RestoreError),
    #[error("invalid server configuration: {0}")]
    Config(String),
    #[error("{0}")]
    LocateModel(String),
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    #[error("the {0} thread stopped unexpectedly")]
    Worker(&'static str),
}

/// What the readiness check reads; the writer and the ingester keep it current.
pub(crate) struct Health {
    pub journal_ok: AtomicBool,
    pub store_ok: AtomicBool,
}

/// What startup prepared on the blocking pool.
struct Prepared {
    ingester: ingester::Ingester,
    live: Arc<live::Live>,
    ops: Arc<ops::Ops>,
    tokens: Arc<auth::Tokens>,
    reader: Store,
    /// The connection the export audit log is appended through.
    audit: Store,
    journal: Journal,
    site: Site,
    key: [u8; footfall_transforms::KEY_LEN],
    /// The opt-out registry, for the intake.
    optouts: Vec<footfall_core::DeviceId>,
    /// Each sensor agent's highest durable batch: from the store, raised by the journal.
    marks: writer::Marks,
}

/// The location model the pipeline uses: the configured one, else the one stored with the
/// site, else none (the strongest-sensor rule).
pub(crate) fn site_model(store: &Store, site: &Site, given: Option<footfall_locate::Model>) -> Result<Option<Arc<SiteModel>>, ServerError> {
    let sm = match given {
        Some(m) => SiteModel::new(site, m).map_err(|e| ServerError::LocateModel(format!("location model: {e}")))?,
        None => match store.locate_model()? {
            Some(stored) => SiteModel::from_json(site, &stored.json, &format!("the location model stored in {}", store.path().display()))
                .map_err(|e| {
                ServerError::LocateModel(format!(
                    "{e}; train it again for this site (footfall locate train --db) or remove it (footfall locate remove --db)"
                ))
            })?,
            None => return Ok(None),
        },
    };
    tracing::info!("zones from the survey-trained location model ({} of {} sensors known)", sm.known_sensors(), site.sensors.len());
    Ok(Some(Arc::new(sm)))
}

/// Open the store, resolve the site, load the key, open the journal and re-apply what the
/// store does not have yet. Runs before anything is accepted.
fn prepare(config: &ServerConfig) -> Result<Prepared, ServerError> {
    if config.site.is_none() && !config.db.exists() {
        return Err(ServerError::NoDatabase(config.db.clone()));
    }
    let store = Store::open(&config.db)?;
    store.sync_every_commit()?;
    let site = match &config.site {
        Some(s) => s.clone(),
        None => store.require_site()?,
    };
    let (key, origin) = keyfile::load_or_create(&config.key_path)?;
    if origin == KeyOrigin::Created {
        tracing::warn!(
            "created a new deployment key at {} (mode 0600); back it up: without it, new data cannot be linked to old",
            config.key_path.display()
        );
    }
    let mut marks: writer::Marks = store.agent_batches()?.into_iter().collect();
    live::validate_rules(&site, &config.alerts).map_err(ServerError::Config)?;
    let live = live::Live::new(site.clone(), config.threshold, config.alerts.clone(), config.alert_webhook.clone(), config.clock.clone());
    let ops = Arc::new(ops::Ops::default());
    let tokens = Arc::new(auth::Tokens::new(Store::open(&config.db)?));
    let reader = Store::open(&config.db)?;
    let audit = Store::open(&config.db)?;
    // Without a model given at start, the stored one is followed: its stamp now, so that a
    // model stored or removed while serving is picked up between batches. (Read before the
    // model: one stored in between is then loaded again at the first batch, never missed.)
    let stored_model = if config.locate_model.is_some() { None } else { Some(store.locate_model_stamp()?) };
    let locate = site_model(&store, &site, config.locate_model.clone())?;
    let mut ingester = ingester::Ingester::new(
        store,
        locate,
        stored_model,
        site.clone(),
        config.pipeline.clone(),
        live.clone(),
        ops.clone(),
        config.clock.clone(),
        config.retention,
        config.key_epoch_days.map(|d| footfall_transforms::Rotation::new(key, d)),
    )?;
    let (mut journal, recovered) = Journal::open(&Journal::path_for(&config.db))?;
    writer::raise_marks(&mut marks, &recovered.records);
    if recovered.torn_bytes > 0 {
        tracing::warn!(
            "journal {}: ignored a damaged tail of {} bytes (a write interrupted before it was acknowledged)",
            journal.path().display(),
            recovered.torn_bytes
        );
    }
    ingester.resume(&recovered.records)?;
    let pending = recovered.records.iter().filter(|r| r.seq > ingester.applied()).count();
    // Store the given site now (like ingest's first commit), with whatever is recovered.
    ingester.apply(recovered.records, config.site.is_some())?;
    if pending > 0 {
        tracing::info!("recovered {pending} journal records that were not yet in the database");
    }
    journal.compact(ingester.compactable())?;
    let optouts = ingester.refused();
    Ok(Prepared { ingester, live, ops, tokens, reader, audit, journal, site, key, optouts, marks })
}

/// Serve until `shutdown` completes, then stop gracefully: requests in flight finish
/// (each is answered after its record is durable), the ingester applies what it holds
/// (unless `flush_on_shutdown` is off), and the journal is compacted.
///
/// The listener and the shutdown future are the caller's, so tests bind `127.0.0.1:0` and
/// stop the server when they choose.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    state: ServerConfig,
) -> Result<(), ServerError> {
    if state.body_limit == 0 {
        return Err(ServerError::Config("the body limit must be at least 1 byte".into()));
    }
    if state.ingest_interval.is_zero() {
        return Err(ServerError::Config("the ingest interval must be above zero".into()));
    }
    if state.sensor_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(ServerError::Config("the sensor token must not be empty".into()));
    }
    let config = state.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare(&config)).await.map_err(|_| ServerError::Worker("startup"))??;
    let Prepared { ingester, live, ops, tokens, reader, audit, journal, site, key, optouts, marks } = prepared;
    let noise = state
        .epsilon
        .map(|e| footfall_query::noise::Noise::new(e, &key))
        .transpose()
        .map_err(|e| ServerError::Config(format!("[privacy] {e}")))?;
    tracing::info!("ready: site {:?} ({} sensors), journal applied up to record {}", site.venue, site.sensors.len(), ingester.applied());

    let health = Arc::new(Health { journal_ok: AtomicBool::new(true), store_ok: AtomicBool::new(true) });
    let backlog = Arc::new(writer::Backlog::default());
    let (writer_tx, writer_rx) = mpsc::channel(writer::CHANNEL);
    let next_seq = journal.last_seq().unwrap_or(0).max(ingester.applied()) + 1;
    let writer_thread =
        writer::spawn(journal, next_seq, marks, writer_rx, backlog.clone(), health.clone()).map_err(|_| ServerError::Worker("journal"))?;
    let (ingester_tx, ingester_thread) =
        ingester::spawn(ingester, state.ingest_interval, backlog.clone(), writer_tx.clone(), health.clone())
            .map_err(|_| ServerError::Worker("ingester"))?;

    let mut intake = Intake::new(&site, Pseudonymizer::with_rotation(key, state.key_epoch_days));
    intake.refuse(optouts);
    let app = Arc::new(routes::App {
        intake: Mutex::new(intake),
        ingester: Mutex::new(ingester_tx.clone()),
        clock: state.clock.clone(),
        optouts_per_minute: state.optouts_per_minute,
        optout_window: Mutex::new((0, 0)),
        sensor_ids: site.sensors.iter().map(|s| s.id.clone()).collect(),
        key_epoch_days: state.key_epoch_days,
        meraki_validator: state.meraki_validator.clone(),
        meraki_secret: state.meraki_secret.clone(),
        sensor_token: state.sensor_token.clone(),
        body_limit: state.body_limit,
        writer: writer_tx.clone(),
        health,
        unknown_logged: Mutex::new(Default::default()),
        tokens: tokens.clone(),
        ops: ops.clone(),
    });
    let (stop_tx, stopping) = tokio::sync::watch::channel(false);
    let api = Arc::new(api::Api {
        site: site.clone(),
        tokens,
        reader: Mutex::new(reader),
        cache: Mutex::new(None),
        pipeline: state.pipeline.clone(),
        attribute: state.attribute.clone(),
        segments: state.segments.clone(),
        threshold: state.threshold,
        noise,
        live: live.clone(),
        stopping,
        exporter: audience::Exporter::new(audit, key, state.audience.k(), state.clock.clone()),
    });
    let metrics = {
        let (ops, backlog, clock) = (ops.clone(), backlog.clone(), state.clock.clone());
        move || {
            let last = ops.last_event_ms.load(std::sync::atomic::Ordering::Relaxed);
            let lag = if last > 0 { (clock.now_ms() - last).max(0) as f64 / 1000.0 } else { 0.0 };
            ops.render(&[
                (
                    "footfall_journal_backlog_records",
                    "Journal records waiting to be applied to the database (queue depth).",
                    backlog.len() as f64,
                ),
                ("footfall_ingest_lag_seconds", "Wall-clock time minus the event time of the last applied observation.", lag),
            ])
        }
    };
    let router = routes::router(app)
        .merge(api::router(api))
        .merge(dashboard::router())
        .route("/metrics", axum::routing::get(move || std::future::ready(metrics())))
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn_with_state(ops, ops::track));
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let served = axum::serve(listener, router).with_graceful_shutdown(shutdown).await.map_err(ServerError::Serve);

    // Every request has been answered. Apply what is waiting, then let the writer compact
    // and stop.
    let (done_tx, done_rx) = oneshot::channel();
    let stopped = match ingester_tx.send(ingester::Cmd::Stop { flush: state.flush_on_shutdown, done: done_tx }) {
        Ok(()) => done_rx.await.unwrap_or(Err(ServerError::Worker("ingester"))),
        Err(_) => Err(ServerError::Worker("ingester")),
    };
    let _ = writer_tx.send(writer::Msg::Shutdown).await;
    drop(writer_tx);
    let joined = tokio::task::spawn_blocking(move || {
        let w = writer_thread.join().is_ok();
        let i = ingester_thread.join().is_ok();
        (w, i)
    })
    .await;
    served?;
    stopped?;
    match joined {
        Ok((true, true)) => Ok(()),
        Ok((false, _)) | Err(_) => Err(ServerError::Worker("journal")),
        Ok((true, false)) => Err(ServerError::Worker("ingester")),
    }
}
