//! The site description: venue, stores, zones and sensors, loaded and validated once.
//!
//! A [`Site`] is configuration: read from JSON (documented in `docs/formats.md`), validated
//! with precise errors (which store, which field, why), then shared read-only. Validation also
//! builds the lookups the pipeline needs (sensor name to index, sensor to store and zone).
//! This module must not know about observations' contents or visits.

use crate::geo::GeoRef;
use crate::geometry::{Point, Polygon, Side};
use chrono::Weekday;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// One problem found in a site file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteIssue {
    /// Where: e.g. `stores[2] (id "s3").zones[0] (id "fitting").polygon`.
    pub path: String,
    pub reason: String,
}

/// A site file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("not valid JSON for the site format at line {line}, column {column}: {message}")]
    Json { line: usize, column: usize, message: String },
    #[error("{} problem(s):\n{}", .0.len(), .0.iter().map(|i| format!("  - {}: {}", i.path, i.reason)).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<SiteIssue>),
}

/// Opening hours per weekday: `{"default": "10:00-21:00", "sun": "closed"}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpeningHours(pub BTreeMap<String, String>);

/// Opening interval in minutes after local midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hours {
    pub open_min: u32,
    pub close_min: u32,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl OpeningHours {
    fn parse_range(s: &str) -> Result<Option<Hours>, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("closed") {
            return Ok(None);
        }
        let parse_hm = |t: &str| -> Result<u32, String> {
            let (h, m) = t.trim().split_once(':').ok_or_else(|| format!("{t:?} is not HH:MM"))?;
            let h: u32 = h.parse().map_err(|_| format!("{t:?} is not HH:MM"))?;
            let m: u32 = m.parse().map_err(|_| format!("{t:?} is not HH:MM"))?;
            if h > 24 || m > 59 || (h == 24 && m > 0) {
                return Err(format!("{t:?} is not a time of day"));
            }
            Ok(h * 60 + m)
        };
        let (a, b) = s.split_once('-').ok_or_else(|| format!("{s:?} is not \"HH:MM-HH:MM\" or \"closed\""))?;
        let (open_min, close_min) = (parse_hm(a)?, parse_hm(b)?);
        if close_min <= open_min {
            return Err(format!("{s:?} closes before it opens"));
        }
        Ok(Some(Hours { open_min, close_min }))
    }

    /// Hours on a weekday; `None` when closed. Missing entries fall back to `default`,
    /// and with no entries at all the store counts as always open.
    pub fn on(&self, day: Weekday) -> Option<Hours> {
        let key = WEEKDAYS[day.num_days_from_monday() as usize];
        match self.0.get(key).or_else(|| self.0.get("default")) {
            Some(s) => Self::parse_range(s).ok().flatten(),
            None if self.0.is_empty() => Some(Hours { open_min: 0, close_min: 24 * 60 }),
            None => None,
        }
    }

    fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            if k != "default" && !WEEKDAYS.contains(&k.as_str()) {
                out.push((k.clone(), "unknown day (use mon..sun or default)".to_string()));
            } else if let Err(e) = Self::parse_range(v) {
                out.push((k.clone(), e));
            }
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub polygon: Polygon,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    pub id: String,
    pub name: String,
    pub category: String,
    pub polygon: Polygon,
    #[serde(default)]
    pub opening_hours: OpeningHours,
    /// Competitor store ids; when absent, the other stores of the same category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competitors: Option<Vec<String>>,
    #[serde(default)]
    pub zones: Vec<Zone>,
    /// Entrance points `[[x, y], ...]` on or near the store's boundary, m. App pings count as
    /// walking by the store within `near_m` of one (of the polygon when none are given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrances: Vec<[f64; 2]>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sensor {
    pub id: String,
    /// The sensor's own MAC (e.g. a Meraki AP), used to map feeds that name APs by MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    pub x: f64,
    pub y: f64,
    pub store: String,
    /// Per-sensor override of the visitor RSSI threshold (dBm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_rssi: Option<i16>,
}

/// The whole site. Build it with [`Site::from_json`] so it is validated and indexed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub venue: String,
    pub timezone: String,
    pub stores: Vec<Store>,
    pub sensors: Vec<Sensor>,
    /// Where the metre coordinates sit on the Earth; needed for app location pings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<GeoRef>,
    /// The venue's own entrances `[[x, y], ...]`, m: where shoppers come in from the street
    /// or the car park, in the public space (in no store). App tracks that begin (end) walking
    /// in the public space are drawn from (to) the nearest one. Optional.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrances: Vec<[f64; 2]>,
    #[serde(skip)]
    index: SiteIndex,
}

