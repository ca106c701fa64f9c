//! Capture decoding: a pcap/pcapng file of 802.11 frames → observations, the way `footfall
//! ingest` reads it (`CaptureSource`: container framing, radiotap/PPI, probe-request
//! parsing, element fingerprint), counting what comes out. Nothing downstream (no
//! pseudonymizing, no pipeline). Throughput is in frames (records + bad + skipped).
//!
//! Input: `FOOTFALL_BENCH_PCAP` (any pcap or pcapng; a file without interface names is read
//! with sensor `bench`). `scripts/bench-capture` sets it to a simulated capture of 1 GB or
//! more and runs tshark on the same file. Without it, one simulated day of a small mall is
//! written to `target/bench/capture-default/observations.pcapng` first.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use footfall_sources::Source;
use footfall_sources::capture::CaptureSource;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn input() -> PathBuf {
    if let Ok(p) = std::env::var("FOOTFALL_BENCH_PCAP") {
        return p.into();
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/capture-default");
    let pcap = dir.join("observations.pcapng");
    if !pcap.exists() {
        let cfg = footfall_sim::SimConfig { days: 1, stores: 8, ..Default::default() };
        let opts = footfall_sim::WriteOptions { pcapng: true };
        footfall_sim::write_all_with(&cfg, &dir, &opts, &mut |_, _| {}).expect("simulating the bench capture");
    }
    pcap
}

/// Decode the whole file; returns (frames read, observations, sum of |rssi|).
pub fn decode(path: &Path) -> (u64, u64, u64) {
    let open = |sensor: Option<String>| CaptureSource::open(File::open(path).expect("bench capture"), "bench", sensor);
    let mut src = open(None).or_else(|_| open(Some("bench".into()))).expect("a pcap or pcapng file");
    let mut sum = 0u64;
    let rep = src.run(&mut |o| sum += o.rssi.unsigned_abs() as u64 + o.ie.map_or(0, |s| s.len() as u64), &mut |_| {}).expect("bench read");
    (rep.records + rep.bad + rep.skipped.values().sum::<u64>(), rep.records, sum)
}

fn bench(c: &mut Criterion) {
    let path = input();
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let t = Instant::now();
    let (frames, records, _) = decode(&path);
    let first = t.elapsed();
    eprintln!(
        "bench input {}: {bytes} bytes, {frames} frames, {records} observations; first pass {:.3} s ({:.2} M frames/s)",
        path.display(),
        first.as_secs_f64(),
        frames as f64 / first.as_secs_f64() / 1e6
    );
    let mut g = c.benchmark_group("capture_decode");
    g.throughput(Throughput::Elements(frames));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(if first > Duration::from_secs(1) { 30 } else { 10 }));
    g.bench_function("footfall", |b| b.iter(|| decode(&path)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
