//! `footfall sensor`: the agent's spool survives the server being down for the whole
//! capture and a kill of the agent; the server ends with exactly the observations captured.

use crate::{fixture, s};
use footfall_core::Observation;
use footfall_server::journal::Journal;
use footfall_server::{ServerConfig, serve};
use footfall_sources::Source;
use footfall_sources::capture::CaptureSource;
use footfall_store::Store;
use footfall_transforms::Pseudonymizer;
use footfall_transforms::filter;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Start `footfall sensor` with `args`; its stderr lines arrive on the receiver.
fn agent(args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_footfall"))
        .env("FOOTFALL_NOW", super::NOW)
        .arg("sensor")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting footfall sensor");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Wait for a stderr line containing `needle`; return every line read so far.
fn wait_for(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("no {needle:?} from the agent; it said:\n{}", seen.join("\n"));
}

/// The server the agent tests send to: the sensor site, sensor token `t0ken`, and nothing
/// applied (what arrives stays in the journal) unless the test turns it on.
fn agent_server_config(db: &Path, key_path: &Path) -> ServerConfig {
    let mut config = ServerConfig::new(db);
    config.site = Some(crate::sensor_site());
    config.key_path = key_path.to_path_buf();
    config.sensor_token = Some("t0ken".into());
    config.ingest_interval = Duration::from_secs(3600);
    config.flush_on_shutdown = false;
    config
}

type Serving = tokio::task::JoinHandle<Result<(), footfall_server::ServerError>>;

/// Serve `config` on `listener` until the returned sender is used.
fn spawn_server(
    rt: &tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    config: ServerConfig,
) -> (Serving, tokio::sync::oneshot::Sender<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(serve(
        listener,
        async move {
            let _ = stopped.await;
        },
        config,
    ));
    (server, stop)
}

/// Wait up to a minute for `child` to exit; `why` says what it means if it does not.
fn exit_status(child: &mut Child, why: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        assert!(Instant::now() < deadline, "{why}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn batch_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.expect("entry").file_name().to_string_lossy().to_string()).filter(|n| n.ends_with(".batch")).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Sortable identity of an observation (every field).
type Key = (i64, u64, i16, bool, Option<u16>, Option<u16>, Option<u64>);
fn identity(o: &Observation) -> Key {
    (o.ts, o.device.0, o.rssi, o.randomized, o.seq, o.freq, o.ie)
}

#[test]
fn the_spool_survives_a_down_server_and_a_killed_agent_and_counts_each_observation_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, key_path, spool) = (dir.path().join("mall.db"), dir.path().join("mall.db.key"), dir.path().join("spool"));
    let (key, _) = footfall_store::keyfile::load_or_create(&key_path).expect("key");
    let pcap = fixture("brno-excerpt.pcap");
    // A loopback port with nothing listening: the server is down until the test starts it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let url = format!("http://127.0.0.1:{port}");
    let common = [
        "--sensor",
        "pos1",
        "--key",
        s(&key_path),
        "--server",
        &url,
        "--token",
        "t0ken",
        "--spool",
        s(&spool),
        "--batch-size",
        "30",
        "--retry-min-ms",
        "20",
        "--retry-max-ms",
        "200",
    ];

    // 1. Capture the whole excerpt with the server down, then kill the agent.
    let mut args = common.to_vec();
    args.extend(["--replay", s(&pcap)]);
    let (mut first, rx) = agent(&args);
    let mut seen = Vec::new();
    wait_for(&rx, "capture finished", &mut seen);
    wait_for(&rx, "not sent", &mut seen);
    first.kill().expect("kill");
    first.wait().expect("wait");
    let spooled = batch_files(&spool);
    assert_eq!(spooled.len(), 7, "200 observations in batches of 30: {spooled:?}");
    // What waits on disk is pseudonymous: the excerpt's first MAC is nowhere in it.
    for name in &spooled {
        let text = std::fs::read_to_string(spool.join(name)).expect("batch");
        for mac in ["98:f6:21:04:45:4a", "98f62104454a", "98-f6-21-04-45-4a"] {
            assert!(!text.to_lowercase().contains(mac), "{mac} in {name}");
        }
    }

    // 2. Restart it (only sending what is spooled); the server is still down.
    let mut args = common.to_vec();
    args.push("--drain");
    let (mut second, rx) = agent(&args);
    let mut seen = Vec::new();
    wait_for(&rx, "not sent", &mut seen);

    // 3. Start the server on that port; keep what it receives in the journal (no apply).
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut config = agent_server_config(&db, &key_path);
    let listener = rt.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port))).expect("binding the reserved port");
    let (server, stop) = spawn_server(&rt, listener, config.clone());
    let status = exit_status(&mut second, "the agent did not drain its spool");
    seen.extend(rx.try_iter());
    assert!(status.success(), "{}", seen.join("\n"));
    assert!(seen.iter().any(|l| l.contains("7 batches sent (0 duplicates); 0 waiting")), "{}", seen.join("\n"));
    assert!(batch_files(&spool).is_empty());
    let _ = stop.send(());
    rt.block_on(server).expect("join").expect("serve");

    // 4. The journal holds every captured observation exactly once, one record per batch.
    let (_, recovered) = Journal::open(&Journal::path_for(&db)).expect("journal");
    let batches: Vec<u64> = recovered.records.iter().map(|r| r.agent.as_ref().expect("an agent batch").batch).collect();
    assert_eq!(batches, (1..=7).collect::<Vec<_>>());
    let mut got: Vec<Key> = recovered.records.iter().flat_map(|r| r.obs.iter().map(identity)).collect();
    assert!(recovered.records.iter().all(|r| r.sensors == ["pos1"]));
    let mut pseudo = Pseudonymizer::new(key);
    let mut want: Vec<Key> = Vec::new();
    let file = std::fs::File::open(&pcap).expect("pcap");
    CaptureSource::open(file, "brno", Some("pos1".into()))
        .expect("open")
        .run(
            &mut |raw| {
                if filter::check(&raw).is_ok() {
                    want.push(identity(&pseudo.apply(&raw, 0)));
                }
            },
            &mut |_| {},
        )
        .expect("read");
    assert_eq!(want.len(), 200);
    got.sort();
    want.sort();
    assert_eq!(got, want, "the server holds exactly the observations captured");

    // 5. Applied, the database equals an ingest of the same capture with the same key.
    config.flush_on_shutdown = true;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    rt.block_on(serve(listener, async {}, config)).expect("serve applies the journal");
    let reference = dir.path().join("ref.db");
    crate::ok(&[
        "ingest",
        "--quiet",
        "--site",
        s(&fixture("capture-site.json")),
        "--db",
        s(&reference),
        "--key",
        s(&key_path),
        "--sensor",
        "pos1",
        s(&pcap),
    ]);
    let (a, b) = (Store::open(&db).expect("db"), Store::open(&reference).expect("ref"));
    let site = b.require_site().expect("site");
    let mut act = (a.activity().expect("activity"), b.activity().expect("activity"));
    act.0.sort_by_key(|x| (x.day, x.device));
    act.1.sort_by_key(|x| (x.day, x.device));
    assert_eq!(act.0, act.1, "per-day activity");
    assert_eq!(a.visits(&site).expect("visits"), b.visits(&site).expect("visits"));
    assert_eq!(a.passes(&site).expect("passes"), b.passes(&site).expect("passes"));
    assert_eq!(a.drop_counts().expect("drops"), b.drop_counts().expect("drops"));
    // The excerpt is shorter than the allowed lateness, so most of it is still in the
    // pipeline's reorder buffer: the saved states are equal only if the same observations,
    // each once, went in.
    let state = a.pipeline_state().expect("state");
    assert!(state.is_some());
    assert_eq!(state, b.pipeline_state().expect("state"), "the same observations in the pipeline");
}

