//! The read API under `/api/v1`: the site, figures per store, sales (POS conversion), segment
//! sizes, flows, occupancy and the live event stream, with its OpenAPI document generated
//! from these handlers (and the audience export's, in [`crate::audience`]).
//!
//! Owns the read endpoints' routes, parameters and access checks (through [`crate::auth`])
//! and the cached [`Dataset`] with its [`Commerce`] (loaded when first asked for; both
//! reloaded when the database changed: SQLite's `data_version`).
//! Figures are computed and k-thresholded by `footfall-query`; this module never publishes
//! a count it computed itself. It must not write to the database.

use crate::auth::{Caller, Tokens};
use crate::live::{Alert, Live, Occupancy};
use crate::problem::Problem;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use footfall_query::commerce::{self, Commerce};
use footfall_query::segments::{self, SegmentConfig, StoreSizes, Window};
use footfall_query::views::{self, Granularity};
use footfall_query::{Dataset, DayRange, QueryError, Release, Threshold};
use footfall_store::Store;
use footfall_store::tokens::Role;
use footfall_transforms::PipelineConfig;
use footfall_transforms::attribute::AttributeConfig;
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
    pub cache: Mutex<Option<Cached>>,
    pub pipeline: PipelineConfig,
    /// Attributing sales to visits (`[pos]`).
    pub attribute: AttributeConfig,
    /// The default segment window (`[segments]`).
    pub segments: SegmentConfig,
    pub threshold: Threshold,
    /// Differential-privacy noise of published counts (every count of every endpoint), when on.
    pub noise: Option<footfall_query::noise::Noise>,
    pub live: Arc<Live>,
    /// Becomes true when the server stops, to end live streams.
    pub stopping: watch::Receiver<bool>,
    /// Audience exports (k-gate, vault, audit log).
    pub exporter: crate::audience::Exporter,
}

/// What was loaded at one `data_version`: the dataset, and its commerce once asked for.
pub(crate) struct Cached {
    version: i64,
    ds: Arc<Dataset>,
    commerce: Option<Arc<Commerce>>,
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
        .route("/api/v1/stores/{store}/sales", get(sales))
        .route("/api/v1/stores/{store}/segments", get(segment_sizes))
        .route("/api/v1/stores/{store}/segments/{segment}/export", axum::routing::post(crate::audience::export))
        .route("/api/v1/flows", get(flows))
        .route("/api/v1/occupancy", get(occupancy))
        .route("/api/v1/live", get(live))
        .with_state(api)
}

/// The OpenAPI document of the whole server (read API and ingest endpoints).
#[derive(OpenApi)]
#[openapi(
    info(title = "footfall", description = "Privacy-first shopper analytics: the HTTP API of `footfall serve`. Every count is k-thresholded: counts of 1..k-1 devices are null."),
    paths(me, site, range, summary, metrics, hourly, funnel, dwell, zones, paths, sales, segment_sizes, crate::audience::export, flows, occupancy, live, crate::routes::jsonl_post, crate::routes::observations_post, crate::routes::meraki_post, crate::routes::meraki_validator, crate::routes::optout_post, crate::routes::healthz, crate::routes::readyz),
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

pub(crate) fn query_problem(e: QueryError) -> Problem {
    match e {
        QueryError::UnknownStore(s) => Problem::new(StatusCode::NOT_FOUND, format!("no store {s:?} in the site")),
        QueryError::BadRange(why) => Problem::new(StatusCode::BAD_REQUEST, why),
        QueryError::NoData => Problem::new(StatusCode::NOT_FOUND, "no visits or walk-bys have been recorded yet"),
        other => {
            tracing::error!("loading the data for a query: {other}");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the database could not be read; retry")
        }
    }
}

impl Api {
    /// The cache entry of the database's current `data_version`: the dataset is reloaded
    /// (and the commerce dropped) when another connection has committed.
    fn current<'a>(&self, reader: &Store, cache: &'a mut Option<Cached>) -> Result<&'a mut Cached, QueryError> {
        let version = reader.data_version()?;
        let fresh = match cache.take() {
            Some(c) if c.version == version => c,
            _ => Cached { version, ds: Arc::new(Dataset::load(reader, &self.pipeline, &self.pipeline.exclude, false)?), commerce: None },
        };
        Ok(cache.insert(fresh))
    }

    /// How figures are released: the k-threshold, and the noise when on.
    pub(crate) fn release(&self) -> Release {
        Release { threshold: self.threshold, noise: self.noise }
    }

    /// The current dataset.
    fn dataset(&self) -> Result<Arc<Dataset>, QueryError> {
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.current(&reader, &mut cache)?.ds.clone())
    }

    /// The current dataset and its transactions and app feed attributed to its visits
    /// (loaded on first use, cached beside the dataset it indexes into).
    pub(crate) fn commerce(&self) -> Result<(Arc<Dataset>, Arc<Commerce>), QueryError> {
        let reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let c = self.current(&reader, &mut cache)?;
        let commerce = match &c.commerce {
            Some(x) => x.clone(),
            None => {
                let x = Arc::new(Commerce::load(&reader, &c.ds, &self.attribute)?);
                c.commerce = Some(x.clone());
                x
            }
        };
        Ok((c.ds.clone(), commerce))
    }

    /// Read the store (the vault of the audience export) on the read connection.
    pub(crate) fn with_reader<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.reader.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Run a computation over the dataset on the blocking pool.
