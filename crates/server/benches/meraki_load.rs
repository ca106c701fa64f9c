//! Load benchmark of the Meraki receiver on loopback: Scanning API v3 posts from several
//! keep-alive connections at once, as fast as the server answers, for a fixed number of
//! posts. Prints the sustained rate (Meraki observations and the sensor readings they carry
//! per second), request latency percentiles, and checks that nothing was lost: after a
//! graceful stop, every reading sent is in the pipeline's saved state (processed, or held for
//! reordering) or in a drop counter of the database.
//!
//! `cargo bench -p footfall-server --bench meraki_load` (env: `LOAD_POSTS`, `LOAD_OBS`
//! per post, `LOAD_CONNS`, `LOAD_RUNS`). Figures go to benches/README.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use footfall_core::Site;
use footfall_server::{ServerConfig, serve};
use footfall_store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const STORES: usize = 8;
const APS_PER_STORE: usize = 3;
const SECRET: &str = "bench-secret";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ap_mac(i: usize) -> String {
    format!("e0:55:3d:00:{:02x}:{:02x}", i / 256, i % 256)
}

fn site() -> Site {
    let mut stores = Vec::new();
    let mut sensors = Vec::new();
    for s in 0..STORES {
        let x0 = s as f64 * 12.0;
        stores.push(format!(
            r#"{{"id":"s{s}","name":"Store {s}","category":"c{}","polygon":[[{x0},0],[{},0],[{},10],[{x0},10]]}}"#,
            s % 3,
            x0 + 10.0,
            x0 + 10.0
        ));
        for a in 0..APS_PER_STORE {
            let i = s * APS_PER_STORE + a;
            sensors.push(format!(r#"{{"id":"ap{i}","mac":"{}","x":{},"y":5,"store":"s{s}"}}"#, ap_mac(i), x0 + 1.0 + a as f64 * 3.0));
        }
    }
    let json = format!(r#"{{"venue":"Load","timezone":"UTC","stores":[{}],"sensors":[{}]}}"#, stores.join(","), sensors.join(","));
    Site::from_json(&json).unwrap()
}

fn rfc3339(ms: i64) -> String {
    footfall_core::time::format_rfc3339(ms)
}

/// Post `p`: `n` client observations one second of event time after post `p - 1`; each has
/// a latest record and one location with three RSSI records (four readings).
fn post(p: usize, n: usize) -> String {
    let base: i64 = 1_772_445_600_000 + p as i64 * 1000;
    let mut obs = Vec::with_capacity(n);
    for c in 0..n {
        let client = (p * 7919 + c * 104_729) % 60_000;
        let ap = client % (STORES * APS_PER_STORE);
        let near = |k: usize| ap_mac((ap + k) % (STORES * APS_PER_STORE));
        let t = rfc3339(base + (c % 1000) as i64);
        obs.push(format!(
            r#"{{"clientMac":"00:1a:2b:{:02x}:{:02x}:{:02x}","ipv4":null,"ipv6":null,"ssid":null,"os":null,"manufacturer":"Apple","latestRecord":{{"time":"{t}","nearestApMac":"{}","nearestApRssi":-{}}},"locations":[{{"time":"{t}","x":null,"y":null,"lat":null,"lng":null,"variance":5.2,"floorPlanId":null,"floorPlanName":null,"nearestApTags":[],"rssiRecords":[{{"apMac":"{}","rssi":-{}}},{{"apMac":"{}","rssi":-{}}},{{"apMac":"{}","rssi":-{}}}]}}]}}"#,
            client >> 16,
            (client >> 8) & 255,
            client & 255,
            near(0),
            50 + client % 30,
            near(0),
            52 + client % 30,
            near(1),
            65 + client % 20,
            near(2),
            75 + client % 15,
        ));
    }
    format!(r#"{{"version":"3.0","secret":"{SECRET}","type":"WiFi","data":{{"networkId":"L_0","observations":[{}]}}}}"#, obs.join(","))
}

/// A keep-alive HTTP/1.1 POST; returns the status.
async fn post_on(conn: &mut TcpStream, buf: &mut Vec<u8>, body: &str) -> u16 {
    let head = format!("POST /meraki HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body.as_bytes()).await.unwrap();
    buf.clear();
    loop {
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).unwrap().to_ascii_lowercase();
            let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())).unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return head.split(' ').nth(1).unwrap().parse().unwrap();
            }
        }
    }
}

