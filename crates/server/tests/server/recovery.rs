//! Crashes lose nothing and count nothing twice: a server stopped before its ingester ran,
//! a crash between the database commit and the journal compaction, a torn journal tail, and
//! a request in flight at shutdown. The store must end up exactly as if the accepted
//! observations had gone through the pipeline once, in one process.

use super::{Running, applied, assert_store_matches, chunks, config, crashing, journal_path, stream};
use footfall_server::journal::{Journal, MAGIC};
use tokio::io::AsyncWriteExt;

const PATH: &str = "/api/v1/ingest/jsonl";
const AUTH: [(&str, &str); 1] = [("Authorization", "Bearer tok")];

fn with_token(mut c: footfall_server::ServerConfig) -> footfall_server::ServerConfig {
    c.sensor_token = Some("tok".into());
    c
}

async fn post_all(server: &Running, bodies: &[String]) {
    for b in bodies {
        let r = server.post(PATH, &AUTH, b.as_bytes()).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_ingester_runs_loses_nothing_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let lines = stream();
    let bodies = chunks(&lines, 9);

    // 1. Accepted, then "crashed": nothing applied, everything in the journal.
    let server = Running::start(with_token(crashing(dir.path()))).await;
    post_all(&server, &bodies[..3]).await;
    server.stop().await.unwrap();
    assert_eq!(applied(dir.path()), None);
    let (_, rec) = Journal::open(&journal_path(dir.path())).unwrap();
    assert_eq!(rec.records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    let unapplied_journal = std::fs::read(journal_path(dir.path())).unwrap();

    // 2. The next start recovers them; more posts; a clean stop applies everything.
    let server = Running::start(with_token(config(dir.path()))).await;
    post_all(&server, &bodies[3..6]).await;
    server.stop().await.unwrap();
    assert_eq!(applied(dir.path()), Some(6));
    assert_eq!(std::fs::read(journal_path(dir.path())).unwrap(), MAGIC);

    // 3. A crash after a commit but before compaction leaves applied records in the
    //    journal: put them back. They must be skipped, not applied again.
    std::fs::write(journal_path(dir.path()), &unapplied_journal).unwrap();
    let server = Running::start(with_token(config(dir.path()))).await;
    post_all(&server, &bodies[6..]).await;
    server.stop().await.unwrap();
    assert_eq!(applied(dir.path()), Some(9));

    assert_store_matches(&dir.path().join("m.db"), lines.join("\n").as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_journal_tail_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let lines = stream();
    let bodies = chunks(&lines, 4);
    let server = Running::start(with_token(crashing(dir.path()))).await;
    post_all(&server, &bodies[..3]).await;
    server.stop().await.unwrap();
    // A fourth record whose write was cut short (never acknowledged): half of a copy of
    // the last record.
    let path = journal_path(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let (_, rec) = Journal::open(&path).unwrap();
    let mut torn = Vec::new();
    footfall_server::journal::encode(&rec.records[2], &mut torn);
    bytes.extend_from_slice(&torn[..torn.len() / 2]);
    std::fs::write(&path, &bytes).unwrap();

    let server = Running::start(with_token(config(dir.path()))).await;
    post_all(&server, &bodies[3..]).await;
    server.stop().await.unwrap();
    assert_eq!(applied(dir.path()), Some(4));
    assert_store_matches(&dir.path().join("m.db"), lines.join("\n").as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_at_shutdown_is_finished_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    let lines = stream();
    let server = Running::start(with_token(config(dir.path()))).await;
    let body = lines.join("\n");
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(first).await.unwrap();
    // Give the server time to start reading, then ask it to stop mid-request.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    s.write_all(rest).await.unwrap();
    let r = super::read_reply(&mut s).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["accepted"], lines.len());
    stopping.await.unwrap().unwrap();
    assert_eq!(applied(dir.path()), Some(1));
    assert_store_matches(&dir.path().join("m.db"), body.as_bytes());
}

/// Applied records whose observations are still held for reordering are kept in the journal
/// (the stored state leaves those observations out); a crash then loses none of them and a
/// restart gives them back before anything new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_observations_are_held_gives_them_back_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let lines = stream();
    let bodies = chunks(&lines, 9);
    let quick = |mut c: footfall_server::ServerConfig| {
        c.ingest_interval = std::time::Duration::from_millis(20);
        c
    };
    // 1. Applied while running (several commits), then a crash: no final flush.
    let server = Running::start(quick(with_token(crashing(dir.path())))).await;
    for (i, b) in bodies[..5].iter().enumerate() {
        post_all(&server, std::slice::from_ref(b)).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while applied(dir.path()) != Some(i as u64 + 1) {
            assert!(std::time::Instant::now() < deadline, "not applied in time");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    server.stop().await.unwrap();
    let store = footfall_store::Store::open(&dir.path().join("m.db")).unwrap();
    let from = store.journal_replay_from().unwrap().unwrap();
    assert!(from <= 5, "observations are held, so the journal must keep records: replay from {from}");
    let (_, rec) = Journal::open(&journal_path(dir.path())).unwrap();
    let kept: Vec<u64> = rec.records.iter().map(|r| r.seq).filter(|&s| s >= from).collect();
    assert_eq!(kept, (from..=5).collect::<Vec<_>>(), "every record from the first with held observations is kept");
    drop(store);
    // 2. Restart, post the rest, stop gracefully: exactly the reference.
    let server = Running::start(quick(with_token(config(dir.path())))).await;
    post_all(&server, &bodies[5..]).await;
    server.stop().await.unwrap();
    assert_eq!(applied(dir.path()), Some(9));
    assert_eq!(std::fs::read(journal_path(dir.path())).unwrap(), MAGIC);
    assert_store_matches(&dir.path().join("m.db"), lines.join("\n").as_bytes());
}