async fn with_data<T: Send + 'static>(
    api: &Arc<Api>,
    f: impl FnOnce(&Dataset, Release) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, Problem> {
    let api = api.clone();
    tokio::task::spawn_blocking(move || {
        let ds = api.dataset()?;
        f(&ds, api.release())
    })
    .await
    .map_err(|_| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error while computing the answer"))?
    .map_err(query_problem)
}

/// Run a computation over the dataset and its commerce on the blocking pool; `problem` maps
/// its error (a [`QueryError`] while loading) to the answer.
pub(crate) async fn with_commerce<T: Send + 'static, E: From<QueryError> + Send + 'static>(
    api: &Arc<Api>,
    f: impl FnOnce(&Api, &Dataset, &Commerce) -> Result<T, E> + Send + 'static,
    problem: impl FnOnce(E) -> Problem + Send + 'static,
) -> Result<T, Problem> {
    let api = api.clone();
    tokio::task::spawn_blocking(move || {
        let (ds, c) = api.commerce()?;
        f(&api, &ds, &c)
    })
    .await
    .map_err(|_| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error while computing the answer"))?
    .map_err(problem)
}

/// A query string that does not parse is a 400 problem, like every other refusal.
pub(crate) fn bad_query(r: QueryRejection) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, r.body_text())
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
    f: impl FnOnce(&Dataset, &str, DayRange, Release) -> Result<T, QueryError> + Send + 'static,
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

/// A store's sales from the POS feed, in total and per hour, day or ISO week: transactions,
/// attributed to a visit at the cashier or not, conversion (attributed / visits), average
/// transaction value and shopper yield (sales / visits), every count k-thresholded (and every
/// value computed from a suppressed count suppressed with it).
#[utoipa::path(get, path = "/api/v1/stores/{store}/sales", security(("bearer" = [])), params(("store" = String, Path, description = "Store id"), MetricsParams),
    responses((status = 200, body = commerce::StoreSales), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
async fn sales(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(store): Path<String>,
    p: Result<Query<MetricsParams>, QueryRejection>,
) -> Result<Json<commerce::StoreSales>, Problem> {
    let Query(p) = p.map_err(bad_query)?;
    api.tokens.store_reader(&headers, &store)?;
    let by = p.by.unwrap_or(Granularity::Day);
    let range = RangeParams { from: p.from, to: p.to };
    let out = with_commerce(
        &api,
        move |api, ds, c| {
            ds.store(&store)?;
            let r = range.resolve(ds)?;
            commerce::store_sales(ds, c, &store, r, by, api.release())
        },
        query_problem,
    )
    .await?;
    Ok(Json(out))
}

/// The window of segments: `from`/`to` else `[segments] window_days` days ending with the
/// last day with data; `lost_after_days` else `[segments] lost_after_days`.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub(crate) struct WindowParams {
    /// First local date, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last local date, `YYYY-MM-DD` (inclusive).
    pub to: Option<String>,
    /// A customer not seen in the last this many days of the window is lost.
    pub lost_after_days: Option<u32>,
}

impl WindowParams {
    pub(crate) fn resolve(&self, ds: &Dataset, cfg: &SegmentConfig) -> Result<Window, QueryError> {
        Window::parse(ds, cfg, self.from.as_deref(), self.to.as_deref(), self.lost_after_days)
    }
}

/// A store's five segments over a window.
#[derive(Serialize, ToSchema)]
pub(crate) struct SegmentSizes {
    window: Window,
    /// The k-threshold of the sizes.
    k: u64,
    /// The smallest exportable audience (advertising IDs).
    audience_k: u64,
    /// Epsilon per size when differential-privacy noise is on (`[privacy] epsilon`).
    noise_epsilon_per_count: Option<f64>,
    #[serde(flatten)]
    sizes: StoreSizes,
}

/// A store's five audience segments (outside potential, just looking, best customers, lost
/// customers, competitors' customers) in both identity spaces: WiFi devices with a globally
/// unique MAC (counted, never exported) and advertising IDs of the consented app feed. Sizes
/// below k are null; `exportable` says whether the advertising IDs reach the audience k.
#[utoipa::path(get, path = "/api/v1/stores/{store}/segments", security(("bearer" = [])), params(("store" = String, Path, description = "Store id"), WindowParams),
    responses((status = 200, body = SegmentSizes), (status = 400, body = ProblemDoc), (status = 403, body = ProblemDoc), (status = 404, body = ProblemDoc)))]
async fn segment_sizes(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path(store): Path<String>,
    p: Result<Query<WindowParams>, QueryRejection>,
) -> Result<Json<SegmentSizes>, Problem> {
    let Query(p) = p.map_err(bad_query)?;
    api.tokens.store_reader(&headers, &store)?;
    let out = with_commerce(
        &api,
        move |api, ds, c| {
            let s = ds.store(&store)?;
            let window = p.resolve(ds, &api.segments)?;
            let seg = segments::compute(ds, c, window);
            let audience_k = api.exporter.k();
            Ok(SegmentSizes {
                window,
                k: api.threshold.k(),
                audience_k,
                noise_epsilon_per_count: api.noise.as_ref().map(|n| n.epsilon()),
                sizes: segments::store_sizes(ds, &seg, s, api.threshold, audience_k, api.noise.as_ref()),
            })
        },
        query_problem,
    )
    .await?;
    Ok(Json(out))
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
