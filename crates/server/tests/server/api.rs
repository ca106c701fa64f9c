//! The read API end to end: every endpoint of the OpenAPI document is called; who may see
//! what (operator, retailer, sensor, no token); live occupancy over Server-Sent Events;
//! alerts as events and to a webhook; the Prometheus page.

use super::{Reply, Running, posts_of, request};
use footfall_core::Site;
use footfall_core::clock::ManualClock;
use footfall_server::{AlertRule, ServerConfig};
use footfall_store::Store;
use footfall_store::tokens::Role;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BASE: i64 = 1_772_445_600_000; // 2026-03-02T10:00:00Z

fn site() -> Site {
    Site::from_json(
        r#"{"venue":"API mall","timezone":"UTC","stores":[
        {"id":"s1","name":"One","category":"c","polygon":[[0,0],[20,0],[20,10],[0,10]],
         "zones":[{"id":"front","name":"Front","polygon":[[0,0],[10,0],[10,10],[0,10]]},{"id":"back","name":"Back","polygon":[[10,0],[20,0],[20,10],[10,10]]}]},
        {"id":"s2","name":"Two","category":"c","polygon":[[30,0],[50,0],[50,10],[30,10]]}],
        "sensors":[{"id":"ap1","x":5,"y":5,"store":"s1"},{"id":"ap2","x":15,"y":5,"store":"s1"},{"id":"ap3","x":40,"y":5,"store":"s2"}]}"#,
    )
    .unwrap()
}

/// Seven shoppers in s1 (moving between its zones), five in s2, two walk-bys at s1, one
/// frame each every 5 s for 15 minutes; everyone stays until the end.
fn stream() -> String {
    let mut out = String::new();
    for t in (0..900).step_by(5) {
        for d in 0..14u8 {
            let (sensor, rssi) = match d {
                0..7 => (if (t / 60 + d as i64) % 2 == 0 { "ap1" } else { "ap2" }, -50),
                7..12 => ("ap3", -52),
                _ => ("ap1", -76),
            };
            let ts = BASE + t * 1000 + d as i64;
            out.push_str(&format!(r#"{{"ts":{ts},"sensor":"{sensor}","mac":"00:16:3e:00:03:{d:02x}","rssi":{rssi}}}"#));
            out.push('\n');
        }
    }
    out
}

struct Setup {
    _dir: tempfile::TempDir,
    server: Running,
    operator: String,
    retailer: String,
    sensor: String,
}

fn tokens(db: &Path) -> (String, String, String) {
    let store = Store::open(db).unwrap();
    let t = |role, stores: &[&str]| {
        let stores: Vec<String> = stores.iter().map(|s| s.to_string()).collect();
        store.create_token(role, &stores, "test", 0).unwrap().token
    };
    (t(Role::Operator, &[]), t(Role::Retailer, &["s2"]), t(Role::Sensor, &[]))
}

async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ServerConfig::new(dir.path().join("api.db"));
    c.site = Some(site());
    c.ingest_interval = Duration::from_millis(50);
    c.meraki_secret = Some("m".into());
    c.meraki_validator = Some("v4l1d".into());
    tweak(&mut c);
    let server = Running::start(c).await;
    let (operator, retailer, sensor) = tokens(&dir.path().join("api.db"));
    Setup { _dir: dir, server, operator, retailer, sensor }
}

async fn get(s: &Running, path: &str, token: &str) -> Reply {
    let auth = format!("Bearer {token}");
    request(s.addr, "GET", path, &[("Authorization", &auth)], b"").await
}

async fn post(s: &Running, path: &str, token: &str) -> Reply {
    let auth = format!("Bearer {token}");
    request(s.addr, "POST", path, &[("Authorization", &auth)], b"").await
}

/// Post the stream with the sensor token and wait until the occupancy reflects it.
async fn feed(s: &Setup) {
    let auth = format!("Bearer {}", s.sensor);
    let r = request(s.server.addr, "POST", "/api/v1/ingest/jsonl", &[("Authorization", &auth)], stream().as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = get(&s.server, "/api/v1/occupancy", &s.operator).await.json();
        if o["stores"][0]["people"] == 7 {
            break;
        }
        assert!(Instant::now() < deadline, "occupancy never showed the shoppers: {o}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Open the event stream and return the first `n` events as (event, data).
async fn events(addr: SocketAddr, token: &str, n: usize) -> (TcpStream, Vec<(String, Value)>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET /api/v1/live HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let got = next_events(&mut s, n).await;
    (s, got)
}

async fn next_events(s: &mut TcpStream, n: usize) -> Vec<(String, Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < n {
        let mut chunk = [0u8; 8192];
        let k = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), s.read(&mut chunk))
            .await
            .expect("no event in time")
            .unwrap();
        assert!(k > 0, "the stream closed: {buf}");
        buf.push_str(&String::from_utf8_lossy(&chunk[..k]));
        // Events are `event: NAME\ndata: JSON\n\n` (inside HTTP chunks; chunk sizes are
        // lines of hex digits, which neither prefix matches).
        while let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            let name = block.lines().find_map(|l| l.strip_prefix("event: ")).map(str::to_string);
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(name), Some(data)) = (name, data) {
                out.push((name, serde_json::from_str(data).unwrap()));
            }
        }
    }
    out
}

