//! Classification speed of the fingerprint model: one `Model::estimate` per fingerprint
//! (building, floor, zone probabilities, x/y) on a synthetic site with 500 access points or
//! sensors and 20,000 survey fingerprints, the sizing (FIND3: ~15 ms per fingerprint).
//!
//! The site: 4 floors of 120 m × 80 m, 125 access points per floor at seeded random places,
//! survey points at random places on random floors, 250 zones (a 10 × 6 grid of 12 m × 13 m
//! per floor, plus spare names). RSSI = -40 - 40 log10(d) - 20 dB per floor crossed, Gaussian
//! shadowing of 4 dB, heard above -92 dBm (about 20 heard per fingerprint, like UJIIndoorLoc's 18). Queries are 1,000 fresh fingerprints from the same
//! generator. The setup prints how many access points a fingerprint hears and the postings a
//! query walks, so the figure can be compared with other sites.
//!
//! With `FOOTFALL_BENCH_UJI` naming a directory holding UJIIndoorLoc's `trainingData.csv` and
//! `validationData.csv` (unzipped from `../shared/data/ujiindoorloc/UJIndoorLoc.zip`), the same
//! is timed on that real site, the same size (520 access points, 19,861 fingerprints that heard
//! something) but denser: about 21 scans per survey point, so a query's bands hold ~2.6 times
//! the postings of the synthetic site's. Skipped, with a note, when unset or unreadable.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use footfall_locate::{Fingerprint, Label, Model, ModelConfig, Sample, Scratch, Search, Survey};
use std::hint::black_box;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

const FLOORS: i16 = 4;
const APS: usize = 500;
const W: f64 = 120.0;
const H: f64 = 80.0;

fn site(rng: &mut Rng) -> Vec<(f64, f64, i16)> {
    (0..APS).map(|i| (rng.unit() * W, rng.unit() * H, (i % FLOORS as usize) as i16)).collect()
}

