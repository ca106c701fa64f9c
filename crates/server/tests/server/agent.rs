//! The sensor agent's endpoint: already pseudonymous batches, named by sensor id, and
//! deduplicated by (agent, batch) across a lost answer, a crash before the journal was
//! applied, and a restart after it was applied and compacted.

use super::{Running, applied, assert_store_matches, config, crashing, meraki_site, stream};
use footfall_sources::Source;
use footfall_sources::jsonl::JsonlSource;
use footfall_store::Store;
use footfall_transforms::Pseudonymizer;
use footfall_transforms::intake::Intake;
use footfall_transforms::wire::{SensorBatch, WireObservation};
use std::path::Path;

const PATH: &str = "/api/v1/ingest/observations";
const AUTH: [(&str, &str); 1] = [("Authorization", "Bearer t")];

/// `body` (sensor JSON lines) as an agent would send it: pseudonymized under the
/// database's key, one batch per run of lines from the same sensor, numbered from 1.
fn batches(db: &Path, body: &[u8], agent: &str) -> Vec<String> {
    let site = meraki_site();
    let (key, _) = footfall_store::keyfile::load_or_create(&footfall_store::keyfile::default_path(db)).unwrap();
    let mut intake = Intake::new(&site, Pseudonymizer::new(key));
    let mut out: Vec<SensorBatch> = Vec::new();
    JsonlSource::new(body, "t")
        .run(
            &mut |raw| {
                let Some(o) = intake.accept(&raw) else { return };
                let sensor = &site.sensors[o.sensor as usize].id;
                match out.last_mut() {
                    Some(b) if &b.sensor == sensor && b.observations.len() < 50 => {
                        b.observations.push(WireObservation::from_observation(&o))
                    }
                    _ => out.push(SensorBatch {
                        agent: agent.into(),
                        batch: out.len() as u64 + 1,
                        sensor: sensor.clone(),
                        observations: vec![WireObservation::from_observation(&o)],
                        dropped: Default::default(),
                        key_epoch_days: None,
                    }),
                }
            },
            &mut |_| {},
        )
        .unwrap();
    out.iter().map(|b| serde_json::to_string(b).unwrap()).collect()
}

async fn send(server: &Running, body: &str) -> serde_json::Value {
    let r = server.post(PATH, &AUTH, body.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn with_token(mut c: footfall_server::ServerConfig) -> footfall_server::ServerConfig {
    c.sensor_token = Some("t".into());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resent_batches_are_stored_once_across_crashes_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let lines = stream();
    let body = lines.join("\n") + "\n";
    let batches = batches(&db, body.as_bytes(), "pos1-00aa");
    assert!(batches.len() > 6, "{}", batches.len());
    let n = batches.len();

    // First life: everything but the last two batches; batch 2's answer "got lost" and it
    // is sent again. Then a crash: nothing applied to the database yet.
    let server = Running::start(with_token(crashing(dir.path()))).await;
    for (i, b) in batches[..n - 2].iter().enumerate() {
        let j = send(&server, b).await;
        assert_eq!(j["duplicate"], false, "batch {}", i + 1);
        assert!(j["accepted"].as_u64().unwrap() > 0);
    }
    assert_eq!(send(&server, &batches[1]).await, serde_json::json!({"accepted": 0, "duplicate": true}));
    server.stop().await.unwrap();
    assert_eq!(applied(dir.path()), None, "a crash before the ingester ran");

    // Second life: the marks come back from the journal, so the resent batch n-2 is a
    // duplicate; batch n-1 is new. Crash again.
    let server = Running::start(with_token(crashing(dir.path()))).await;
    assert_eq!(send(&server, &batches[n - 3]).await["duplicate"], true);
    assert_eq!(send(&server, &batches[n - 2]).await["duplicate"], false);
    server.stop().await.unwrap();

    // Third life: recovery applies the journal (and stores the marks with it); a clean stop
    // compacts the journal away. The marks must now come from the database.
    let server = Running::start(with_token(config(dir.path()))).await;
    server.stop().await.unwrap();
    assert_eq!(Store::open(&db).unwrap().agent_batches().unwrap().get("pos1-00aa"), Some(&(n as u64 - 1)));
    let server = Running::start(with_token(config(dir.path()))).await;
    assert_eq!(send(&server, &batches[n - 2]).await["duplicate"], true);
    assert_eq!(send(&server, &batches[0]).await["duplicate"], true);
    assert_eq!(send(&server, &batches[n - 1]).await["duplicate"], false);
    // Another agent has a sequence of its own.
    let other = r#"{"agent":"pos2-00bb","batch":1,"sensor":"ap1","observations":[]}"#;
    assert_eq!(send(&server, other).await, serde_json::json!({"accepted": 0, "duplicate": false}));
    assert_eq!(send(&server, other).await["duplicate"], true);
    server.stop().await.unwrap();

    // Exactly the stream, once: as if its JSON lines had been posted once.
    assert_store_matches(&db, body.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_batches_need_the_token_a_known_sensor_and_pseudonyms() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(with_token(config(dir.path()))).await;
    let ok = r#"{"agent":"a","batch":1,"sensor":"ap1","observations":[{"ts":1772445600000,"device":"00000000000000ab","rssi":-60,"randomized":false}]}"#;
    let r = server.post(PATH, &[], ok.as_bytes()).await;
    r.problem(401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    server.post(PATH, &[("Authorization", "Bearer nope")], ok.as_bytes()).await.problem(403);
    let unknown = ok.replace("\"ap1\"", "\"ap99\"");
    assert!(server.post(PATH, &AUTH, unknown.as_bytes()).await.problem(422).contains("\"ap99\" is not in the site"));
    let mac = ok.replace("00000000000000ab", "00163e000001");
    server.post(PATH, &AUTH, mac.as_bytes()).await.problem(422);
    server.post(PATH, &AUTH, b"{not json").await.problem(400);
    assert_eq!(send(&server, ok).await, serde_json::json!({"accepted": 1, "duplicate": false}));
    server.stop().await.unwrap();
    // Without a configured token, only sensor tokens of the token table are accepted.
    let server = Running::start(config(dir.path())).await;
    assert!(server.post(PATH, &AUTH, ok.as_bytes()).await.problem(403).contains("--sensor-token"));
    server.stop().await.unwrap();
}
