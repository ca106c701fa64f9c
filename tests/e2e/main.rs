//! End-to-end tests: the real `footfall` binary on fixtures and simulated malls.
//! One test binary, one module per topic (ripgrep's habit).

mod calibrate;
mod capture;
mod cli;
mod commerce;
mod dashboard;
mod ingest;
mod invariance;
mod locate;
mod meraki;
mod occupancy;
mod privacy;
mod sensor;
mod serve;
mod simulated;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The wall clock the tests run the binary at (`FOOTFALL_NOW`): shortly after the simulated
/// malls' default start (2026-03-02), so retention keeps their data whatever today's date is.
pub const NOW: &str = "2026-04-01T00:00:00Z";

/// A config file in `dir` that turns the counts' noise off (`[privacy] noise = false`; it is
/// on by default), for tests that check published figures against exact arithmetic. The noise
/// itself is tested in `privacy.rs`.
pub fn exact_counts(dir: &Path) -> PathBuf {
    let path = dir.join("exact-counts.toml");
    std::fs::write(&path, "[privacy]\nnoise = false\n").expect("writing the exact-counts config");
    path
}

/// Run the binary with arguments; return its output (never panics on a failing exit).
pub fn footfall(args: &[&str]) -> Output {
    footfall_at(NOW, args)
}

/// Run the binary as of the wall-clock time `now` (RFC 3339).
pub fn footfall_at(now: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_footfall")).env("FOOTFALL_NOW", now).args(args).output().expect("running footfall")
}

/// Run and require success; return stdout.
pub fn ok(args: &[&str]) -> String {
    let out = footfall(args);
    assert!(
        out.status.success(),
        "footfall {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A small simulated mall written into `dir` (cached per test by folder).
pub fn simulate(dir: &Path, days: u32, stores: u32, shoppers: u32) {
    simulate_with(dir, days, stores, shoppers, &[]);
}

/// [`simulate`] with more `footfall simulate` flags (e.g. `--app-share 0.6`).
pub fn simulate_with(dir: &Path, days: u32, stores: u32, shoppers: u32, extra: &[&str]) {
    let (days, stores, shoppers) = (days.to_string(), stores.to_string(), shoppers.to_string());
    let mut args = vec!["simulate", "--out", s(dir), "--days", &days, "--stores", &stores, "--shoppers-per-day", &shoppers];
    args.extend(["--seed", "7", "--start", "2026-03-02"]);
    args.extend_from_slice(extra);
    ok(&args);
}

/// The capture excerpts' site (sensors `pos1`, `sniffer`).
pub fn sensor_site() -> footfall_core::Site {
    let text = std::fs::read_to_string(fixture("capture-site.json")).expect("capture-site.json");
    footfall_core::Site::from_json(&text).expect("a valid site")
}
