//! Capture files (tests/fixtures/*-excerpt.pcap, see LICENSES.md there) ingest through
//! `--sensor`; without a sensor they are refused before anything is written. Expected
//! counts come from the datasets (the Brno CSV; a hand decoding of the Baccichet file).

use super::{fixture, footfall, s};

#[test]
fn a_capture_without_a_sensor_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let out = footfall(&["ingest", "--site", s(&fixture("capture-site.json")), "--db", s(&db), s(&fixture("brno-excerpt.pcap"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("brno-excerpt.pcap: a pcap file does not say which sensor captured it: pass --sensor ID"), "{err}");
    assert!(!db.exists(), "nothing may be written when a capture has no sensor");
}

#[test]
fn captures_ingest_with_their_sensor_and_implausible_frames_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let site = fixture("capture-site.json");
    let out = footfall(&["ingest", "--site", s(&site), "--db", s(&db), "--sensor", "pos1", s(&fixture("brno-excerpt.pcap"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("read as pcap: 200 observations, 0 bad lines"), "{err}");
    assert!(!err.contains("unknown sensor"), "{err}");
    // The publisher re-randomized the MACs, group bit included: 73 of the 139 frames have a
    // group source address; one frame carries +15 dBm.
    let out = footfall(&["ingest", "--db", s(&db), "--sensor", "sniffer", s(&fixture("baccichet-excerpt.pcap"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("read as pcap: 139 observations, 0 bad lines"), "{err}");
    assert!(err.contains("73 group address") && err.contains("1 implausible rssi"), "{err}");
}
