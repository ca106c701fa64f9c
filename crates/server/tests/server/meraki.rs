//! The Meraki receiver: validator, every real sample accepted with its secret, and every
//! kind of bad post refused with the right 4xx and nothing stored.

use super::{Running, applied, config, journal_path, posts_of};
use footfall_server::journal::MAGIC;
use footfall_store::Store;
use footfall_transforms::filter::DropReason;
use std::collections::BTreeMap;

/// Each sample: its secret, observations accepted, drops at intake. Counted independently
/// of footfall (a Python walk over the posts: client MAC not a group address, RSSI in
/// -120..0 dBm after the v2.0 noise-floor conversion, AP in meraki-site.json).
/// (sample file, secret, observations accepted, intake drops by reason)
type Sample = (&'static str, &'static str, usize, &'static [(&'static str, u64)]);

const SAMPLES: [Sample; 6] = [
    ("meraki_mr_mqtt_sample.json", "", 1, &[]),
    ("v2.1_ble_BluetoothDevicesSeen_real_subset.json", "", 6, &[("group_address", 2)]),
    ("v2_wifi_DevicesSeen_cmxreceiver_readme.json", "testing123", 3, &[]),
    ("v2_wifi_simulator_capture.jsonl", "simulator", 5, &[("group_address", 9), ("implausible_rssi", 1)]),
    ("v3_real_posts_2021.jsonl", "<redacted>", 9, &[]),
    ("v3_wifi_ciscodevnet_locationscanningv3format.json", "demo", 495, &[]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_health_readiness_and_disabled_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.meraki_validator = Some("da6a17c407bb11dfeec7392a5042be0a4cc034b6".into());
    let server = Running::start(c).await;
    let r = server.get("/healthz").await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    assert_eq!(server.get("/readyz").await.status, 200);
    let r = server.get("/meraki").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "da6a17c407bb11dfeec7392a5042be0a4cc034b6");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    // No secret configured: the receiver is off, and says how to turn it on.
    let detail = server.post("/meraki", &[], &posts_of("meraki_mr_mqtt_sample.json")[0]).await.problem(404);
    assert!(detail.contains("--meraki-secret"), "{detail}");
    assert!(server.get("/nope").await.problem(404).contains("no such endpoint"));
    server.stop().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(config(dir.path())).await;
    assert!(server.get("/meraki").await.problem(404).contains("validator"));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_is_accepted_with_its_secret_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = 0u64;
    let mut all_drops: BTreeMap<String, u64> = BTreeMap::new();
    // One server per sample (each has its own secret), all on the same database.
    for (name, secret, accepted, drops) in SAMPLES {
        let mut c = config(dir.path());
        c.meraki_secret = Some(secret.to_string());
        let server = Running::start(c).await;
        let (mut got, mut got_drops) = (0, BTreeMap::<String, u64>::new());
        for post in posts_of(name) {
            let r = server.post("/meraki", &[("Content-Type", "application/json")], &post).await;
            assert_eq!(r.status, 200, "{name}: {}", r.text());
            assert_eq!(r.header("content-type"), Some("application/json"));
            let j = r.json();
            assert_eq!(j["bad"], 0, "{name}: {j}");
            assert!(j.get("unknown_sensors").is_none(), "{name}: every AP is in the site: {j}");
            got += j["accepted"].as_u64().unwrap() as usize;
            for (k, v) in j["dropped"].as_object().unwrap() {
                *got_drops.entry(k.clone()).or_default() += v.as_u64().unwrap();
            }
            records += 1;
        }
        assert_eq!(got, accepted, "{name}");
        let want: BTreeMap<String, u64> = drops.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(got_drops, want, "{name}");
        for (k, v) in want {
            *all_drops.entry(k).or_default() += v;
        }
        server.stop().await.unwrap();
        // Shutdown applied everything and emptied the journal.
        assert_eq!(applied(dir.path()), Some(records), "{name}");
        assert_eq!(std::fs::read(journal_path(dir.path())).unwrap(), MAGIC);
    }
    // Intake drops reach the store once each (plus what the pipeline found late: the
    // samples span 2016-2026 and arrive out of order).
    let stored = Store::open(&dir.path().join("m.db")).unwrap().drop_counts().unwrap();
    for (reason, n) in all_drops {
        let r = [DropReason::GroupAddress, DropReason::ImplausibleRssi].into_iter().find(|r| r.name() == reason).unwrap();
        assert_eq!(stored.0.get(&r), Some(&n), "{reason}");
    }
    assert!(stored.0.contains_key(&DropReason::Late));
}

