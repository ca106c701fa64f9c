//! App path: one device's track of location pings → the [`Fix`]es of the stores it was in and
//! walked past, decided over the whole track rather than ping by ping.
//!
//! Each ping's true position is taken as a 2-D Gaussian around the reported one whose 68%
//! radius is the reported accuracy (σ = accuracy / 1.509 per axis), represented by 96 equally
//! likely points (8 rings of equal probability × 12 directions). The share of those points in
//! a region is the ping's likelihood of that region. The regions are the stores and *outside*
//! (in no store). A hidden Markov model over those regions, decoded with Viterbi, chooses
//! where the device was at each ping: a device stays where it is with probability
//! `exp(-dt / store_stay_s)` in a store and `exp(-dt / outside_stay_s)` outside (dt: the time
//! since the previous ping), leaves the public space with probability
//! `1 - exp(-dt / outside_stay_s)` and then enters any one of the `k` stores with probability
//! `1 / k` (so the enter probabilities of all stores sum to that of leaving the public space),
//! and going from store to store costs a leave and an enter.
//! So one stray ping in the neighbouring store or a corridor walker's ping behind a façade is
//! outvoted by the pings around it, and a stay needs a run of pings that agree.
//!
//! From the decoded regions: a stay in a store gives *inside* fixes (zone: the zone holding at
//! least half of the ping's points in the store), and it starts and ends halfway between its
//! first (last) ping and the ping before (after) it, when they are at most `bridge_s` apart,
//! since the door was crossed somewhere in between. The walked path joins consecutive pings
//! at most `bridge_s` apart: an outside ping stands at the mean of its points in no store; a
//! ping in a store is reached through the store's nearest entrance, walking
//! straight at it over the last `APPROACH_M` (3 m), and a walk from one store to another runs
//! from the point `APPROACH_M` in front of one door to that in front of the other (through the
//! public space, not along the façades). Every metre of that path
//! outside the stores within `near_m` of a store's entrance (its polygon when it lists none)
//! makes a *near* fix at the interpolated time, as do outside pings themselves. Walk-bys take
//! seconds and pings come tens of seconds apart, so most walk-bys are seen on that path; a
//! track whose first (last) two pings are outside also walks on half its mean ping interval
//! before (after) them along that leg, at most `MAX_SPEED`, since pings start at a random phase.
//! When the site lists the venue's own `entrances`, a track instead walks in from one of them
//! to its first ping and out from its last ping to one (to the front of the door of the store
//! that ping is in, when it is in one): the shopper passed the stores between the mall's door
//! and the first ping before the app first reported. The entrance is the one nearest the
//! ping, less the detour of going on from it to the next (previous) ping (so a shopper seen
//! walking east came in from the west), among those within `MAX_SPEED` times one and a half
//! mean ping intervals (at most `bridge_s`) of it; with none in reach, the half-interval rule
//! above applies. A track of a single ping in the public space was passing through: it leaves
//! by another entrance, the one that makes its walk straightest (a shopper crossing the mall
//! in under a ping interval or two).
//! Points outside every store farther than `public_m` from every entrance (behind a store,
//! beyond the site) count `FAR_WEIGHT` (0.1) instead of 1 in the outside share.
//!
//! This module owns the model and the geometry it needs; it keeps no state between tracks
//! (see [`crate::geofence::AppTracker`]), does not decide what a visit is (the sessionizer
//! does) and never sees advertising IDs, only their pseudonyms.

use crate::geofence::GeofenceConfig;
use crate::locate::Fix;
use footfall_core::geometry::{Point, Polygon, segment_distance};
use footfall_core::{DeviceId, Millis, Site};
use serde::{Deserialize, Serialize};

/// One ping in site coordinates (m), with its horizontal accuracy (68% radius, m).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    pub ts: Millis,
    pub x: f64,
    pub y: f64,
    pub acc: f64,
}

const RINGS: usize = 8;
const DIRECTIONS: usize = 12;
/// Weight of a point outside every store and farther than `public_m` from every entrance:
/// behind a store or beyond the site, where shoppers rarely are.
const FAR_WEIGHT: f64 = 0.1;
/// Fastest walk assumed when extending a track before its first ping and after its last, m/s.
const MAX_SPEED: f64 = 1.5;
/// How far in front of a door the walk to it turns straight towards it, m.
const APPROACH_M: f64 = 3.0;
/// Walking speed that times the walk from a venue entrance to a track's first ping (and from
/// its last ping to the exit), m/s.
const WALK_SPEED: f64 = 1.2;
/// Ratio of the 68% radius of a 2-D Gaussian to its per-axis standard deviation.
const R68_PER_SIGMA: f64 = 1.509;

