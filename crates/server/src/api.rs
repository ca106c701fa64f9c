//! The read API under `/api/v1`: the site, figures per store, flows, occupancy and the live
//! event stream, with its OpenAPI document generated from these handlers.
//!
//! Owns the read endpoints' routes, parameters and access checks (through [`crate::auth`])
//! and the cached [`Dataset`] (reloaded when the database changed: SQLite's `data_version`).
//! Figures are computed and k-thresholded by `footfall-query`; this module never publishes
//! a count it computed itself. It must not write to the database.

use crate::auth::{Caller, Tokens};
use crate::live::{Alert, Live, Occupancy};
use crate::problem::Problem;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use footfall_query::views::{self, Granularity};
use footfall_query::{Dataset, DayRange, QueryError, Threshold};
use footfall_store::Store;
use footfall_store::tokens::Role;
use footfall_transforms::PipelineConfig;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub(crate) struct Api {
    /// The site the server runs with (the floor plan and the store list need no dataset).
    pub site: footfall_core::Site,
    pub tokens: Arc<Tokens>,
    /// A read connection for loading the dataset.
    pub reader: Mutex<Store>,
    pub cache: Mutex<Option<(i64, Arc<Dataset>)>>,
    pub pipeline: PipelineConfig,
    pub threshold: Threshold,
    pub live: Arc<Live>,
    /// Becomes true when the server stops, to end live streams.
    pub stopping: watch::Receiver<bool>,
}

pub(crate) fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(me))
        .route("/api/v1/site", get(site))
        .route("/api/v1/range", get(range))
        .route("/api/v1/stores/{store}/summary", get(summary))
        .route("/api/v1/stores/{store}/metrics", get(metrics))
        .route("/api/v1/stores/{store}/hourly", get(hourly))
        .route("/api/v1/stores/{store}/funnel", get(funnel))
        .route("/api/v1/stores/{store}/dwell", get(dwell))
        .route("/api/v1/stores/{store}/zones", get(zones))
        .route("/api/v1/stores/{store}/paths", get(paths))
        .route("/api/v1/flows", get(flows))
        .route("/api/v1/occupancy", get(occupancy))
        .route("/api/v1/live", get(live))
        .with_state(api)
}

/// The OpenAPI document of the whole server (read API and ingest endpoints).
#[derive(OpenApi)]
#[openapi(
    info(title = "footfall", description = "Privacy-first shopper analytics: the HTTP API of `footfall serve`. Every count is k-thresholded: counts of 1..k-1 devices are null."),
    paths(me, site, range, summary, metrics, hourly, funnel, dwell, zones, paths, flows, occupancy, live, crate::routes::jsonl_post, crate::routes::observations_post, crate::routes::meraki_post, crate::routes::meraki_validator, crate::routes::optout_post, crate::routes::healthz, crate::routes::readyz),
    components(schemas(ProblemDoc)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// An RFC 9457 problem (`application/problem+json`).
#[derive(Serialize, ToSchema)]
pub(crate) struct ProblemDoc {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
}

/// The OpenAPI document as JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

fn query_problem(e: QueryError) -> Problem {
    match e {
        QueryError::UnknownStore(s) => Problem::new(StatusCode::NOT_FOUND, format!("no store {s:?} in the site")),
        QueryError::BadRange(why) => Problem::new(StatusCode::BAD_REQUEST, why),
        other => {
            tracing::error!("loading the data for a query: {other}");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the database could not be read; retry")
        }
    }
}

impl Api {
    /// The current dataset: cached, reloaded when another connection has committed.
    fn dataset(&self) -> Result<Arc<Dataset>, QueryError> {
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let version = reader.data_version()?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, ds)) = cache.as_ref()
            && *v == version
        {
            return Ok(ds.clone());
        }
        let ds = Arc::new(Dataset::load(&reader, &self.pipeline, &self.pipeline.exclude, false)?);
        *cache = Some((version, ds.clone()));
        Ok(ds)
    }
}

/// Run a computation over the dataset on the blocking pool.
async fn with_data<T: Send + 'static>(
    api: &Arc<Api>,
    f: impl FnOnce(&Dataset, Threshold) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, Problem> {
    let api = api.clone();
    tokio::task::spawn_blocking(move || {
        let ds = api.dataset()?;
        f(&ds, api.threshold)
    })
    .await
    .map_err(|_| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error while computing the answer"))?
    .map_err(query_problem)
}

/// `from` and `to`: inclusive local dates; by default the last 7 days with data.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub(crate) struct RangeParams {
    /// First local date, `YYYY-MM-DD`.
    from: Option<String>,
    /// Last local date, `YYYY-MM-DD` (inclusive).
    to: Option<String>,
}

