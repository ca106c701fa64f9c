//! The sensor endpoint: bearer token, bad lines reported with numbers, and concurrent posts
//! (one group commit for many) each applied exactly once.

use super::{Running, applied, config, stream};
use footfall_store::Store;
use footfall_transforms::{Pipeline, PipelineConfig};

const PATH: &str = "/api/v1/ingest/jsonl";

fn line(ts: u64, mac_last: u8) -> String {
    format!(r#"{{"ts":{ts},"sensor":"ap2","mac":"00:16:3e:00:00:{mac_last:02x}","rssi":-60}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_required_and_bad_lines_are_reported_with_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.sensor_token = Some("t0ken".into());
    let server = Running::start(c).await;
    let body = format!("{}\n{}\n", line(1_772_445_600, 1), line(1_772_445_601, 2));
    let r = server.post(PATH, &[], body.as_bytes()).await;
    r.problem(401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    server.post(PATH, &[("Authorization", "Basic dDBrZW4=")], body.as_bytes()).await.problem(401);
    assert!(server.post(PATH, &[("Authorization", "Bearer t0ke")], body.as_bytes()).await.problem(403).contains("token"));
    server.post(PATH, &[("Authorization", "Bearer t0ken2")], body.as_bytes()).await.problem(403);

    let auth = [("Authorization", "Bearer t0ken")];
    let r = server.post(PATH, &auth, body.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), serde_json::json!({"accepted": 2, "dropped": {}, "bad": 0}));

    // 25 bad lines among good ones: all counted, the first 20 listed by line number.
    let mut lines = vec![line(1_772_445_602, 3)];
    for i in 0..25 {
        lines.push(if i % 2 == 0 { "not json".to_string() } else { r#"{"ts":1,"sensor":"ap1","mac":"zz","rssi":-50}"#.to_string() });
    }
    lines.push(line(1_772_445_603, 4));
    lines.push(r#"{"ts":1772445604,"sensor":"nowhere","mac":"00:16:3e:00:00:05","rssi":-50}"#.to_string());
    lines.push(r#"{"ts":1772445604,"sensor":"ap1","mac":"ff:ff:ff:ff:ff:ff","rssi":-50}"#.to_string());
    let r = server.post(PATH, &auth, lines.join("\n").as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["accepted"], 2);
    assert_eq!(j["bad"], 25);
    assert_eq!(j["dropped"], serde_json::json!({"group_address": 1, "unknown_sensor": 1}));
    assert_eq!(j["unknown_sensors"], serde_json::json!(["nowhere"]));
    let numbers: Vec<u64> = j["bad_samples"].as_array().unwrap().iter().map(|b| b["line"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (2..22).collect::<Vec<_>>());
    assert!(j["bad_samples"][1]["reason"].as_str().unwrap().contains("mac"));

    // Not the sensor format at all; an empty body is nothing to store.
    assert!(server.post(PATH, &auth, br#"{"version":"3.0","secret":"x"}"#).await.problem(422).contains("line 1"));
    assert_eq!(server.post(PATH, &auth, b"\n\n").await.json()["accepted"], 0);
    server.stop().await.unwrap();
    assert_eq!(applied(dir.path()), Some(2));

    // Without a configured token, only sensor tokens of the token table are accepted.
    let server = Running::start(config(dir.path())).await;
    assert!(server.post(PATH, &auth, body.as_bytes()).await.problem(403).contains("--sensor-token"));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_are_each_durable_and_applied_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.sensor_token = Some("t".into());
    c.ingest_interval = std::time::Duration::from_millis(30);
    let server = Running::start(c).await;
    let lines = stream();
    let bodies: Vec<String> = super::chunks(&lines, 40);
    let mut tasks = Vec::new();
    for b in bodies.clone() {
        let addr = server.addr;
        tasks.push(tokio::spawn(async move { super::request(addr, "POST", PATH, &[("Authorization", "Bearer t")], b.as_bytes()).await }));
    }
    let mut accepted = 0;
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        accepted += r.json()["accepted"].as_u64().unwrap();
    }
    assert_eq!(accepted, lines.len() as u64);
    server.stop().await.unwrap();
    assert_eq!(applied(dir.path()), Some(bodies.len() as u64));
    // Every observation went into the pipeline once: what it processed, what it found
    // late and what it still holds add up to what was accepted.
    let store = Store::open(&dir.path().join("m.db")).unwrap();
    let site = store.require_site().unwrap();
    let mut p = Pipeline::restore(&site, &PipelineConfig::default(), &store.pipeline_state().unwrap().unwrap()).unwrap();
    p.finish(&mut Default::default());
    assert_eq!(p.processed() + p.late(), accepted);
}
