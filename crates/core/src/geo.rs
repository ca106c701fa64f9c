//! Georeferencing: how the site's metre coordinates sit on the Earth.
//!
//! A [`GeoRef`] anchors the site's origin `(0, 0)` at a latitude/longitude and gives the
//! compass bearing of its `+x` axis; `+y` points 90° counter-clockwise from `+x` (the usual
//! maths orientation, so with `bearing_deg = 90` `+x` is east and `+y` north). Conversion uses
//! a local tangent plane (equirectangular around the anchor), which is exact to a few
//! centimetres over a venue a kilometre across. This module owns that conversion only; what a
//! position means for a store (geofencing) lives in `transforms::geofence`.

use crate::geometry::Point;
use serde::{Deserialize, Serialize};

/// Mean Earth radius, m (IUGG).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The anchor of the site's metre coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoRef {
    /// Latitude of the site point (0, 0), degrees.
    pub lat: f64,
    /// Longitude of the site point (0, 0), degrees.
    pub lon: f64,
    /// Compass bearing of the site's `+x` axis, degrees clockwise from true north.
    pub bearing_deg: f64,
}

impl GeoRef {
    /// Problems with the values, as (field, reason).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(self.lat.is_finite() && (-85.0..=85.0).contains(&self.lat)) {
            out.push(("lat", format!("{} is not a latitude within ±85°", self.lat)));
        }
        if !(self.lon.is_finite() && (-180.0..=180.0).contains(&self.lon)) {
            out.push(("lon", format!("{} is not a longitude within ±180°", self.lon)));
        }
        if !self.bearing_deg.is_finite() {
            out.push(("bearing_deg", "must be a finite number of degrees".into()));
        }
        out
    }

    /// East and north unit vectors of the site axes: `x` axis → (east, north) and `y` axis.
    fn axes(&self) -> ((f64, f64), (f64, f64)) {
        let b = self.bearing_deg.to_radians();
        // Bearing is clockwise from north: the +x axis points (east, north) = (sin b, cos b);
        // +y is +x turned 90° counter-clockwise (seen from above).
        ((b.sin(), b.cos()), (-b.cos(), b.sin()))
    }

    /// Site metres of a latitude/longitude.
    pub fn to_site(&self, lat: f64, lon: f64) -> Point {
        let north = (lat - self.lat).to_radians() * EARTH_RADIUS_M;
        let east = (lon - self.lon).to_radians() * EARTH_RADIUS_M * self.lat.to_radians().cos();
        let ((xe, xn), (ye, yn)) = self.axes();
        Point::new(east * xe + north * xn, east * ye + north * yn)
    }

    /// Latitude/longitude of a site point.
    pub fn to_lat_lon(&self, p: Point) -> (f64, f64) {
        let ((xe, xn), (ye, yn)) = self.axes();
        let east = p.x * xe + p.y * ye;
        let north = p.x * xn + p.y * yn;
        let lat = self.lat + (north / EARTH_RADIUS_M).to_degrees();
        let lon = self.lon + (east / (EARTH_RADIUS_M * self.lat.to_radians().cos())).to_degrees();
        (lat, lon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_follow_the_bearing() {
        // +x east, +y north.
        let g = GeoRef { lat: 48.85, lon: 2.35, bearing_deg: 90.0 };
        let (lat, lon) = g.to_lat_lon(Point::new(0.0, 100.0));
        assert!((lat - 48.85 - 100.0 / 111_195.0).abs() < 1e-6, "{lat}");
        assert!((lon - 2.35).abs() < 1e-9);
        let (lat, lon) = g.to_lat_lon(Point::new(100.0, 0.0));
        assert!((lat - 48.85).abs() < 1e-9);
        assert!(lon > 2.35);
        // +x north: +y points west.
        let g = GeoRef { bearing_deg: 0.0, ..g };
        let (lat, lon) = g.to_lat_lon(Point::new(0.0, 50.0));
        assert!((lat - 48.85).abs() < 1e-9 && lon < 2.35);
    }

    #[test]
    fn round_trips_within_millimetres() {
        let g = GeoRef { lat: -33.87, lon: 151.21, bearing_deg: 37.5 };
        for p in [Point::new(0.0, 0.0), Point::new(120.5, -40.25), Point::new(-500.0, 800.0)] {
            let (lat, lon) = g.to_lat_lon(p);
            let q = g.to_site(lat, lon);
            assert!(p.dist(q) < 1e-3, "{p:?} -> {q:?}");
        }
        assert!(g.check().is_empty());
        assert_eq!(GeoRef { lat: 91.0, lon: 200.0, bearing_deg: f64::NAN }.check().len(), 3);
    }
}
