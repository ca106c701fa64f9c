//! The simulated mall's geometry: one east-west corridor, stores alternating south and north
//! of it, three zones per store by depth, one sensor per zone, and the validated
//! [`footfall_core::Site`] built from them.
//!
//! This module owns coordinates (metres), door points, the mall's two entrances (at the ends
//! of the corridor, also written to the site as its venue `entrances`) and the fast "where is this point"
//! lookup used by radio and truth. It must not know about people, radio or time.

use crate::SimError;
use crate::rng::Rng;
use footfall_core::Site;
use footfall_core::geo::GeoRef;
use footfall_core::geometry::{Point, Polygon};
use footfall_core::site::{OpeningHours, Sensor, Store, Zone};

/// Width of every store along the corridor, m.
pub const STORE_WIDTH: f64 = 12.0;
/// Depth of every store from its façade, m.
pub const STORE_DEPTH: f64 = 15.0;
/// Depth of each of the three zones, m.
pub const ZONE_DEPTH: f64 = 5.0;
/// South façade line (south stores span y in [0, 15]).
pub const CORRIDOR_SOUTH: f64 = 15.0;
/// North façade line (north stores span y in [23, 38]).
pub const CORRIDOR_NORTH: f64 = 23.0;
/// The corridor centre line people walk along.
pub const CORRIDOR_MID: f64 = 19.0;

const CATEGORIES: [&str; 8] = ["fashion", "beauty", "fashion", "electronics", "beauty", "books", "fashion", "sports"];
/// Where the simulated mall sits: a made-up place on the Earth, corridor running east.
pub const GEO: GeoRef = GeoRef { lat: 48.8566, lon: 2.3522, bearing_deg: 90.0 };
/// Zone ids from the façade inwards.
pub const ZONE_IDS: [&str; 3] = ["front", "middle", "cashier"];

fn zone_names(category: &str) -> [&'static str; 3] {
    match category {
        "fashion" => ["Entrance display", "Racks & fitting rooms", "Cashier"],
        "beauty" => ["Testers", "Shelves", "Cashier"],
        "electronics" => ["Demo tables", "Accessories", "Cashier"],
        "books" => ["New releases", "Shelves", "Cashier"],
        _ => ["Footwear", "Apparel", "Cashier"],
    }
}

/// Where a point is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The corridor (or just outside an entrance): in no store.
    Corridor,
    Store(u16),
}

/// One store's geometry.
#[derive(Clone, Debug)]
pub struct StoreGeom {
    pub north: bool,
    /// West edge, m.
    pub x0: f64,
    /// Middle of the façade, on the store boundary.
    pub door: Point,
}

/// The mall: geometry plus the validated site.
#[derive(Clone, Debug)]
pub struct Layout {
    pub site: Site,
    pub stores: Vec<StoreGeom>,
    /// Corridor length (x from 0 to this), m.
    pub length: f64,
    /// West and east entrances on the corridor centre line.
    pub entrances: [Point; 2],
    /// Sensor positions and store indexes, in `site.sensors` order (store-major, zone order).
    pub sensors: Vec<(Point, u16)>,
}

impl Layout {
    pub fn new(stores: usize, timezone: &str) -> Result<Layout, SimError> {
        let length = STORE_WIDTH * stores.div_ceil(2) as f64;
        let mut geoms = Vec::new();
        let mut site_stores = Vec::new();
        let mut sensors = Vec::new();
        let mut per_cat = std::collections::HashMap::new();
        for i in 0..stores {
            let north = i % 2 == 1;
            let x0 = STORE_WIDTH * (i / 2) as f64;
            let (y0, door_y) = if north { (CORRIDOR_NORTH, CORRIDOR_NORTH) } else { (0.0, CORRIDOR_SOUTH) };
            let g = StoreGeom { north, x0, door: Point::new(x0 + STORE_WIDTH / 2.0, door_y) };
            let category = CATEGORIES[i % CATEGORIES.len()];
            let n = per_cat.entry(category).or_insert(0);
            *n += 1;
            let names = zone_names(category);
            let zones = (0..3)
                .map(|z| {
                    let (zx0, zy0, zx1, zy1) = zone_rect(&g, z);
                    Zone { id: ZONE_IDS[z].into(), name: names[z].into(), polygon: Polygon::rect(zx0, zy0, zx1 - zx0, zy1 - zy0) }
                })
                .collect::<Vec<_>>();
            sensors.extend(zones.iter().map(|z| (z.polygon.centroid(), i as u16)));
            site_stores.push(Store {
                id: format!("s{}", i + 1),
                name: format!("{}{} {}", category[..1].to_uppercase(), &category[1..], n),
                category: category.into(),
                polygon: Polygon::rect(x0, y0, STORE_WIDTH, STORE_DEPTH),
                opening_hours: OpeningHours(
                    [("default".to_string(), "10:00-20:00".to_string()), ("sun".to_string(), "closed".to_string())].into(),
                ),
                competitors: None,
                zones,
                entrances: vec![[g.door.x, g.door.y]],
            });
            geoms.push(g);
        }
        let site_sensors: Vec<Sensor> = sensors
            .iter()
            .enumerate()
            .map(|(k, (p, s))| Sensor {
                id: format!("s{}-{}", s + 1, ZONE_IDS[k % 3]),
                mac: None,
                x: p.x,
                y: p.y,
                store: format!("s{}", s + 1),
                visitor_rssi: None,
            })
            .collect();
        let entrances = [Point::new(0.0, CORRIDOR_MID), Point::new(length, CORRIDOR_MID)];
        let site: Site = serde_json::from_value(serde_json::json!({
            "venue": "Footfall Sim Mall",
            "timezone": timezone,
            "stores": site_stores,
            "sensors": site_sensors,
            "geo": GEO,
            "entrances": entrances.map(|e| [e.x, e.y]),
        }))
        .map_err(|source| SimError::Json { what: "site", source })?;
        let site = site.validated()?;
        Ok(Layout { site, stores: geoms, length, entrances, sensors })
    }

