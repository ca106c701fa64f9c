//! The audience export endpoint: `POST /api/v1/stores/{store}/segments/{segment}/export`.
//!
//! Owns the endpoint's access rule (an operator, or a retailer of that store; sensors never),
//! its parameters, the refusals (409 below the audience k, nothing opened), the audit row
//! (actor `token:<token id>`, appended through a connection of its own before the file is
//! sent) and the file response. The k-gate, opening the sealed advertising IDs with the
//! deployment key and the formats are `footfall_query::audience`, shared with `footfall
//! export segment`. Only advertising IDs of the consented app feed are ever in the file; it
//! must not log an ID or a token, and nothing but the file itself carries an ID.

use crate::api::{Api, WindowParams, bad_query, query_problem, with_commerce};
use crate::problem::Problem;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use footfall_core::clock::Clock;
use footfall_query::QueryError;
use footfall_query::audience::{self, AudienceError, Export, Format};
use footfall_query::segments::{self, Segment};
use footfall_store::Store;
use footfall_transforms::seal::Sealer;
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use utoipa::IntoParams;

/// What exports need beyond the read API: the deployment key (as a vault opener), the
/// audience k, a connection for the audit log, and the clock of its timestamps.
pub(crate) struct Exporter {
    audit: Mutex<Store>,
    sealer: Sealer,
    k: u64,
    clock: Arc<dyn Clock>,
}

impl Exporter {
    pub fn new(audit: Store, key: [u8; footfall_transforms::KEY_LEN], k: u64, clock: Arc<dyn Clock>) -> Self {
        Exporter { audit: Mutex::new(audit), sealer: Sealer::new(key), k: k.max(audience::MIN_AUDIENCE_K), clock }
    }

    /// The audience k (never below 20).
    pub fn k(&self) -> u64 {
        self.k
    }
}

/// The file format, and the segment window (as for the sizes).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportParams {
    /// `meta` (Meta Custom Audience, `madid` column), `google` (Google Customer Match,
    /// `Mobile Device ID` column) or `ttd` (The Trade Desk / LiveRamp-style `id,id_type,segment`).
    format: String,
    /// First local date of the window, `YYYY-MM-DD`.
    from: Option<String>,
    /// Last local date of the window, `YYYY-MM-DD` (inclusive).
    to: Option<String>,
    /// A customer not seen in the last this many days of the window is lost.
    lost_after_days: Option<u32>,
}

enum Failed {
    Query(QueryError),
    Audience(AudienceError),
}

impl From<QueryError> for Failed {
    fn from(e: QueryError) -> Self {
        Failed::Query(e)
    }
}

impl From<AudienceError> for Failed {
    fn from(e: AudienceError) -> Self {
        Failed::Audience(e)
    }
}

fn problem(f: Failed) -> Problem {
    match f {
        Failed::Query(e) => query_problem(e),
        Failed::Audience(e @ AudienceError::TooSmall { .. }) => Problem::new(StatusCode::CONFLICT, e.to_string()),
        Failed::Audience(e @ AudienceError::Unopenable { .. }) => {
            tracing::error!("audience export: {e}");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Failed::Audience(AudienceError::Store(e)) => {
            tracing::error!("audience export: {e}");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the database could not be read or the export could not be audited; retry")
        }
    }
}

/// Export a store's segment as an ad-platform file of advertising IDs (operator, or a retailer
/// of this store). Only advertising IDs of the consented app feed are exported, never WiFi
/// devices. A segment with fewer IDs than the audience k (`[audience] k`, at least 20) is
/// refused with 409 and nothing is opened or sent (the detail states the size as the sizes
/// endpoint publishes it: "fewer than k" below the privacy k). Every export is appended to the audit log
/// (`footfall export audit`) with actor `token:<token id>` before the file is sent; the
/// `X-Footfall-Export-Sha256` header is the file's SHA-256 as audited.
#[utoipa::path(post, path = "/api/v1/stores/{store}/segments/{segment}/export", security(("bearer" = [])),
    params(("store" = String, Path, description = "Store id"), ("segment" = String, Path, description = "outside-potential, just-looking, best-customers, lost-customers or competitors-customers"), ExportParams),
    responses((status = 200, description = "The audience file (CSV), as an attachment", content_type = "text/csv", body = String),
        (status = 400, body = crate::api::ProblemDoc), (status = 401, body = crate::api::ProblemDoc), (status = 403, body = crate::api::ProblemDoc),
        (status = 404, body = crate::api::ProblemDoc), (status = 409, description = "The segment has fewer advertising IDs than the audience k; nothing was exported", body = crate::api::ProblemDoc)))]
pub(crate) async fn export(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Path((store, segment)): Path<(String, String)>,
    p: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(p) = p.map_err(bad_query)?;
    let caller = api.tokens.store_reader(&headers, &store)?;
    let segment = Segment::parse(&segment).ok_or_else(|| {
        let all: Vec<&str> = Segment::ALL.iter().map(|s| s.name()).collect();
        Problem::new(StatusCode::NOT_FOUND, format!("no segment {segment:?}; one of: {}", all.join(", ")))
    })?;
    let format = Format::parse(&p.format).ok_or_else(|| {
        let all: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        Problem::new(StatusCode::BAD_REQUEST, format!("format={:?} is not one of: {}", p.format, all.join(", ")))
    })?;
    let window = WindowParams { from: p.from, to: p.to, lost_after_days: p.lost_after_days };
    let actor = format!("token:{}", caller.id);
    let export: Export = with_commerce(
        &api,
        move |api, ds, c| -> Result<Export, Failed> {
            let s = ds.store(&store)?;
            let w = window.resolve(ds, &api.segments)?;
            let seg = segments::compute(ds, c, w);
            let ex = &api.exporter;
            let gated = audience::gate(&ds.site, &seg, s, segment, w, ex.k, api.threshold)?;
            let export = api.with_reader(|r| gated.open(r, &ex.sealer, format))?;
            let row = export.audit(ex.clock.now_ms(), actor);
            ex.audit.lock().unwrap_or_else(|e| e.into_inner()).append_export_audit(&row).map_err(AudienceError::Store)?;
            tracing::info!(
                "audience export: {} advertising IDs of {} at store {} ({} format) for {}; audited",
                export.size,
                segment.name(),
                export.store,
                format.name(),
                row.actor
            );
            Ok(export)
        },
        problem,
    )
    .await?;
    let disposition = format!("attachment; filename=\"{}\"", export.file_name());
    let mut res = (StatusCode::OK, export.body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&export.sha256) {
        h.insert("x-footfall-export-sha256", v);
    }
    h.insert("x-footfall-export-size", HeaderValue::from(export.size));
    Ok(res)
}
