//! Radio headers: radiotap (present bitmaps, namespaces, alignment) and PPI.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, len)) = footfall_sources::radiotap::parse_radiotap(data) {
        assert!(len <= data.len());
    }
    if let Ok((_, len, _)) = footfall_sources::radiotap::parse_ppi(data) {
        assert!(len <= data.len());
    }
});