/// The equally likely offsets of a unit Gaussian (σ = 1 per axis).
fn unit_disc() -> Vec<Point> {
    let mut out = Vec::with_capacity(RINGS * DIRECTIONS);
    for k in 0..RINGS {
        // The ring at the median radius of its probability band.
        let q = (k as f64 + 0.5) / RINGS as f64;
        let r = (-2.0 * (1.0 - q).ln()).sqrt();
        for j in 0..DIRECTIONS {
            let a = std::f64::consts::TAU * (j as f64 + 0.5 * (k % 2) as f64) / DIRECTIONS as f64;
            out.push(Point::new(r * a.cos(), r * a.sin()));
        }
    }
    out
}

#[derive(Clone, Debug)]
struct StoreShape {
    polygon: Polygon,
    zones: Vec<Polygon>,
    entrances: Vec<Point>,
}

/// What one ping says: its disc points and the store each falls in.
struct Evidence {
    pts: Vec<Point>,
    at: Vec<Option<usize>>,
    /// Share of the points per store, then outside (last).
    share: Vec<f64>,
}

/// The site's stores as the model sees them.
#[derive(Clone, Debug, Default)]
pub struct Fence {
    shapes: Vec<StoreShape>,
    disc: Vec<Point>,
    /// The venue's entrances (site `entrances`), where tracks come in from and go out to.
    venue: Vec<Point>,
}

/// Point of segment `ab` nearest to `p`.
fn nearest_on(a: Point, b: Point, p: Point) -> Point {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    if len2 <= 1e-12 {
        return a;
    }
    let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0);
    Point::new(a.x + t * dx, a.y + t * dy)
}

fn ln_leave(dt_s: f64, stay_s: f64) -> f64 {
    (-(-dt_s / stay_s).exp_m1()).max(1e-12).ln()
}

impl Fence {
    pub fn new(site: &Site) -> Fence {
        Fence {
            shapes: site
                .stores
                .iter()
                .map(|s| StoreShape {
                    polygon: s.polygon.clone(),
                    zones: s.zones.iter().map(|z| z.polygon.clone()).collect(),
                    entrances: s.entrances.iter().map(|&[x, y]| Point::new(x, y)).collect(),
                })
                .collect(),
            disc: unit_disc(),
            venue: site.entrances.iter().map(|&[x, y]| Point::new(x, y)).collect(),
        }
    }

    /// The venue entrance a track came in through (went out through): the one that best
    /// explains its first (last) walked position `at` followed (preceded) by `then`, the one
    /// with the least `2·d(E, at) − d(E, then)` (the nearest to `at`, less the detour of
    /// walking from `E` to `then` by way of `at`), when it is within `reach` m of `at`.
    fn venue_entrance(&self, at: Point, then: Option<Point>, reach: f64) -> Option<Point> {
        let score = |e: &Point| 2.0 * e.dist(at) - then.map_or(e.dist(at), |q| e.dist(q));
        self.venue.iter().filter(|e| e.dist(at) <= reach).min_by(|a, b| score(a).total_cmp(&score(b))).copied()
    }

    fn store_at(&self, p: Point) -> Option<usize> {
        self.shapes.iter().position(|s| s.polygon.contains(p))
    }

    fn near(&self, s: usize, p: Point, near_m: f64) -> bool {
        let shape = &self.shapes[s];
        let d = if shape.entrances.is_empty() {
            shape.polygon.boundary_distance(p)
        } else {
            shape.entrances.iter().map(|e| e.dist(p)).fold(f64::INFINITY, f64::min)
        };
        d <= near_m
    }

    /// Where a walk from `from` enters store `s`: its nearest entrance, else the nearest
    /// point of its boundary.
    fn door(&self, s: usize, from: Point) -> Point {
        let shape = &self.shapes[s];
        if let Some(e) = shape.entrances.iter().min_by(|a, b| a.dist(from).total_cmp(&b.dist(from))) {
            return *e;
        }
        let v = &shape.polygon.0;
        (0..v.len())
            .map(|i| nearest_on(v[i], v[(i + 1) % v.len()], from))
            .min_by(|a, b| a.dist(from).total_cmp(&b.dist(from)))
            .unwrap_or(from)
    }

