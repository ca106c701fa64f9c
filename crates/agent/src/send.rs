//! Sending spooled batches: the HTTP transport, the answer's meaning, and the backoff.
//!
//! [`Transport`] posts one batch body and classifies the answer ([`Sent`]); [`Http`] is the
//! real one (`ureq`, `POST <server>/api/v1/ingest/observations` with the bearer token).
//! [`Sleep`] is how the sender waits between attempts, so tests wait milliseconds, not
//! seconds; [`Backoff`] doubles the wait from its minimum up to its maximum. Nothing here
//! logs a body or the token.

use std::time::Duration;

/// What became of one attempt to send a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// 200: stored, or `duplicate` (stored before). Either way the batch may be deleted.
    Accepted { duplicate: bool },
    /// Worth trying again later: no connection, a timeout, 5xx, 409 or 429.
    Retry(String),
    /// Will not succeed by retrying: another 4xx (bad token, unknown sensor, too large...).
    Refused { status: u16, detail: String },
}

/// Posts one batch body to the server.
pub trait Transport {
    fn post(&mut self, body: &[u8]) -> Sent;
}

/// Waits between attempts.
pub trait Sleep {
    fn sleep(&mut self, d: Duration);
}

/// Waits on the thread (the real clock).
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadSleep;

impl Sleep for ThreadSleep {
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// Capped exponential backoff: `min`, `2·min`, ... up to `max`; reset after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Option<Duration>,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff { min, max: max.max(min), current: None }
    }

    /// The next wait.
    pub fn next_wait(&mut self) -> Duration {
        let d = match self.current {
            None => self.min,
            Some(c) => (c * 2).min(self.max),
        };
        self.current = Some(d);
        d
    }

    pub fn reset(&mut self) {
        self.current = None;
    }
}

/// The path of the agent endpoint on a server.
pub const ENDPOINT: &str = "/api/v1/ingest/observations";

/// The real transport: HTTP(S) with `ureq`.
pub struct Http {
    agent: ureq::Agent,
    url: String,
    authorization: String,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http").field("url", &self.url).field("authorization", &"<redacted>").finish()
    }
}

impl Http {
    /// A transport to `server` (`http://host:port`, or `https://` when built with the `tls`
    /// feature) with the sensor token.
    pub fn new(server: &str, token: &str, timeout: Duration) -> Result<Http, String> {
        let server = server.trim().trim_end_matches('/');
        let https = server.starts_with("https://");
        if !https && !server.starts_with("http://") {
            return Err(format!("the server URL must start with http:// or https://, not {server:?}"));
        }
        if https && !cfg!(feature = "tls") {
            return Err("this footfall was built without HTTPS support: build it with `--features tls`, or use an http:// URL (e.g. through a TLS-terminating proxy or tunnel)".into());
        }
        if token.trim().is_empty() {
            return Err("the sensor token is empty: give --token or FOOTFALL_SENSOR_TOKEN".into());
        }
        let config = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build();
        Ok(Http {
            agent: ureq::Agent::new_with_config(config),
            url: format!("{server}{ENDPOINT}"),
            authorization: format!("Bearer {}", token.trim()),
        })
    }
}

/// The meaning of an answer's status (and body) for the agent.
pub fn classify(status: u16, body: &str) -> Sent {
    match status {
        200 => {
            let duplicate =
                serde_json::from_str::<serde_json::Value>(body).ok().and_then(|v| v.get("duplicate")?.as_bool()).unwrap_or(false);
            Sent::Accepted { duplicate }
        }
        409 | 429 | 500..=599 => Sent::Retry(format!("the server answered {status}")),
        _ => {
            let detail = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("detail")?.as_str().map(str::to_string))
                .unwrap_or_else(|| body.chars().take(200).collect());
            Sent::Refused { status, detail }
        }
    }
}

impl Transport for Http {
    fn post(&mut self, body: &[u8]) -> Sent {
        let answer =
            self.agent.post(&self.url).header("Authorization", &self.authorization).header("Content-Type", "application/json").send(body);
        match answer {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let text = resp.body_mut().read_to_string().unwrap_or_default();
                classify(status, &text)
            }
            Err(e) => Sent::Retry(format!("{} unreachable: {e}", self.url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(1000), ms(30_000));
        let waits: Vec<u128> = (0..7).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, vec![1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
        b.reset();
        assert_eq!(b.next_wait(), ms(1000));
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(200, r#"{"accepted":3,"duplicate":false}"#), Sent::Accepted { duplicate: false });
        assert_eq!(classify(200, r#"{"accepted":0,"duplicate":true}"#), Sent::Accepted { duplicate: true });
        for s in [409, 429, 500, 503] {
            assert!(matches!(classify(s, ""), Sent::Retry(_)), "{s}");
        }
        let refused = classify(
            403,
            r#"{"type":"about:blank","title":"Forbidden","status":403,"detail":"the sensor token is not the configured one"}"#,
        );
        assert_eq!(refused, Sent::Refused { status: 403, detail: "the sensor token is not the configured one".into() });
        assert!(matches!(classify(422, "plain"), Sent::Refused { status: 422, .. }));
    }

    #[test]
    fn urls_and_tokens_are_checked_up_front() {
        let t = Duration::from_secs(1);
        assert!(Http::new("ftp://x", "t", t).unwrap_err().contains("http://"));
        assert!(Http::new("http://127.0.0.1:1/", " ", t).unwrap_err().contains("token"));
        let h = Http::new("http://127.0.0.1:1/", "secret-token", t).unwrap();
        assert_eq!(h.url, "http://127.0.0.1:1/api/v1/ingest/observations");
        assert!(!format!("{h:?}").contains("secret-token"));
        if !cfg!(feature = "tls") {
            assert!(Http::new("https://x", "t", t).unwrap_err().contains("--features tls"));
        }
    }
}