    /// Which store a point is in (boundaries count as inside, like `Polygon::contains`).
    pub fn place(&self, p: Point) -> Place {
        let north = if p.y <= CORRIDOR_SOUTH && p.y >= 0.0 {
            false
        } else if p.y >= CORRIDOR_NORTH && p.y <= CORRIDOR_NORTH + STORE_DEPTH {
            true
        } else {
            return Place::Corridor;
        };
        if p.x < 0.0 || p.x > self.length {
            return Place::Corridor;
        }
        let col = ((p.x / STORE_WIDTH) as usize).min((self.length / STORE_WIDTH) as usize - 1);
        let i = col * 2 + north as usize;
        if i < self.stores.len() { Place::Store(i as u16) } else { Place::Corridor }
    }

    /// Stores whose door is within `radius` of `p`.
    pub fn doors_within(&self, p: Point, radius: f64) -> impl Iterator<Item = u16> + '_ {
        let lo = ((p.x - radius - STORE_WIDTH / 2.0) / STORE_WIDTH).ceil().max(0.0) as usize;
        let hi = ((p.x + radius - STORE_WIDTH / 2.0) / STORE_WIDTH).floor();
        let hi = if hi < 0.0 { 0 } else { hi as usize + 1 };
        (lo * 2..(hi * 2).min(self.stores.len())).filter(move |&i| self.stores[i].door.dist(p) <= radius).map(|i| i as u16)
    }

    /// A uniform point in a zone of a store, at least `margin` m from its edges.
    pub fn random_point(&self, store: u16, zone: usize, margin: f64, rng: &mut Rng) -> Point {
        let (x0, y0, x1, y1) = zone_rect(&self.stores[store as usize], zone);
        Point::new(rng.range(x0 + margin, x1 - margin), rng.range(y0 + margin, y1 - margin))
    }
}

/// Zone `z` (0 front, 1 middle, 2 cashier) of a store as (x0, y0, x1, y1).
pub fn zone_rect(g: &StoreGeom, z: usize) -> (f64, f64, f64, f64) {
    let d0 = ZONE_DEPTH * z as f64;
    let d1 = d0 + ZONE_DEPTH;
    let (ya, yb) = if g.north { (CORRIDOR_NORTH + d0, CORRIDOR_NORTH + d1) } else { (CORRIDOR_SOUTH - d1, CORRIDOR_SOUTH - d0) };
    (g.x0, ya, g.x0 + STORE_WIDTH, yb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::geometry::Side;

    #[test]
    fn layout_validates_with_a_sensor_in_each_zone() {
        for n in [1, 2, 7, 8, 40] {
            let l = Layout::new(n, "Europe/Paris").unwrap();
            let site = &l.site;
            assert_eq!(site.stores.len(), n);
            assert_eq!(site.sensors.len(), 3 * n);
            for k in 0..site.sensors.len() {
                let k = k as u16;
                assert_eq!(site.sensor_store(k) as usize, k as usize / 3);
                assert_eq!(site.sensor_zone(k), Some(k % 3));
            }
            assert_eq!(l.length, 12.0 * n.div_ceil(2) as f64);
        }
        let l = Layout::new(8, "Europe/Paris").unwrap();
        assert_eq!(l.site.sensors[4].id, "s2-middle");
        assert_eq!(l.site.stores[3].category, "electronics");
        assert_eq!(l.site.stores[2].name, "Fashion 2");
        assert_eq!(l.site.competitors(0), &[2, 6]);
        assert_eq!(l.stores[1].door, Point::new(6.0, 23.0));
        assert_eq!(l.site.stores[0].zones[2].id, "cashier");
        // The site lists the mall's own entrances, where shoppers come in and leave.
        assert_eq!(l.site.entrances, vec![[0.0, CORRIDOR_MID], [48.0, CORRIDOR_MID]]);
        assert_eq!(l.entrances.map(|e| [e.x, e.y]).to_vec(), l.site.entrances);
    }

    #[test]
    fn place_agrees_with_polygons() {
        let l = Layout::new(7, "UTC").unwrap();
        let mut rng = Rng::new(1);
        for _ in 0..5000 {
            let p = Point::new(rng.range(-2.0, l.length + 2.0), rng.range(-1.0, 40.0));
            let by_poly = l.site.stores.iter().position(|s| s.polygon.side(p) == Side::Inside);
            match (l.place(p), by_poly) {
                (Place::Store(i), Some(j)) => assert_eq!(i as usize, j),
                (Place::Corridor, None) => {}
                other => panic!("{p:?}: {other:?}"),
            }
        }
        let p = Point::new(17.0, 19.0);
        let near: Vec<u16> = l.doors_within(p, 8.0).collect();
        assert_eq!(near, vec![2, 3]);
        assert_eq!(l.doors_within(Point::new(0.0, 19.0), 8.0).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(l.doors_within(Point::new(l.length, 19.0), 8.0).collect::<Vec<_>>(), vec![6]);
    }
}
