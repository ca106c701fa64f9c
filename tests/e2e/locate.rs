//! `footfall locate`: train, save, load and evaluate on the UJIIndoorLoc excerpts; clear
//! errors for bad input.

use super::{fixture, footfall, ok, s};

fn uji(name: &str) -> std::path::PathBuf {
    fixture(&format!("ujiindoorloc/{name}"))
}

fn value(out: &str, metric: &str) -> f64 {
    let line = out.lines().find(|l| l.starts_with(metric)).unwrap_or_else(|| panic!("no {metric} in {out}"));
    let v = line[metric.len()..].trim().trim_end_matches(" m").trim_end_matches('%');
    v.parse().unwrap_or_else(|_| panic!("{line}"))
}

#[test]
fn eval_on_the_excerpt_prints_every_metric_and_few_shot() {
    let out = ok(&[
        "locate",
        "eval",
        "--train",
        s(&uji("training-excerpt.csv")),
        "--test",
        s(&uji("validation-excerpt.csv")),
        "--few-shot",
        "1,3",
        "--quiet",
    ]);
    assert_eq!(value(&out, "test fingerprints"), 30.0, "{out}");
    assert_eq!(value(&out, "building hit"), 100.0, "{out}");
    // Two floors of one building, 121 training scans: most floors right, errors of metres, not km.
    assert!(value(&out, "floor hit") >= 80.0, "{out}");
    let mean = value(&out, "mean error");
    assert!(mean > 0.0 && mean < 20.0, "{out}");
    assert!(value(&out, "EvAAL score (mean, +4 m/floor, +50 m/building)") >= mean, "{out}");
    assert!(out.contains("few-shot zone accuracy") && out.lines().any(|l| l.starts_with("3 ")), "{out}");
    let cal = ok(&[
        "locate",
        "eval",
        "--train",
        s(&uji("training-excerpt.csv")),
        "--test",
        s(&uji("validation-excerpt.csv")),
        "--calibrate",
        "--quiet",
    ]);
    assert!(cal.contains("per-device calibration (weight 0.3)") && value(&cal, "test fingerprints") == 30.0, "{cal}");
}