impl RangeParams {
    fn resolve(&self, ds: &Dataset) -> Result<DayRange, QueryError> {
        DayRange::resolve(self.from.as_deref(), self.to.as_deref(), ds.day_span())
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Me {
    /// `operator` or `retailer`.
    role: String,
    /// The stores this token may read.
    stores: Vec<String>,
}

/// What this token may see.
#[utoipa::path(get, path = "/api/v1/me", security(("bearer" = [])), responses((status = 200, body = Me), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
async fn me(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Json<Me>, Problem> {
    let c = api.tokens.reader(&headers)?;
    let stores = api.site.stores.iter().map(|s| s.id.clone()).filter(|s| c.may_read_store(s)).collect();
    Ok(Json(Me { role: c.role.name().into(), stores }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SiteZone {
    id: String,
    name: String,
    /// `[[x, y], ...]` in metres.
    polygon: Vec<[f64; 2]>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SiteStore {
    id: String,
    name: String,
    category: String,
    polygon: Vec<[f64; 2]>,
    zones: Vec<SiteZone>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SiteSensor {
    id: String,
    x: f64,
    y: f64,
    store: String,
}

/// The floor plan: venue, stores with zones, sensors (positions only).
#[derive(Serialize, ToSchema)]
pub(crate) struct SitePlan {
    venue: String,
    timezone: String,
    stores: Vec<SiteStore>,
    sensors: Vec<SiteSensor>,
}

/// The site plan (every reader sees the whole plan; figures are per store).
#[utoipa::path(get, path = "/api/v1/site", security(("bearer" = [])), responses((status = 200, body = SitePlan), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
async fn site(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Json<SitePlan>, Problem> {
    api.tokens.reader(&headers)?;
    let site = &api.site;
    let poly = |p: &footfall_core::geometry::Polygon| p.0.iter().map(|q| [q.x, q.y]).collect();
    let plan = SitePlan {
        venue: site.venue.clone(),
        timezone: site.timezone.clone(),
        stores: site
            .stores
            .iter()
            .map(|s| SiteStore {
                id: s.id.clone(),
                name: s.name.clone(),
                category: s.category.clone(),
                polygon: poly(&s.polygon),
                zones: s.zones.iter().map(|z| SiteZone { id: z.id.clone(), name: z.name.clone(), polygon: poly(&z.polygon) }).collect(),
            })
            .collect(),
        sensors: site.sensors.iter().map(|s| SiteSensor { id: s.id.clone(), x: s.x, y: s.y, store: s.store.clone() }).collect(),
    };
    Ok(Json(plan))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Range {
    /// First local date with data.
    first: Option<String>,
    last: Option<String>,
}

/// The dates with data.
#[utoipa::path(get, path = "/api/v1/range", security(("bearer" = [])), responses((status = 200, body = Range), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
async fn range(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Json<Range>, Problem> {
    api.tokens.reader(&headers)?;
    let r = with_data(&api, |ds, _| {
        let d = |x| footfall_core::time::date_of_day(x).to_string();
        Ok(match ds.day_span() {
            Some((a, b)) => Range { first: Some(d(a)), last: Some(d(b)) },
            None => Range { first: None, last: None },
        })
    })
    .await?;
    Ok(Json(r))
}

/// A per-store endpoint: check access, resolve the range, compute.
async fn per_store<T: Serialize + Send + 'static>(
    api: &Arc<Api>,
    headers: &HeaderMap,
    store: String,
    params: RangeParams,
    f: impl FnOnce(&Dataset, &str, DayRange, Threshold) -> Result<T, QueryError> + Send + 'static,
) -> Result<Json<T>, Problem> {
    api.tokens.store_reader(headers, &store)?;
    let out = with_data(api, move |ds, t| {
        ds.store(&store)?;
        let r = params.resolve(ds)?;
        f(ds, &store, r, t)
    })
    .await?;
    Ok(Json(out))
}

/// A store's headline figures, with the previous period and the mall average.
#[utoipa::path(get, path = "/api/v1/stores/{store}/summary", security(("bearer" = [])), params(("store" = String, Path, description = "Store id"), RangeParams),
    responses((status = 200, body = views::Summary), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
async fn summary(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(store): Path<String>,
    Query(p): Query<RangeParams>,
) -> Result<Json<views::Summary>, Problem> {
    per_store(&api, &headers, store, p, views::summary).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MetricsParams {
    from: Option<String>,
    to: Option<String>,
    /// `hour`, `day` (default) or `week`.
    by: Option<Granularity>,
}

/// A store's figures per hour, day or ISO week.
#[utoipa::path(get, path = "/api/v1/stores/{store}/metrics", security(("bearer" = [])), params(("store" = String, Path, description = "Store id"), MetricsParams),
    responses((status = 200, body = views::Metrics), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
async fn metrics(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(store): Path<String>,
    Query(p): Query<MetricsParams>,
) -> Result<Json<views::Metrics>, Problem> {
    let by = p.by.unwrap_or(Granularity::Day);
    per_store(&api, &headers, store, RangeParams { from: p.from, to: p.to }, move |ds, s, r, t| views::metrics(ds, s, r, by, t)).await
}

/// Hour-of-day walk-ins and walk-bys (means per day with data), with the week before.
#[utoipa::path(get, path = "/api/v1/stores/{store}/hourly", security(("bearer" = [])), params(("store" = String, Path, description = "Store id"), RangeParams),
    responses((status = 200, body = views::Hourly), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
async fn hourly(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(store): Path<String>,
    Query(p): Query<RangeParams>,
) -> Result<Json<views::Hourly>, Problem> {
    per_store(&api, &headers, store, p, views::hourly).await
}

/// Walk-bys → walk-ins → engaged (stayed at least 5 minutes).
#[utoipa::path(get, path = "/api/v1/stores/{store}/funnel", security(("bearer" = [])), params(("store" = String, Path, description = "Store id"), RangeParams),
    responses((status = 200, body = views::Funnel), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
async fn funnel(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(store): Path<String>,
    Query(p): Query<RangeParams>,
) -> Result<Json<views::Funnel>, Problem> {
    per_store(&api, &headers, store, p, views::funnel).await
}

/// Dwell histogram: 5-minute bins up to 2 hours, then one open bin.
#[utoipa::path(get, path = "/api/v1/stores/{store}/dwell", security(("bearer" = [])), params(("store" = String, Path, description = "Store id"), RangeParams),
    responses((status = 200, body = views::Dwell), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
async fn dwell(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(store): Path<String>,
    Query(p): Query<RangeParams>,
) -> Result<Json<views::Dwell>, Problem> {
    per_store(&api, &headers, store, p, views::dwell).await
}

/// Zone heatmap values: visits reaching each zone, exposure, median dwell.
#[utoipa::path(get, path = "/api/v1/stores/{store}/zones", security(("bearer" = [])), params(("store" = String, Path, description = "Store id"), RangeParams),
    responses((status = 200, body = views::Zones), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
async fn zones(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(store): Path<String>,
    Query(p): Query<RangeParams>,
) -> Result<Json<views::Zones>, Problem> {
    per_store(&api, &headers, store, p, views::zones).await
}

/// Zone-to-zone transitions (null = entering or leaving the store).
#[utoipa::path(get, path = "/api/v1/stores/{store}/paths", security(("bearer" = [])), params(("store" = String, Path, description = "Store id"), RangeParams),
    responses((status = 200, body = views::Paths), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
async fn paths(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(store): Path<String>,
    Query(p): Query<RangeParams>,
) -> Result<Json<views::Paths>, Problem> {
    per_store(&api, &headers, store, p, views::paths).await
}

/// Store-to-store flows (cross-shopping). A retailer sees only the pairs touching its own
/// stores, each k-thresholded.
#[utoipa::path(get, path = "/api/v1/flows", security(("bearer" = [])), params(RangeParams),
    responses((status = 200, body = views::Flows), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
async fn flows(State(api): State<Arc<Api>>, headers: HeaderMap, Query(p): Query<RangeParams>) -> Result<Json<views::Flows>, Problem> {
    let c = api.tokens.reader(&headers)?;
    let out = with_data(&api, move |ds, t| {
        let r = p.resolve(ds)?;
        let own: Option<Vec<u16>> = (c.role == Role::Retailer).then(|| c.stores.iter().filter_map(|s| ds.site.store_index(s)).collect());
        Ok(views::flows(ds, r, t, own.as_deref()))
    })
    .await?;
    Ok(Json(out))
}

fn visible(c: &Caller, o: &Occupancy) -> Occupancy {
    o.only(|s| c.may_read_store(s))
}

/// People in each store and zone now (the stores this token may read).
#[utoipa::path(get, path = "/api/v1/occupancy", security(("bearer" = [])), responses((status = 200, body = Occupancy), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
async fn occupancy(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Json<Occupancy>, Problem> {
    let c = api.tokens.reader(&headers)?;
    Ok(Json(visible(&c, &api.live.occupancy())))
}

/// Server-Sent Events: `occupancy` (the same body as `/api/v1/occupancy`) at once and after
/// every applied batch, `alert` when a rule fires (see [`Alert`]).
#[utoipa::path(get, path = "/api/v1/live", security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream of `occupancy` and `alert` events", content_type = "text/event-stream", body = Alert), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
async fn live(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Response, Problem> {
    let c = Arc::new(api.tokens.reader(&headers)?);
    let c2 = c.clone();
    let occupancy = WatchStream::new(api.live.watch_occupancy())
        .map(move |o| Event::default().event("occupancy").json_data(visible(&c, &o)).unwrap_or_else(|_| Event::default()));
    let alerts = BroadcastStream::new(api.live.subscribe_alerts()).filter_map(move |a| {
        let c = c2.clone();
        async move {
            let a = a.ok()?;
            let allowed = a.store.as_deref().is_none_or(|s| c.may_read_store(s)) && (c.role == Role::Operator || a.store.is_some());
            allowed.then(|| Event::default().event("alert").json_data(&a).unwrap_or_else(|_| Event::default()))
        }
    });
    let mut stopping = api.stopping.clone();
    let stop = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    let events = futures_util::stream::select(occupancy, alerts).map(Ok::<_, Infallible>).take_until(stop);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}