#[derive(Clone, Debug, Default)]
struct SiteIndex {
    tz: Option<Tz>,
    sensor_by_id: HashMap<String, u16>,
    sensor_store: Vec<u16>,
    sensor_zone: Vec<Option<u16>>,
    store_by_id: HashMap<String, u16>,
    competitors: Vec<Vec<u16>>,
}

fn store_path(i: usize, s: &Store) -> String {
    format!("stores[{i}] (id {:?})", s.id)
}

impl Site {
    /// Parse and validate a site file's contents.
    pub fn from_json(text: &str) -> Result<Site, SiteError> {
        let site: Site = serde_json::from_str(text).map_err(|e| {
            let m = e.to_string();
            let message = m.find(" at line ").map(|i| m[..i].to_string()).unwrap_or(m);
            SiteError::Json { line: e.line(), column: e.column(), message }
        })?;
        site.validated()
    }

    /// Validate a site built in code and build its indexes.
    pub fn validated(mut self) -> Result<Site, SiteError> {
        let mut issues = Vec::new();
        let mut push = |path: String, reason: String| issues.push(SiteIssue { path, reason });
        let tz = match self.timezone.parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                push("timezone".into(), format!("{:?} is not an IANA time zone (e.g. \"Europe/Paris\")", self.timezone));
                None
            }
        };
        if self.stores.is_empty() {
            push("stores".into(), "a site needs at least one store".into());
        }
        let mut store_by_id = HashMap::new();
        for (i, s) in self.stores.iter().enumerate() {
            let p = store_path(i, s);
            if s.id.trim().is_empty() {
                push(format!("stores[{i}].id"), "must not be empty".into());
            } else if store_by_id.insert(s.id.clone(), i as u16).is_some() {
                push(format!("{p}.id"), "duplicate store id".into());
            }
            check_polygon(&s.polygon, &format!("{p}.polygon"), &mut push);
            for (j, &[x, y]) in s.entrances.iter().enumerate() {
                if !(x.is_finite() && y.is_finite()) {
                    push(format!("{p}.entrances[{j}]"), "coordinates must be finite numbers".into());
                } else if s.polygon.0.len() >= 3 && s.polygon.boundary_distance(Point::new(x, y)) > 3.0 {
                    push(format!("{p}.entrances[{j}]"), format!("({x}, {y}) is more than 3 m from the store's polygon"));
                }
            }
            for (day, why) in s.opening_hours.validate() {
                push(format!("{p}.opening_hours.{day}"), why);
            }
            let mut zone_ids = HashMap::new();
            for (j, z) in s.zones.iter().enumerate() {
                let zp = format!("{p}.zones[{j}] (id {:?})", z.id);
                if zone_ids.insert(z.id.clone(), j).is_some() {
                    push(format!("{zp}.id"), "duplicate zone id in this store".into());
                }
                if check_polygon(&z.polygon, &format!("{zp}.polygon"), &mut push) && !s.polygon.encloses(&z.polygon) {
                    push(format!("{zp}.polygon"), "zone is not inside its store's polygon".into());
                }
                for (k, other) in s.zones.iter().enumerate().skip(j + 1) {
                    if z.polygon.0.len() >= 3 && other.polygon.0.len() >= 3 && z.polygon.overlaps(&other.polygon) {
                        push(format!("{zp}.polygon"), format!("overlaps zone zones[{k}] (id {:?})", other.id));
                    }
                }
            }
            for (k, other) in self.stores.iter().enumerate().skip(i + 1) {
                if s.polygon.0.len() >= 3 && other.polygon.0.len() >= 3 && s.polygon.overlaps(&other.polygon) {
                    push(format!("{p}.polygon"), format!("overlaps store stores[{k}] (id {:?})", other.id));
                }
            }
        }
        let mut competitors = Vec::with_capacity(self.stores.len());
        for (i, s) in self.stores.iter().enumerate() {
            let list: Vec<u16> = match &s.competitors {
                Some(ids) => ids
                    .iter()
                    .filter_map(|c| match store_by_id.get(c) {
                        Some(&k) if k as usize == i => {
                            push(format!("{}.competitors", store_path(i, s)), "a store cannot compete with itself".into());
                            None
                        }
                        Some(&k) => Some(k),
                        None => {
                            push(format!("{}.competitors", store_path(i, s)), format!("unknown store id {c:?}"));
                            None
                        }
                    })
                    .collect(),
                None => (0..self.stores.len()).filter(|&k| k != i && self.stores[k].category == s.category).map(|k| k as u16).collect(),
            };
            competitors.push(list);
        }
        let mut sensor_by_id = HashMap::new();
        let mut sensor_store = Vec::new();
        let mut sensor_zone = Vec::new();
        if self.sensors.len() > u16::MAX as usize {
            push("sensors".into(), "more than 65535 sensors".into());
        }
        for (i, se) in self.sensors.iter().enumerate() {
            let p = format!("sensors[{i}] (id {:?})", se.id);
            if se.id.trim().is_empty() {
                push(format!("sensors[{i}].id"), "must not be empty".into());
            } else if sensor_by_id.insert(se.id.clone(), i as u16).is_some() {
                push(format!("{p}.id"), "duplicate sensor id".into());
            }
            let at = Point::new(se.x, se.y);
            let containing: Vec<&Store> = self.stores.iter().filter(|s| s.polygon.0.len() >= 3 && s.polygon.contains(at)).collect();
            match store_by_id.get(&se.store) {
                None => {
                    push(format!("{p}.store"), format!("unknown store id {:?}", se.store));
                    sensor_store.push(0);
                    sensor_zone.push(None);
                }
                Some(&k) => {
                    let store = &self.stores[k as usize];
                    if containing.is_empty() {
                        push(format!("{p}.x/y"), format!("({}, {}) is outside every store", se.x, se.y));
                    } else if !containing.iter().any(|s| s.id == se.store) {
                        push(
                            format!("{p}.x/y"),
                            format!("({}, {}) lies in store {:?}, not in its store {:?}", se.x, se.y, containing[0].id, se.store),
                        );
                    }
                    sensor_store.push(k);
                    sensor_zone.push(store.zones.iter().position(|z| z.polygon.contains(at)).map(|z| z as u16));
                }
            }
            if let Some(v) = se.visitor_rssi
                && !(-120..=0).contains(&v)
            {
                push(format!("{p}.visitor_rssi"), format!("{v} dBm is not a plausible threshold (-120..0)"));
            }
            if let Some(m) = &se.mac
                && crate::mac::MacAddr::parse(m).is_err()
            {
                push(format!("{p}.mac"), format!("{m:?} is not a MAC address"));
            }
        }
        for (j, &[x, y]) in self.entrances.iter().enumerate() {
            if !(x.is_finite() && y.is_finite()) {
                push(format!("entrances[{j}]"), "coordinates must be finite numbers".into());
            } else if let Some((i, s)) =
                self.stores.iter().enumerate().find(|(_, s)| s.polygon.0.len() >= 3 && s.polygon.side(Point::new(x, y)) == Side::Inside)
            {
                push(
                    format!("entrances[{j}]"),
                    format!("({x}, {y}) lies inside {}: a venue entrance is in the public space", store_path(i, s)),
                );
            }
        }
        if let Some(g) = &self.geo {
            for (field, why) in g.check() {
                push(format!("geo.{field}"), why);
            }
        }
        if !issues.is_empty() {
            return Err(SiteError::Invalid(issues));
        }
        self.index = SiteIndex { tz, sensor_by_id, sensor_store, sensor_zone, store_by_id, competitors };
        Ok(self)
    }

    pub fn tz(&self) -> Tz {
        self.index.tz.unwrap_or(chrono_tz::UTC)
    }

    /// Index of a sensor by its id.
    pub fn sensor_index(&self, id: &str) -> Option<u16> {
        self.index.sensor_by_id.get(id).copied()
    }

    /// Index of the store a sensor belongs to.
    pub fn sensor_store(&self, sensor: u16) -> u16 {
        self.index.sensor_store[sensor as usize]
    }

    /// Index (within its store) of the zone a sensor sits in.
    pub fn sensor_zone(&self, sensor: u16) -> Option<u16> {
        self.index.sensor_zone[sensor as usize]
    }

    pub fn store_index(&self, id: &str) -> Option<u16> {
        self.index.store_by_id.get(id).copied()
    }

    /// Competitor store indexes of a store (explicit list, or same category).
    pub fn competitors(&self, store: u16) -> &[u16] {
        &self.index.competitors[store as usize]
    }

    /// Canonical JSON for storing beside the data.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn check_polygon(p: &Polygon, path: &str, push: &mut impl FnMut(String, String)) -> bool {
    if p.0.len() < 3 {
        push(path.to_string(), format!("a polygon needs at least 3 points, got {}", p.0.len()));
        return false;
    }
    if p.0.iter().any(|q| !q.x.is_finite() || !q.y.is_finite()) {
        push(path.to_string(), "coordinates must be finite numbers".into());
        return false;
    }
    if p.area() <= 0.0 {
        push(path.to_string(), "polygon has zero area".into());
        return false;
    }
    true
}

