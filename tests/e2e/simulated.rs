//! A simulated mall, ingested, comes out close to its ground truth (loose bounds here; the
//! 14-day, 8-store figures are printed by `footfall eval` and recorded in docs/accuracy.md).

use super::{ok, s, simulate};

#[test]
fn small_mall_is_close_to_truth() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    simulate(&sim, 3, 4, 200);
    let db = dir.path().join("m.db");
    ok(&["ingest", "--site", s(&sim.join("site.json")), "--db", s(&db), "--quiet", s(&sim.join("observations.csv"))]);
    let eval: serde_json::Value =
        serde_json::from_str(&ok(&["eval", "--db", s(&db), "--truth", s(&sim.join("truth.json")), "--json"])).unwrap();
    let o = &eval["overall"];
    let f = |k: &str| o[k].as_f64().unwrap();
    assert!(f("truth_visits") > 100.0, "{o}");
    assert!((f("est_visits") - f("truth_visits")).abs() / f("truth_visits") < 0.10, "{o}");
    assert!((f("est_capture") - f("truth_capture")).abs() < 0.04, "{o}");
    assert!((f("est_median_dwell_s") - f("truth_median_dwell_s")).abs() / f("truth_median_dwell_s") < 0.15, "{o}");
    // The report shows fixed and staff devices excluded (4 fixed: below k, so suppressed).
    let report = ok(&["report", "--db", s(&db)]);
    assert!(report.contains("excluded as non-shoppers: <5 fixed and 8 staff devices"), "{report}");
}

/// `simulate --pcap` writes a capture whose interfaces are the sensors: it ingests without
/// --sensor and gives the same visits as the CSV of the same frames.
#[test]
fn the_simulated_capture_ingests_like_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    ok(&["simulate", "--out", s(&sim), "--pcap", "--days", "1", "--stores", "2", "--shoppers-per-day", "60"]);
    let site = sim.join("site.json");
    let truth = sim.join("truth.json");
    let mut evals = Vec::new();
    for input in ["observations.csv", "observations.pcapng"] {
        let db = dir.path().join(format!("{input}.db"));
        ok(&["ingest", "--site", s(&site), "--db", s(&db), "--quiet", s(&sim.join(input))]);
        let eval: serde_json::Value = serde_json::from_str(&ok(&["eval", "--db", s(&db), "--truth", s(&truth), "--json"])).unwrap();
        evals.push(eval["overall"].clone());
    }
    assert!(evals[0]["est_visits"].as_f64().unwrap() > 10.0, "{}", evals[0]);
    assert_eq!(evals[0], evals[1]);
}