fn documented() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(&footfall_server::openapi_json()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.push((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_endpoint_answers() {
    let s = start(|_| {}).await;
    feed(&s).await;
    let served: Value = s.server.get("/api/v1/openapi.json").await.json();
    assert_eq!(served["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    let mut called = BTreeSet::new();
    for (method, path) in documented() {
        let url = path.replace("{store}", "s1").replace("{segment}", "just-looking");
        let reply = match (method.as_str(), path.as_str()) {
            ("POST", p) if p.ends_with("/export") => {
                // The fed mall has no app feed: no advertising IDs, so the export is refused
                // below the audience k, with nothing audited (the real export is tested end
                // to end on a simulated mall, tests/e2e/commerce.rs).
                let r = post(&s.server, &format!("{url}?format=meta"), &s.operator).await;
                assert!(r.problem(409).contains("fewer than the audience minimum k = 20"), "{}", r.text());
                assert!(Store::open(&s._dir.path().join("api.db")).unwrap().export_audit().unwrap().is_empty());
                called.insert((method, path));
                continue;
            }
            ("GET", "/api/v1/live") => {
                let (_conn, ev) = events(s.server.addr, &s.operator, 1).await;
                assert_eq!(ev[0].0, "occupancy");
                assert_eq!(ev[0].1["stores"][0]["people"], 7);
                called.insert((method, path));
                continue;
            }
            ("GET", _) => get(&s.server, &url, &s.operator).await,
            ("POST", "/meraki") => {
                let body = String::from_utf8(posts_of("v2_wifi_DevicesSeen_cmxreceiver_readme.json").remove(0)).unwrap();
                let mut v: Value = serde_json::from_str(&body).unwrap();
                v["secret"] = "m".into();
                s.server.post(&url, &[], v.to_string().as_bytes()).await
            }
            ("POST", "/api/v1/ingest/jsonl") => {
                let auth = format!("Bearer {}", s.sensor);
                let line = format!(r#"{{"ts":{},"sensor":"ap3","mac":"00:16:3e:00:04:01","rssi":-60}}"#, BASE + 950_000);
                s.server.post(&url, &[("Authorization", &auth)], line.as_bytes()).await
            }
            ("POST", "/api/v1/ingest/observations") => {
                let auth = format!("Bearer {}", s.sensor);
                let batch = r#"{"agent":"a1","batch":1,"sensor":"ap3","observations":[{"ts":1772446600000,"device":"00000000000000aa","rssi":-60,"randomized":false,"kind":"wifi"}]}"#;
                s.server.post(&url, &[("Authorization", &auth)], batch.as_bytes()).await
            }
            ("POST", "/api/v1/optout") => {
                // A device never heard: erases nothing (the real effect has its own test).
                let r = s.server.post(&url, &[("Content-Type", "application/json")], br#"{"id": "00:16:3e:00:09:99"}"#).await;
                assert_eq!(r.json()["erased"]["visits"], 0, "{}", r.text());
                r
            }
            other => panic!("no call written for {other:?}: add one"),
        };
        assert_eq!(reply.status, 200, "{method} {url}: {}", reply.text());
        called.insert((method, path));
    }
    assert!(called.len() >= 22, "{called:?}");
    // The figures behind the dashboard agree with what was fed.
    let summary = get(&s.server, "/api/v1/stores/s1/summary", &s.operator).await.json();
    assert_eq!(summary["current"]["walk_ins"], 7, "{summary}");
    assert_eq!(summary["current"]["walk_bys"], Value::Null, "2 walk-bys are below k = 5: {summary}");
    assert_eq!(summary["current"]["capture_rate"], Value::Null);
    let zones = get(&s.server, "/api/v1/stores/s1/zones", &s.operator).await.json();
    assert_eq!(zones["zones"].as_array().unwrap().len(), 2);
    // Sales without a POS feed: visits counted, no transactions, so conversion is 0.
    let sales = get(&s.server, "/api/v1/stores/s1/sales?by=hour", &s.operator).await.json();
    assert_eq!(sales["total"]["visits"], 7, "{sales}");
    assert_eq!((sales["total"]["transactions"].as_u64(), sales["total"]["conversion"].as_f64()), (Some(0), Some(0.0)), "{sales}");
    assert_eq!(sales["rows"][0]["period"], "2026-03-02T10", "{sales}");
    // Segments of s1: its 7 shoppers just looked; its 2 walk-bys are below k; s2's 5 shoppers
    // (same category) are competitors' customers; no advertising IDs, so nothing exportable.
    let seg = get(&s.server, "/api/v1/stores/s1/segments", &s.operator).await.json();
    let size = |name: &str, key: &str| seg["segments"].as_array().unwrap().iter().find(|g| g["segment"] == name).unwrap()[key].clone();
    assert_eq!(
        (seg["k"].as_u64(), seg["audience_k"].as_u64(), seg["window"]["last"].as_str()),
        (Some(5), Some(20), Some("2026-03-02")),
        "{seg}"
    );
    assert_eq!(size("just-looking", "wifi_devices"), 7, "{seg}");
    assert_eq!(size("outside-potential", "wifi_devices"), Value::Null, "{seg}");
    assert_eq!(size("competitors-customers", "wifi_devices"), 5, "{seg}");
    assert_eq!(size("best-customers", "wifi_devices"), 0, "{seg}");
    assert!(seg["segments"].as_array().unwrap().iter().all(|g| g["ad_ids"] == 0 && g["exportable"] == false), "{seg}");
    let bad = get(&s.server, "/api/v1/stores/s1/segments?lost_after_days=soon", &s.operator).await;
    bad.problem(400);
    assert!(get(&s.server, "/api/v1/stores/s1/segments?from=2026-03-05&to=2026-03-01", &s.operator).await.problem(400).contains("after"));
    let bad = post(&s.server, "/api/v1/stores/s1/segments/loyal/export?format=meta", &s.operator).await.problem(404);
    assert!(bad.contains("best-customers"), "{bad}");
    assert!(post(&s.server, "/api/v1/stores/s1/segments/just-looking/export?format=csv", &s.operator).await.problem(400).contains("meta"));
    let bad = get(&s.server, "/api/v1/stores/s1/summary?from=yesterday", &s.operator).await;
    assert!(bad.problem(400).contains("YYYY-MM-DD"));
    assert!(get(&s.server, "/api/v1/stores/nope/summary", &s.operator).await.problem(404).contains("nope"));
    s.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retailers_see_only_their_stores_and_sensors_see_nothing() {
    let s = start(|_| {}).await;
    feed(&s).await;
    let reads: Vec<String> = documented().into_iter().filter(|(m, p)| m == "GET" && p.starts_with("/api/v1/")).map(|(_, p)| p).collect();
    assert!(reads.len() >= 12, "{reads:?}");
    for path in &reads {
        for store in ["s1", "s2"] {
            let url = path.replace("{store}", store);
            // No token: 401 with a bearer challenge.
            let r = request(s.server.addr, "GET", &url, &[], b"").await;
            r.problem(401);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{url}");
            // A sensor token reads nothing.
            get(&s.server, &url, &s.sensor).await.problem(403);
            // A forged token is refused.
            get(&s.server, &url, "fft_00000000_00").await.problem(403);
            // A retailer of s2 reads s2 and the venue-level endpoints, never s1's figures.
            if path.contains("{store}") && store == "s1" {
                let detail = get(&s.server, &url, &s.retailer).await.problem(403);
                assert!(detail.contains("s1"), "{detail}");
            } else if path != "/api/v1/live" {
                assert_eq!(get(&s.server, &url, &s.retailer).await.status, 200, "{url}");
            }
        }
    }
    // The store endpoints that act (the audience export): the same rules.
    let acts: Vec<String> =
        documented().into_iter().filter(|(m, p)| m == "POST" && p.starts_with("/api/v1/stores/")).map(|(_, p)| p).collect();
    assert!(!acts.is_empty(), "the audience export is documented");
    for path in &acts {
        for store in ["s1", "s2"] {
            let url = format!("{}?format=meta", path.replace("{store}", store).replace("{segment}", "just-looking"));
            let r = request(s.server.addr, "POST", &url, &[], b"").await;
            r.problem(401);
            post(&s.server, &url, &s.sensor).await.problem(403);
            post(&s.server, &url, "fft_00000000_00").await.problem(403);
            if store == "s1" {
                assert!(post(&s.server, &url, &s.retailer).await.problem(403).contains("s1"), "{url}");
            } else {
                // Allowed for its own store, and refused only for its size (no ad IDs here).
                post(&s.server, &url, &s.retailer).await.problem(409);
            }
        }
    }
    let me = get(&s.server, "/api/v1/me", &s.retailer).await.json();
    assert_eq!(me, serde_json::json!({"role": "retailer", "stores": ["s2"]}));
    let occ = get(&s.server, "/api/v1/occupancy", &s.retailer).await.json();
    assert_eq!(occ["stores"].as_array().unwrap().iter().map(|x| x["store"].clone()).collect::<Vec<_>>(), vec![Value::from("s2")]);
    let flows = get(&s.server, "/api/v1/flows", &s.retailer).await.json();
    for c in flows["cells"].as_array().unwrap() {
        assert!(c["from"] == "s2" || c["to"] == "s2", "a pair not touching the retailer's store: {c}");
    }
    let (_conn, ev) = events(s.server.addr, &s.retailer, 1).await;
    assert_eq!(ev[0].1["stores"].as_array().unwrap().len(), 1, "the live stream is filtered too");
    // Revoked tokens stop working at once.
    let id = s.retailer.split('_').nth(1).unwrap().to_string();
    Store::open(&s._dir.path().join("api.db")).unwrap().revoke_token(&id).unwrap();
    get(&s.server, "/api/v1/me", &s.retailer).await.problem(403);
    s.server.stop().await.unwrap();
}

/// Accept one HTTP request and answer 200; return its body.
async fn webhook_once(listener: TcpListener) -> String {
    let (mut c, _) = listener.accept().await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = c.read(&mut buf).await.unwrap();
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            if body.len() >= len {
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await.unwrap();
                return body[..len].to_string();
            }
        }
        assert!(n > 0, "the webhook request ended early");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_occupancy_and_alerts_reach_the_stream_and_the_webhook() {
    let hook = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/alerts", hook.local_addr().unwrap());
    let hook_task = tokio::spawn(webhook_once(hook));
    let clock = Arc::new(ManualClock::new(BASE));
    let c2 = clock.clone();
    let s = start(move |c| {
        c.alerts =
            vec![AlertRule::Occupancy { store: "s1".into(), above: 6 }, AlertRule::SensorSilent { sensor: "ap3".into(), minutes: 10 }];
        c.alert_webhook = Some(hook_url);
        c.clock = c2;
    })
    .await;
    let (mut conn, first) = events(s.server.addr, &s.operator, 1).await;
    assert_eq!(first[0].0, "occupancy");
    assert_eq!(first[0].1["at"], Value::Null, "nothing applied yet");
    feed(&s).await;
    // The occupancy rule fires (7 > 6) on the stream and at the webhook.
    let mut seen_alert = None;
    let mut last_occupancy = None;
    while seen_alert.is_none() || last_occupancy.is_none() {
        for (name, data) in next_events(&mut conn, 1).await {
            match name.as_str() {
                "alert" => seen_alert = Some(data),
                "occupancy" if data["stores"][0]["people"] == 7 => last_occupancy = Some(data),
                _ => {}
            }
        }
    }
    let alert = seen_alert.unwrap();
    assert_eq!((alert["kind"].as_str(), alert["store"].as_str()), (Some("occupancy"), Some("s1")), "{alert}");
    let occ = last_occupancy.unwrap();
    assert_eq!(occ["stores"][1]["people"], 5, "{occ}");
    assert_eq!(occ["stores"][0]["zones"].as_array().unwrap().len(), 2);
    let hooked: Value = serde_json::from_str(&tokio::time::timeout(Duration::from_secs(30), hook_task).await.unwrap().unwrap()).unwrap();
    assert_eq!(hooked["kind"], "occupancy");
    // ap3 then goes quiet for 10 minutes of the injected clock: a sensor_silent alert.
    clock.advance(11 * 60_000);
    let got = loop {
        let ev = next_events(&mut conn, 1).await;
        if let Some((_, a)) = ev.into_iter().find(|(n, _)| n == "alert") {
            break a;
        }
    };
    assert_eq!((got["kind"].as_str(), got["sensor"].as_str()), (Some("sensor_silent"), Some("ap3")), "{got}");
    // The Prometheus page counts what came in and what was asked.
    let metrics = s.server.get("/metrics").await.text();
    for want in [
        "footfall_observations_accepted_total 2520",
        "footfall_observations_applied_total 2520",
        "footfall_journal_backlog_records",
        "footfall_ingest_lag_seconds",
        "footfall_http_requests_total{route=\"/api/v1/occupancy\",status=\"200\"}",
        "footfall_http_request_duration_seconds_bucket{route=\"/api/v1/ingest/jsonl\",le=\"+Inf\"} 1",
    ] {
        assert!(metrics.contains(want), "missing {want:?} in\n{metrics}");
    }
    // A server with an open event stream still stops promptly, and ends the stream.
    s.server.stop().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut rest)).await.expect("the stream did not end").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_out_erases_the_device_at_once_and_refuses_it_afterwards() {
    let s = start(|c| c.optouts_per_minute = 4).await;
    feed(&s).await;
    let db = s._dir.path().join("api.db");
    let addr = s.server.addr;
    let optout = move |body: &'static str| async move {
        request(addr, "POST", "/api/v1/optout", &[("Content-Type", "application/json")], body.as_bytes()).await
    };
    // Malformed ids and bodies are 400 with a reason that does not echo the id.
    let bad = optout(r#"{"id": "00:16:3e:00:03"}"#).await.problem(400);
    assert!(bad.contains("not a MAC address") && !bad.contains("00:16:3e:00:03"), "{bad}");
    assert!(optout(r#"{"mac": "00:16:3e:00:03:00"}"#).await.problem(400).contains("JSON like"));
    // Shopper 0 (in s1, visit still open): no token needed.
    let r = optout(r#"{"id": "00:16:3E:00:03:00"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert!(j["confirmation"].as_str().unwrap().contains("opted out"), "{j}");
    assert!(j["erased"]["open_state"].as_u64().unwrap() > 0 && j["erased"]["device_days"] == 1, "{j}");
    // At once: the occupancy and the database no longer have it.
    let o = get(&s.server, "/api/v1/occupancy", &s.operator).await.json();
    assert_eq!(o["stores"][0]["people"], 6, "{o}");
    let key = footfall_store::keyfile::load(&footfall_store::keyfile::default_path(&db)).unwrap();
    let subject = footfall_transforms::optout::Subject::parse("00:16:3e:00:03:00").unwrap();
    let ids = footfall_transforms::Pseudonymizer::new(key).subject_ids(&subject);
    let holding = || {
        let store = Store::open(&db).unwrap();
        ids.iter().flat_map(|id| store.tables_holding(*id).unwrap()).map(|(t, _)| t).collect::<BTreeSet<_>>()
    };
    assert_eq!(holding(), BTreeSet::from(["optouts".to_string()]));
    // Later posts of it are dropped at intake.
    let auth = format!("Bearer {}", s.sensor);
    let line = format!(r#"{{"ts":{},"sensor":"ap1","mac":"00:16:3e:00:03:00","rssi":-50}}"#, BASE + 905_000);
    let r = request(s.server.addr, "POST", "/api/v1/ingest/jsonl", &[("Authorization", &auth)], line.as_bytes()).await.json();
    assert_eq!((r["accepted"].as_u64(), r["dropped"]["opted_out"].as_u64()), (Some(0), Some(1)), "{r}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(holding(), BTreeSet::from(["optouts".to_string()]));
    // A few per minute, then 429 (4 allowed: three above and this one).
    assert_eq!(optout(r#"{"id": "00:16:3e:00:09:98"}"#).await.status, 200);
    optout(r#"{"id": "00:16:3e:00:09:97"}"#).await.problem(429);
    s.server.stop().await.unwrap();
    // After a restart the registry still refuses it, and the summary counts six walk-ins.
    let mut c = ServerConfig::new(&db);
    c.ingest_interval = Duration::from_millis(50);
    let server = Running::start(c).await;
    let r = request(server.addr, "POST", "/api/v1/ingest/jsonl", &[("Authorization", &auth)], line.as_bytes()).await.json();
    assert_eq!(r["dropped"]["opted_out"].as_u64(), Some(1), "{r}");
    server.stop().await.unwrap();
    assert_eq!(holding(), BTreeSet::from(["optouts".to_string()]));
}
