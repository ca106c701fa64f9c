//! Behaviour: where shoppers and staff are, second by second.
//!
//! This module owns the movement model (arrivals, target stores, walking along the corridor,
//! browsing between zone points, buying at the cashier, staff shifts) and turns it into a
//! [`Track`] sampled at 1 s. It must not know about radio, MAC addresses or output formats;
//! every random choice comes from the [`Rng`] it is handed.

use crate::layout::{CORRIDOR_MID, Layout};
use crate::rng::Rng;
use footfall_core::Millis;
use footfall_core::geometry::Point;

/// Walking speed inside stores, m/s.
pub const INDOOR_SPEED: f64 = 0.8;
/// Weights of visiting 0, 1, 2, 3 or 4 stores.
pub const TARGET_COUNT_WEIGHTS: [f64; 5] = [0.15, 0.37, 0.28, 0.13, 0.07];
/// Share of store entries that are short bounces (under 2 min).
pub const BOUNCE_SHARE: f64 = 0.19;

/// Positions at whole seconds from `t0` (UTC ms, a whole second).
#[derive(Clone, Debug)]
pub struct Track {
    pub t0: Millis,
    pub samples: Vec<Point>,
}

impl Track {
    /// Time of the last sample.
    pub fn end(&self) -> Millis {
        self.t0 + (self.samples.len() as i64 - 1).max(0) * 1000
    }

    /// Position at `ts`, interpolated between samples and clamped to the track.
    pub fn at(&self, ts: Millis) -> Point {
        let x = ((ts - self.t0) as f64 / 1000.0).max(0.0);
        let k = x as usize;
        match (self.samples.get(k), self.samples.get(k + 1)) {
            (Some(a), Some(b)) => {
                let f = x - k as f64;
                Point::new(a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f)
            }
            _ => self.samples.last().copied().unwrap_or(Point::new(0.0, CORRIDOR_MID)),
        }
    }
}

/// A piecewise-linear path: key points with the time (s from the start) they are reached.
struct Path {
    t: f64,
    pos: Point,
    keys: Vec<(f64, Point)>,
}

impl Path {
    fn new(p: Point) -> Self {
        Self { t: 0.0, pos: p, keys: vec![(0.0, p)] }
    }

    fn walk(&mut self, to: Point, speed: f64) {
        self.t += self.pos.dist(to) / speed;
        self.pos = to;
        self.keys.push((self.t, to));
    }

    fn stay(&mut self, secs: f64) {
        self.t += secs.max(0.0);
        self.keys.push((self.t, self.pos));
    }

    fn sample(&self, t0: Millis) -> Track {
        let n = self.t.floor() as usize + 1;
        let mut samples = Vec::with_capacity(n);
        let mut j = 0;
        for k in 0..n {
            let t = k as f64;
            while j + 1 < self.keys.len() && self.keys[j + 1].0 < t {
                j += 1;
            }
            let (ta, a) = self.keys[j];
            let p = match self.keys.get(j + 1) {
                Some(&(tb, b)) if tb > ta => {
                    let f = ((t - ta) / (tb - ta)).clamp(0.0, 1.0);
                    Point::new(a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f)
                }
                Some(&(_, b)) => b,
                None => a,
            };
            samples.push(p);
        }
        Track { t0, samples }
    }
}

/// A shopper's day: the track and the purchases (store, time).
#[derive(Clone, Debug)]
pub struct ShopperPlan {
    pub track: Track,
    pub purchases: Vec<(u16, Millis)>,
}

/// Seconds after opening: a uniform background plus a midday and an evening peak.
fn arrival_offset(span: f64, rng: &mut Rng) -> f64 {
    let last = (span - 300.0).max(60.0);
    for _ in 0..20 {
        let x = match rng.weighted(&[0.25, 0.4, 0.35]) {
            0 => rng.range(0.0, last),
            1 => rng.normal(3.0 * 3600.0, 1.1 * 3600.0),
            _ => rng.normal(span - 2.5 * 3600.0, 1.2 * 3600.0),
        };
        if (0.0..last).contains(&x) {
            return x;
        }
    }
    rng.range(0.0, last)
}

