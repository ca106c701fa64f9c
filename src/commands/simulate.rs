//! `footfall simulate`: write a simulated mall (site, observations, POS, truth) to a folder.

use crate::cli::{SimArgs, SimulateArgs};
use crate::output::step_progress;
use footfall_sim::{SimConfig, WriteOptions};
use std::path::Path;

pub fn config(a: &SimArgs) -> SimConfig {
    SimConfig {
        seed: a.seed,
        days: a.days,
        stores: a.stores,
        shoppers_per_day: a.shoppers_per_day,
        randomized_share: a.randomized_share,
        phone_share: a.phone_share,
        ..SimConfig::default()
    }
}

/// Simulate into `out`, with a day-by-day progress bar on a terminal.
pub fn write(cfg: &SimConfig, out: &Path, quiet: bool) -> anyhow::Result<()> {
    write_with(cfg, out, &WriteOptions::default(), quiet)
}

/// [`write`], with the optional outputs of `opts` (the pcapng capture).
pub fn write_with(cfg: &SimConfig, out: &Path, opts: &WriteOptions, quiet: bool) -> anyhow::Result<()> {
    let pb = step_progress(cfg.days as u64, quiet);
    pb.set_message("simulating days");
    let summary = footfall_sim::write_all_with(cfg, out, opts, &mut |done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    eprintln!(
        "wrote {} days into {}: {} observations, {} visits and {} walk-bys in truth, {} sales",
        summary.days,
        summary.out_dir.display(),
        summary.frames,
        summary.visits,
        summary.walk_bys,
        summary.transactions
    );
    Ok(())
}

pub fn run(a: SimulateArgs) -> anyhow::Result<()> {
    write_with(&config(&a.sim), &a.out, &WriteOptions { pcapng: a.pcap }, false)?;
    let input = if a.pcap { "observations.pcapng" } else { "observations.csv" };
    eprintln!("next: footfall ingest --site {0}/site.json --db mall.db {0}/{input} && footfall report --db mall.db", a.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_sim::pcap_out::PcapngEncoder;
    use footfall_sources::Source;
    use footfall_sources::capture::CaptureSource;
    use std::collections::BTreeSet;

    /// The simulator's pcapng, read back by the capture source, gives every frame with its
    /// values; the sensors come from the interface names.
    #[test]
    fn the_pcapng_reads_back_as_the_simulated_frames() {
        let cfg = SimConfig { days: 1, stores: 2, shoppers_per_day: 40, ..SimConfig::default() };
        let mut frames = Vec::new();
        let out = footfall_sim::simulate(&cfg, &mut |f| frames.push(*f)).unwrap();
        let names: Vec<&str> = out.site.sensors.iter().map(|s| s.id.as_str()).collect();
        let mut bytes = PcapngEncoder::header(&names);
        let mut enc = PcapngEncoder::new();
        for f in &frames {
            bytes.extend_from_slice(enc.frame(f));
        }
        let mut src = CaptureSource::open(&bytes[..], "sim.pcapng", None).unwrap();
        let mut got = Vec::new();
        let mut fingerprints = BTreeSet::new();
        let rep = src
            .run(
                &mut |o| {
                    got.push((o.ts, o.sensor.to_string(), o.mac.octets(), o.rssi, o.freq, o.seq));
                    fingerprints.insert(o.ie.map(String::from));
                },
                &mut |_| {},
            )
            .unwrap();
        let want: Vec<_> =
            frames.iter().map(|f| (f.ts, names[f.sensor as usize].to_string(), f.mac, f.rssi, Some(f.freq), Some(f.seq))).collect();
        assert!(want.len() > 1000);
        assert_eq!((rep.records, rep.bad, rep.skipped.len()), (want.len() as u64, 0, 0));
        assert_eq!(got, want);
        // Four phone profiles, all with a parsed fingerprint.
        assert_eq!(fingerprints.len(), 4, "{fingerprints:?}");
        assert!(fingerprints.iter().all(|f| f.as_deref().is_some_and(|f| f.starts_with("v1;ids=0,1,50,3,45,127,221;ssid=wild;"))));
    }
}
