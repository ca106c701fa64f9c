//! No raw MAC is written anywhere: the client MACs of every posted sample appear, in no
//! spelling, in the journal (while it holds the records) or in the database files.

use super::{Running, config, crashing, journal_path, posts_of};
use std::collections::BTreeSet;
use std::path::Path;

fn client_macs(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("clientMac", Some(mac)) => {
                        out.insert(mac.to_lowercase());
                    }
                    _ => client_macs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| client_macs(v, out)),
        _ => {}
    }
}

fn spellings(mac: &str) -> Vec<Vec<u8>> {
    let hex: String = mac.chars().filter(|c| *c != ':').collect();
    let bytes: Vec<u8> = (0..6).map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap()).collect();
    let mut reversed = bytes.clone();
    reversed.reverse();
    vec![
        mac.as_bytes().to_vec(),
        mac.to_uppercase().into_bytes(),
        mac.replace(':', "-").into_bytes(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
        bytes,
        reversed,
    ]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn assert_clean(files: &[(String, Vec<u8>)], macs: &BTreeSet<String>) {
    for mac in macs {
        for needle in spellings(mac) {
            for (name, bytes) in files {
                assert!(!contains(bytes, &needle), "raw MAC {mac} found in {name} (as {:?})", String::from_utf8_lossy(&needle));
            }
        }
    }
}

fn written(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with(".key"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_raw_mac_in_the_journal_or_the_database() {
    let samples = [
        ("meraki_mr_mqtt_sample.json", ""),
        ("v2.1_ble_BluetoothDevicesSeen_real_subset.json", ""),
        ("v2_wifi_DevicesSeen_cmxreceiver_readme.json", "testing123"),
        ("v2_wifi_simulator_capture.jsonl", "simulator"),
        ("v3_real_posts_2021.jsonl", "<redacted>"),
        ("v3_wifi_ciscodevnet_locationscanningv3format.json", "demo"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut macs = BTreeSet::new();
    for (name, secret) in samples {
        let mut c = crashing(dir.path());
        c.meraki_secret = Some(secret.to_string());
        let server = Running::start(c).await;
        for post in posts_of(name) {
            client_macs(&serde_json::from_slice(&post).unwrap(), &mut macs);
            assert_eq!(server.post("/meraki", &[], &post).await.status, 200);
        }
        server.stop().await.unwrap();
    }
    // Access points are infrastructure: the operator writes their MACs into the site, which
    // the database stores. One sample's AP is also heard as a client; it is not a person.
    let site = super::meraki_site();
    for s in &site.sensors {
        if let Some(ap) = &s.mac {
            macs.remove(&ap.to_lowercase());
        }
    }
    assert!(macs.len() > 40, "{}", macs.len());
    // The journal holds every post's records now (none applied yet).
    let journal = std::fs::read(journal_path(dir.path())).unwrap();
    assert!(journal.len() > 10_000, "{}", journal.len());
    assert_clean(&written(dir.path()), &macs);
    // Apply them, then look at everything again.
    Running::start(config(dir.path())).await.stop().await.unwrap();
    let files = written(dir.path());
    assert!(files.iter().any(|(n, b)| n.ends_with("m.db") && !b.is_empty()));
    assert_clean(&files, &macs);
    // The check is real: the same search finds the MACs in the samples themselves.
    let sample = std::fs::read(super::fixture("meraki/v3_wifi_ciscodevnet_locationscanningv3format.json")).unwrap();
    assert!(macs.iter().any(|m| contains(&sample, m.as_bytes())));
}
