//! CSV → visits → hourly metrics, the core hot path, measured end to end in memory:
//! parse the CSV, pseudonymize, filter, reorder, locate, sessionize, take the activity and
//! presence records (as `footfall ingest` does before its commit), then aggregate per store
//! and hour. The SQLite write is left out (it is per visit, not per observation). Two more
//! groups time each of the runner's two stages alone, to show which one bounds the run.
//!
//! Input: `FOOTFALL_BENCH_CSV` and `FOOTFALL_BENCH_SITE` (as written by `footfall simulate`;
//! `scripts/bench` sets them and runs DuckDB on the same file). Without them, a small mall
//! is simulated into `target/bench/default/` first.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use footfall_core::{Observation, Site};
use footfall_transforms::intake::Intake;
use footfall_transforms::sessionize::Sessions;
use footfall_transforms::{Pipeline, PipelineConfig, Pseudonymizer, aggregate, runner};
use std::path::PathBuf;
use std::time::Duration;

fn inputs() -> (PathBuf, PathBuf) {
    if let (Ok(csv), Ok(site)) = (std::env::var("FOOTFALL_BENCH_CSV"), std::env::var("FOOTFALL_BENCH_SITE")) {
        return (csv.into(), site.into());
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/default");
    if !dir.join("observations.csv").exists() {
        let cfg = footfall_sim::SimConfig { days: 1, stores: 8, ..Default::default() };
        footfall_sim::write_all(&cfg, &dir, &mut |_, _| {}).expect("simulating the bench input");
    }
    (dir.join("observations.csv"), dir.join("site.json"))
}

/// One full run; returns (rows read, visits, hourly rows, activity and presence records).
pub fn run_once(csv: &std::path::Path, site: &Site) -> (u64, usize, usize, usize) {
    let mut intake = Intake::new(site, Pseudonymizer::new([7; 32]));
    let mut pipeline = Pipeline::new(site, PipelineConfig::default());
    let mut sessions = Sessions::default();
    let file = std::fs::File::open(csv).expect("bench csv");
    let (_, mut source) = footfall_sources::open(file, "bench", &Default::default()).expect("bench csv format");
    let report = runner::run(&mut intake, &mut pipeline, &mut sessions, |emit| source.run(emit, &mut |_| {})).expect("bench read");
    pipeline.finish(&mut sessions);
    let records = pipeline.take_activity().len() + pipeline.take_presence().len();
    let agg = aggregate::aggregate(site, &sessions.visits, &sessions.passes);
    (report.records, sessions.visits.len(), agg.hourly.len(), records)
}

/// The second stage alone (reorder, locate, sessionize, activity and presence records, then
/// aggregate) on observations already parsed and pseudonymized.
fn stateful_only(obs: &[Observation], site: &Site) -> (usize, usize) {
    let mut pipeline = Pipeline::new(site, PipelineConfig::default());
    let mut sessions = Sessions::default();
    for o in obs {
        pipeline.push(*o, &mut sessions);
    }
    pipeline.finish(&mut sessions);
    let records = pipeline.take_activity().len() + pipeline.take_presence().len();
    let agg = aggregate::aggregate(site, &sessions.visits, &sessions.passes);
    (agg.hourly.len(), records)
}

fn parse_only(csv: &std::path::Path, site: &Site) -> u64 {
    let mut intake = Intake::new(site, Pseudonymizer::new([7; 32]));
    let file = std::fs::File::open(csv).expect("bench csv");
    let (_, mut source) = footfall_sources::open(file, "bench", &Default::default()).expect("bench csv format");
    let mut n = 0u64;
    source
        .run(
            &mut |raw| {
                if let Some(o) = intake.accept(&raw) {
                    n += o.rssi.unsigned_abs() as u64;
                }
            },
            &mut |_| {},
        )
        .expect("bench read");
    n
}

fn bench(c: &mut Criterion) {
    let (csv, site_path) = inputs();
    let site = Site::from_json(&std::fs::read_to_string(&site_path).expect("site")).expect("valid site");
    let (rows, visits, hourly, records) = run_once(&csv, &site);
    eprintln!(
        "bench input {}: {rows} rows -> {visits} visits, {hourly} hourly rows, {records} activity and presence records",
        csv.display()
    );
    let mut g = c.benchmark_group("csv_to_hourly");
    g.throughput(Throughput::Elements(rows));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("footfall", |b| b.iter(|| run_once(&csv, &site)));
    g.finish();
    // The first stage alone (parse, filter, pseudonymize), to see which stage bounds the run.
    let mut g = c.benchmark_group("csv_parse_pseudonymize");
    g.throughput(Throughput::Elements(rows));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("footfall", |b| b.iter(|| parse_only(&csv, &site)));
    g.finish();
    // The second stage alone, from observations in memory.
    let mut obs = Vec::new();
    let mut intake = Intake::new(&site, Pseudonymizer::new([7; 32]));
    let (_, mut source) =
        footfall_sources::open(std::fs::File::open(&csv).expect("bench csv"), "bench", &Default::default()).expect("bench csv format");
    source.run(&mut |raw| obs.extend(intake.accept(&raw)), &mut |_| {}).expect("bench read");
    cpu_time("pipeline_stateful", || stateful_only(&obs, &site));
    cpu_time("csv_parse_pseudonymize", || parse_only(&csv, &site));
    let mut g = c.benchmark_group("pipeline_stateful");
    g.throughput(Throughput::Elements(rows));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("footfall", |b| b.iter(|| stateful_only(&obs, &site)));
    g.finish();
}

/// Nanoseconds this thread has spent on a CPU (`/proc/thread-self/schedstat`, Linux), or `None`.
fn on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// On a shared machine criterion's wall clock includes waiting for a core: print the median
/// on-CPU time of 9 runs of a single-threaded stage next to it.
fn cpu_time<T>(id: &str, mut f: impl FnMut() -> T) {
    let mut runs: Vec<f64> = Vec::new();
    for _ in 0..9 {
        let Some(c0) = on_cpu_ns() else { return };
        std::hint::black_box(f());
        let Some(c1) = on_cpu_ns() else { return };
        runs.push((c1 - c0) as f64 / 1e6);
    }
    runs.sort_by(f64::total_cmp);
    eprintln!("{id}: {:.1} ms on CPU (median of 9; {:.1}-{:.1})", runs[4], runs[0], runs[8]);
}

criterion_group!(benches, bench);
criterion_main!(benches);
