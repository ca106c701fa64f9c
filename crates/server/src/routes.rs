//! The HTTP surface: routes, authentication, status codes and response bodies.
//!
//! Owns mapping requests to the intake ([`crate::accept`]) and the journal writer, and every
//! status the server answers. Bad input is always a 4xx with a problem+json reason
//! ([`Problem`]), never a 5xx; 503 means the journal could not make a post durable (retry).
//! Parsing runs on the blocking pool; the journal append is the only I/O on the request
//! path, and a post is answered 200 only after its record is fsynced. It must not touch the
//! store, and it never logs a body or a secret. An opt-out's id is hashed here, under the
//! intake's key, and only its pseudonyms go on to the ingester thread; it is never logged
//! nor echoed.

use crate::Health;
use crate::accept::{self, Batch, Refused};
use crate::auth;
use crate::ingester::Cmd;
use crate::problem::Problem;
use crate::writer::{Append, Appended, Msg};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use footfall_core::Millis;
use footfall_core::clock::Clock;
use footfall_transforms::filter::{DropCounts, DropReason};
use footfall_transforms::intake::Intake;
use footfall_transforms::optout::Subject;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Opt-out requests accepted per minute by default (all callers together).
pub(crate) const OPTOUTS_PER_MINUTE: u32 = 30;
/// The largest opt-out body: an id is at most 36 characters.
const OPTOUT_BODY_LIMIT: usize = 1024;

/// Unknown sensor names are logged once each, up to this many.
const MAX_LOGGED_UNKNOWN: usize = 1000;

/// What the handlers share.
pub(crate) struct App {
    pub intake: Mutex<Intake>,
    /// The ingester thread, which executes opt-outs.
    pub ingester: Mutex<std::sync::mpsc::Sender<Cmd>>,
    pub clock: Arc<dyn Clock>,
    pub optouts_per_minute: u32,
    /// (start of the current minute, requests in it), on `clock`.
    pub optout_window: Mutex<(Millis, u32)>,
    /// The site's sensor ids, by index.
    pub sensor_ids: Vec<String>,
    /// `[privacy] key_epoch_days`: agent batches must have been pseudonymized with the same.
    pub key_epoch_days: Option<u32>,
    pub meraki_validator: Option<String>,
    pub meraki_secret: Option<String>,
    pub sensor_token: Option<String>,
    pub body_limit: usize,
    pub writer: mpsc::Sender<Msg>,
    pub health: Arc<Health>,
    pub unknown_logged: Mutex<BTreeSet<String>>,
    pub tokens: Arc<auth::Tokens>,
    pub ops: Arc<crate::ops::Ops>,
}

/// The ingest side's routes (the read API, live updates, the dashboard and metrics are
/// merged in by [`crate::serve`]).
pub(crate) fn router(app: Arc<App>) -> Router {
    let limit = app.body_limit;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/meraki", get(meraki_validator).post(meraki_post))
        .route("/api/v1/ingest/jsonl", post(jsonl_post))
        .route("/api/v1/ingest/observations", post(observations_post))
        .route("/api/v1/optout", post(optout_post))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// The 200 body of an accepted post.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Accepted {
    /// Observations stored (pseudonymized) in the journal.
    accepted: usize,
    /// Observations dropped at intake, by reason.
    #[schema(value_type = std::collections::BTreeMap<String, u64>)]
    dropped: DropCounts,
    /// Records (Meraki) or lines (JSON lines) that could not be read.
    bad: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bad_samples: Vec<BadSample>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unknown_sensors: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct BadSample {
    line: u64,
    reason: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "`ok`", content_type = "text/plain", body = String)))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the journal is writable and the last database write succeeded.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "`ready`", content_type = "text/plain", body = String), (status = 503, body = crate::api::ProblemDoc)))]
pub(crate) async fn readyz(State(app): State<Arc<App>>) -> Response {
    let journal = app.health.journal_ok.load(Ordering::Relaxed) && !app.writer.is_closed();
    let store = app.health.store_ok.load(Ordering::Relaxed);
    match (journal, store) {
        (true, true) => "ready".into_response(),
        (false, _) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the journal is not writable").into_response(),
        (true, false) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the last write to the database failed").into_response(),
    }
}

pub(crate) async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no such endpoint; see docs/formats.md#serving")
}

/// The Meraki receiver's validation: answers the configured validator string.
#[utoipa::path(get, path = "/meraki", responses((status = 200, description = "The validator", content_type = "text/plain", body = String), (status = 404, body = crate::api::ProblemDoc)))]
pub(crate) async fn meraki_validator(State(app): State<Arc<App>>) -> Response {
    match &app.meraki_validator {
        Some(v) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], v.clone()).into_response(),
        None => {
            Problem::new(StatusCode::NOT_FOUND, "no Meraki validator is configured (footfall serve --meraki-validator)").into_response()
        }
    }
}