/// Every file of the deployment but the key, with a digest of its content.
fn files_of(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        // The key never changes; SQLite's shared-memory index is not data.
        .filter(|p| !p.to_string_lossy().ends_with(".key") && !p.to_string_lossy().ends_with("-shm"))
        .map(|p| (p.display().to_string(), blake3::hash(&std::fs::read(&p).unwrap()).to_hex().to_string()))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_secret_is_403_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.meraki_secret = Some("testing123".into());
    c.ingest_interval = std::time::Duration::from_millis(20);
    let server = Running::start(c).await;
    let before = files_of(dir.path());
    assert!(before.iter().any(|(n, _)| n.ends_with("m.db.journal")), "{before:?}");
    let right = String::from_utf8(posts_of("v2_wifi_DevicesSeen_cmxreceiver_readme.json").remove(0)).unwrap();
    let wrong = right.replace("testing123", "testing124");
    assert!(server.post("/meraki", &[], wrong.as_bytes()).await.problem(403).contains("secret"));
    let prefix = right.replace("testing123", "testing12");
    server.post("/meraki", &[], prefix.as_bytes()).await.problem(403);
    // Other samples carry other secrets, or none.
    for name in ["v3_wifi_ciscodevnet_locationscanningv3format.json", "meraki_mr_mqtt_sample.json"] {
        server.post("/meraki", &[], &posts_of(name)[0]).await.problem(403);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(files_of(dir.path()), before, "the database and the journal are unchanged");
    // The same post with the right secret is stored.
    assert_eq!(server.post("/meraki", &[], right.as_bytes()).await.status, 200);
    server.stop().await.unwrap();
    assert_eq!(applied(dir.path()), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_posts_are_4xx_problems_never_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.meraki_secret = Some("s".into());
    c.body_limit = 1024;
    let server = Running::start(c).await;
    // Not JSON.
    for body in [&b"{\"secret\":\"s\", \"data\": "[..], b"", b"\xff\xfe", b"secret=s"] {
        assert!(server.post("/meraki", &[], body).await.problem(400).contains("not JSON"));
    }
    // Deeply nested JSON is refused by the parser's depth limit, not by a stack overflow.
    let deep = "[".repeat(300) + &"]".repeat(300);
    server.post("/meraki", &[], deep.as_bytes()).await.problem(400);
    // JSON with the right secret that is not a Meraki post.
    for body in [r#"{"secret":"s","hello":1}"#, r#"{"secret":"s","version":"9","type":"X","data":{"observations":[]}}"#] {
        let detail = server.post("/meraki", &[], body.as_bytes()).await.problem(422);
        assert!(detail.contains("not a Meraki"), "{detail}");
    }
    // Too large: refused with the limit in the reason.
    let big = format!(r#"{{"secret":"s","pad":"{}"}}"#, "x".repeat(4000));
    assert!(server.post("/meraki", &[], big.as_bytes()).await.problem(413).contains("1024 bytes"));
    // A valid post with nothing usable is fine and stores nothing.
    let empty = r#"{"version":"3.0","secret":"s","type":"WiFi","data":{"observations":[]}}"#;
    let r = server.post("/meraki", &[], empty.as_bytes()).await;
    assert_eq!((r.status, r.json()["accepted"].as_u64()), (200, Some(0)));
    assert_eq!(server.get("/healthz").await.status, 200);
    server.stop().await.unwrap();
    assert_eq!(applied(dir.path()), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingester_applies_on_its_interval_and_compacts_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.meraki_secret = Some("demo".into());
    c.ingest_interval = std::time::Duration::from_millis(25);
    let server = Running::start(c).await;
    let post = &posts_of("v3_wifi_ciscodevnet_locationscanningv3format.json")[0];
    assert_eq!(server.post("/meraki", &[], post).await.status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while applied(dir.path()) != Some(1) {
        assert!(std::time::Instant::now() < deadline, "not applied in time");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Applied, but its observations are still held for reordering: the stored state leaves
    // them out, so the journal keeps the record until they are released.
    assert!(std::fs::metadata(journal_path(dir.path())).unwrap().len() > MAGIC.len() as u64);
    server.stop().await.unwrap();
    // A graceful stop stores the whole state: the journal is compacted to nothing.
    assert_eq!(std::fs::metadata(journal_path(dir.path())).unwrap().len(), MAGIC.len() as u64);
    // All 495 observations are in the saved pipeline state (processed, or held for reordering).
    let store = Store::open(&dir.path().join("m.db")).unwrap();
    let site = store.require_site().unwrap();
    let state = store.pipeline_state().unwrap().unwrap();
    let mut p = footfall_transforms::Pipeline::restore(&site, &Default::default(), &state).unwrap();
    p.finish(&mut Default::default());
    assert_eq!(p.processed() + p.late(), 495);
}