/// Time spent inside a store, s: a bounce or lognormal browsing (median 12 min).
pub fn browse_secs(rng: &mut Rng) -> f64 {
    if rng.chance(BOUNCE_SHARE) { rng.range(20.0, 115.0) } else { rng.lognormal(720.0, 0.8).clamp(30.0, 7200.0) }
}

/// One shopper arriving between `open` and `close` (UTC ms): walk the corridor, visit up to
/// four stores chosen by `popularity`, buy with probability `buy_p[store]`, leave.
pub fn shopper(layout: &Layout, popularity: &[f64], buy_p: &[f64], open: Millis, close: Millis, rng: &mut Rng) -> ShopperPlan {
    let span = ((close - open) / 1000) as f64;
    let arrive = arrival_offset(span, rng).floor();
    let t0 = open + arrive as i64 * 1000;
    let close_t = span - arrive;
    let speed = rng.range(0.9, 1.4);
    let from = rng.below(2) as usize;
    let mut path = Path::new(layout.entrances[from]);
    let n = rng.weighted(&TARGET_COUNT_WEIGHTS).min(layout.stores.len());
    let mut w = popularity.to_vec();
    let mut targets: Vec<u16> = (0..n)
        .map(|_| {
            let i = rng.weighted(&w);
            w[i] = 0.0;
            i as u16
        })
        .collect();
    if rng.chance(0.7) {
        let dir = if from == 0 { 1.0 } else { -1.0 };
        targets.sort_by(|a, b| {
            let (xa, xb) = (layout.stores[*a as usize].door.x, layout.stores[*b as usize].door.x);
            (dir * xa).total_cmp(&(dir * xb))
        });
    }
    let mut purchases = Vec::new();
    for &s in &targets {
        if path.t > close_t - 120.0 {
            break;
        }
        let door = layout.stores[s as usize].door;
        path.walk(Point::new(door.x, CORRIDOR_MID), speed);
        path.walk(door, speed);
        let budget = browse_secs(rng).min(close_t + 600.0 - path.t).max(30.0);
        let buys = budget >= 180.0 && rng.chance(buy_p[s as usize]);
        if let Some(t) = browse_store(&mut path, layout, s, budget, buys, rng) {
            purchases.push((s, t0 + (t * 1000.0).round() as i64));
        }
        path.walk(Point::new(door.x, CORRIDOR_MID), speed);
    }
    let exit = if targets.is_empty() {
        1 - from
    } else if rng.chance(0.7) {
        (path.pos.x > layout.length / 2.0) as usize
    } else {
        rng.below(2) as usize
    };
    path.walk(layout.entrances[exit], speed);
    ShopperPlan { track: path.sample(t0), purchases }
}

/// Browse a store for about `budget` s from its door, moving between zone points; a buyer
/// ends at the cashier zone. Returns the purchase time (s on the path's clock).
fn browse_store(path: &mut Path, layout: &Layout, s: u16, budget: f64, buys: bool, rng: &mut Rng) -> Option<f64> {
    let door = layout.stores[s as usize].door;
    let end = path.t + budget;
    let cash_stay = if buys { rng.range(60.0, 180.0) } else { 0.0 };
    let reserve = if buys { cash_stay + 30.0 } else { 0.0 };
    let mut first = true;
    loop {
        let zone = if budget < 120.0 { 0 } else { rng.weighted(&[0.45, 0.4, 0.15]) };
        let p = layout.random_point(s, zone, 0.5, rng);
        let left = end - reserve - path.t - (path.pos.dist(p) + p.dist(door)) / INDOOR_SPEED;
        if left < 10.0 && !first {
            break;
        }
        path.walk(p, INDOOR_SPEED);
        path.stay(rng.range(60.0, 300.0).min(left).max(5.0));
        first = false;
    }
    let bought = buys.then(|| {
        path.walk(layout.random_point(s, 2, 0.5, rng), INDOOR_SPEED);
        path.stay(cash_stay);
        path.t
    });
    path.walk(door, INDOOR_SPEED);
    bought
}