/// A Meraki Scanning API post (v2.0, v2.1, v3 or an MQTT-bridged message); its `secret`
/// must match. Answered after the observations are durable.
#[utoipa::path(post, path = "/meraki", request_body(content = serde_json::Value, description = "A Meraki Scanning API post", content_type = "application/json"),
    responses((status = 200, body = Accepted), (status = 400, body = crate::api::ProblemDoc), (status = 403, body = crate::api::ProblemDoc), (status = 404, body = crate::api::ProblemDoc), (status = 413, body = crate::api::ProblemDoc), (status = 422, body = crate::api::ProblemDoc), (status = 503, body = crate::api::ProblemDoc)))]
pub(crate) async fn meraki_post(State(app): State<Arc<App>>, req: Request) -> Result<Json<Accepted>, Problem> {
    let Some(secret) = app.meraki_secret.clone() else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "the Meraki receiver is not enabled: configure its secret (footfall serve --meraki-secret, or FOOTFALL_MERAKI_SECRET)",
        ));
    };
    let body = read_body(&app, req).await?;
    let a = app.clone();
    let batch = blocking(move || accept::meraki(&body, &secret, &a.intake, &a.sensor_ids)).await?;
    journal(&app, batch).await
}

/// Check the sensor's bearer token (before the body is read): the configured sensor token,
/// or a `sensor` token of the token table.
fn sensor_auth(app: &App, req: &Request) -> Result<(), Problem> {
    let Some(given) = auth::bearer(req.headers()) else {
        return Err(auth::unauthorized("the sensor token"));
    };
    let configured = app.sensor_token.as_deref().is_some_and(|t| accept::secret_eq(given, t));
    if configured || app.tokens.is_sensor(given) {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "this is not a sensor token (footfall serve --sensor-token, or footfall token create --role sensor)",
        ))
    }
}

/// Sensor JSON lines (docs/formats.md), with a sensor token. Answered after the
/// observations are durable.
#[utoipa::path(post, path = "/api/v1/ingest/jsonl", security(("bearer" = [])), request_body(content = String, description = "JSON lines: ts, sensor, mac, rssi, ...", content_type = "application/x-ndjson"),
    responses((status = 200, body = Accepted), (status = 401, body = crate::api::ProblemDoc), (status = 403, body = crate::api::ProblemDoc), (status = 413, body = crate::api::ProblemDoc), (status = 422, body = crate::api::ProblemDoc), (status = 503, body = crate::api::ProblemDoc)))]
pub(crate) async fn jsonl_post(State(app): State<Arc<App>>, req: Request) -> Result<Json<Accepted>, Problem> {
    sensor_auth(&app, &req)?;
    let body = read_body(&app, req).await?;
    let a = app.clone();
    let batch = blocking(move || accept::jsonl(&body, &a.intake, &a.sensor_ids)).await?;
    journal(&app, batch).await
}

/// The 200 body of a sensor agent's batch.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AgentAccepted {
    /// Observations stored; 0 for a duplicate.
    accepted: usize,
    /// The batch was stored before (its sequence is at or below the agent's last stored
    /// one): nothing was stored now.
    duplicate: bool,
}

/// A sensor agent's batch (`footfall sensor`): already pseudonymous, deduplicated by
/// (agent, batch).
///
/// **Exactly once.** The agent spools every batch on disk before sending it, sends the
/// oldest first, one at a time, and deletes it only after a 200; so every batch is sent
/// until some 200 answers it (at least once), and batches reach the server in increasing
/// sequence per agent. The server answers 200 `duplicate: false` only after the batch's
/// record, naming (agent, batch), is fsynced in the journal, and only then raises the
/// agent's high-water mark (in the writer, the one thread that appends); a batch at or
/// below the mark is answered 200 `duplicate: true` and not stored. The mark is durable
/// wherever the batch is: while the record is in the journal, recovery reads it back
/// (`writer::raise_marks` at startup); once applied, the same store transaction that
/// applies the record stores the mark (`meta` `agent_batch:<id>`), before the journal may
/// drop it. A torn journal tail was never answered 200 and raises nothing. Hence:
/// - a 200 lost on the way (timeout, agent killed) → the agent resends → duplicate → not
///   doubled, and deleted from the spool;
/// - the server crashes before the fsync → no 200, no mark → the resend is stored: not lost;
/// - the server crashes after the fsync (answered or not) → the mark is recovered from the
///   journal or the store → the resend is a duplicate: not doubled.
///
/// A fresh spool gets a fresh random agent id, so a wiped spool restarting at batch 1 is
/// never mistaken for duplicates.
#[utoipa::path(post, path = "/api/v1/ingest/observations", security(("bearer" = [])), request_body(content = serde_json::Value, description = "A sensor agent's batch of pseudonymous observations (footfall sensor)", content_type = "application/json"),
    responses((status = 200, body = AgentAccepted), (status = 400, body = crate::api::ProblemDoc), (status = 401, body = crate::api::ProblemDoc), (status = 403, body = crate::api::ProblemDoc), (status = 422, body = crate::api::ProblemDoc), (status = 503, body = crate::api::ProblemDoc)))]
