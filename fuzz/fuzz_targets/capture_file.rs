//! Any bytes as an input file: format detection, then the detected source (pcap, pcapng,
//! CSV, JSON lines, Meraki) reads it to the end. It must never panic, whatever the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = footfall_sources::OpenOptions { sensor: Some("fuzz".into()) };
    if let Ok((_, mut source)) = footfall_sources::open(std::io::Cursor::new(data.to_vec()), "fuzz", &opts) {
        let mut n = 0u64;
        let _ = source.run(&mut |o| n += o.rssi.unsigned_abs() as u64, &mut |_| {});
    }
});
