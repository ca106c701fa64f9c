//! How the search effort ([`footfall_locate::Search`]) trades accuracy on a labelled pair of
//! files (e.g. UJIIndoorLoc training and validation): floor hit and mean error per setting,
//! next to the exhaustive search. Usage: `cargo run --release -p footfall-locate --example
//! uji_search -- trainingData.csv validationData.csv`. With `--answers` as the third argument
//! it prints every estimate of the default search, the sample search (no spots) and the
//! exhaustive search instead (to check that a change to the search gives byte-identical
//! answers).

use footfall_locate::metrics::{outcome, summarize};
use footfall_locate::{Model, ModelConfig, Scratch, Search, Survey};
use std::io::BufReader;

fn read(p: &str) -> Survey {
    Survey::read(BufReader::new(std::fs::File::open(p).expect("opening the file")), p).expect("a labelled file")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (train, test_file) = (read(&args[1]), read(&args[2]));
    let mut names = Survey { aps: train.aps.clone(), zones: train.zones.clone(), samples: vec![] };
    let test = names.align(&test_file);
    let truths: Vec<_> = test.iter().map(|t| t.label).collect();
    if args.get(3).map(String::as_str) == Some("--calibration") {
        return calibration(&train, &test);
    }
    if args.get(3).map(String::as_str) == Some("--answers") {
        for search in [Search::default(), Search { spot_aps: 0, ..Search::default() }, Search::EXHAUSTIVE] {
            let m = Model::train(ModelConfig { search, ..Default::default() }, &train).expect("training");
            let mut s = Scratch::default();
            for (i, t) in test.iter().enumerate() {
                println!("{search:?} {i}: {:?}", m.estimate(&t.fp, &mut s));
            }
        }
        return;
    }
    let exhaustive = Search::EXHAUSTIVE;
    // Other settings: FOOTFALL_UJI_SEARCH="strong_aps,posting_cut,posting_top,candidates[,spot_aps,spot_band,spot_size[,spot_cell]];..."
    // (as the bench; spot_aps 0: search sample by sample).
    let settings: Vec<Search> = match std::env::var("FOOTFALL_UJI_SEARCH") {
        Ok(v) => v.split(';').map(|t| t.parse::<Search>().expect("FOOTFALL_UJI_SEARCH")).collect(),
        Err(_) => vec![
            exhaustive,
            Search::default(),
            Search { spot_aps: 0, ..Search::default() },
            Search { spot_aps: 6, ..Search::default() },
            Search { spot_band: 2, ..Search::default() },
            Search { spot_size: 8, ..Search::default() },
            Search { candidates: 24, ..Search::default() },
        ],
    };
    for search in settings {
        let m = Model::train(ModelConfig { search, ..Default::default() }, &train).expect("training");
        let mut s = Scratch::default();
        let outcomes: Vec<_> = test.iter().map(|t| m.estimate(&t.fp, &mut s).map(|e| outcome(&t.label, &e))).collect();
        let r = summarize(&outcomes, &truths);
        println!("{search:?}: floor hit {:.2}%, mean {:.2} m", r.floor_hit * 100.0, r.mean_m.unwrap_or(f64::NAN));
    }
}

/// Per-device gain calibration, online: test samples in (device, time) order; each device's
/// offset is a running mean of the median RSSI difference to its neighbours, subtracted from
/// its later scans. Prints floor hit and mean error with and without it.
fn calibration(train: &Survey, test: &[footfall_locate::Sample]) {
    use footfall_locate::Fingerprint;
    let m = Model::train(ModelConfig { search: Search::EXHAUSTIVE, ..Default::default() }, train).expect("training");
    let mut order: Vec<usize> = (0..test.len()).collect();
    order.sort_by_key(|&i| (test[i].device, test[i].time));
    for weight in [0.0f32, 0.1, 0.3] {
        let mut s = Scratch::default();
        let mut offsets: std::collections::HashMap<u32, (f32, u32)> = Default::default();
        let mut outcomes = vec![None; test.len()];
        for &i in &order {
            let t = &test[i];
            let (off, n) = offsets.get(&t.device).copied().unwrap_or((0.0, 0));
            let shifted = Fingerprint(t.fp.0.iter().map(|&(a, r)| (a, r - off)).collect());
            outcomes[i] = m.estimate(&shifted, &mut s).map(|e| outcome(&t.label, &e));
            if weight > 0.0
                && let Some(d) = m.gain_offset(&shifted, &mut s)
            {
                offsets.insert(t.device, (off + weight * d, n + 1));
            }
        }
        let truths: Vec<_> = test.iter().map(|t| t.label).collect();
        let r = summarize(&outcomes, &truths);
        println!("calibration weight {weight}: floor hit {:.2}%, mean {:.2} m", r.floor_hit * 100.0, r.mean_m.unwrap_or(f64::NAN));
    }
}
