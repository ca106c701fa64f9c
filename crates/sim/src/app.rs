//! The app feed: shoppers whose phone runs an app with a location SDK, their advertising IDs,
//! consent flags and location pings.
//!
//! A shopper with the app (share `app_share`, fixed per regular, drawn per day for one-off
//! shoppers) has a version-4 UUID advertising ID and a consent flag (share
//! `app_consent_share`). While in the mall the app reports a position every
//! `ping_interval_s` (±50%), with a horizontal accuracy drawn lognormally (median 8 m) and a
//! 2-D Gaussian error whose 68% radius is that accuracy, converted to latitude/longitude
//! through the site's [`crate::layout::GEO`]. This module owns those draws; it must not know
//! about radio, MACs or output formats, and its draws come from their own derived streams so
//! the frames of a run do not change with the app options.

use crate::layout::GEO;
use crate::people::Track;
use crate::rng::Rng;
use footfall_core::Millis;
use footfall_core::geometry::Point;

/// Median horizontal accuracy of a ping, m.
pub const ACCURACY_MEDIAN_M: f64 = 8.0;
/// Ratio of the 68% radius of a 2-D Gaussian to its per-axis standard deviation.
pub const R68_PER_SIGMA: f64 = 1.509;

/// One shopper's app: advertising ID bytes and whether they consented to sharing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct App {
    pub adid: [u8; 16],
    pub consent: bool,
}

impl App {
    /// Draw whether a shopper has the app and, if so, its ID and consent.
    pub fn draw(rng: &mut Rng, app_share: f64, consent_share: f64) -> Option<App> {
        if !rng.chance(app_share) {
            return None;
        }
        let (a, b) = (rng.next_u64().to_le_bytes(), rng.next_u64().to_le_bytes());
        let mut adid = [0u8; 16];
        adid[..8].copy_from_slice(&a);
        adid[8..].copy_from_slice(&b);
        adid[6] = (adid[6] & 0x0f) | 0x40;
        adid[8] = (adid[8] & 0x3f) | 0x80;
        Some(App { adid, consent: rng.chance(consent_share) })
    }

    /// The ID as an uppercase UUID, as iOS prints an IDFA.
    pub fn adid_text(&self) -> String {
        let h: String = self.adid.iter().map(|b| format!("{b:02X}")).collect();
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
    }
}

/// One location report of the app feed.
#[derive(Clone, Debug, PartialEq)]
pub struct Ping {
    pub ts: Millis,
    pub app: App,
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy (68% radius), m.
    pub accuracy_m: f64,
}

/// Pings along a shopper's track.
pub fn pings(app: App, track: &Track, interval_s: f64, rng: &mut Rng, out: &mut Vec<Ping>) {
    let end = track.end();
    let mut t = track.t0 + (rng.uniform() * interval_s * 1000.0) as Millis;
    while t <= end {
        let p = track.at(t);
        let accuracy_m = rng.lognormal(ACCURACY_MEDIAN_M, 0.45).clamp(3.0, 60.0);
        let sd = accuracy_m / R68_PER_SIGMA;
        let q = Point::new(p.x + rng.normal(0.0, sd), p.y + rng.normal(0.0, sd));
        let (lat, lon) = GEO.to_lat_lon(q);
        out.push(Ping { ts: t, app, lat, lon, accuracy_m: (accuracy_m * 10.0).round() / 10.0 });
        t += (interval_s * rng.range(0.5, 1.5) * 1000.0) as Millis;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_uuids_and_pings_follow_the_track() {
        let mut r = Rng::new(3);
        let app = (0..50).find_map(|_| App::draw(&mut r, 0.5, 1.0)).unwrap();
        let t = app.adid_text();
        assert_eq!(t.len(), 36);
        assert_eq!(&t[14..15], "4");
        assert!(footfall_core::AdId::parse(&t).is_ok());
        let track = Track { t0: 1_000_000, samples: (0..600).map(|k| Point::new(k as f64 * 0.1, 19.0)).collect() };
        let mut out = Vec::new();
        pings(app, &track, 30.0, &mut r, &mut out);
        assert!((10..=40).contains(&out.len()), "{}", out.len());
        assert!(out.windows(2).all(|w| w[0].ts < w[1].ts));
        // Errors are about the stated accuracy: most within 2x of it.
        let within = out
            .iter()
            .filter(|p| {
                let q = GEO.to_site(p.lat, p.lon);
                q.dist(track.at(p.ts)) <= 2.0 * p.accuracy_m
            })
            .count();
        assert!(within * 10 >= out.len() * 8, "{within}/{}", out.len());
    }
}