pub(crate) async fn observations_post(State(app): State<Arc<App>>, req: Request) -> Result<Json<AgentAccepted>, Problem> {
    sensor_auth(&app, &req)?;
    let body = read_body(&app, req).await?;
    let a = app.clone();
    let result = tokio::task::spawn_blocking(move || accept::observations(&body, &a.sensor_ids, a.key_epoch_days)).await.map_err(|_| {
        tracing::error!("reading a request body panicked");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error while reading the body")
    })?;
    let (mark, mut batch) = result.map_err(refused)?;
    {
        // Pseudonymous already, so the intake's hashing is bypassed: refuse opted-out devices here.
        let intake = app.intake.lock().unwrap_or_else(|e| e.into_inner());
        let before = batch.obs.len();
        batch.obs.retain(|o| !intake.is_refused(o.device, o.ts));
        batch.drops.add(DropReason::OptedOut, (before - batch.obs.len()) as u64);
    }
    let accepted = batch.obs.len();
    let unavailable = |why: String| Problem::new(StatusCode::SERVICE_UNAVAILABLE, why);
    let (reply, done) = oneshot::channel();
    app.writer
        .send(Msg::Append(Append::new(batch.sensors, batch.obs, batch.drops, Some(mark), reply)))
        .await
        .map_err(|_| unavailable("the server is shutting down; retry".into()))?;
    match done.await {
        Ok(Ok(Appended::Stored(_))) => {
            app.ops.accepted.fetch_add(accepted as u64, Ordering::Relaxed);
            Ok(Json(AgentAccepted { accepted, duplicate: false }))
        }
        Ok(Ok(Appended::Duplicate)) => Ok(Json(AgentAccepted { accepted: 0, duplicate: true })),
        Ok(Err(e)) => Err(unavailable(format!("the batch could not be stored durably ({e}); retry"))),
        Err(_) => Err(unavailable("the server is shutting down; retry".into())),
    }
}

/// An opt-out request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OptoutRequest {
    /// The phone's WiFi/Bluetooth MAC address (`aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or 12
    /// hex digits) or its advertising ID (IDFA/GAID, a UUID).
    id: String,
}

/// Rows erased for the opted-out device.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErasedDoc {
    visits: u64,
    zone_stays: u64,
    passes: u64,
    device_days: u64,
    /// Observations, location windows and open visits removed from the pipeline's state.
    open_state: u64,
}

/// The 200 body of an opt-out.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OptedOut {
    /// What was done, in plain language, for the person who asked.
    confirmation: String,
    erased: ErasedDoc,
}

/// Opt a device out (for shoppers; no token). The MAC address or advertising ID is hashed at
/// once with the deployment key into the pseudonyms the pipeline uses (one per radio kind for
/// a MAC); the id itself is never stored or logged. Everything recorded under the pseudonyms
/// is erased at once (visits, zone stays, walk-bys, daily activity, open state), they are
/// registered in the opt-out registry, and every later observation of them is dropped.
/// Limited to a few requests per minute (429 beyond) and a 1 KiB body.
#[utoipa::path(post, path = "/api/v1/optout", request_body(content = OptoutRequest, content_type = "application/json"),
    responses((status = 200, body = OptedOut), (status = 400, body = crate::api::ProblemDoc), (status = 413, body = crate::api::ProblemDoc), (status = 429, body = crate::api::ProblemDoc), (status = 503, body = crate::api::ProblemDoc)))]
