//! No raw MAC reaches the database: not as text in any spelling, not as raw bytes; the key
//! file is private.

use super::{ok, s, simulate};
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

fn contains(hay: &[u8], needle: &[u8]) -> bool {
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
