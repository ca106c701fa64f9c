//! Meraki Scanning API posts: any JSON value through the post parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let mut report = footfall_sources::SourceReport::default();
        let _ = footfall_sources::meraki::parse_post(&v, 1, &mut |_| {}, &mut report);
    }
});
