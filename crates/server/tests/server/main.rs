//! The server end to end, in-process: `serve` on `127.0.0.1:0` with a oneshot shutdown,
//! driven over real TCP by a minimal HTTP/1.1 client. One test binary, a module per topic.

// Helpers of a test binary: panicking on a failed step is how they report it.
#![allow(clippy::unwrap_used)]

mod agent;
mod api;
mod jsonl;
mod meraki;
mod privacy;
mod recovery;

use footfall_core::Site;
use footfall_server::journal::Journal;
use footfall_server::{ServerConfig, ServerError, serve};
use footfall_sources::Source;
use footfall_sources::jsonl::JsonlSource;
use footfall_store::Store;
use footfall_transforms::intake::Intake;
use footfall_transforms::sessionize::Sessions;
use footfall_transforms::{Pipeline, PipelineConfig, Pseudonymizer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(name)
}

pub fn meraki_site() -> Site {
    Site::from_json(&std::fs::read_to_string(fixture("meraki-site.json")).unwrap()).unwrap()
}

/// A config on `dir/m.db` with the Meraki samples' site, applying only at shutdown.
pub fn config(dir: &Path) -> ServerConfig {
    let mut c = ServerConfig::new(dir.join("m.db"));
    c.site = Some(meraki_site());
    c.ingest_interval = Duration::from_secs(3600);
    c
}

/// A config that leaves the journal unapplied at shutdown, as a crash would.
pub fn crashing(dir: &Path) -> ServerConfig {
    let mut c = config(dir);
    c.flush_on_shutdown = false;
    c
}

pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Running {
    pub async fn start(config: ServerConfig) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            listener,
            async move {
                let _ = rx.await;
            },
            config,
        ));
        let running = Running { addr, stop: Some(tx), task };
        // The listener is bound already, so this waits for startup (recovery included).
        assert_eq!(running.get("/healthz").await.status, 200);
        running
    }

    /// Signal shutdown and wait for `serve` to return.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(60), &mut self.task).await.expect("serve did not stop").unwrap()
    }

    pub async fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path, &[], b"").await
    }

    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        request(self.addr, "POST", path, headers, body).await
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// Assert an RFC 9457 problem with this status; return its detail.
    pub fn problem(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        let p = self.json();
        assert_eq!(p["type"], "about:blank");
        assert_eq!(p["status"], status);
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()));
        p["detail"].as_str().unwrap().to_string()
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`), read to the end.
pub async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    // A server refusing early may close before the body is sent; the answer is still there.
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    read_reply(&mut s).await
}

pub async fn read_reply(s: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut raw)).await.expect("no answer").unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no header end: {raw:?}"));
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Reply { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 2 + n + 2..];
    }
    out
}

/// The JSON documents of a sample: one per line for `.jsonl`, else the whole file.
pub fn posts_of(name: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(fixture(&format!("meraki/{name}"))).unwrap();
    if name.ends_with(".jsonl") {
        bytes.split(|&b| b == b'\n').filter(|l| !l.trim_ascii().is_empty()).map(<[u8]>::to_vec).collect()
    } else {
        vec![bytes]
    }
}

/// A sensor JSON-lines stream: shoppers who stay (strong signal, several minutes) and
/// walk-bys (weak, short), then one late frame that lets idle episodes close.
pub fn stream() -> Vec<String> {
    let base: i64 = 1_772_445_600_000;
    let mut lines = Vec::new();
    for t in (0..900).step_by(5) {
        for d in 0..8u8 {
            let start = d as i64 * 40;
            let (stay, rssi) = if d % 2 == 0 { (300, -55) } else { (25, -75) };
            if (t as i64) < start || (t as i64) >= start + stay {
                continue;
            }
            let sensor = ["ap1", "ap2", "00:18:0a:13:dd:b0"][d as usize % 3];
            lines.push(format!(
                r#"{{"ts":{},"sensor":"{sensor}","mac":"00:16:3e:00:01:{d:02x}","rssi":{rssi}}}"#,
                base + t as i64 * 1000 + d as i64
            ));
        }
    }
    // Two frames much later, further apart than the allowed lateness: the first is released
    // by the second and its sweep closes the idle episodes.
    for t in [4_000_000, 4_400_000] {
        lines.push(format!(r#"{{"ts":{},"sensor":"ap1","mac":"00:16:3e:00:02:00","rssi":-60}}"#, base + t));
    }
    lines
}

/// `lines` split into `n` bodies, in order.
pub fn chunks(lines: &[String], n: usize) -> Vec<String> {
    let size = lines.len().div_ceil(n);
    lines.chunks(size).map(|c| c.join("\n") + "\n").collect()
}

/// What the store should hold after `body` went through intake and the pipeline once, in
/// process, under the deployment key of `db`.
pub fn reference(db: &Path, body: &[u8]) -> (String, Sessions, Vec<footfall_transforms::activity::DayActivity>) {
    let site = meraki_site();
    let (key, _) = footfall_store::keyfile::load_or_create(&footfall_store::keyfile::default_path(db)).unwrap();
    let mut intake = Intake::new(&site, Pseudonymizer::new(key));
    let mut pipeline = Pipeline::new(&site, PipelineConfig::default());
    let mut sessions = Sessions::default();
    JsonlSource::new(body, "reference")
        .run(
            &mut |raw| {
                if let Some(o) = intake.accept(&raw) {
                    pipeline.push(o, &mut sessions);
                }
            },
            &mut |_| {},
        )
        .unwrap();
    sessions.sort();
    let mut activity = pipeline.take_activity();
    activity.sort_by_key(|a| (a.day, a.device));
    (pipeline.snapshot(), sessions, activity)
}

/// Assert the store holds exactly what `reference` computes for `body`.
pub fn assert_store_matches(db: &Path, body: &[u8]) {
    let (state, sessions, activity) = reference(db, body);
    let store = Store::open(db).unwrap();
    let site = meraki_site();
    let mut stored = Sessions { visits: store.visits(&site).unwrap(), passes: store.passes(&site).unwrap() };
    stored.sort();
    assert!(!sessions.visits.is_empty() && !sessions.passes.is_empty(), "the reference stream should make visits and walk-bys");
    assert_eq!(stored, sessions, "visits and walk-bys");
    let mut stored_activity = store.activity().unwrap();
    stored_activity.sort_by_key(|a| (a.day, a.device));
    assert_eq!(stored_activity, activity, "per-day activity");
    assert_eq!(store.pipeline_state().unwrap().as_deref(), Some(state.as_str()), "pipeline state (counts every observation)");
}

pub fn journal_path(dir: &Path) -> PathBuf {
    Journal::path_for(&dir.join("m.db"))
}

pub fn applied(dir: &Path) -> Option<u64> {
    Store::open(&dir.join("m.db")).unwrap().journal_applied().unwrap()
}
