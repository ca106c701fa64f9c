//! Ingest behaviour a user sees: bad lines reported by number while the rest is kept, a
//! file of the wrong format refused before anything is written, no double counting.

use super::{exact_counts, fixture, footfall, ok, s};
use std::fmt::Write;

/// Two shoppers in s1 for 6 minutes, one walk-by near s2; a few bad lines.
fn csv_with_bad_lines() -> String {
    let mut t = String::from("time,sensor,mac,rssi\n");
    for i in 0..40 {
        let ts = format!("2026-03-02T10:{:02}:{:02}Z", i * 9 / 60, (i * 9) % 60);
        writeln!(t, "{ts},s1-front,00:16:3e:00:00:01,-55").unwrap();
        writeln!(t, "{ts},s1-cash,00:16:3e:00:00:02,-58").unwrap();
    }
    t.push_str("2026-03-02T10:07:00Z,s1-front,00:16:3e:00:00:01\n"); // line 82: missing rssi
    t.push_str("2026-03-02T10:07:01Z,s1-front,nope,-50\n"); // line 83: bad mac
    t.push_str("2026-03-02T10:07:02Z,s2-a,ff:ff:ff:ff:ff:ff,-50\n"); // broadcast: dropped
    t.push_str("2026-03-02T10:07:03Z,s2-a,00:16:3e:00:00:03,15\n"); // implausible rssi
    t.push_str("2026-03-02T10:07:04Z,s2-a,00:16:3e:00:00:03,-72\n"); // near s2
    t.push_str("2026-03-02T10:07:05Z,nowhere,00:16:3e:00:00:03,-72\n"); // unknown sensor
    t
}

#[test]
fn bad_lines_are_reported_and_the_rest_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("obs.csv");
    std::fs::write(&csv, csv_with_bad_lines()).unwrap();
    let db = dir.path().join("m.db");
    let out = footfall(&["ingest", "--site", s(&fixture("site.json")), "--db", s(&db), s(&csv)]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("read as csv: 84 observations, 2 bad lines"), "{err}");
    assert!(err.contains("obs.csv:line 82: expected 4 comma-separated fields, found 3"), "{err}");
    assert!(err.contains("obs.csv:line 83: mac: not a MAC address"), "{err}");
    assert!(err.contains("1 group address") && err.contains("1 implausible rssi") && err.contains("1 unknown sensor"), "{err}");
    assert!(err.contains("unknown sensors (not in the site file): nowhere"), "{err}");
    let exact = exact_counts(dir.path());
    let report: serde_json::Value = serde_json::from_str(&ok(&["report", "--db", s(&db), "--config", s(&exact), "--json"])).unwrap();
    // 2 walk-ins and 1 walk-by: below k, so the report (noise off) suppresses them; the visit export
    // (per-visit rows) shows the visit was built.
    let s1 = report["totals"].as_array().unwrap().iter().find(|r| r["store"] == "s1").unwrap();
    assert_eq!(s1["walk_ins"], serde_json::Value::Null, "{s1}");
    let s2 = report["totals"].as_array().unwrap().iter().find(|r| r["store"] == "s2").unwrap();
    assert_eq!(s2["walk_bys"], serde_json::Value::Null, "{s2}");
    let visits = ok(&["export", "visits", "--db", s(&db)]);
    assert_eq!(visits.lines().skip(1).filter(|l| l.contains(",s1,")).count(), 2, "{visits}");
}

#[test]
fn wrong_format_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(&good, csv_with_bad_lines()).unwrap();
    let bad = dir.path().join("photo.csv");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\n not observations").unwrap();
    let db = dir.path().join("m.db");
    let out = footfall(&["ingest", "--site", s(&fixture("site.json")), "--db", s(&db), s(&good), s(&bad)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("photo.csv: not any known input") && err.contains("time,sensor,mac,rssi"), "{err}");
    assert!(!db.exists(), "nothing may be written when an input is not a known format");
}

#[test]
fn reingesting_the_same_file_does_not_double_count() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("obs.csv");
    std::fs::write(&csv, csv_with_bad_lines()).unwrap();
    let copy = dir.path().join("copy.csv");
    std::fs::copy(&csv, &copy).unwrap();
    let db = dir.path().join("m.db");
    ok(&["ingest", "--site", s(&fixture("site.json")), "--db", s(&db), s(&csv)]);
    let first = ok(&["report", "--db", s(&db), "--json"]);
    let out = footfall(&["ingest", "--db", s(&db), s(&copy)]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("skipped: same content already ingested"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(first, ok(&["report", "--db", s(&db), "--json"]));
}

#[test]
fn invalid_site_names_the_store_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.json");
    let text = std::fs::read_to_string(fixture("site.json")).unwrap().replace("\"store\": \"s2\"", "\"store\": \"s9\"");
    std::fs::write(&site, text).unwrap();
    let csv = dir.path().join("obs.csv");
    std::fs::write(&csv, csv_with_bad_lines()).unwrap();
    let db = dir.path().join("m.db");
    let out = footfall(&["ingest", "--site", s(&site), "--db", s(&db), s(&csv)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"sensors[2] (id "s2-a").store: unknown store id "s9""#), "{err}");
    assert!(!db.exists());
}

#[test]
fn first_ingest_without_site_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("obs.csv");
    std::fs::write(&csv, csv_with_bad_lines()).unwrap();
    let db = dir.path().join("m.db");
    let out = footfall(&["ingest", "--db", s(&db), s(&csv)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--site"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!db.exists());
}