struct Run {
    secs: f64,
    latencies: Vec<f64>,
    readings: u64,
    accounted: u64,
}

async fn run_once(bodies: Arc<Vec<String>>, conns: usize, per_post: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("load.db");
    let mut c = ServerConfig::new(&db);
    c.site = Some(site());
    c.meraki_secret = Some(SECRET.into());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        async move {
            let _ = stopped.await;
        },
        c,
    ));
    // Wait until it answers.
    while TcpStream::connect(addr).await.is_err() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (bodies, next) = (bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            conn.set_nodelay(true).unwrap();
            let mut buf = Vec::new();
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                let status = post_on(&mut conn, &mut buf, body).await;
                lat.push(t.elapsed().as_secs_f64());
                assert_eq!(status, 200, "post {i}: {}", String::from_utf8_lossy(&buf));
                if i == 0 {
                    let text = String::from_utf8_lossy(&buf);
                    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
                    let v: serde_json::Value = serde_json::from_str(body).unwrap();
                    assert_eq!(v["accepted"], serde_json::json!(per_post * 4), "the first post was not read whole: {body}");
                }
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    // Nothing lost: every reading is processed or held by the saved pipeline, or dropped.
    let store = Store::open(&db).unwrap();
    let pipeline = footfall_transforms::Pipeline::restore(&site(), &Default::default(), &store.pipeline_state().unwrap().unwrap()).unwrap();
    let (processed, held) = (pipeline.processed(), pipeline.held() as u64);
    let dropped = store.drop_counts().unwrap().total();
    Run { secs, latencies, readings: processed + held + dropped, accounted: processed }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too: keep that short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let posts = env("LOAD_POSTS", if quick { 20 } else { 2000 });
    let per_post = env("LOAD_OBS", 500);
    let conns = env("LOAD_CONNS", 8);
    let runs = env("LOAD_RUNS", if quick { 1 } else { 5 });
    eprintln!("building {posts} Meraki v3 posts of {per_post} observations ...");
    let bodies: Arc<Vec<String>> = Arc::new((0..posts).map(|p| post(p, per_post)).collect());
    let mb = bodies.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut rates = Vec::new();
    let mut p99s = Vec::new();
    for r in 0..runs {
        let mut run = rt.block_on(run_once(bodies.clone(), conns, per_post));
        let sent = (posts * per_post) as u64;
        let readings = sent * 4;
        assert_eq!(run.readings, readings, "lost readings: sent {readings}, processed + dropped {}", run.readings);
        let rate = sent as f64 / run.secs;
        let (p50, p99, max) = (pct(&mut run.latencies, 0.5), pct(&mut run.latencies, 0.99), pct(&mut run.latencies, 1.0));
        println!(
            "run {}: {posts} posts ({mb:.0} MB) over {conns} connections in {:.2} s: {:.0} observations/s ({:.0} readings/s), latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; all {} readings accounted for ({} processed)",
            r + 1,
            run.secs,
            rate,
            rate * 4.0,
            p50 * 1e3,
            p99 * 1e3,
            max * 1e3,
            readings,
            run.accounted
        );
        rates.push(rate);
        p99s.push(p99);
    }
    let (rate, p99) = (pct(&mut rates, 0.5), pct(&mut p99s, 0.5));
    println!("median of {runs} runs: {rate:.0} Meraki observations/s, p99 latency {:.1} ms", p99 * 1e3);
}