    /// The point `APPROACH_M` in front of a door (out along the normal of the nearest edge of
    /// store `s`): the last metres to a door are walked straight at it.
    fn front(&self, s: usize, door: Point) -> Point {
        let v = &self.shapes[s].polygon.0;
        let Some((a, b)) = (0..v.len())
            .map(|i| (v[i], v[(i + 1) % v.len()]))
            .min_by(|x, y| segment_distance(x.0, x.1, door).total_cmp(&segment_distance(y.0, y.1, door)))
        else {
            return door;
        };
        let len = a.dist(b).max(1e-9);
        let n = Point::new(-(b.y - a.y) / len, (b.x - a.x) / len);
        let out = Point::new(door.x + n.x * APPROACH_M, door.y + n.y * APPROACH_M);
        if self.shapes[s].polygon.contains(out) { Point::new(door.x - n.x * APPROACH_M, door.y - n.y * APPROACH_M) } else { out }
    }

    fn evidence(&self, p: &Ping, public_m: f64) -> Evidence {
        let sd = p.acc / R68_PER_SIGMA;
        let pts: Vec<Point> = self.disc.iter().map(|d| Point::new(p.x + d.x * sd, p.y + d.y * sd)).collect();
        let at: Vec<Option<usize>> = pts.iter().map(|q| self.store_at(*q)).collect();
        let mut share = vec![0.0; self.shapes.len() + 1];
        let unit = 1.0 / pts.len().max(1) as f64;
        for (q, a) in pts.iter().zip(&at) {
            match a {
                Some(s) => share[*s] += unit,
                None if (0..self.shapes.len()).any(|s| self.near(s, *q, public_m)) => share[self.shapes.len()] += unit,
                None => share[self.shapes.len()] += unit * FAR_WEIGHT,
            }
        }
        Evidence { pts, at, share }
    }

    /// The zone of store `s` holding at least half of the ping's points in `s`.
    fn zone(&self, e: &Evidence, s: usize) -> Option<u16> {
        let in_store: Vec<Point> = e.pts.iter().zip(&e.at).filter(|(_, a)| **a == Some(s)).map(|(p, _)| *p).collect();
        if in_store.is_empty() {
            return None;
        }
        self.shapes[s]
            .zones
            .iter()
            .enumerate()
            .map(|(z, poly)| (z, in_store.iter().filter(|p| poly.contains(**p)).count()))
            .max_by_key(|(_, c)| *c)
            .filter(|(_, c)| 2 * c >= in_store.len())
            .map(|(z, _)| z as u16)
    }

    /// Where an outside ping most likely stood: the mean of its points in no store.
    fn outside_position(&self, p: &Ping, e: &Evidence) -> Point {
        let out: Vec<Point> = e.pts.iter().zip(&e.at).filter(|(_, a)| a.is_none()).map(|(q, _)| *q).collect();
        if out.is_empty() {
            return Point::new(p.x, p.y);
        }
        let n = out.len() as f64;
        Point::new(out.iter().map(|q| q.x).sum::<f64>() / n, out.iter().map(|q| q.y).sum::<f64>() / n)
    }

    /// The most likely region at each ping (a store index, or `None` for outside).
    pub fn regions(&self, cfg: &GeofenceConfig, pings: &[Ping]) -> Vec<Option<usize>> {
        let ev: Vec<Evidence> = pings.iter().map(|p| self.evidence(p, cfg.public_m)).collect();
        self.viterbi(cfg, pings, &ev)
    }