/// An agent that pseudonymizes with another key rotation than the server's is refused with
/// an answer that says which flag to use; it stops and keeps its spool, and nothing is stored.
#[test]
fn an_agent_with_another_key_rotation_is_refused_and_told_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, key_path, spool) = (dir.path().join("mall.db"), dir.path().join("mall.db.key"), dir.path().join("spool"));
    footfall_store::keyfile::load_or_create(&key_path).expect("key");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (server, stop) = spawn_server(&rt, listener, agent_server_config(&db, &key_path));
    let pcap = fixture("brno-excerpt.pcap");
    let args =
        ["--sensor", "pos1", "--key", s(&key_path), "--server", &url, "--token", "t0ken", "--spool", s(&spool), "--key-epoch-days", "1"];
    let mut with_replay = args.to_vec();
    with_replay.extend(["--replay", s(&pcap)]);
    let (mut child, rx) = agent(&with_replay);
    let status = exit_status(&mut child, "the agent was not stopped by the refusal");
    std::thread::sleep(Duration::from_millis(100));
    let said: Vec<String> = rx.try_iter().collect();
    let said = said.join("\n");
    assert!(!status.success(), "{said}");
    assert!(said.contains("key_epoch_days = 1, this server with no key rotation") && said.contains("without --key-epoch-days"), "{said}");
    assert!(!batch_files(&spool).is_empty(), "the spool is kept for the operator to decide");
    let _ = stop.send(());
    rt.block_on(server).expect("join").expect("serve");
    let (_, recovered) = Journal::open(&Journal::path_for(&db)).expect("journal");
    assert!(recovered.records.is_empty(), "nothing of the refused agent was stored");
}

#[test]
fn the_agent_never_creates_a_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("none.key");
    let out = crate::footfall(&[
        "sensor",
        "--sensor",
        "pos1",
        "--key",
        s(&key),
        "--server",
        "http://127.0.0.1:9",
        "--token",
        "t",
        "--spool",
        s(&dir.path().join("sp")),
        "--drain",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist") && err.contains("scp"), "{err}");
    assert!(!key.exists());
}

/// `footfall capture` reads through libpcap, the live code path; a replayed file gives one
/// pseudonymous JSON line per probe request.
#[cfg(feature = "live")]
#[test]
fn capture_prints_pseudonymous_json_lines_through_libpcap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("k.key");
    footfall_store::keyfile::load_or_create(&key).expect("key");
    let out = crate::ok(&["capture", "--replay", s(&fixture("brno-excerpt.pcap")), "--sensor", "pos1", "--key", s(&key)]);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(lines.len(), 200);
    assert_eq!(lines[0]["sensor"], "pos1");
    assert_eq!((lines[0]["rssi"].as_i64(), lines[0]["seq"].as_u64()), (Some(-88), Some(1597)));
    assert_eq!(lines[0]["device"].as_str().map(str::len), Some(16));
    assert!(!out.contains("98:f6:21") && !out.contains("98f621"));
}
