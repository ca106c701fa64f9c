//! Operations: the Prometheus `/metrics` page and the request-latency middleware.
//!
//! Owns the server's counters (observations accepted, dropped by reason, applied; requests
//! by route and status; a latency histogram per route) and their text exposition format.
//! Gauges (journal backlog, ingest lag, live occupancy) are read when scraped. It must not
//! hold anything personal: labels are route templates (`/api/v1/stores/{store}/summary`),
//! never paths with ids typed by a caller, tokens or bodies.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use footfall_transforms::filter::DropCounts;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub(crate) struct Ops {
    pub accepted: AtomicU64,
    pub applied: AtomicU64,
    /// Event time (ms) of the last applied observation, for the lag gauge.
    pub last_event_ms: AtomicI64,
    dropped: Mutex<BTreeMap<&'static str, u64>>,
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Ops {
    pub fn dropped(&self, d: &DropCounts) {
        let mut m = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        for (r, n) in &d.0 {
            *m.entry(r.name()).or_default() += n;
        }
    }

    fn observe(&self, route: String, status: u16, secs: f64) {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()).entry((route.clone(), status)).or_default() += 1;
        let mut lat = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = lat.entry(route).or_default();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.counts[i] += 1;
        }
        h.sum += secs;
        h.count += 1;
    }

    /// The exposition text; `gauges` are (name, help, value) read at scrape time.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(&mut out, "footfall_observations_accepted_total", "counter", "Observations accepted into the journal.");
        let _ = writeln!(out, "footfall_observations_accepted_total {}", self.accepted.load(Ordering::Relaxed));
        head(&mut out, "footfall_observations_applied_total", "counter", "Observations applied to the database.");
        let _ = writeln!(out, "footfall_observations_applied_total {}", self.applied.load(Ordering::Relaxed));
        head(&mut out, "footfall_observations_dropped_total", "counter", "Observations dropped at intake or ingest, by reason.");
        for (r, n) in self.dropped.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "footfall_observations_dropped_total{{reason=\"{r}\"}} {n}");
        }
        for (name, help, v) in gauges {
            head(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {v}");
        }
        head(&mut out, "footfall_http_requests_total", "counter", "HTTP requests by route and status.");
        for ((route, status), n) in self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "footfall_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        head(&mut out, "footfall_http_request_duration_seconds", "histogram", "HTTP request latency by route.");
        for (route, h) in self.latency.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let mut cum = 0;
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                cum += c;
                let _ = writeln!(out, "footfall_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {cum}");
            }
            let _ = writeln!(out, "footfall_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "footfall_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "footfall_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
        }
        out
    }
}

/// Middleware: count and time every request under its route template.
pub(crate) async fn track(State(ops): State<std::sync::Arc<Ops>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let res = next.run(req).await.into_response();
    ops.observe(route, res.status().as_u16(), started.elapsed().as_secs_f64());
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_transforms::filter::DropReason;

    #[test]
    fn exposition_has_counters_gauges_and_cumulative_buckets() {
        let ops = Ops::default();
        ops.accepted.fetch_add(7, Ordering::Relaxed);
        let mut d = DropCounts::default();
        d.add(DropReason::GroupAddress, 2);
        ops.dropped(&d);
        ops.observe("/meraki".into(), 200, 0.003);
        ops.observe("/meraki".into(), 200, 0.2);
        let text = ops.render(&[("footfall_journal_backlog_records", "Records waiting.", 3.0)]);
        for want in [
            "footfall_observations_accepted_total 7",
            "footfall_observations_dropped_total{reason=\"group_address\"} 2",
            "footfall_journal_backlog_records 3",
            "footfall_http_requests_total{route=\"/meraki\",status=\"200\"} 2",
            "footfall_http_request_duration_seconds_bucket{route=\"/meraki\",le=\"0.005\"} 1",
            "footfall_http_request_duration_seconds_bucket{route=\"/meraki\",le=\"0.25\"} 2",
            "footfall_http_request_duration_seconds_count{route=\"/meraki\"} 2",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