impl fmt::Display for SiteIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_json(extra_zone: &str, sensor_x: f64, sensor_store: &str) -> String {
        format!(
            r#"{{"venue":"Test","timezone":"Europe/Paris",
            "stores":[
              {{"id":"s1","name":"One","category":"fashion","polygon":[[0,0],[10,0],[10,10],[0,10]],
                "opening_hours":{{"default":"10:00-20:00","sun":"closed"}},
                "zones":[{{"id":"front","name":"Front","polygon":[[0,0],[10,0],[10,5],[0,5]]}}{extra_zone}]}},
              {{"id":"s2","name":"Two","category":"fashion","polygon":[[10,0],[20,0],[20,10],[10,10]]}}
            ],
            "sensors":[{{"id":"a","x":{sensor_x},"y":2,"store":"{sensor_store}"}},{{"id":"b","x":15,"y":5,"store":"s2"}}]}}"#
        )
    }

    #[test]
    fn valid_site_builds_indexes() {
        let s = Site::from_json(&site_json("", 5.0, "s1")).unwrap();
        assert_eq!(s.sensor_index("b"), Some(1));
        assert_eq!(s.sensor_store(1), 1);
        assert_eq!(s.sensor_zone(0), Some(0));
        assert_eq!(s.sensor_zone(1), None);
        assert_eq!(s.competitors(0), &[1]);
        assert_eq!(s.stores[0].opening_hours.on(Weekday::Sun), None);
        assert_eq!(s.stores[0].opening_hours.on(Weekday::Mon), Some(Hours { open_min: 600, close_min: 1200 }));
    }

    #[test]
    fn errors_name_store_field_and_reason() {
        let overlapping = r#",{"id":"back","name":"Back","polygon":[[0,4],[10,4],[10,10],[0,10]]}"#;
        let err = Site::from_json(&site_json(overlapping, 50.0, "s9")).unwrap_err().to_string();
        assert!(err.contains(r#"stores[0] (id "s1").zones[0] (id "front").polygon: overlaps zone zones[1] (id "back")"#), "{err}");
        assert!(err.contains(r#"sensors[0] (id "a").store: unknown store id "s9""#), "{err}");
        let err = Site::from_json(&site_json("", 50.0, "s1")).unwrap_err().to_string();
        assert!(err.contains("outside every store"), "{err}");
        let err = Site::from_json(&site_json("", 15.0, "s1")).unwrap_err().to_string();
        assert!(err.contains(r#"lies in store "s2", not in its store "s1""#), "{err}");
    }

    #[test]
    fn venue_entrances_are_in_the_public_space() {
        let with = |e: &str| site_json("", 5.0, "s1").replacen(r#""sensors""#, &format!(r#""entrances":{e},"sensors""#), 1);
        let s = Site::from_json(&with("[[-2,5],[10,12]]")).unwrap();
        assert_eq!(s.entrances, vec![[-2.0, 5.0], [10.0, 12.0]]);
        assert!(s.to_json().contains("entrances"));
        // On a store's edge is fine (a door in the façade); inside a store is not.
        assert!(Site::from_json(&with("[[0,5]]")).is_ok());
        let err = Site::from_json(&with("[[-2,5],[15,5]]")).unwrap_err().to_string();
        assert!(err.contains(r#"entrances[1]: (15, 5) lies inside stores[1] (id "s2")"#), "{err}");
        assert!(!Site::from_json(&site_json("", 5.0, "s1")).unwrap().to_json().contains("entrances"));
    }

    #[test]
    fn json_errors_have_positions() {
        let err = Site::from_json("{\n  \"venue\": 3\n}").unwrap_err();
        match err {
            SiteError::Json { line, .. } => assert_eq!(line, 2),
            other => panic!("{other}"),
        }
    }
}
