//! Who is asking: bearer tokens → a [`Caller`] with a role, and what each role may do.
//!
//! Owns reading the `Authorization: Bearer` header, checking it against the token table
//! (through a read connection of its own) or the configured sensor token, and the access
//! rules: operators read the venue, retailers read their own stores, sensors only post.
//! It answers 401 without a token, 403 for a token that may not do this; it never logs a
//! token. Which figures an endpoint computes is the API's business.

use crate::problem::Problem;
use axum::http::{HeaderMap, StatusCode, header};
use footfall_store::Store;
use footfall_store::tokens::Role;
use std::sync::Mutex;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The token's id (the public part of `fft_<id>_<secret>`), for the audit log.
    pub id: String,
    pub role: Role,
    /// The stores a retailer may see (empty otherwise).
    pub stores: Vec<String>,
}

impl Caller {
    /// May this caller read figures of `store`?
    pub fn may_read_store(&self, store: &str) -> bool {
        match self.role {
            Role::Operator => true,
            Role::Retailer => self.stores.iter().any(|s| s == store),
            Role::Sensor => false,
        }
    }
}

/// The bearer token of a request, if it has a well-formed `Authorization: Bearer` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(crate) fn unauthorized(what: &str) -> Problem {
    let mut p = Problem::new(StatusCode::UNAUTHORIZED, format!("send {what} as `Authorization: Bearer <token>`"));
    p.bearer_challenge = true;
    p
}

/// Checks tokens against the database's token table.
pub(crate) struct Tokens {
    store: Mutex<Store>,
}

impl Tokens {
    pub fn new(store: Store) -> Self {
        Tokens { store: Mutex::new(store) }
    }

    /// The caller a request's token stands for: 401 without one, 403 for an unknown one.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, Problem> {
        let Some(token) = bearer(headers) else { return Err(unauthorized("an API token (footfall token create)")) };
        let found = {
            let store = self.store.lock().map_err(|_| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the token check is unavailable"))?;
            store.check_token(token)
        };
        match found {
            Ok(Some(info)) => Ok(Caller { id: info.id, role: info.role, stores: info.stores }),
            Ok(None) => Err(Problem::new(StatusCode::FORBIDDEN, "this token is not valid (revoked, mistyped, or from another database)")),
            Err(e) => {
                tracing::error!("checking a token: {e}");
                Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "the token check failed; retry"))
            }
        }
    }

    /// A caller who may read figures (operator or retailer).
    pub fn reader(&self, headers: &HeaderMap) -> Result<Caller, Problem> {
        let c = self.caller(headers)?;
        if c.role == Role::Sensor {
            return Err(Problem::new(StatusCode::FORBIDDEN, "a sensor token may only post observations"));
        }
        Ok(c)
    }

    /// A reader of `store`'s figures.
    pub fn store_reader(&self, headers: &HeaderMap, store: &str) -> Result<Caller, Problem> {
        let c = self.reader(headers)?;
        if !c.may_read_store(store) {
            return Err(Problem::new(StatusCode::FORBIDDEN, format!("this token may not read store {store:?}")));
        }
        Ok(c)
    }

    /// Is this a sensor token from the table (for the ingest endpoints)?
    pub fn is_sensor(&self, token: &str) -> bool {
        let Ok(store) = self.store.lock() else { return false };
        matches!(store.check_token(token), Ok(Some(info)) if info.role == Role::Sensor)
    }
}
