//! Survey mode: a surveyor walks the simulated mall with a phone of known MAC before opening
//! on the first day, standing a while at a few points in every zone of every store and in the
//! corridor, and writes down when they stood where. The sensors hear the phone through the
//! same radio model as the shoppers' phones. Output: the notes (`survey-notes.csv`, zones
//! `STORE/ZONE` and `outside-corridor`), what the sensors heard (`survey-observations.csv`, the
//! observation CSV) and the surveyor MAC (`survey-surveyor.txt`, a simulated address), so
//! survey import → train → ingest can be tried without hardware. Pure function of the config.

use crate::layout::{CORRIDOR_NORTH, CORRIDOR_SOUTH, Layout};
use crate::radio::{mean_rssi, sample_rssi, walls_db};
use crate::rng::Rng;
use crate::{SimConfig, SimError};
use footfall_core::geometry::Point;
use footfall_core::time::{day_of_date, format_rfc3339};
use std::path::Path;

/// The simulated surveyor phone (locally administered, so never a real device's address).
pub const SURVEYOR_MAC: &str = "02:00:5e:00:53:01";
/// Seconds the surveyor spends in each zone, over this many points.
pub const SECONDS_PER_ZONE: i64 = 120;
pub const POINTS_PER_ZONE: i64 = 6;
/// The phone probes every this many seconds while surveying.
pub const PROBE_EVERY_S: i64 = 2;

/// The survey notes and observations as CSV text.
pub fn survey(cfg: &SimConfig) -> Result<(String, String), SimError> {
    let layout = Layout::new(cfg.stores, &cfg.timezone)?;
    let mut rng = Rng::derive(cfg.seed, &[0x0050_5256_4559]);
    // 06:00 UTC on the first day: before any store opens in the simulated time zones.
    let mut t = day_of_date(cfg.start_date) as i64 * 86_400_000 + 6 * 3_600_000;
    let mut notes = String::from("start,end,zone\n");
    let mut obs = String::from("time,sensor,mac,rssi\n");
    let mut places: Vec<(String, Vec<Point>)> = Vec::new();
    for (s, store) in layout.site.stores.iter().enumerate() {
        for (z, zone) in store.zones.iter().enumerate() {
            let pts = (0..POINTS_PER_ZONE).map(|_| layout.random_point(s as u16, z, 0.5, &mut rng)).collect();
            places.push((format!("{}/{}", store.id, zone.id), pts));
        }
    }
    let corridor = (0..POINTS_PER_ZONE * 2)
        .map(|_| Point::new(rng.range(1.0, layout.length - 1.0), rng.range(CORRIDOR_SOUTH + 1.0, CORRIDOR_NORTH - 1.0)))
        .collect();
    places.push(("outside-corridor".to_string(), corridor));
    for (name, points) in places {
        let secs = SECONDS_PER_ZONE * points.len() as i64 / POINTS_PER_ZONE;
        notes.push_str(&format!("{},{},{name}\n", format_rfc3339(t), format_rfc3339(t + secs * 1000)));
        let per_point = secs / points.len() as i64;
        for (k, p) in points.iter().enumerate() {
            let mut s = 0;
            while s < per_point {
                let ts = t + (k as i64 * per_point + s) * 1000;
                for (i, &(pos, store)) in layout.sensors.iter().enumerate() {
                    let walls = walls_db(&layout, layout.place(*p), store);
                    if let Some(r) = sample_rssi(mean_rssi(pos.dist(*p), walls), &mut rng) {
                        obs.push_str(&format!("{},{},{SURVEYOR_MAC},{r}\n", format_rfc3339(ts), layout.site.sensors[i].id));
                    }
                }
                s += PROBE_EVERY_S;
            }
        }
        // A short walk to the next place, not noted.
        t += (secs + 20) * 1000;
    }
    Ok((notes, obs))
}

/// Write the three survey files into `out`.
pub fn write(cfg: &SimConfig, out: &Path) -> Result<(), SimError> {
    let (notes, obs) = survey(cfg)?;
    std::fs::create_dir_all(out).map_err(|source| SimError::Io { path: out.to_path_buf(), source })?;
    for (name, text) in
        [("survey-notes.csv", notes), ("survey-observations.csv", obs), ("survey-surveyor.txt", format!("{SURVEYOR_MAC}\n"))]
    {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|source| SimError::Io { path, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_cover_every_zone_and_the_sensors_hear_the_surveyor() {
        let cfg = SimConfig { stores: 2, ..SimConfig::default() };
        let (notes, obs) = survey(&cfg).unwrap();
        assert_eq!(notes.lines().count(), 1 + 2 * 3 + 1);
        assert!(notes.contains("s1/") && notes.contains(",outside-corridor"));
        assert!(obs.lines().count() > 100);
        assert!(obs.lines().skip(1).all(|l| l.contains(SURVEYOR_MAC)));
        assert_eq!(survey(&cfg).unwrap(), (notes, obs), "deterministic");
    }
}