    fn viterbi(&self, cfg: &GeofenceConfig, pings: &[Ping], ev: &[Evidence]) -> Vec<Option<usize>> {
        let n = pings.len();
        let k = self.shapes.len();
        let o = k;
        if n == 0 {
            return Vec::new();
        }
        let floor = 0.5 / self.disc.len() as f64;
        let emit = |i: usize, r: usize| ev[i].share[r].max(floor).ln();
        let (store_s, out_s) = (cfg.store_stay_s.max(1) as f64, cfg.outside_stay_s.max(1) as f64);
        // A track starts and ends outside (the device came in and went out through the mall),
        // at the cost of an enter (leave) over the neighbouring interval.
        let edge = |i: usize, j: usize| if n > 1 { (pings[j].ts - pings[i].ts).max(0) as f64 / 1000.0 } else { out_s };
        let (first_dt, last_dt) = (edge(0, 1.min(n - 1)), edge(n.saturating_sub(2), n - 1));
        // Entering *a given* store: the device leaves the public space with probability
        // `1 - exp(-dt / outside_stay_s)` and picks one of the `k` stores.
        let ln_pick = -(k.max(1) as f64).ln();
        let mut score: Vec<f64> = (0..=k).map(|r| if r == o { 0.0 } else { ln_leave(first_dt, out_s) + ln_pick } + emit(0, r)).collect();
        let mut back: Vec<Vec<usize>> = Vec::with_capacity(n);
        back.push((0..=k).collect());
        for i in 1..n {
            let dt = (pings[i].ts - pings[i - 1].ts).max(0) as f64 / 1000.0;
            let (s_stay, s_leave) = (-dt / store_s, ln_leave(dt, store_s));
            let (o_stay, o_enter) = (-dt / out_s, ln_leave(dt, out_s) + ln_pick);
            // The two best stores before this step, for store-to-store moves.
            let mut best: [(f64, usize); 2] = [(f64::NEG_INFINITY, usize::MAX); 2];
            for (s, &v) in score.iter().enumerate().take(k) {
                if v > best[0].0 {
                    best[1] = best[0];
                    best[0] = (v, s);
                } else if v > best[1].0 {
                    best[1] = (v, s);
                }
            }
            let mut next = vec![f64::NEG_INFINITY; k + 1];
            let mut from = vec![o; k + 1];
            // Outside: stay, or leave the best store.
            let (mut v, mut f) = (score[o] + o_stay, o);
            if best[0].1 != usize::MAX && best[0].0 + s_leave > v {
                (v, f) = (best[0].0 + s_leave, best[0].1);
            }
            next[o] = v + emit(i, o);
            from[o] = f;
            for s in 0..k {
                let (mut v, mut f) = (score[s] + s_stay, s);
                if score[o] + o_enter > v {
                    (v, f) = (score[o] + o_enter, o);
                }
                let other = if best[0].1 == s { best[1] } else { best[0] };
                if other.1 != usize::MAX && other.0 + s_leave + o_enter > v {
                    (v, f) = (other.0 + s_leave + o_enter, other.1);
                }
                next[s] = v + emit(i, s);
                from[s] = f;
            }
            score = next;
            back.push(from);
        }
        for v in score.iter_mut().take(k) {
            *v += ln_leave(last_dt, store_s);
        }
        let mut r = (0..=k).max_by(|a, b| score[*a].total_cmp(&score[*b]).then(b.cmp(a))).unwrap_or(o);
        let mut states = vec![o; n];
        for i in (0..n).rev() {
            states[i] = r;
            r = back[i][r];
        }
        states.into_iter().map(|s| (s != o).then_some(s)).collect()
    }

