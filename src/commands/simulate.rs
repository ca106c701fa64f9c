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
        rotation_minutes: a.rotation_minutes,
        start_date: a.start.unwrap_or_else(|| recent_start(super::now_ms(), a.days)),
        phone_share: a.phone_share,
        app_share: a.app_share,
        app_consent_share: a.app_consent_share,
        ping_interval_s: a.ping_interval,
        ..SimConfig::default()
    }
}

/// The default first day of a simulation: the Monday on or before `days + 1` days before
/// `now`, so every simulated day is in the past and recent (retention counts from today).
pub fn recent_start(now_ms: i64, days: u32) -> chrono::NaiveDate {
    use chrono::Datelike;
    let today = chrono::DateTime::from_timestamp_millis(now_ms).map(|t| t.date_naive()).unwrap_or_default();
    let earliest = today - chrono::Duration::days(days as i64 + 1);
    earliest - chrono::Duration::days(earliest.weekday().num_days_from_monday() as i64)
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
    if a.survey {
        footfall_sim::survey::write(&config(&a.sim), &a.out)?;
        let d = a.out.display();
        eprintln!("wrote a site survey into {d}: survey-notes.csv, survey-observations.csv, survey-surveyor.txt");
        eprintln!("survey flow:");
        eprintln!(
            "  footfall survey import --site {d}/site.json --key mall.db.key --surveyor $(cat {d}/survey-surveyor.txt) --notes {d}/survey-notes.csv --out survey.json {d}/survey-observations.csv"
        );
        eprintln!("  footfall locate train --survey survey.json --out site.model.json");
        eprintln!("  footfall ingest --site {d}/site.json --db mall.db --locate-model site.model.json {d}/{input}");
    }
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

    #[test]
    fn the_default_start_is_a_recent_monday_in_the_past() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().timestamp_millis(); // a Sunday
        assert_eq!(recent_start(now, 3).to_string(), "2026-11-16");
        assert_eq!(recent_start(now, 14).to_string(), "2026-11-02");
        use chrono::Datelike;
        for days in 1..40 {
            let d = recent_start(now, days);
            assert_eq!(d.weekday(), chrono::Weekday::Mon);
            assert!(d + chrono::Duration::days(days as i64) < chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap());
            assert!(d + chrono::Duration::days(days as i64 + 9) >= chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap());
        }
    }
}
