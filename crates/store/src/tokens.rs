//! API tokens: who may read or post what through `footfall serve`.
//!
//! A token is shown once, when created, as `fft_<id>_<secret>`; the database keeps only the
//! id, the BLAKE3 hash of the secret, the role, the stores a retailer may see and a label.
//! Checking a presented token looks the id up and compares the hashes (BLAKE3's `Hash`
//! comparison is constant-time). This module owns the token table and the token text format;
//! deciding what a role may do per endpoint is the server's job.

use crate::{Store, StoreError};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Who a token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The venue's operator: reads everything.
    Operator,
    /// A tenant: reads its own stores' figures only.
    Retailer,
    /// A sensor or a feed: posts observations, reads nothing.
    Sensor,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Retailer => "retailer",
            Role::Sensor => "sensor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Operator, Role::Retailer, Role::Sensor].into_iter().find(|r| r.name() == s)
    }
}

/// A stored token, without its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub role: Role,
    /// The stores a retailer may see (empty for other roles).
    pub stores: Vec<String>,
    pub label: String,
    pub created_ms: i64,
}

/// A newly created token: the text to hand over (shown once) and what was stored.
pub struct NewToken {
    pub token: String,
    pub info: TokenInfo,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a retailer token needs at least one store (--store ID)")]
    RetailerWithoutStore,
    #[error("only retailer tokens are limited to stores; an {0} token sees {1}")]
    StoresNotAllowed(&'static str, &'static str),
    #[error("unknown store {0:?}; the site has: {1}")]
    UnknownStore(String, String),
    #[error("no token with id {0:?}")]
    NotFound(String),
    #[error("cannot create a random token: {0}")]
    Random(String),
}

const PREFIX: &str = "fft_";

fn hash_secret(secret: &str) -> String {
    blake3::hash(secret.as_bytes()).to_hex().to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Split `fft_<id>_<secret>` into its id and secret.
fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

impl Store {
    /// Create a token. `stores` must be non-empty for a retailer and empty otherwise, and every
    /// store must exist in the stored site.
    pub fn create_token(&self, role: Role, stores: &[String], label: &str, now_ms: i64) -> Result<NewToken, TokenError> {
        match role {
            Role::Retailer if stores.is_empty() => return Err(TokenError::RetailerWithoutStore),
            Role::Operator if !stores.is_empty() => return Err(TokenError::StoresNotAllowed("operator", "the whole venue")),
            Role::Sensor if !stores.is_empty() => return Err(TokenError::StoresNotAllowed("sensor", "no figures")),
            _ => {}
        }
        if !stores.is_empty() {
            let site = self.require_site()?;
            for s in stores {
                if site.store_index(s).is_none() {
                    let known = site.stores.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ");
                    return Err(TokenError::UnknownStore(s.clone(), known));
                }
            }
        }
        let mut raw = [0u8; 20];
        getrandom::fill(&mut raw).map_err(|e| TokenError::Random(e.to_string()))?;
        let (id, secret) = (hex(&raw[..4]), hex(&raw[4..]));
        let stores_json = serde_json::to_string(stores).unwrap_or_else(|_| "[]".into());
        self.conn()
            .execute(
                "INSERT INTO api_tokens (id, secret_hash, role, stores, label, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, hash_secret(&secret), role.name(), stores_json, label, now_ms],
            )
            .map_err(self.err())?;
        let info = TokenInfo { id: id.clone(), role, stores: stores.to_vec(), label: label.to_string(), created_ms: now_ms };
        Ok(NewToken { token: format!("{PREFIX}{id}_{secret}"), info })
    }

    /// The token a bearer string stands for, if it is a valid, unrevoked token.
    pub fn check_token(&self, token: &str) -> Result<Option<TokenInfo>, StoreError> {
        let Some((id, secret)) = split(token.trim()) else { return Ok(None) };
        let row: Option<(String, String, String, String, i64)> = self
            .conn()
            .query_row("SELECT secret_hash, role, stores, label, created_ms FROM api_tokens WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()
            .map_err(self.err())?;
        let Some((stored, role, stores, label, created_ms)) = row else { return Ok(None) };
        let (Ok(stored), Ok(given)) = (blake3::Hash::from_hex(&stored), blake3::Hash::from_hex(hash_secret(secret))) else {
            return Ok(None);
        };
        // `blake3::Hash` equality is constant-time.
        if stored != given {
            return Ok(None);
        }
        let Some(role) = Role::parse(&role) else { return Ok(None) };
        let stores = serde_json::from_str(&stores).unwrap_or_default();
        Ok(Some(TokenInfo { id: id.to_string(), role, stores, label, created_ms }))
    }

    pub fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let mut st = self
            .conn()
            .prepare("SELECT id, role, stores, label, created_ms FROM api_tokens ORDER BY created_ms, id")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?)))
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (id, role, stores, label, created_ms) = row.map_err(self.err())?;
            let Some(role) = Role::parse(&role) else { continue };
            out.push(TokenInfo { id, role, stores: serde_json::from_str(&stores).unwrap_or_default(), label, created_ms });
        }
        Ok(out)
    }

    /// Revoke (delete) a token by id; it stops working at once.
    pub fn revoke_token(&self, id: &str) -> Result<(), TokenError> {
        let n = self.conn().execute("DELETE FROM api_tokens WHERE id = ?1", [id]).map_err(self.err())?;
        if n == 0 {
            return Err(TokenError::NotFound(id.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_site() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let site = crate::sqlite::tests::site();
        store.put_site(&site, 0).unwrap();
        (dir, store)
    }

    #[test]
    fn created_token_checks_and_only_its_hash_is_stored() {
        let (dir, store) = store_with_site();
        let t = store.create_token(Role::Retailer, &["s1".into()], "shop", 5).unwrap();
        let got = store.check_token(&t.token).unwrap().unwrap();
        assert_eq!(got, t.info);
        assert_eq!(got.stores, vec!["s1".to_string()]);
        let secret = t.token.rsplit('_').next().unwrap();
        drop(store);
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is in the database files");
        }
    }

    #[test]
    fn wrong_secrets_and_revoked_tokens_fail() {
        let (_dir, store) = store_with_site();
        let t = store.create_token(Role::Operator, &[], "ops", 1).unwrap();
        let (id, secret) = split(&t.token).unwrap();
        let mut flipped = secret.to_string();
        flipped.replace_range(0..1, if secret.starts_with('0') { "1" } else { "0" });
        for bad in [format!("fft_{id}_{flipped}"), format!("fft_{id}_"), "fft_".into(), "nonsense".into(), format!("fft_ffffffff_{secret}")]
        {
            assert_eq!(store.check_token(&bad).unwrap(), None, "{bad}");
        }
        assert_eq!(store.list_tokens().unwrap().len(), 1);
        store.revoke_token(id).unwrap();
        assert_eq!(store.check_token(&t.token).unwrap(), None);
        assert!(matches!(store.revoke_token(id), Err(TokenError::NotFound(_))));
    }

    #[test]
    fn role_and_store_rules() {
        let (_dir, store) = store_with_site();
        assert!(matches!(store.create_token(Role::Retailer, &[], "", 0), Err(TokenError::RetailerWithoutStore)));
        assert!(matches!(store.create_token(Role::Operator, &["s1".into()], "", 0), Err(TokenError::StoresNotAllowed(..))));
        assert!(matches!(store.create_token(Role::Sensor, &["s1".into()], "", 0), Err(TokenError::StoresNotAllowed(..))));
        assert!(matches!(store.create_token(Role::Retailer, &["nope".into()], "", 0), Err(TokenError::UnknownStore(..))));
    }
}