    /// The fixes of one device's track (pings in time order), in time order.
    pub fn decode(&self, cfg: &GeofenceConfig, device: DeviceId, pings: &[Ping]) -> Vec<Fix> {
        let ev: Vec<Evidence> = pings.iter().map(|p| self.evidence(p, cfg.public_m)).collect();
        let states = self.viterbi(cfg, pings, &ev);
        let pos: Vec<Point> = pings
            .iter()
            .zip(&ev)
            .zip(&states)
            .map(|((p, e), s)| if s.is_none() { self.outside_position(p, e) } else { Point::new(p.x, p.y) })
            .collect();
        let bridge = cfg.bridge_s as Millis * 1000;
        let bridged = |i: usize| pings[i].ts - pings[i - 1].ts <= bridge;
        let mid = |i: usize| pings[i - 1].ts + (pings[i].ts - pings[i - 1].ts) / 2;
        let fix = |t: Millis, store: usize, zone: Option<u16>, inside: bool| Fix {
            device,
            randomized: false,
            t0: t,
            t1: t,
            store: store as u16,
            zone,
            inside,
        };
        let mut out = Vec::new();
        // The device was already walking before its first ping and still after its last: the
        // pings start at a random phase, half an interval after the track did on average.
        let n = pings.len();
        let lead = if n >= 2 { ((pings[n - 1].ts - pings[0].ts) / (n as Millis - 1) / 2).min(bridge / 2) } else { 0 };
        let leg = |a: usize, b: usize| {
            let dt = (pings[b].ts - pings[a].ts) as f64 / 1000.0;
            let (dx, dy) = (pos[b].x - pos[a].x, pos[b].y - pos[a].y);
            let v = (dx * dx + dy * dy).sqrt() / dt.max(1e-3);
            let k = if v > MAX_SPEED { MAX_SPEED / v } else { 1.0 } / dt.max(1e-3) * lead as f64 / 1000.0;
            Point::new(dx * k, dy * k)
        };
        let ends_outside = |a: usize, b: usize| n >= 2 && states[a].is_none() && states[b].is_none() && bridged(1.max(a.max(b)));
        // Through the venue's entrances: a device that reports every `interval` came in at most
        // about an interval and a half before its first ping, so from an entrance within that
        // walk of it (and likewise went out after its last).
        let interval = if n >= 2 { (pings[n - 1].ts - pings[0].ts) as f64 / (n - 1) as f64 } else { bridge as f64 / 2.0 };
        let reach = MAX_SPEED * (1.5 * interval).min(bridge as f64) / 1000.0;
        // Where the walk from (to) the entrance meets the track at ping `i`: its outside
        // position, or the front of the door of its store nearest the entrance.
        let meet = |i: usize, e: Point| match states[i] {
            None => pos[i],
            Some(s) => self.front(s, self.door(s, e)),
        };
        let neighbour = |i: usize, j: usize| (j < n && i != j && (pings[i].ts - pings[j].ts).abs() <= bridge).then(|| pos[j]);
        let entry = (n > 0).then(|| self.venue_entrance(pos[0], neighbour(0, 1), reach)).flatten();
        let mut exit = (n > 0).then(|| self.venue_entrance(pos[n - 1], neighbour(n - 1, n.saturating_sub(2)), reach)).flatten();
        // A device seen once, in the public space, was passing through: it left by the entrance
        // that makes its walk straightest, not the one it came in by.
        if n == 1
            && states[0].is_none()
            && let Some(e) = entry
        {
            let detour = |x: &Point| e.dist(pos[0]) + pos[0].dist(*x) - e.dist(*x);
            let other = self.venue.iter().filter(|x| **x != e && x.dist(pos[0]) <= reach).min_by(|a, b| detour(a).total_cmp(&detour(b)));
            exit = other.copied().or(exit);
        }
        if let Some(e) = entry {
            let m = meet(0, e);
            let t = pings[0].ts - (e.dist(m) / WALK_SPEED * 1000.0) as Millis;
            self.walk(cfg, (e, t), (m, pings[0].ts), &fix, &mut out);
        } else if ends_outside(0, 1) {
            let d = leg(0, 1);
            self.walk(cfg, (Point::new(pos[0].x - d.x, pos[0].y - d.y), pings[0].ts - lead), (pos[0], pings[0].ts), &fix, &mut out);
        }
        for i in 0..pings.len() {
            if i > 0 && bridged(i) {
                let (t0, t1, tm) = (pings[i - 1].ts, pings[i].ts, mid(i));
                match (states[i - 1], states[i]) {
                    (None, None) => self.walk(cfg, (pos[i - 1], t0), (pos[i], t1), &fix, &mut out),
                    (None, Some(s)) => self.walk(cfg, (pos[i - 1], t0), (self.front(s, self.door(s, pos[i - 1])), tm), &fix, &mut out),
                    (Some(s), None) => self.walk(cfg, (self.front(s, self.door(s, pos[i])), tm), (pos[i], t1), &fix, &mut out),
                    (Some(a), Some(b)) if a != b => {
                        // Out of a's door, along the public space, in through b's: from the
                        // front of one to the front of the other.
                        let db = self.door(b, pos[i - 1]);
                        let da = self.door(a, db);
                        self.walk(cfg, (self.front(a, da), tm), (self.front(b, db), tm), &fix, &mut out)
                    }
                    _ => {}
                }
            }
            match states[i] {
                None => {
                    for s in 0..self.shapes.len() {
                        if self.near(s, pos[i], cfg.near_m) {
                            out.push(fix(pings[i].ts, s, None, false));
                        }
                    }
                }
                Some(s) => {
                    let mut f = fix(pings[i].ts, s, self.zone(&ev[i], s), true);
                    if i > 0 && states[i - 1] != Some(s) && bridged(i) {
                        f.t0 = mid(i);
                    }
                    if i + 1 < pings.len() && states[i + 1] != Some(s) && bridged(i + 1) {
                        f.t1 = mid(i + 1);
                    }
                    out.push(f);
                }
            }
        }
        if let Some(e) = exit {
            let m = meet(n - 1, e);
            let t = pings[n - 1].ts + (e.dist(m) / WALK_SPEED * 1000.0) as Millis;
            self.walk(cfg, (m, pings[n - 1].ts), (e, t), &fix, &mut out);
        } else if ends_outside(n.saturating_sub(2), n.saturating_sub(1)) {
            let d = leg(n - 2, n - 1);
            let last = pos[n - 1];
            self.walk(cfg, (last, pings[n - 1].ts), (Point::new(last.x + d.x, last.y + d.y), pings[n - 1].ts + lead), &fix, &mut out);
        }
        out
    }

