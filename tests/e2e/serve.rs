//! `footfall serve` as a process: it listens, answers the Meraki validator, stores posts with
//! the right secret, refuses the wrong one, never prints a secret, and on SIGTERM stops
//! gracefully with everything applied to the database. The server's own behaviour in depth
//! is tested in crates/server/tests.

// Helpers of a test binary: panicking on a failed step is how they report it.
#![allow(clippy::unwrap_used)]

use super::{fixture, footfall, s};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `footfall serve`, killed if the test fails before stopping it.
pub(crate) struct Server {
    child: Child,
    pub addr: String,
    stderr: mpsc::Receiver<String>,
    /// Lines printed up to "listening on".
    pub early: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_footfall"))
            .env("FOOTFALL_NOW", super::NOW)
            .arg("serve")
            .args(args)
            .env_remove("FOOTFALL_MERAKI_SECRET")
            .env_remove("FOOTFALL_SENSOR_TOKEN")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting footfall serve");
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = Server { child, addr: String::new(), stderr: rx, early: Vec::new() };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.addr.is_empty() {
            let line = server.stderr.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("no 'listening on' line");
            if let Some(a) = line.split("listening on http://").nth(1) {
                server.addr = a.split_whitespace().next().unwrap_or_default().to_string();
            }
            server.early.push(line);
        }
        server
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        self.request_with(method, path, "", body)
    }

    /// A request with extra header lines (each ending in CRLF).
    pub fn request_with(&self, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n", body.len());
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
        (status, raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
    }

    /// Wait up to 60 s for a line of its log containing `needle`, and return it; the lines
    /// read stay in what [`Server::terminate`] returns.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let Ok(line) = self.stderr.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
                panic!("no log line with {needle:?} within 60 s; printed:\n{}", self.early.join("\n"))
            };
            self.early.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// SIGTERM, then wait for the exit; returns whether it succeeded and all it printed.
    pub fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("sh").args(["-c", &format!("kill -TERM {pid}")]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "footfall serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(50));
        let mut printed = std::mem::take(&mut self.early);
        printed.extend(self.stderr.try_iter());
        (status.success(), printed.join("\n"))
    }
}

#[test]
fn serve_stores_meraki_posts_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let site = fixture("meraki-site.json");
    let args = ["--db", s(&db), "--site", s(&site), "--listen", "127.0.0.1:0", "--meraki-validator", "v4l1d4t0r"];
    let server = Server::start(&args, &[("FOOTFALL_MERAKI_SECRET", "testing123")]);
    assert_eq!(server.request("GET", "/meraki", b""), (200, "v4l1d4t0r".to_string()));
    assert_eq!(server.request("GET", "/readyz", b"").0, 200);
    let post = std::fs::read_to_string(fixture("meraki/v2_wifi_DevicesSeen_cmxreceiver_readme.json")).unwrap();
    let (status, body) = server.request("POST", "/meraki", post.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["accepted"], 3);
    let (status, body) = server.request("POST", "/meraki", post.replace("testing123", "nope").as_bytes());
    assert_eq!(status, 403, "{body}");
    let (ok, printed) = server.terminate();
    assert!(ok, "{printed}");
    assert!(!printed.contains("testing123"), "a secret was printed: {printed}");
    // Stopped gracefully: the post is in the database and the journal is empty again.
    let store = footfall_store::Store::open(&db).unwrap();
    assert_eq!(store.journal_applied().unwrap(), Some(1));
    assert_eq!(std::fs::read(dir.path().join("m.db.journal")).unwrap(), b"FFJRNL1\n");
    assert!(!store.activity().unwrap().is_empty() || store.pipeline_state().unwrap().is_some());
    // The database is an ordinary footfall database.
    let out = footfall(&["report", "--db", s(&db)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Restarted without --site: the stored site is used.
    let server = Server::start(&["--db", s(&db), "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(server.request("GET", "/healthz", b""), (200, "ok".to_string()));
    assert_eq!(server.request("POST", "/meraki", post.as_bytes()).0, 404, "no secret: the receiver is off");
    let (ok, printed) = server.terminate();
    assert!(ok, "{printed}");
    assert!(printed.contains("the Meraki receiver is off"), "{printed}");
}

#[test]
fn serve_needs_a_site_for_a_new_database_and_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    let out = footfall(&["serve", "--db", s(&db), "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--site"), "{err}");
    assert!(!db.exists(), "nothing is created");
    let help = String::from_utf8(footfall(&["serve", "--help"]).stdout).unwrap();
    for want in ["Example", "FOOTFALL_MERAKI_SECRET", "FOOTFALL_SENSOR_TOKEN", "/api/v1/ingest/jsonl", "SIGTERM"] {
        assert!(help.contains(want), "{want} missing from help:\n{help}");
    }
}