#[test]
fn a_saved_model_gives_the_same_figures_as_training_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json");
    ok(&["locate", "train", "--survey", s(&uji("training-excerpt.csv")), "--out", s(&model)]);
    let test = uji("validation-excerpt.csv");
    let saved = ok(&["locate", "eval", "--model-file", s(&model), "--test", s(&test), "--json", "--quiet"]);
    let fresh = ok(&["locate", "eval", "--train", s(&uji("training-excerpt.csv")), "--test", s(&test), "--json", "--quiet"]);
    let a: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let b: serde_json::Value = serde_json::from_str(&fresh).unwrap();
    assert_eq!(a["summary"], b["summary"]);
    assert!(a["summary"]["mean_m"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_input_names_file_line_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(uji("validation-excerpt.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[3] = lines[3].replacen("100", "abc", 1);
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let out = footfall(&["locate", "eval", "--train", s(&uji("training-excerpt.csv")), "--test", s(&bad), "--quiet"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv, line 4") && err.contains("expected a number"), "{err}");
    let out = footfall(&["locate", "train", "--survey", s(&dir.path().join("missing.csv")), "--out", s(&dir.path().join("m.json"))]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv"));
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"format\": \"something else\"}").unwrap();
    let out = footfall(&["locate", "eval", "--model-file", s(&junk), "--test", s(&bad)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("junk.json"), "{err}");
}

/// A surveyor (and a bystander) heard by the fixture site's three sensors: fragrance, then
/// cashier, then store s2, a minute each from 10:00 UTC.
fn survey_inputs(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join("k.key");
    std::fs::write(&key, "11".repeat(32)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut obs = String::from("time,sensor,mac,rssi\n");
    // (zone, rssi at s1-front, s1-cash, s2-a)
    let plan = [("s1/fragrance", -45, -75, -80), ("s1/cashier", -72, -48, -85), ("s2", -82, -88, -50)];
    for (z, (_, f, c, a)) in plan.iter().enumerate() {
        for t in (0..60i32).step_by(2) {
            let ts = format!("2026-03-02T10:{:02}:{:02}Z", z, t);
            let jitter = t % 5 - 2;
            for (sensor, r) in [("s1-front", f), ("s1-cash", c), ("s2-a", a)] {
                obs.push_str(&format!("{ts},{sensor},02:00:00:aa:bb:cc,{}\n", r + jitter));
                obs.push_str(&format!("{ts},{sensor},00:11:22:33:44:55,{}\n", -60));
            }
        }
    }
    let csv = dir.join("obs.csv");
    std::fs::write(&csv, obs).unwrap();
    let notes = dir.join("notes.csv");
    let mut n = String::from("start,end,zone\n");
    for (z, (name, ..)) in plan.iter().enumerate() {
        n.push_str(&format!("2026-03-02T10:{z:02}:00Z,2026-03-02T10:{z:02}:59Z,{name}\n"));
    }
    std::fs::write(&notes, n).unwrap();
    (key, csv, notes)
}

#[test]
fn survey_import_train_and_eval_on_a_site_survey() {
    let dir = tempfile::tempdir().unwrap();
    let (key, csv, notes) = survey_inputs(dir.path());
    let survey = dir.path().join("survey.json");
    let site = fixture("site.json");
    let out = footfall(&[
        "survey",
        "import",
        "--site",
        s(&site),
        "--key",
        s(&key),
        "--surveyor",
        "02:00:00:AA:BB:CC",
        "--notes",
        s(&notes),
        "--out",
        s(&survey),
        "--quiet",
        s(&csv),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("18 labelled fingerprints (3 zones)"), "{err}");
    let text = std::fs::read_to_string(&survey).unwrap();
    for spelling in ["02:00:00:aa:bb:cc", "02:00:00:AA:BB:CC", "020000aabbcc", "00:11:22:33:44:55"] {
        assert!(!text.to_ascii_lowercase().contains(&spelling.to_ascii_lowercase()), "the survey file holds a MAC");
        assert!(!err.to_ascii_lowercase().contains(&spelling.to_ascii_lowercase()), "a MAC was printed");
    }
    let model = dir.path().join("model.json");
    ok(&["locate", "train", "--survey", s(&survey), "--out", s(&model)]);
    let out = ok(&["locate", "eval", "--model-file", s(&model), "--test", s(&survey), "--quiet"]);
    assert_eq!(value(&out, "zone accuracy (18 labelled)"), 100.0, "{out}");
}

#[test]
fn survey_import_refuses_unknown_zones_and_a_silent_surveyor() {
    let dir = tempfile::tempdir().unwrap();
    let (key, csv, notes) = survey_inputs(dir.path());
    let site = fixture("site.json");
    let bad_notes = dir.path().join("bad.csv");
    std::fs::write(&bad_notes, std::fs::read_to_string(&notes).unwrap().replace("s1/cashier", "s1/shoes")).unwrap();
    let out_file = dir.path().join("o.json");
    let run = |notes: &std::path::Path, mac: &str| {
        footfall(&[
            "survey",
            "import",
            "--site",
            s(&site),
            "--key",
            s(&key),
            "--surveyor",
            mac,
            "--notes",
            s(notes),
            "--out",
            s(&out_file),
            s(&csv),
        ])
    };
    let out = run(&bad_notes, "02:00:00:aa:bb:cc");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("bad.csv, line 3") && err.contains("no zone \"shoes\""), "{err}");
    let out = run(&notes, "02:00:00:aa:bb:cd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no observation of the surveyor"), "{err}");
    assert!(!err.contains("02:00:00:aa:bb:cd"), "{err}");
}

#[test]
fn ingest_uses_a_survey_trained_model_and_refuses_another_sites() {
    let dir = tempfile::tempdir().unwrap();
    let (key, csv, notes) = survey_inputs(dir.path());
    let site = fixture("site.json");
    let survey = dir.path().join("survey.json");
    ok(&[
        "survey",
        "import",
        "--site",
        s(&site),
        "--key",
        s(&key),
        "--surveyor",
        "02:00:00:aa:bb:cc",
        "--notes",
        s(&notes),
        "--out",
        s(&survey),
        s(&csv),
    ]);
    let model = dir.path().join("model.json");
    ok(&["locate", "train", "--survey", s(&survey), "--out", s(&model)]);
    let db = dir.path().join("m.db");
    let out = footfall(&["ingest", "--site", s(&site), "--db", s(&db), "--key", s(&key), "--locate-model", s(&model), "--quiet", s(&csv)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("(3 of 3 sensors known)"), "{err}");
    let uji_model = dir.path().join("uji.json");
    ok(&["locate", "train", "--survey", s(&uji("training-excerpt.csv")), "--out", s(&uji_model)]);
    let out = footfall(&["ingest", "--db", s(&db), "--key", s(&key), "--locate-model", s(&uji_model), "--quiet", s(&csv)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("uji.json") && err.contains("none of the site's sensors"), "{err}");
}

#[test]
fn simulated_survey_flow_from_simulate_to_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    ok(&["simulate", "--out", s(&sim), "--days", "1", "--stores", "2", "--shoppers-per-day", "40", "--seed", "7", "--survey"]);
    let mac = std::fs::read_to_string(sim.join("survey-surveyor.txt")).unwrap();
    let key = dir.path().join("mall.db.key");
    let survey = dir.path().join("survey.json");
    let site = sim.join("site.json");
    ok(&[
        "survey",
        "import",
        "--site",
        s(&site),
        "--key",
        s(&key),
        "--surveyor",
        mac.trim(),
        "--notes",
        s(&sim.join("survey-notes.csv")),
        "--out",
        s(&survey),
        "--quiet",
        s(&sim.join("survey-observations.csv")),
    ]);
    let model = dir.path().join("model.json");
    ok(&["locate", "train", "--survey", s(&survey), "--out", s(&model)]);
    // The survey's own fingerprints (6 zones x 12 slices + 24 in the corridor), a sanity floor.
    let out = ok(&["locate", "eval", "--model-file", s(&model), "--test", s(&survey), "--quiet"]);
    assert!(value(&out, "zone accuracy (96 labelled)") >= 80.0, "{out}");
    let db = dir.path().join("mall.db");
    let out =
        footfall(&["ingest", "--site", s(&site), "--db", s(&db), "--locate-model", s(&model), "--quiet", s(&sim.join("observations.csv"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("(6 of 6 sensors known)"), "{err}");
    let report = ok(&["report", "--db", s(&db)]);
    assert!(report.contains("s1"), "{report}");
    let eval = ok(&["eval", "--db", s(&db), "--truth", s(&sim.join("truth.json")), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&eval).unwrap();
    let overlap = v["zone_overlap"].as_f64().expect("zone accuracy for a truth with zones");
    assert!(overlap > 0.5 && overlap <= 1.0, "{eval}");
    assert_eq!(v["zones"].as_array().map(Vec::len), Some(2), "{eval}");
}