    /// Near fixes along the straight walk from `a` (at `t0`) to `b` (at `t1`), one per store.
    fn walk(
        &self,
        cfg: &GeofenceConfig,
        (a, t0): (Point, Millis),
        (b, t1): (Point, Millis),
        fix: &impl Fn(Millis, usize, Option<u16>, bool) -> Fix,
        out: &mut Vec<Fix>,
    ) {
        let steps = a.dist(b).ceil().max(1.0) as usize;
        let mut seen = vec![false; self.shapes.len()];
        // Quick reject: stores whose entrances (or polygon) are far from the whole segment.
        let close: Vec<usize> = (0..self.shapes.len())
            .filter(|&s| {
                let sh = &self.shapes[s];
                if sh.entrances.is_empty() { true } else { sh.entrances.iter().any(|e| segment_distance(a, b, *e) <= cfg.near_m) }
            })
            .collect();
        if close.is_empty() {
            return;
        }
        for k in 1..steps {
            let f = k as f64 / steps as f64;
            let m = Point::new(a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f);
            if self.store_at(m).is_some() {
                continue;
            }
            let t = t0 + ((t1 - t0) as f64 * f) as Millis;
            for &s in &close {
                if !seen[s] && self.near(s, m, cfg.near_m) {
                    seen[s] = true;
                    out.push(fix(t, s, None, false));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two stores side by side on each side of a corridor (y 15-23).
    fn site() -> Site {
        Site::from_json(
            r#"{"venue":"T","timezone":"UTC","geo":{"lat":48.85,"lon":2.35,"bearing_deg":90},
            "stores":[
              {"id":"s1","name":"A","category":"c","polygon":[[0,0],[12,0],[12,15],[0,15]],"entrances":[[6,15]],
               "zones":[{"id":"front","name":"F","polygon":[[0,10],[12,10],[12,15],[0,15]]},{"id":"cashier","name":"C","polygon":[[0,0],[12,0],[12,5],[0,5]]}]},
              {"id":"s2","name":"B","category":"c","polygon":[[12,0],[24,0],[24,15],[12,15]],"entrances":[[18,15]]},
              {"id":"s3","name":"C","category":"c","polygon":[[0,23],[12,23],[12,38],[0,38]],"entrances":[[6,23]]},
              {"id":"s4","name":"D","category":"c","polygon":[[12,23],[24,23],[24,38],[12,38]],"entrances":[[18,23]]}],
            "sensors":[]}"#,
        )
        .unwrap()
    }

    fn ping(ts_s: i64, x: f64, y: f64, acc: f64) -> Ping {
        Ping { ts: ts_s * 1000, x, y, acc }
    }

    #[test]
    fn the_disc_is_a_gaussian() {
        let d = unit_disc();
        let within = |r: f64| d.iter().filter(|p| (p.x * p.x + p.y * p.y).sqrt() <= r).count() as f64 / d.len() as f64;
        // 68% radius of a 2-D unit Gaussian is 1.509.
        assert!((within(1.509) - 0.68).abs() < 0.07, "{}", within(1.509));
        let mean_x: f64 = d.iter().map(|p| p.x).sum::<f64>() / d.len() as f64;
        assert!(mean_x.abs() < 1e-9);
    }

    #[test]
    fn a_stray_ping_in_the_next_store_is_outvoted() {
        let f = Fence::new(&site());
        let cfg = GeofenceConfig::default();
        // Ten minutes near A's east wall, one ping every 30 s; the fifth lands well inside B.
        let mut pings: Vec<Ping> = (0..20).map(|k| ping(k * 30, 10.0, 8.0, 8.0)).collect();
        pings[5] = ping(150, 17.0, 8.0, 8.0);
        let r = f.regions(&cfg, &pings);
        assert!(r.iter().all(|s| *s == Some(0)), "{r:?}");
        // Taken alone, that ping is mostly in B: the track decides, not the ping.
        assert!(f.evidence(&pings[5], cfg.public_m).share[1] > 0.5);
    }

    #[test]
    fn a_short_run_in_the_store_next_door_does_not_split_a_stay() {
        let f = Fence::new(&site());
        let cfg = GeofenceConfig::default();
        // Twelve minutes in A, one ping every 30 s, with a run of `n` pings well inside B
        // (which shares A's east wall) from the ninth on. A hop to B and back costs two leaves
        // and two enters of B in particular, one of the four stores: a three-minute run is
        // outvoted (it was not while an enter into each store cost what leaving the public
        // space does), a run of four and a half minutes is a stay of its own.
        let track = |n: usize| -> Vec<Ping> {
            (0..24)
                .map(|k| if (8..8 + n).contains(&k) { ping(k as i64 * 30, 16.0, 8.0, 6.0) } else { ping(k as i64 * 30, 8.0, 8.0, 6.0) })
                .collect()
        };
        let r = f.regions(&cfg, &track(6));
        assert!(r.iter().all(|s| *s == Some(0)), "{r:?}");
        let r = f.regions(&cfg, &track(9));
        assert!(r[8..17].iter().all(|s| *s == Some(1)) && r[..8].iter().chain(&r[17..]).all(|s| *s == Some(0)), "{r:?}");
    }

    #[test]
    fn a_corridor_walker_stays_outside_and_walks_by() {
        let f = Fence::new(&site());
        let cfg = GeofenceConfig::default();
        // Walking east along y = 19 at 1.2 m/s, pinging every 30 s; one ping 7 m off, behind
        // C's façade.
        let pings = vec![ping(0, -20.0, 19.0, 8.0), ping(30, 10.0, 26.0, 8.0), ping(60, 52.0, 19.0, 8.0)];
        let fixes = f.decode(&cfg, DeviceId(7), &pings);
        assert!(fixes.iter().all(|x| !x.inside), "{fixes:?}");
        let mut near: Vec<u16> = fixes.iter().map(|x| x.store).collect();
        near.sort_unstable();
        near.dedup();
        assert_eq!(near, vec![0, 1, 2, 3]);
        assert!(fixes.windows(2).all(|w| w[0].t0 <= w[1].t0));
    }

    #[test]
    fn a_stay_spans_halfway_to_the_pings_around_it_and_enters_through_the_door() {
        let f = Fence::new(&site());
        let cfg = GeofenceConfig::default();
        // From the corridor in front of C, into A's cashier for 5 minutes, back out.
        let mut pings = vec![ping(0, 6.0, 20.0, 6.0)];
        pings.extend((1..=10).map(|k| ping(k * 30, 6.0, 2.5, 5.0)));
        pings.push(ping(340, 6.0, 19.0, 6.0));
        let fixes = f.decode(&cfg, DeviceId(7), &pings);
        let inside: Vec<&Fix> = fixes.iter().filter(|x| x.inside).collect();
        assert_eq!(inside.len(), 10);
        assert!(inside.iter().all(|x| x.store == 0 && x.zone == Some(1)), "{inside:?}");
        assert_eq!((inside[0].t0, inside[9].t1), (15_000, 320_000));
        // The walk in and out passes A's door and C's (across the corridor).
        assert!(fixes.iter().any(|x| !x.inside && x.store == 0));
        assert!(fixes.iter().any(|x| !x.inside && x.store == 2 && x.t0 > 300_000));
        // A gap longer than bridge_s is not interpolated.
        let far = vec![ping(0, 6.0, 20.0, 6.0), ping(600, 6.0, 2.5, 5.0), ping(630, 6.0, 2.5, 5.0), ping(660, 6.0, 2.5, 5.0)];
        let fixes = f.decode(&cfg, DeviceId(7), &far);
        let first_inside = fixes.iter().find(|x| x.inside).unwrap();
        assert_eq!(first_inside.t0, 600_000);
    }

    #[test]
    fn going_from_store_to_store_passes_the_stores_across_the_corridor() {
        let f = Fence::new(&site());
        let cfg = GeofenceConfig::default();
        // Five minutes in A, then five in B next door: out of A's door, along the corridor,
        // into B's, in front of C's and D's doors across it (8 m from A's and B's).
        let mut pings: Vec<Ping> = (0..10).map(|k| ping(k * 30, 6.0, 5.0, 4.0)).collect();
        pings.extend((10..20).map(|k| ping(k * 30, 18.0, 5.0, 4.0)));
        let fixes = f.decode(&cfg, DeviceId(7), &pings);
        let near: Vec<u16> = fixes.iter().filter(|x| !x.inside).map(|x| x.store).collect();
        assert!(near.contains(&2) && near.contains(&3), "{fixes:?}");
        assert!(fixes.iter().filter(|x| !x.inside).all(|x| x.t0 == 285_000), "{fixes:?}");
    }

    /// [`site`] with the venue's entrances at both ends of the corridor.
    fn site_with_entrances() -> Site {
        let mut s = site();
        s.entrances = vec![[-6.0, 19.0], [44.0, 19.0]];
        s.validated().unwrap()
    }

    #[test]
    fn a_track_walks_in_from_the_venue_entrance_behind_it() {
        let f = Fence::new(&site_with_entrances());
        let at = |x: f64| Point::new(x, 19.0);
        // Seen walking east: came in from the west, though the east entrance is nearer.
        assert_eq!(f.venue_entrance(at(20.0), Some(at(26.0)), 100.0), Some(at(-6.0)));
        // Standing still: the nearest; none in reach: none.
        assert_eq!(f.venue_entrance(at(20.0), Some(at(20.0)), 100.0), Some(at(44.0)));
        assert_eq!(f.venue_entrance(at(20.0), None, 100.0), Some(at(44.0)));
        assert_eq!(f.venue_entrance(at(20.0), None, 20.0), None);
        // First ping in the corridor past A's and C's doors, then five minutes in D, then out
        // east: A and C were walked by before the first ping, and nothing west after the last.
        let mut pings = vec![ping(0, 16.0, 19.0, 4.0)];
        pings.extend((1..=10).map(|k| ping(k * 30, 18.0, 30.0, 4.0)));
        pings.extend([ping(330, 20.0, 19.0, 4.0), ping(350, 28.0, 19.0, 4.0)]);
        let cfg = GeofenceConfig::default();
        let fixes = f.decode(&cfg, DeviceId(7), &pings);
        let near = |store: u16| fixes.iter().filter(|x| !x.inside && x.store == store).map(|x| x.t0).collect::<Vec<_>>();
        assert!(!near(0).is_empty() && near(0).iter().all(|&t| t < 0), "{fixes:?}");
        assert!(!near(2).is_empty() && near(2).iter().all(|&t| t < 0), "{fixes:?}");
        assert!(fixes.iter().filter(|x| x.inside).all(|x| x.store == 3));
        // Without the venue's entrances, nothing before the first ping says so.
        let fixes = Fence::new(&site()).decode(&cfg, DeviceId(7), &pings);
        assert!(fixes.iter().all(|x| x.store != 0 && x.store != 2), "{fixes:?}");
        // A track that starts in a store walks from the entrance to its door.
        let inside: Vec<Ping> = (0..10).map(|k| ping(k * 30, 6.0, 32.0, 4.0)).collect();
        let fixes = f.decode(&cfg, DeviceId(7), &inside);
        assert!(fixes.iter().any(|x| !x.inside && x.store == 0 && x.t0 < 0), "{fixes:?}");
        assert!(fixes.iter().all(|x| x.store != 1 && x.store != 3), "{fixes:?}");
    }

    #[test]
    fn a_single_ping_in_the_corridor_passes_through() {
        let f = Fence::new(&site_with_entrances());
        let cfg = GeofenceConfig::default();
        // Seen once between the doors, nearer the east entrance: in from the east, out west,
        // past all four stores.
        let fixes = f.decode(&cfg, DeviceId(7), &[ping(100, 20.0, 19.0, 4.0)]);
        let mut near: Vec<u16> = fixes.iter().filter(|x| !x.inside).map(|x| x.store).collect();
        near.sort_unstable();
        near.dedup();
        assert_eq!(near, vec![0, 1, 2, 3], "{fixes:?}");
        assert!(fixes.iter().filter(|x| x.store == 0 || x.store == 2).all(|x| x.t0 > 100_000), "{fixes:?}");
        // A track in a store is no pass: in and out by the nearest entrance. (A single ping
        // there is a close call: entering one store in particular and leaving it within a
        // ping interval is about as unlikely as a ping that far off.)
        let fixes = f.decode(&cfg, DeviceId(7), &[ping(100, 6.0, 32.0, 4.0), ping(130, 6.0, 32.0, 4.0)]);
        assert!(fixes.iter().all(|x| x.store != 1 && x.store != 3), "{fixes:?}");
    }

    #[test]
    fn doors_without_entrances_are_the_nearest_boundary_point() {
        let s = Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[{"id":"s","name":"s","category":"c","polygon":[[0,0],[10,0],[10,10],[0,10]]}],"sensors":[]}"#,
        )
        .unwrap();
        let f = Fence::new(&s);
        let d = f.door(0, Point::new(4.0, 15.0));
        assert!((d.x - 4.0).abs() < 1e-9 && (d.y - 10.0).abs() < 1e-9, "{d:?}");
        // Its front is outside, APPROACH_M out along the wall's normal, whichever way the
        // polygon winds.
        let f3 = f.front(0, d);
        assert!((f3.x - 4.0).abs() < 1e-9 && (f3.y - 10.0 - APPROACH_M).abs() < 1e-9, "{f3:?}");
        let f4 = f.front(0, Point::new(0.0, 5.0));
        assert!((f4.x + APPROACH_M).abs() < 1e-9 && (f4.y - 5.0).abs() < 1e-9, "{f4:?}");
    }
}
