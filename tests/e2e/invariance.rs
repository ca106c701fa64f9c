//! The same stream gives the same visits whether ingested whole, in chunks in one run, in
//! chunks over several runs, or slightly out of order (within the allowed lateness).

use super::{footfall, ok, s, simulate};
use std::path::Path;

pub(super) fn split_csv(src: &Path, dir: &Path, parts: usize) -> Vec<std::path::PathBuf> {
    let text = std::fs::read_to_string(src).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let per = rows.len().div_ceil(parts);
    rows.chunks(per)
        .enumerate()
        .map(|(i, chunk)| {
            let p = dir.join(format!("part{i}.csv"));
            std::fs::write(&p, format!("{header}\n{}\n", chunk.join("\n"))).unwrap();
            p
        })
        .collect()
}

/// Shuffle rows locally: swap neighbours so that no row moves more than a few seconds.
fn jitter_csv(src: &Path, dst: &Path) {
    let text = std::fs::read_to_string(src).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let mut i = 1;
    while i + 3 < lines.len() {
        lines.swap(i, i + 3);
        i += 5;
    }
    std::fs::write(dst, lines.join("\n") + "\n").unwrap();
}

fn visits(db: &Path) -> String {
    ok(&["export", "visits", "--db", s(db), "--format", "csv"])
}

/// People per store and window from the presence records kept at ingest.
fn occupancy(db: &Path) -> String {
    ok(&["occupancy", "--db", s(db), "--window", "5m", "--format", "csv"])
}

#[test]
fn whole_chunked_multi_run_and_jittered_agree() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    simulate(&sim, 2, 4, 120);
    let site = sim.join("site.json");
    let obs = sim.join("observations.csv");
    let key = dir.path().join("deploy.key");
    let ingest = |db: &Path, files: &[&Path]| {
        let mut args = vec!["ingest", "--site", s(&site), "--db", s(db), "--key", s(&key), "--quiet"];
        args.extend(files.iter().map(|f| s(f)));
        ok(&args);
    };

    let whole = dir.path().join("whole.db");
    ingest(&whole, &[&obs]);
    let reference = visits(&whole);
    let people = occupancy(&whole);
    assert!(people.starts_with("store,window_start,people,naive_macs,excluded_fixed\n") && people.lines().count() > 100, "{people}");
    assert!(reference.lines().count() > 50, "the simulation should give visits:\n{reference}");

    let parts = split_csv(&obs, dir.path(), 3);
    let one_run = dir.path().join("one_run.db");
    ingest(&one_run, &parts.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    assert_eq!(visits(&one_run), reference, "chunks in one run");
    assert_eq!(occupancy(&one_run), people, "occupancy, chunks in one run");

    let runs = dir.path().join("runs.db");
    for p in &parts {
        ingest(&runs, &[p]);
    }
    assert_eq!(visits(&runs), reference, "chunks over several runs");
    assert_eq!(occupancy(&runs), people, "occupancy, chunks over several runs");
    // The report's noise (on by default) is keyed by the deployment key, here not beside the
    // databases. Equal counts get equal noise, so the reports still agree.
    let bare = footfall(&["report", "--db", s(&runs)]);
    assert!(!bare.status.success() && String::from_utf8_lossy(&bare.stderr).contains("name the key with --key"), "{bare:?}");
    let report = |db: &Path| ok(&["report", "--db", s(db), "--key", s(&key), "--json"]);
    assert_eq!(report(&runs), report(&whole).replace("\"inputs\": 1", "\"inputs\": 3"), "reports agree");

    let jittered = dir.path().join("jittered.csv");
    jitter_csv(&obs, &jittered);
    let jit = dir.path().join("jit.db");
    ingest(&jit, &[&jittered]);
    assert_eq!(visits(&jit), reference, "out of order within the lateness");
    assert_eq!(occupancy(&jit), people, "occupancy, out of order within the lateness");
}

/// Randomized phones (MAC rotation, sequence numbers in the JSON lines): the linker's
/// decisions are part of the saved state, so visits built on device estimates are the same
/// whole, in chunks over several runs, and out of order within the lateness; and linking
/// makes fewer visits than one device per MAC.
#[test]
fn linked_estimates_are_chunk_and_order_invariant() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    ok(&[
        "simulate",
        "--out",
        s(&sim),
        "--days",
        "2",
        "--stores",
        "3",
        "--shoppers-per-day",
        "120",
        "--randomized-share",
        "0.7",
        "--seed",
        "7",
        "--start",
        "2026-03-02",
    ]);
    let site = sim.join("site.json");
    let obs = sim.join("observations.jsonl");
    let key = dir.path().join("deploy.key");
    let ingest = |db: &Path, config: Option<&Path>, files: &[&Path]| {
        let mut args = vec!["ingest", "--site", s(&site), "--db", s(db), "--key", s(&key), "--quiet"];
        if let Some(c) = config {
            args.extend(["--config", s(c)]);
        }
        args.extend(files.iter().map(|f| s(f)));
        ok(&args);
    };
    let whole = dir.path().join("whole.db");
    ingest(&whole, None, &[&obs]);
    let reference = visits(&whole);
    assert!(reference.lines().any(|l| l.contains(",true,")), "randomized visits expected:\n{reference}");

    let text = std::fs::read_to_string(&obs).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let per = lines.len().div_ceil(3);
    let runs = dir.path().join("runs.db");
    for (i, chunk) in lines.chunks(per).enumerate() {
        let p = dir.path().join(format!("part{i}.jsonl"));
        std::fs::write(&p, chunk.join("\n") + "\n").unwrap();
        ingest(&runs, None, &[&p]);
    }
    assert_eq!(visits(&runs), reference, "chunks over several runs");

    let mut jittered: Vec<&str> = lines.clone();
    let mut i = 0;
    while i + 3 < jittered.len() {
        jittered.swap(i, i + 3);
        i += 5;
    }
    let jit_file = dir.path().join("jittered.jsonl");
    std::fs::write(&jit_file, jittered.join("\n") + "\n").unwrap();
    let jit = dir.path().join("jit.db");
    ingest(&jit, None, &[&jit_file]);
    assert_eq!(visits(&jit), reference, "out of order within the lateness");

    let off = dir.path().join("off.toml");
    std::fs::write(&off, "[link]\ningest = false\n").unwrap();
    let unlinked = dir.path().join("unlinked.db");
    ingest(&unlinked, Some(&off), &[&obs]);
    let count = |v: &str| v.lines().filter(|l| l.contains(",true,")).count();
    let unlinked_visits = ok(&["export", "visits", "--db", s(&unlinked), "--config", s(&off), "--format", "csv"]);
    assert!(count(&unlinked_visits) > count(&reference), "one device per MAC splits visits at each rotation");
}