fn sample(rng: &mut Rng, aps: &[(f64, f64, i16)]) -> Sample {
    let (x, y, floor) = (rng.unit() * W, rng.unit() * H, (rng.next() % FLOORS as u64) as i16);
    let mut pairs = Vec::new();
    for (i, &(ax, ay, af)) in aps.iter().enumerate() {
        let d = ((x - ax).powi(2) + (y - ay).powi(2) + (3.5 * (floor - af) as f64).powi(2)).sqrt().max(1.0);
        let rssi = -40.0 - 40.0 * d.log10() - 20.0 * (floor - af).abs() as f64 + 4.0 * rng.normal();
        if rssi > -92.0 {
            pairs.push((i as u16, rssi.round() as f32));
        }
    }
    let zone = floor as u32 * 60 + ((x / 12.0) as u32).min(9) * 6 + ((y / 13.4) as u32).min(5);
    Sample { fp: Fingerprint(pairs), label: Label { building: 0, floor, zone: Some(zone), pos: Some((x, y)) }, device: 0, user: 0, time: 0 }
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(2026);
    let aps = site(&mut rng);
    let samples: Vec<Sample> = (0..20_000).map(|_| sample(&mut rng, &aps)).collect();
    let truth: Vec<Sample> = (0..1_000).map(|_| sample(&mut rng, &aps)).collect();
    let queries: Vec<Fingerprint> = truth.iter().map(|s| s.fp.clone()).collect();
    let survey = Survey { aps: (0..APS).map(|i| format!("ap{i}")).collect(), zones: (0..250).map(|z| format!("z{z}")).collect(), samples };
    let model = Model::train(ModelConfig::default(), &survey).expect("training the bench model");
    let heard = survey.samples.iter().map(|s| s.fp.len()).sum::<usize>() as f64 / survey.samples.len() as f64;
    let mut postings = vec![0usize; APS];
    for s in &survey.samples {
        for &(a, _) in &s.fp.0 {
            postings[a as usize] += 1;
        }
    }
    let walked =
        queries.iter().map(|q| q.0.iter().map(|&(a, _)| postings[a as usize]).sum::<usize>()).sum::<usize>() as f64 / queries.len() as f64;
    eprintln!(
        "bench site: {APS} access points, {} fingerprints, {heard:.1} heard per fingerprint, {walked:.0} postings walked per query",
        model.len()
    );
    search_stats(&model, &queries);
    accuracy(&survey, &model, &truth);
    let mut g = c.benchmark_group("locate_classify");
    g.throughput(Throughput::Elements(queries.len() as u64));
    let settings: Vec<(&str, Search)> = match std::env::var("FOOTFALL_BENCH_SEARCH") {
        Ok(v) => v.split(';').map(|t| ("search", t.parse::<Search>().expect("FOOTFALL_BENCH_SEARCH"))).collect(),
        Err(_) => vec![("default", Search::default())],
    };
    for &(name, search) in &settings {
        let model = Model::train(ModelConfig { search, ..Default::default() }, &survey).expect("training the bench model");
        let id = format!("{name}_{}", settings_id(search));
        cpu_time(&id, &model, &queries);
        g.bench_function(id.as_str(), |b| {
            let mut s = Scratch::default();
            b.iter(|| {
                let mut zones = 0u64;
                for q in &queries {
                    if let Some(e) = model.estimate(black_box(q), &mut s) {
                        zones += e.zone.unwrap_or(0) as u64;
                    }
                }
                zones
            })
        });
    }
    // The real benchmark at the sizing (520 access points, 19,937 survey rows),
    // when its CSVs are at hand: train on trainingData, time the 1,111 validation queries.
    if let Some((train, queries)) = uji() {
        for &(name, search) in &settings {
            let model = Model::train(ModelConfig { search, ..Default::default() }, &train).expect("training on UJIIndoorLoc");
            eprintln!(
                "UJIIndoorLoc: {} access points, {} fingerprints, {} queries, {search:?}",
                train.aps.len(),
                model.len(),
                queries.len()
            );
            search_stats(&model, &queries);
            let id = match name {
                "default" => "ujiindoorloc_default".to_string(),
                _ => format!("ujiindoorloc_{}", settings_id(search)),
            };
            cpu_time(&id, &model, &queries);
            g.throughput(Throughput::Elements(queries.len() as u64));
            g.bench_function(id, |b| {
                let mut s = Scratch::default();
                b.iter(|| queries.iter().filter_map(|q| model.estimate(black_box(q), &mut s)).map(|e| e.floor as i64).sum::<i64>())
            });
        }
    }
    g.finish();
}

/// A search's settings in a benchmark id: `strong_aps_posting_cut_posting_top_candidates`,
/// then `_spot_aps_spot_band_spot_size_spot_cell` when those are not the defaults.
fn settings_id(s: Search) -> String {
    let d = Search::default();
    let spots = (s.spot_aps, s.spot_band, s.spot_size, s.spot_cell) != (d.spot_aps, d.spot_band, d.spot_size, d.spot_cell);
    let tail = if spots { format!("_{}_{}_{}_{}", s.spot_aps, s.spot_band, s.spot_size, s.spot_cell) } else { String::new() };
    format!("{}_{}_{}_{}{tail}", s.strong_aps, s.posting_cut, s.posting_top, s.candidates)
}

