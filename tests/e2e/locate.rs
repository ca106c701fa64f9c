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

/// `footfall survey import` of one capture with the surveyor's notes.
fn survey_import(
    site: &std::path::Path,
    key: &std::path::Path,
    surveyor: &str,
    notes: &std::path::Path,
    out: &std::path::Path,
    obs: &std::path::Path,
) -> std::process::Output {
    footfall(&[
        "survey",
        "import",
        "--site",
        s(site),
        "--key",
        s(key),
        "--surveyor",
        surveyor,
        "--notes",
        s(notes),
        "--out",
        s(out),
        "--quiet",
        s(obs),
    ])
}

fn assert_ok(out: std::process::Output) {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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

/// The survey inputs in `dir`, imported: the key, the observations, the site and the survey file.
fn imported_survey(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (key, csv, notes) = survey_inputs(dir);
    let site = fixture("site.json");
    let survey = dir.join("survey.json");
    assert_ok(survey_import(&site, &key, "02:00:00:aa:bb:cc", &notes, &survey, &csv));
    (key, csv, site, survey)
}

#[test]
fn survey_import_train_and_eval_on_a_site_survey() {
    let dir = tempfile::tempdir().unwrap();
    let (key, csv, notes) = survey_inputs(dir.path());
    let survey = dir.path().join("survey.json");
    let site = fixture("site.json");
    let out = survey_import(&site, &key, "02:00:00:AA:BB:CC", &notes, &survey, &csv);
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
    let run = |notes: &std::path::Path, mac: &str| survey_import(&site, &key, mac, notes, &out_file, &csv);
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
    let (key, csv, site, survey) = imported_survey(dir.path());
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
    assert_ok(survey_import(&site, &key, mac.trim(), &sim.join("survey-notes.csv"), &survey, &sim.join("survey-observations.csv")));
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

/// A shopper's phone (globally administered MAC) heard as the surveyor was in the fragrance
/// zone, 11:00-11:05, then another phone at 11:30 and 11:40 so that the visit closes (event
/// time passes its idle timeout) and is stored.
fn shopper_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let mut obs = String::from("time,sensor,mac,rssi\n");
    for t in (0..300).step_by(5) {
        let ts = format!("2026-03-02T11:{:02}:{:02}Z", t / 60, t % 60);
        let jitter = t % 3 - 1;
        for (sensor, r) in [("s1-front", -45), ("s1-cash", -75), ("s2-a", -80)] {
            obs.push_str(&format!("{ts},{sensor},3c:22:fb:00:00:01,{}\n", r + jitter));
        }
    }
    obs.push_str("2026-03-02T11:30:00Z,s2-a,3c:22:fb:00:00:02,-50\n2026-03-02T11:40:00Z,s2-a,3c:22:fb:00:00:02,-50\n");
    let path = dir.join("shopper.csv");
    std::fs::write(&path, obs).unwrap();
    path
}

/// The zone paths of the shopper's visits (`footfall export visits`: the visits starting at
/// 11:00 or 12:00), in order.
fn zone_paths(db: &std::path::Path) -> Vec<String> {
    let out = ok(&["export", "visits", "--db", s(db), "--format", "jsonl"]);
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["start"].as_str().is_some_and(|t| t.starts_with("2026-03-02T11:00") || t.starts_with("2026-03-02T12:00")))
        .map(|v| v["zone_path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_model_stored_with_the_site_is_used_by_ingest_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (key, survey_obs, notes) = survey_inputs(dir.path());
    let site = fixture("site.json");
    // A survey whose notes swap the two zones of s1: a model trained on it puts a phone that
    // the strongest-sensor rule places at the fragrance counter at the cashier instead, so
    // the zones stored tell which rule placed them.
    let swapped_notes = dir.path().join("swapped.csv");
    let text = std::fs::read_to_string(&notes).unwrap();
    std::fs::write(&swapped_notes, text.replace("s1/fragrance", "TMP").replace("s1/cashier", "s1/fragrance").replace("TMP", "s1/cashier"))
        .unwrap();
    let import = |notes: &std::path::Path, out: &std::path::Path| {
        assert_ok(survey_import(&site, &key, "02:00:00:aa:bb:cc", notes, out, &survey_obs))
    };
    let (swapped, right) = (dir.path().join("swapped.json"), dir.path().join("right.json"));
    import(&swapped_notes, &swapped);
    import(&notes, &right);
    let right_model = dir.path().join("right-model.json");
    ok(&["locate", "train", "--survey", s(&right), "--out", s(&right_model)]);
    let shopper = shopper_csv(dir.path());
    let ingest = |db: &std::path::Path, extra: &[&str], input: &std::path::Path| {
        let mut args = vec!["ingest", "--db", s(db), "--key", s(&key), "--quiet"];
        args.extend_from_slice(extra);
        args.push(s(input));
        let out = footfall(&args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{err}");
        err
    };
    let site_arg = ["--site", s(&site)];

    // Training into a database needs its site first.
    let db = dir.path().join("with-model.db");
    let out = footfall(&["locate", "train", "--survey", s(&swapped), "--db", s(&db)]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("does not exist yet"));
    assert!(!db.exists(), "a failed train created the database");
    ingest(&db, &site_arg, &survey_obs);
    let out = footfall(&["locate", "train", "--survey", s(&swapped), "--db", s(&db)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("stored in") && err.contains("(3 of 3 sensors known)"), "{err}");

    // No flag: the stored model places the zones.
    let err = ingest(&db, &[], &shopper);
    assert!(err.contains("zones from the location model stored in") && err.contains("from swapped.json"), "{err}");
    assert_eq!(zone_paths(&db), ["cashier"]);

    // The same inputs without a stored model: the strongest sensor places them.
    let plain = dir.path().join("plain.db");
    ingest(&plain, &site_arg, &survey_obs);
    let err = ingest(&plain, &[], &shopper);
    assert!(!err.contains("zones from"), "{err}");
    assert_eq!(zone_paths(&plain), ["fragrance"]);

    // --locate-model overrides the stored model.
    let overridden = dir.path().join("overridden.db");
    ingest(&overridden, &site_arg, &survey_obs);
    ok(&["locate", "train", "--survey", s(&swapped), "--db", s(&overridden)]);
    let err = ingest(&overridden, &["--locate-model", s(&right_model)], &shopper);
    assert!(err.contains("right-model.json"), "{err}");
    assert_eq!(zone_paths(&overridden), ["fragrance"]);

    // Removed: the strongest-sensor rule again.
    let out = footfall(&["locate", "remove", "--db", s(&db)]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stderr).contains("removed"));
    let later = dir.path().join("later.csv");
    std::fs::write(&later, std::fs::read_to_string(&shopper).unwrap().replace("2026-03-02T11:", "2026-03-02T12:")).unwrap();
    let err = ingest(&db, &[], &later);
    assert!(!err.contains("zones from"), "{err}");
    assert_eq!(zone_paths(&db), ["cashier", "fragrance"]);
}

#[test]
fn models_that_know_none_of_the_sites_sensors_are_refused_with_a_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let (key, survey_obs, notes) = survey_inputs(dir.path());
    let site = fixture("site.json");
    let db = dir.path().join("m.db");
    ok(&["ingest", "--site", s(&site), "--db", s(&db), "--key", s(&key), "--quiet", s(&survey_obs)]);
    // A model of other access points is refused before it is stored.
    let out = footfall(&["locate", "train", "--survey", s(&uji("training-excerpt.csv")), "--db", s(&db)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("none of the site's sensors"), "{err}");
    let out = footfall(&["locate", "remove", "--db", s(&db)]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stderr).contains("has no stored location model"));
    // A stored model, then a new site whose sensors it does not know: ingest stops and says
    // what to do rather than placing zones with a model of another site.
    let survey = dir.path().join("survey.json");
    assert_ok(survey_import(&site, &key, "02:00:00:aa:bb:cc", &notes, &survey, &survey_obs));
    ok(&["locate", "train", "--survey", s(&survey), "--db", s(&db)]);
    let renamed = dir.path().join("site2.json");
    let text = std::fs::read_to_string(&site).unwrap();
    std::fs::write(&renamed, text.replace("\"s1-front\"", "\"n1\"").replace("\"s1-cash\"", "\"n2\"").replace("\"s2-a\"", "\"n3\""))
        .unwrap();
    let out = footfall(&["ingest", "--site", s(&renamed), "--db", s(&db), "--key", s(&key), "--quiet", s(&shopper_csv(dir.path()))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("none of the site's sensors") && err.contains("footfall locate remove --db"), "{err}");
}

#[test]
fn serve_uses_the_model_stored_with_the_site() {
    let dir = tempfile::tempdir().unwrap();
    let (key, survey_obs, notes) = survey_inputs(dir.path());
    let site = fixture("site.json");
    let db = dir.path().join("m.db");
    ok(&["ingest", "--site", s(&site), "--db", s(&db), "--key", s(&key), "--quiet", s(&survey_obs)]);
    let survey = dir.path().join("survey.json");
    assert_ok(survey_import(&site, &key, "02:00:00:aa:bb:cc", &notes, &survey, &survey_obs));
    let args = ["--db", s(&db), "--key", s(&key), "--listen", "127.0.0.1:0"];
    // Without a stored model: the strongest-sensor rule, nothing said.
    let (stopped, printed) = super::serve::Server::start(&args, &[]).terminate();
    assert!(stopped && !printed.contains("location model"), "{printed}");
    ok(&["locate", "train", "--survey", s(&survey), "--db", s(&db)]);
    let (stopped, printed) = super::serve::Server::start(&args, &[]).terminate();
    assert!(stopped && printed.contains("zones from the survey-trained location model (3 of 3 sensors known)"), "{printed}");
}

/// `serve` follows the model stored in its database: a model stored (`locate train --db`) or
/// removed (`locate remove`) while it runs is used from the next batch on, without a restart.
#[test]
fn serve_follows_the_stored_model_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (key, csv, site, survey) = imported_survey(dir.path());
    let db = dir.path().join("m.db");
    assert_ok(footfall(&["ingest", "--site", s(&site), "--db", s(&db), "--key", s(&key), "--quiet", s(&csv)]));
    let args = ["--db", s(&db), "--key", s(&key), "--listen", "127.0.0.1:0", "--ingest-interval", "0.2"];
    let mut server = super::serve::Server::start(&args, &[]);
    // The ingester reads the stored model after the server listens: wait until it is ready,
    // or a model stored meanwhile is the one it starts with (nothing to reload).
    server.wait_for("ready:");
    assert!(!server.early.iter().any(|l| l.contains("survey-trained")), "no model at start: {:?}", server.early);
    ok(&["locate", "train", "--survey", s(&survey), "--db", s(&db)]);
    let line = server.wait_for("location model reloaded");
    assert!(line.contains("18 fingerprints from survey.json"), "{line}");
    ok(&["locate", "remove", "--db", s(&db)]);
    server.wait_for("location model removed");
    let (stopped, printed) = server.terminate();
    assert!(stopped, "{printed}");
}