/// A staff member's shift in store `s` from `start` to about `end` (UTC ms, whole seconds):
/// moving between the store's zones, now and then stepping out into the corridor. They come
/// and go through the back (the cashier zone).
pub fn staff(layout: &Layout, s: u16, start: Millis, end: Millis, rng: &mut Rng) -> Track {
    let dur = ((end - start) / 1000) as f64;
    let door = layout.stores[s as usize].door;
    let mut path = Path::new(layout.random_point(s, 2, 0.5, rng));
    while path.t < dur {
        if rng.chance(0.08) {
            path.walk(door, 1.0);
            let x = (door.x + rng.range(-8.0, 8.0)).clamp(0.5, layout.length - 0.5);
            path.walk(Point::new(x, CORRIDOR_MID + rng.range(-3.0, 3.0)), 1.0);
            path.stay(rng.range(60.0, 300.0));
            path.walk(door, 1.0);
        } else {
            path.walk(layout.random_point(s, rng.weighted(&[0.4, 0.3, 0.3]), 0.5, rng), INDOOR_SPEED);
            path.stay(rng.range(120.0, 900.0));
        }
    }
    path.sample(start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Place;

    #[test]
    fn path_sampling_and_interpolation() {
        let mut p = Path::new(Point::new(0.0, 19.0));
        p.walk(Point::new(10.0, 19.0), 2.0);
        p.stay(3.0);
        let tr = p.sample(5000);
        assert_eq!(tr.samples.len(), 9);
        assert_eq!(tr.samples[2], Point::new(4.0, 19.0));
        assert_eq!(tr.samples[8], Point::new(10.0, 19.0));
        assert_eq!(tr.at(6500), Point::new(3.0, 19.0));
        assert_eq!(tr.at(0), Point::new(0.0, 19.0));
        assert_eq!(tr.at(99_000), Point::new(10.0, 19.0));
        assert_eq!(tr.end(), 13_000);
    }

    #[test]
    fn shoppers_start_and_end_at_entrances_and_stay_in_the_mall() {
        let l = Layout::new(6, "UTC").unwrap();
        let pop = vec![1.0; 6];
        let buy = vec![0.5; 6];
        let mut rng = Rng::new(9);
        let (open, close) = (36_000_000, 72_000_000);
        let mut bought = 0;
        for _ in 0..200 {
            let plan = shopper(&l, &pop, &buy, open, close, &mut rng);
            let s = &plan.track.samples;
            assert!(l.entrances.contains(&s[0]));
            assert!(l.entrances.iter().any(|e| e.dist(s[s.len() - 1]) < 1.5));
            assert!(plan.track.t0 >= open && plan.track.t0 < close);
            assert!(plan.track.end() < close + 2 * 3600 * 1000);
            assert!(s.iter().all(|p| p.x >= 0.0 && p.x <= l.length && p.y >= 0.0 && p.y <= 38.0));
            for &(store, ts) in &plan.purchases {
                let at = plan.track.at(ts);
                assert_eq!(l.place(at), Place::Store(store));
                assert!(at.y < 6.0 || at.y > 32.0, "purchase in the cashier zone");
            }
            bought += plan.purchases.len();
        }
        assert!(bought > 20);
        let t = staff(&l, 3, open, close, &mut rng);
        assert!(t.samples.len() >= 36_000);
        let inside = t.samples.iter().filter(|p| l.place(**p) == Place::Store(3)).count();
        assert!(inside as f64 > 0.8 * t.samples.len() as f64);
    }
}