/// How close the default search's answers come to the exhaustive search's on the bench
/// site (the queries' true floors, zones and positions), so that a faster search that costs
/// accuracy shows it here.
fn accuracy(survey: &footfall_locate::Survey, model: &Model, truth: &[Sample]) {
    use footfall_locate::metrics::{outcome, summarize};
    let exact =
        Model::train(ModelConfig { search: Search::EXHAUSTIVE, ..Default::default() }, survey).expect("training the exhaustive model");
    let labels: Vec<_> = truth.iter().map(|t| t.label).collect();
    for (name, m) in [("default", model), ("exhaustive", &exact)] {
        let mut sc = Scratch::default();
        let outcomes: Vec<_> = truth.iter().map(|t| m.estimate(&t.fp, &mut sc).map(|e| outcome(&t.label, &e))).collect();
        let r = summarize(&outcomes, &labels);
        eprintln!(
            "bench site, {name} search: floor hit {:.1}%, zone accuracy {:.1}%, mean error {:.2} m",
            r.floor_hit * 100.0,
            r.zone_hit.unwrap_or(f64::NAN) * 100.0,
            r.mean_m.unwrap_or(f64::NAN)
        );
    }
}

/// What the pruned search does per query on `queries` (printed once, before timing).
fn search_stats(model: &Model, queries: &[Fingerprint]) {
    let mut sc = Scratch::default();
    for q in queries {
        model.estimate(q, &mut sc);
    }
    eprintln!(
        "pruned search proved {} of {} queries (the others walked every posting); per query {:.0} postings walked, {:.0} samples (or spots) kept, {:.0} of them ranked exactly, {:.0} samples checked exactly",
        sc.searches - sc.full_walks,
        sc.searches,
        sc.postings as f64 / sc.searches as f64,
        sc.kept as f64 / sc.searches as f64,
        sc.ranked as f64 / sc.searches as f64,
        sc.exact_checks as f64 / sc.searches as f64
    );
}

/// UJIIndoorLoc's training survey and validation queries, from the directory named by
/// `FOOTFALL_BENCH_UJI` (the unzipped `trainingData.csv` and `validationData.csv`); `None`,
/// with a note, when it is not set or not readable.
fn uji() -> Option<(footfall_locate::Survey, Vec<Fingerprint>)> {
    let dir = std::path::PathBuf::from(std::env::var_os("FOOTFALL_BENCH_UJI")?);
    let read = |name: &str| {
        let path = dir.join(name);
        let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        footfall_locate::uji::read(std::io::BufReader::new(file), &path.display().to_string()).map_err(|e| e.to_string())
    };
    match (read("trainingData.csv"), read("validationData.csv")) {
        // The validation file's access point columns are the training file's (same layout).
        (Ok(train), Ok(valid)) => Some((train, valid.samples.into_iter().map(|s| s.fp).collect())),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("UJIIndoorLoc skipped: {e}");
            None
        }
    }
}

/// Nanoseconds this thread has spent on a CPU (`/proc/thread-self/schedstat`, Linux), or `None`.
fn on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// On a shared machine criterion's wall-clock figure includes the time this thread waited for
/// a core; the on-CPU time per fingerprint is printed next to it: the median of 11 repetitions
/// of 20 passes over the queries (one repetition is ~0.1 s, so a burst of load on the VM
/// moves one repetition, not the median).
fn cpu_time(id: &str, model: &Model, queries: &[Fingerprint]) {
    let mut s = Scratch::default();
    let (passes, reps) = (20, 11);
    let n = (passes * queries.len()) as f64;
    let (mut cpu, mut wall) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (Some(c0), t0) = (on_cpu_ns(), std::time::Instant::now()) else { return };
        for _ in 0..passes {
            for q in queries {
                black_box(model.estimate(black_box(q), &mut s));
            }
        }
        let (Some(c1), w) = (on_cpu_ns(), t0.elapsed()) else { return };
        cpu.push((c1 - c0) as f64 / n / 1e3);
        wall.push(w.as_secs_f64() * 1e6 / n);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    eprintln!(
        "{id}: {:.2} µs on CPU per fingerprint ({:.2} µs wall), median of {reps} repetitions of {passes} passes (on CPU, sorted: {})",
        median(&mut cpu),
        median(&mut wall),
        cpu.iter().map(|c| format!("{c:.2}")).collect::<Vec<_>>().join(", ")
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
