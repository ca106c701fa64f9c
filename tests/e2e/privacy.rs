//! No raw MAC reaches the database: not as text in any spelling, not as raw bytes; the key
//! file is private.

use super::{exact_counts, ok, s, simulate};
use std::collections::BTreeSet;

fn macs_in(csv: &str) -> BTreeSet<String> {
    csv.lines().skip(1).filter_map(|l| l.split(',').nth(2)).map(str::to_string).collect()
}

fn spellings(mac: &str) -> Vec<Vec<u8>> {
    let hex: String = mac.chars().filter(|c| *c != ':').collect();
    let bytes: Vec<u8> = (0..6).map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap()).collect();
    vec![
        mac.as_bytes().to_vec(),
        mac.to_uppercase().into_bytes(),
        mac.replace(':', "-").into_bytes(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
        bytes,
    ]
}

pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_raw_mac_anywhere_in_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    simulate(&sim, 1, 4, 80);
    let db = dir.path().join("m.db");
    ok(&[
        "ingest",
        "--site",
        s(&sim.join("site.json")),
        "--db",
        s(&db),
        "--quiet",
        s(&sim.join("observations.csv")),
        s(&sim.join("observations.jsonl")),
    ]);
    // Reports and exports read the database too; run them so any lazily written state lands.
    ok(&["report", "--db", s(&db)]);
    let export = ok(&["export", "visits", "--db", s(&db)]);
    let macs = macs_in(&std::fs::read_to_string(sim.join("observations.csv")).unwrap());
    assert!(macs.len() > 50, "expected many devices, got {}", macs.len());
    let mut files = vec![std::fs::read(&db).unwrap()];
    for ext in ["db-wal", "db-journal"] {
        if let Ok(b) = std::fs::read(db.with_extension(ext)) {
            files.push(b);
        }
    }
    files.push(export.into_bytes());
    let mut checked = 0;
    for mac in &macs {
        for needle in spellings(mac) {
            for f in &files {
                assert!(!contains(f, &needle), "raw MAC {mac} found (as {:?})", String::from_utf8_lossy(&needle));
            }
            checked += 1;
        }
    }
    assert!(checked >= macs.len() * 6);
    // The check is real: the same search finds a MAC in the input file itself.
    let input = std::fs::read(sim.join("observations.csv")).unwrap();
    assert!(macs.iter().all(|m| contains(&input, m.as_bytes())));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("m.db.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

/// The pseudonyms of a MAC under the database's key (what the pipeline and the registry use).
fn ids_of(db: &std::path::Path, mac: &str) -> Vec<footfall_core::DeviceId> {
    let key = footfall_store::keyfile::load(&footfall_store::keyfile::default_path(db)).unwrap();
    let subject = footfall_transforms::optout::Subject::parse(mac).unwrap();
    footfall_transforms::Pseudonymizer::new(key).subject_ids(&subject)
}

fn holding(db: &std::path::Path, ids: &[footfall_core::DeviceId]) -> BTreeSet<String> {
    let store = footfall_store::Store::open(db).unwrap();
    ids.iter().flat_map(|id| store.tables_holding(*id).unwrap()).map(|(t, c)| format!("{t}.{c}")).collect()
}

/// A simulated day split in two files at its middle line, and the MAC heard most often in
/// both halves.
fn halves(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf, String) {
    let sim = dir.join("sim");
    simulate(&sim, 1, 3, 60);
    let csv = std::fs::read_to_string(sim.join("observations.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let body: Vec<&str> = lines.collect();
    let (a, b) = body.split_at(body.len() / 2);
    let count = |part: &[&str]| {
        let mut m = std::collections::BTreeMap::<String, usize>::new();
        for l in part {
            *m.entry(l.split(',').nth(2).unwrap().to_string()).or_default() += 1;
        }
        m
    };
    let (ca, cb) = (count(a), count(b));
    let mac = ca.iter().filter(|(m, _)| cb.contains_key(*m)).max_by_key(|(m, n)| (**n + cb[*m], (*m).clone())).unwrap().0.clone();
    let write = |name: &str, part: &[&str]| {
        let p = dir.join(name);
        std::fs::write(&p, format!("{header}\n{}\n", part.join("\n"))).unwrap();
        p
    };
    (sim.join("site.json"), write("a.csv", a), write("b.csv", b), mac)
}

pub(super) fn db_files(db: &std::path::Path) -> Vec<Vec<u8>> {
    let mut files = vec![std::fs::read(db).unwrap()];
    for ext in ["db-wal", "db-journal"] {
        if let Ok(b) = std::fs::read(db.with_extension(ext)) {
            files.push(b);
        }
    }
    files
}

#[test]
fn an_opted_out_device_is_erased_at_once_and_dropped_at_every_later_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let (site, a, b, mac) = halves(dir.path());
    let db = dir.path().join("o.db");
    ok(&["ingest", "--site", s(&site), "--db", s(&db), "--quiet", s(&a)]);
    let ids = ids_of(&db, &mac);
    let before = holding(&db, &ids);
    assert!(before.contains("device_days.device") && before.contains("pipeline_state.json"), "the device is stored before: {before:?}");
    // A malformed id is refused with a reason that does not echo it.
    let bad = super::footfall(&["optout", "--db", s(&db), "12:34:56:78:9a"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("not a MAC address or an advertising ID") && !err.contains("12:34:56:78:9a"), "{err}");
    let out = super::footfall(&["optout", "--db", s(&db), &mac.to_uppercase()]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("opted out") && !err.to_lowercase().contains(&mac), "{err}");
    assert_eq!(holding(&db, &ids), BTreeSet::from(["optouts.device".to_string()]), "only the registry holds its hash");
    // Later observations of it are dropped at intake.
    let later = super::footfall(&["ingest", "--db", s(&db), "--quiet", s(&b)]);
    let err = String::from_utf8_lossy(&later.stderr).to_string();
    assert!(later.status.success() && err.contains("opted out"), "{err}");
    assert_eq!(holding(&db, &ids), BTreeSet::from(["optouts.device".to_string()]));
    // ... and in no output: reports, exports, database files (as a pseudonym or a raw MAC).
    let mut outputs = vec![ok(&["report", "--db", s(&db), "--json"]).into_bytes(), ok(&["export", "visits", "--db", s(&db)]).into_bytes()];
    outputs.push(ok(&["export", "visits", "--db", s(&db), "--format", "jsonl"]).into_bytes());
    let hexes: Vec<String> = ids.iter().map(|d| d.to_string()).collect();
    for o in &outputs {
        for h in &hexes {
            assert!(!contains(o, h.as_bytes()), "pseudonym {h} in an output");
        }
    }
    let others = ok(&["export", "visits", "--db", s(&db)]);
    assert!(others.lines().count() > 10, "the others are still there: {others}");
    for f in db_files(&db).iter().chain(outputs.iter()) {
        for needle in spellings(&mac) {
            assert!(!contains(f, &needle), "raw MAC found");
        }
    }
}

#[test]
fn forget_erases_a_device_from_every_table_without_registering_it() {
    let dir = tempfile::tempdir().unwrap();
    let (site, a, _, mac) = halves(dir.path());
    let db = dir.path().join("f.db");
    ok(&["ingest", "--site", s(&site), "--db", s(&db), "--quiet", s(&a)]);
    let ids = ids_of(&db, &mac);
    assert!(!holding(&db, &ids).is_empty());
    let out = super::footfall(&["forget", "--db", s(&db), &mac.replace(':', "-")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Every column of every table of the schema, so tables added later are covered.
    assert_eq!(holding(&db, &ids), BTreeSet::new());
    assert!(footfall_store::Store::open(&db).unwrap().optouts().unwrap().is_empty());
    // An advertising ID nobody was recorded under erases nothing, and is accepted.
    ok(&["forget", "--db", s(&db), "6d92078a-8246-4ba4-ae5b-76104861e7dc"]);
}

#[test]
fn retention_deletes_walk_bys_sooner_than_visits() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    simulate(&sim, 1, 3, 60);
    let site = sim.join("site.json");
    let counts = |db: &std::path::Path| {
        let store = footfall_store::Store::open(db).unwrap();
        let site = store.require_site().unwrap();
        (store.visits(&site).unwrap().len(), store.passes(&site).unwrap().len())
    };
    let ingest_at = |now: &str, db: &std::path::Path| {
        let out = super::footfall_at(now, &["ingest", "--site", s(&site), "--db", s(db), "--quiet", s(&sim.join("observations.csv"))]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let kept = dir.path().join("k.db");
    ingest_at(super::NOW, &kept);
    let (v, p) = counts(&kept);
    assert!(v > 10 && p > 10, "{v} visits, {p} passes");
    // Four months later: walk-bys (90 days) are gone, visits (365 days) stay.
    let mid = dir.path().join("m.db");
    let err = ingest_at("2026-07-02T00:00:00Z", &mid);
    assert!(err.contains("retention: deleted"), "{err}");
    assert_eq!(counts(&mid), (v, 0));
    // Over a year later: nothing stays; the per-day activity goes with the visits.
    let late = dir.path().join("l.db");
    ingest_at("2027-06-01T00:00:00Z", &late);
    assert_eq!(counts(&late), (0, 0));
    assert!(footfall_store::Store::open(&late).unwrap().activity().unwrap().is_empty());
}

/// Every integer of a table cell outside the first (label) column: counts, and the counts of
/// "walk-ins / capture" cells.
fn table_counts(report: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut in_tables = false;
    for line in report.lines() {
        if line.starts_with("Stores, whole period") {
            in_tables = true;
        }
        if line.starts_with("Hour of day") {
            // Means per day, not counts: their totals are thresholded before dividing.
            in_tables = false;
        }
        if !in_tables || line.starts_with('-') {
            continue;
        }
        for cell in line.split("  ").map(str::trim).filter(|c| !c.is_empty()).skip(1) {
            out.extend(cell.split(" / ").filter_map(|p| p.parse::<u64>().ok()));
        }
    }
    out
}

/// Every count in the report's JSON rows (rates, medians, shares and hours are not counts).
fn json_counts(v: &serde_json::Value, out: &mut Vec<u64>, nulls: &mut usize) {
    match v {
        serde_json::Value::Object(m) => {
            for (key, val) in m {
                if ["capture_rate", "median_dwell_s", "bounce_rate", "visit_frequency", "exposure", "hour", "k"].contains(&key.as_str()) {
                    continue;
                }
                json_counts(val, out, nulls);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_counts(x, out, nulls)),
        serde_json::Value::Number(n) => out.extend(n.as_u64()),
        serde_json::Value::Null => *nulls += 1,
        _ => {}
    }
}

#[test]
fn no_report_cell_shows_a_count_below_k() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    // A quiet mall: many store-days and hours have fewer than k walk-ins.
    simulate(&sim, 2, 4, 30);
    let db = dir.path().join("m.db");
    ok(&["ingest", "--site", s(&sim.join("site.json")), "--db", s(&db), "--quiet", s(&sim.join("observations.csv"))]);
    let raised = dir.path().join("k8.toml");
    std::fs::write(&raised, "[privacy]\nk = 8\n").unwrap();
    let noisy = dir.path().join("noise.toml");
    std::fs::write(&noisy, "[privacy]\nepsilon = 0.5\n").unwrap();
    let mut reports = Vec::new();
    let exact = exact_counts(dir.path());
    for (k, config) in [(5u64, Some(s(&exact))), (8, Some(s(&raised))), (5, Some(s(&noisy)))] {
        let mut args = vec!["report", "--db", s(&db)];
        args.extend(config.map(|c| ["--config", c]).into_iter().flatten());
        let tables = ok(&args);
        let counts = table_counts(&tables);
        assert!(counts.len() > 20, "{tables}");
        assert!(counts.iter().all(|&n| n == 0 || n >= k), "k = {k}: a count below k in\n{tables}");
        assert!(tables.contains(&format!("<{k}")), "the check is real: some cells are suppressed\n{tables}");

        args.push("--json");
        let json: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        assert_eq!(json["k"], k);
        let (mut counts, mut nulls) = (Vec::new(), 0);
        for part in ["totals", "daily", "hourly", "excluded_devices", "excluded_visits", "excluded_passes"] {
            json_counts(&json[part], &mut counts, &mut nulls);
        }
        assert!(counts.len() > 500 && nulls > 50, "{} counts, {nulls} nulls", counts.len());
        let small: Vec<u64> = counts.iter().copied().filter(|&n| n > 0 && n < k).collect();
        assert!(small.is_empty(), "k = {k}: counts below k in the JSON report: {small:?}");
        reports.push((json, counts));
    }
    // With noise, the threshold applies to the noisy counts (checked above), the epsilon is
    // stated, counts move, and asking again gives the same answer (no averaging it away).
    let (plain, noisy_json) = (&reports[0], &reports[2]);
    assert_eq!(noisy_json.0["noise_epsilon_per_count"], 0.5);
    assert!(plain.0.get("noise_epsilon_per_count").is_none());
    let moved = plain.0["totals"]
        .as_array()
        .unwrap()
        .iter()
        .zip(noisy_json.0["totals"].as_array().unwrap())
        .filter(|(a, b)| a["walk_ins"] != b["walk_ins"])
        .count();
    assert!(moved > 0, "noise moved no store's walk-ins");
    let again: serde_json::Value = serde_json::from_str(&ok(&["report", "--db", s(&db), "--config", s(&noisy), "--json"])).unwrap();
    assert_eq!(again, noisy_json.0);
    assert!(
        ok(&["report", "--db", s(&db), "--config", s(&noisy)])
            .contains("noise: every count carries two-sided geometric noise of epsilon 0.5")
    );
    // Noise is on by default: no config gives epsilon 1 per count.
    let default: serde_json::Value = serde_json::from_str(&ok(&["report", "--db", s(&db), "--json"])).unwrap();
    assert_eq!(default["noise_epsilon_per_count"], 1.0);
    assert!(ok(&["report", "--db", s(&db)]).contains("noise: every count carries two-sided geometric noise of epsilon 1"));
}

/// The API's counts carry the same noise (on by default; `[privacy] epsilon` sets it): every count of
/// every endpoint moves, is thresholded after the noise, states its epsilon, repeats exactly
/// when asked again, and is the same draw wherever the same figure appears.
#[test]
fn api_counts_are_noisy_thresholded_and_consistent_across_endpoints() {
    use super::serve::Server;
    use serde_json::Value;
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    simulate(&sim, 2, 3, 200);
    let db = dir.path().join("m.db");
    let f = |n: &str| sim.join(n).to_str().unwrap().to_string();
    ok(&["ingest", "--site", &f("site.json"), "--db", s(&db), "--quiet", &f("observations.csv"), &f("pos.csv")]);
    let token = ok(&["token", "create", "--db", s(&db), "--role", "operator"]).trim().to_string();
    let noisy = dir.path().join("noise.toml");
    std::fs::write(&noisy, "[privacy]\nepsilon = 0.5\n").unwrap();
    let range = "from=2026-03-02&to=2026-03-03";
    let paths: Vec<String> = ["summary", "metrics", "hourly", "funnel", "dwell", "zones", "paths", "sales"]
        .iter()
        .map(|e| format!("/api/v1/stores/s1/{e}?{range}"))
        .chain([
            format!("/api/v1/flows?{range}"),
            format!("/api/v1/stores/s1/sales?{range}&by=day"),
            format!("/api/v1/stores/s1/metrics?{range}&by=day"),
        ])
        .collect();
    let fetch = |config: Option<&str>| -> Vec<Value> {
        let mut args = vec!["--db", s(&db), "--listen", "127.0.0.1:0"];
        args.extend(config.map(|c| ["--config", c]).into_iter().flatten());
        let server = Server::start(&args, &[]);
        let get = |p: &str| {
            let (status, body) = server.request_with("GET", p, &format!("Authorization: Bearer {token}\r\n"), b"");
            assert_eq!(status, 200, "{p}: {body}");
            serde_json::from_str::<Value>(&body).unwrap()
        };
        let bodies: Vec<Value> = paths.iter().map(|p| get(p)).collect();
        assert_eq!(bodies, paths.iter().map(|p| get(p)).collect::<Vec<_>>(), "asking again gives the same answer");
        let (stopped, printed) = server.terminate();
        assert!(stopped, "{printed}");
        bodies
    };
    let exact = exact_counts(dir.path());
    let (plain, noisy) = (fetch(Some(s(&exact))), fetch(Some(s(&noisy))));
    // Noise is on by default: without a config every answer states epsilon 1 per count.
    for (path, body) in paths.iter().zip(fetch(None)) {
        assert_eq!(body["noise_epsilon_per_count"], 1.0, "{path}: {body}");
    }
    // Every count field, wherever it sits in a body.
    fn counts(v: &Value, out: &mut Vec<(String, Value)>, at: &str) {
        const COUNTS: [&str; 10] = [
            "walk_ins",
            "walk_bys",
            "unique_devices",
            "engaged",
            "visits",
            "devices",
            "count",
            "transactions",
            "attributed",
            "unattributed",
        ];
        match v {
            Value::Object(m) => m.iter().for_each(|(k, x)| {
                if COUNTS.contains(&k.as_str()) && !x.is_object() {
                    out.push((format!("{at}.{k}"), x.clone()));
                } else {
                    counts(x, out, &format!("{at}.{k}"));
                }
            }),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| counts(x, out, &format!("{at}[{i}]"))),
            _ => {}
        }
    }
    let (mut moved, mut total) = (0, 0);
    for ((path, p), n) in paths.iter().zip(&plain).zip(&noisy) {
        assert_eq!(p["noise_epsilon_per_count"], Value::Null, "{path}");
        assert_eq!(n["noise_epsilon_per_count"], 0.5, "{path}");
        let (mut pc, mut nc) = (Vec::new(), Vec::new());
        counts(p, &mut pc, path);
        counts(n, &mut nc, path);
        assert!(!nc.is_empty(), "{path}: {n}");
        for (at, v) in &nc {
            // The hour-of-day figures are means per day of thresholded counts, not counts.
            let mean = path.contains("/hourly") && v.is_f64();
            assert!(mean || v.is_null() || v.as_u64().is_some_and(|c| c == 0 || c >= 5), "{at} = {v}: a published count below k");
        }
        let plain_at: std::collections::BTreeMap<_, _> = pc.into_iter().collect();
        total += nc.len();
        moved += nc.iter().filter(|(at, v)| plain_at.get(at).is_some_and(|p| p != v)).count();
    }
    assert!(moved * 2 > total, "noise of epsilon 0.5 moved {moved} of {total} counts");
    // One figure, one draw: the summary's walk-ins are the funnel's and the zones' visits;
    // each day's sales visits are that day's traffic walk-ins; the rate is of the noisy counts.
    let (summary, funnel, zones) = (&noisy[0]["current"], &noisy[3], &noisy[5]);
    assert_eq!(summary["walk_ins"], funnel["walk_ins"]);
    assert_eq!(summary["walk_bys"], funnel["walk_bys"]);
    assert_eq!(summary["walk_ins"], zones["visits"]);
    assert_eq!(summary["walk_ins"], noisy[7]["total"]["visits"]);
    let (ins, bys) = (summary["walk_ins"].as_f64().unwrap(), summary["walk_bys"].as_f64().unwrap());
    assert!((summary["capture_rate"].as_f64().unwrap() - ins / (ins + bys)).abs() < 1e-12, "{summary}");
    let (sales, metrics) = (noisy[9]["rows"].as_array().unwrap(), noisy[10]["rows"].as_array().unwrap());
    assert!(!sales.is_empty());
    for row in sales {
        let m = metrics.iter().find(|m| m["period"] == row["period"]).unwrap();
        assert_eq!(row["visits"], m["walk_ins"], "{row}");
    }
}

/// With `[privacy] key_epoch_days = 1`, a phone's days are stored under unlinkable
/// pseudonyms (never its master pseudonym), and an opt-out erases every day's rows and keeps
/// dropping it in later epochs.
#[test]
fn key_rotation_unlinks_days_and_an_opt_out_holds_across_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    simulate(&sim, 2, 3, 60);
    let csv = std::fs::read_to_string(sim.join("observations.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    let mut days = std::collections::BTreeMap::<String, Vec<&str>>::new();
    for l in lines {
        days.entry(l[..10].to_string()).or_default().push(l);
    }
    // Epochs are UTC days; the venue's local days straddle them. Two UTC days with a globally
    // unique MAC (the first octet's locally-administered bit off) heard on both.
    let macs = |ls: &[&str]| -> BTreeSet<String> {
        ls.iter().map(|l| l.split(',').nth(2).unwrap().to_string()).filter(|m| u8::from_str_radix(&m[..2], 16).unwrap() & 2 == 0).collect()
    };
    let groups: Vec<(&String, &Vec<&str>)> = days.iter().collect();
    let (i, j, mac) = (0..groups.len())
        .flat_map(|i| (i + 1..groups.len()).map(move |j| (i, j)))
        .find_map(|(i, j)| macs(groups[i].1).intersection(&macs(groups[j].1)).next().map(|m| (i, j, m.clone())))
        .expect("a phone heard on two UTC days");
    let (d0, d1) = (groups[i].1.clone(), groups[j].1.clone());
    let files: Vec<std::path::PathBuf> = [(groups[i].0, &d0), (groups[j].0, &d1)]
        .iter()
        .map(|(d, ls)| {
            let p = dir.path().join(format!("{d}.csv"));
            std::fs::write(&p, format!("{header}\n{}\n", ls.join("\n"))).unwrap();
            p
        })
        .collect();
    let config = dir.path().join("rot.toml");
    std::fs::write(&config, "[privacy]\nkey_epoch_days = 1\n").unwrap();
    let site = sim.join("site.json");
    let day_ms = |ls: &[&str]| chrono::DateTime::parse_from_rfc3339(ls[0].split(',').next().unwrap()).unwrap().timestamp_millis();

    // Both days in one database: two pseudonyms, neither of them the master pseudonym.
    let both = dir.path().join("both.db");
    ok(&["ingest", "--site", s(&site), "--db", s(&both), "--config", s(&config), "--quiet", s(&files[0]), s(&files[1])]);
    let masters = ids_of(&both, &mac);
    let key = footfall_store::keyfile::load(&footfall_store::keyfile::default_path(&both)).unwrap();
    let mut rotation = footfall_transforms::Rotation::new(key, 1);
    let (id0, id1) = (rotation.at(masters[0], day_ms(&d0)), rotation.at(masters[0], day_ms(&d1)));
    assert_ne!(id0, id1);
    assert!(!holding(&both, &[id0]).is_empty() && !holding(&both, &[id1]).is_empty(), "each day under its own pseudonym");
    assert!(holding(&both, &masters).is_empty(), "the master pseudonym is never stored");

    // Opt out after the first day: its rows go, the registry keeps the master pseudonyms,
    // and the second day (another epoch) is dropped at intake.
    let db = dir.path().join("o.db");
    ok(&["ingest", "--site", s(&site), "--db", s(&db), "--config", s(&config), "--quiet", s(&files[0])]);
    let key = footfall_store::keyfile::load(&footfall_store::keyfile::default_path(&db)).unwrap();
    let mut rotation = footfall_transforms::Rotation::new(key, 1);
    let masters = ids_of(&db, &mac);
    let (id0, id1) = (rotation.at(masters[0], day_ms(&d0)), rotation.at(masters[0], day_ms(&d1)));
    assert!(!holding(&db, &[id0]).is_empty());
    ok(&["optout", "--db", s(&db), "--config", s(&config), &mac]);
    assert!(holding(&db, &[id0]).is_empty(), "the first day's rows are erased");
    assert_eq!(holding(&db, &masters), BTreeSet::from(["optouts.device".to_string()]));
    let later = super::footfall(&["ingest", "--db", s(&db), "--config", s(&config), "--quiet", s(&files[1])]);
    let err = String::from_utf8_lossy(&later.stderr).to_string();
    assert!(later.status.success() && err.contains("opted out"), "{err}");
    assert!(holding(&db, &[id1]).is_empty(), "the next epoch's pseudonym is refused too");
}