pub(crate) async fn optout_post(State(app): State<Arc<App>>, req: Request) -> Result<Json<OptedOut>, Problem> {
    {
        let now = app.clock.now_ms();
        let mut w = app.optout_window.lock().unwrap_or_else(|e| e.into_inner());
        if now - w.0 >= 60_000 || now < w.0 {
            *w = (now, 0);
        }
        if w.1 >= app.optouts_per_minute {
            return Err(Problem::new(StatusCode::TOO_MANY_REQUESTS, "too many opt-out requests right now; please try again in a minute"));
        }
        w.1 += 1;
    }
    let body = axum::body::to_bytes(req.into_body(), OPTOUT_BODY_LIMIT).await.map_err(|_| {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("an opt-out request is at most {OPTOUT_BODY_LIMIT} bytes: {{\"id\": \"aa:bb:cc:dd:ee:ff\"}}"),
        )
    })?;
    let request: OptoutRequest = serde_json::from_slice(&body)
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "the body must be JSON like {\"id\": \"aa:bb:cc:dd:ee:ff\"}"))?;
    let subject = Subject::parse(&request.id).map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    drop(request);
    let ids = {
        let mut intake = app.intake.lock().unwrap_or_else(|e| e.into_inner());
        let ids = intake.subject_ids(&subject);
        // Refused from this instant on, before the erasure runs.
        intake.refuse(ids.iter().copied());
        ids
    };
    let unavailable = || Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the opt-out could not be completed right now; please try again");
    let (done, answer) = oneshot::channel();
    app.ingester.lock().unwrap_or_else(|e| e.into_inner()).send(Cmd::OptOut { ids, done }).map_err(|_| unavailable())?;
    let erased = answer.await.map_err(|_| unavailable())?.map_err(|_| unavailable())?;
    Ok(Json(OptedOut {
        confirmation: format!(
            "You are opted out. Your {} was turned into a code with our secret key and was not stored; everything recorded under that code has been deleted, and your phone will be ignored from now on. Phones that change their address (most do, per network) must opt out each address.",
            subject.kind()
        ),
        erased: ErasedDoc {
            visits: erased.visits,
            zone_stays: erased.zone_stays,
            passes: erased.passes,
            device_days: erased.device_days,
            open_state: erased.open_state,
        },
    }))
}

/// The whole body, within the configured limit.
async fn read_body(app: &App, req: Request) -> Result<Bytes, Problem> {
    Bytes::from_request(req, &()).await.map_err(|rejection| {
        let status = rejection.status();
        let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the body is larger than the limit of {} bytes", app.body_limit)
        } else {
            format!("the body could not be read: {}", rejection.body_text())
        };
        Problem::new(status, detail)
    })
}

/// Parse on the blocking pool (a large post is milliseconds of CPU), mapping refusals.
async fn blocking(f: impl FnOnce() -> Result<Batch, Refused> + Send + 'static) -> Result<Batch, Problem> {
    let result = tokio::task::spawn_blocking(f).await.map_err(|_| {
        tracing::error!("reading a request body panicked");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error while reading the body")
    })?;
    result.map_err(refused)
}

fn refused(r: Refused) -> Problem {
    match r {
        Refused::NotJson(e) => Problem::new(StatusCode::BAD_REQUEST, format!("the body is not JSON: {e}")),
        Refused::WrongSecret => Problem::new(StatusCode::FORBIDDEN, "the post's secret is missing or not the configured one"),
        Refused::NotThisFormat(why) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, why),
    }
}

/// Append the batch to the journal (durably) and build the answer.
async fn journal(app: &App, batch: Batch) -> Result<Json<Accepted>, Problem> {
    if !batch.unknown_sensors.is_empty() {
        let mut logged = app.unknown_logged.lock().unwrap_or_else(|e| e.into_inner());
        for name in &batch.unknown_sensors {
            if logged.len() < MAX_LOGGED_UNKNOWN && logged.insert(name.clone()) {
                tracing::warn!(
                    "observations from sensor {name:?}, which the site does not know, are dropped (add it, or its AP MAC as the sensor's mac)"
                );
            }
        }
    }
    let answer = Accepted {
        accepted: batch.obs.len(),
        dropped: batch.drops.clone(),
        bad: batch.report.bad,
        bad_samples: batch.report.bad_samples.iter().map(|b| BadSample { line: b.line, reason: b.reason.clone() }).collect(),
        unknown_sensors: batch.unknown_sensors.iter().cloned().collect(),
    };
    if batch.obs.is_empty() && batch.drops.total() == 0 {
        return Ok(Json(answer));
    }
    let unavailable = |why: String| Problem::new(StatusCode::SERVICE_UNAVAILABLE, why);
    let (reply, done) = oneshot::channel();
    app.writer
        .send(Msg::Append(Append::new(batch.sensors, batch.obs, batch.drops, None, reply)))
        .await
        .map_err(|_| unavailable("the server is shutting down; retry".into()))?;
    match done.await {
        Ok(Ok(_)) => {
            app.ops.accepted.fetch_add(answer.accepted as u64, Ordering::Relaxed);
            app.ops.dropped(&answer.dropped);
            Ok(Json(answer))
        }
        Ok(Err(e)) => Err(unavailable(format!("the post could not be stored durably ({e}); retry"))),
        Err(_) => Err(unavailable("the server is shutting down; retry".into())),
    }
}
