//! Real Meraki Scanning API samples (tests/fixtures/meraki, see LICENSES.md there) ingest with
//! every observation accounted for: read, or skipped with a reason. Expected counts were
//! taken independently of footfall (a Python count of each post's observations, latest
//! records and RSSI records).

use super::{fixture, footfall, ok, s};

const FILES: [(&str, u64); 6] = [
    ("meraki_mr_mqtt_sample.json", 1),
    ("v2.1_ble_BluetoothDevicesSeen_real_subset.json", 8),
    ("v2_wifi_DevicesSeen_cmxreceiver_readme.json", 3),
    ("v2_wifi_simulator_capture.jsonl", 15),
    ("v3_real_posts_2021.jsonl", 9),
    ("v3_wifi_ciscodevnet_locationscanningv3format.json", 495),
];

fn number_before(text: &str, suffix: &str) -> u64 {
    let i = text.find(suffix).unwrap_or_else(|| panic!("{suffix:?} not in {text}"));
    text[..i].rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn every_sample_observation_is_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, expected)) in FILES.iter().enumerate() {
        let db = dir.path().join(format!("m{i}.db"));
        let path = fixture(&format!("meraki/{name}"));
        let out = footfall(&["ingest", "--site", s(&fixture("meraki-site.json")), "--db", s(&db), s(&path)]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{name}: {err}");
        assert!(err.contains("read as meraki"), "{name}: {err}");
        let read = number_before(&err, " observations,");
        let bad = number_before(&err, " bad lines");
        assert_eq!(read + bad, *expected, "{name}: {err}");
        // Nothing is silently lost: every AP of the samples is a sensor of the site.
        assert!(!err.contains("unknown sensor"), "{name}: {err}");
    }
}

#[test]
fn v2_simulator_rssi_above_noise_becomes_implausible_dbm_and_is_dropped() {
    // The simulator capture reports rssi 102 (dB above noise): 102 - 95 = +7 dBm, implausible.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let out = footfall(&[
        "ingest",
        "--site",
        s(&fixture("meraki-site.json")),
        "--db",
        s(&db),
        s(&fixture("meraki/v2_wifi_simulator_capture.jsonl")),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("implausible rssi"), "{err}");
    assert!(ok(&["report", "--db", s(&db)]).contains("Meraki samples"));
}
