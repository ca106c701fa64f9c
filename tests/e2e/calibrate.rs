//! `footfall calibrate` on a capture excerpt with a small counts file (tests/fixtures,
//! brno-excerpt-counts.csv: illustrative counts, a test input): factors with their interval,
//! raw and calibrated figures, the store-wide fallback said out loud, and bad lines explained
//! with file and line.

use super::{fixture, footfall, ok, s};

#[test]
fn calibrates_wifi_people_to_counted_people() {
    let pcap = fixture("brno-excerpt.pcap");
    let counts = fixture("brno-excerpt-counts.csv");
    // The WiFi estimate of the two windows (7 and 8 people) against 11 and 12 counted: the
    // ratio of sums is 23 / 15. One hour with two windows only: the store's factor is used.
    let csv = ok(&["calibrate", "--counts", s(&counts), "--format", "csv", s(&pcap)]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "store,hour,factor,low,high,intervals,estimated,counted,source");
    assert!(lines[1].starts_with("brno-excerpt,all,1.5333,"), "{csv}");
    assert!(lines[1].ends_with(",2,15,23,store"), "{csv}");
    assert!(lines[2].starts_with("brno-excerpt,10,1.5333,") && lines[2].ends_with(",store"), "{csv}");
    let w = ok(&["calibrate", "--counts", s(&counts), "--format", "csv", "--windows", s(&pcap)]);
    assert!(w.contains("brno-excerpt,2022-11-22T10:00:00.000Z,10,7,10.73,"), "{w}");
    // The table says where the factor comes from and prints raw beside calibrated.
    let t = ok(&["calibrate", "--counts", s(&counts), "--windows", s(&pcap)]);
    assert!(t.contains("store (too few)"), "{t}");
    assert!(t.contains("WiFi people (raw)") && t.contains("calibrated"), "{t}");
    assert!(t.contains("female 40.0% of counted people"), "{t}");
    // With one window enough for an hour of its own, the hour's factor is used.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["calibrate", "--counts", s(&counts), "--format", "json", "--min-intervals", "1", s(&pcap)])).unwrap();
    assert_eq!(json["stores"][0]["hours"][0]["source"], "hour");
    assert_eq!(json["windows"].as_array().unwrap().len(), 2);
    assert_eq!(json["unmatched_count_windows"], 1);
}

#[test]
fn bad_counts_are_explained_with_file_and_line() {
    let pcap = fixture("brno-excerpt.pcap");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("counts.csv");
    let check = |text: &str, want: &[&str]| {
        std::fs::write(&bad, text).unwrap();
        let out = footfall(&["calibrate", "--counts", s(&bad), s(&pcap)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        for w in want {
            assert!(err.contains(w), "{w:?} not in {err}");
        }
    };
    check("store,time,count\nbrno-excerpt,2022-11-22 10:00,4\n", &["counts.csv, line 2", "RFC 3339"]);
    check("store,when,count\n", &["line 1", "store,time,count"]);
    check("store,time,count,person_id\nbrno-excerpt,2022-11-22T10:00:00Z,1,x9\n", &["line 2", "aggregate counts only"]);
    check(
        "store,time,count\nother,2022-11-22T10:00:00Z,4\n",
        &["no window of the captures has a count", "unknown stores in the counts: other"],
    );
}

#[test]
fn simulated_door_counts_calibrate_the_database_estimate() {
    // 60% of shoppers carry a phone with WiFi on; counts.csv counts everyone inside.
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    ok(&[
        "simulate",
        "--out",
        s(&sim),
        "--days",
        "2",
        "--stores",
        "2",
        "--shoppers-per-day",
        "150",
        "--phone-share",
        "0.6",
        "--seed",
        "3",
        "--start",
        "2026-03-02",
    ]);
    let truth: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sim.join("truth.json")).unwrap()).unwrap();
    assert!(truth["devices"]["phoneless_shopper_days"].as_u64().unwrap() > 0);
    let counts = sim.join("counts.csv");
    assert!(std::fs::read_to_string(&counts).unwrap().starts_with("store,time,count\ns1,"));
    let db = dir.path().join("m.db");
    ok(&["ingest", "--quiet", "--site", s(&sim.join("site.json")), "--db", s(&db), s(&sim.join("observations.csv"))]);
    let occ = ok(&["occupancy", "--db", s(&db), "--format", "csv"]);
    assert!(occ.starts_with("store,window_start,people,naive_macs,excluded_fixed\ns1,"), "{occ}");
    let sensors = ok(&["occupancy", "--db", s(&db), "--by", "sensor", "--format", "json"]);
    assert!(sensors.contains("\"sensor\": \"s1-"), "{sensors}");
    let day2 = "2026-03-03T00:00:00Z";
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["calibrate", "--db", s(&db), "--counts", s(&counts), "--fit-before", day2, "--format", "json"]))
            .unwrap();
    assert_eq!(json["timezone"], "Europe/Paris");
    assert_eq!(json["stores"].as_array().unwrap().len(), 2);
    let windows = json["windows"].as_array().unwrap();
    assert!(windows.iter().any(|w| w["held_out"] == true) && windows.iter().any(|w| w["held_out"] == false));
    // Calibrated figures are closer to the counts than the raw ones on the held-out day.
    let mae = |key: &str| {
        let held: Vec<&serde_json::Value> = windows.iter().filter(|w| w["held_out"] == true).collect();
        held.iter().map(|w| (w[key].as_f64().unwrap() - w["counted"].as_f64().unwrap()).abs()).sum::<f64>() / held.len() as f64
    };
    assert!(mae("people_calibrated") < mae("people_raw"), "{} vs {}", mae("people_calibrated"), mae("people_raw"));
    let t = ok(&["calibrate", "--db", s(&db), "--counts", s(&counts), "--fit-before", day2]);
    assert!(t.contains("held out (--fit-before): calibrated"), "{t}");
}
