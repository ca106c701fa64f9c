//! Error responses as RFC 9457 problem details.
//!
//! Every refusal the server answers is a [`Problem`]: `application/problem+json` with
//! `{"type":"about:blank","title":<status phrase>,"status":<code>,"detail":<reason>}`. This
//! module owns that shape only; which status fits which refusal is the routes' business.
//! A detail never echoes a secret or a body's content beyond a parser's short message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug)]
pub(crate) struct Problem {
    pub status: StatusCode,
    pub detail: String,
    /// Ask for a bearer token (`WWW-Authenticate: Bearer`), for 401.
    pub bearer_challenge: bool,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into(), bearer_challenge: false }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Body {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
        };
        let json = serde_json::to_string(&body).unwrap_or_default();
        let mut res = (self.status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"))], json).into_response();
        if self.bearer_challenge {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}
