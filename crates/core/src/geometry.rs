//! Plane geometry in metres for site polygons: containment, area, overlap.
//!
//! Polygons here are simple (non-self-intersecting) rings given as vertex lists, closed
//! implicitly. This module owns the few predicates site validation and location need and
//! nothing else; it is small enough that a geometry crate would cost more than it saves.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }
    pub fn dist(self, o: Point) -> f64 {
        ((self.x - o.x).powi(2) + (self.y - o.y).powi(2)).sqrt()
    }
}

const EPS: f64 = 1e-9;

/// A polygon as `[[x, y], ...]` in metres.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<[f64; 2]>", into = "Vec<[f64; 2]>")]
pub struct Polygon(pub Vec<Point>);

impl From<Vec<[f64; 2]>> for Polygon {
    fn from(v: Vec<[f64; 2]>) -> Self {
        Polygon(v.into_iter().map(|[x, y]| Point { x, y }).collect())
    }
}

impl From<Polygon> for Vec<[f64; 2]> {
    fn from(p: Polygon) -> Self {
        p.0.into_iter().map(|p| [p.x, p.y]).collect()
    }
}

/// Where a point lies relative to a polygon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Inside,
    Boundary,
    Outside,
}

impl Polygon {
    /// Axis-aligned rectangle from its lower-left corner and size.
    pub fn rect(x: f64, y: f64, w: f64, h: f64) -> Self {
        Polygon(vec![Point::new(x, y), Point::new(x + w, y), Point::new(x + w, y + h), Point::new(x, y + h)])
    }

    fn edges(&self) -> impl Iterator<Item = (Point, Point)> + '_ {
        let n = self.0.len();
        (0..n).map(move |i| (self.0[i], self.0[(i + 1) % n]))
    }

    /// Signed-area magnitude (shoelace).
    pub fn area(&self) -> f64 {
        self.edges().map(|(a, b)| a.x * b.y - b.x * a.y).sum::<f64>().abs() / 2.0
    }

    pub fn centroid(&self) -> Point {
        let n = self.0.len().max(1) as f64;
        let (sx, sy) = self.0.iter().fold((0.0, 0.0), |(x, y), p| (x + p.x, y + p.y));
        Point::new(sx / n, sy / n)
    }

    /// Inside, on the boundary, or outside (ray casting with an explicit boundary test).
    pub fn side(&self, p: Point) -> Side {
        let mut inside = false;
        for (a, b) in self.edges() {
            if on_segment(a, b, p) {
                return Side::Boundary;
            }
            if (a.y > p.y) != (b.y > p.y) {
                let x = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y);
                if p.x < x {
                    inside = !inside;
                }
            }
        }
        if inside { Side::Inside } else { Side::Outside }
    }

    /// Inside or on the boundary.
    pub fn contains(&self, p: Point) -> bool {
        self.side(p) != Side::Outside
    }

    /// Whether the interiors of two polygons share area (touching edges do not count).
    pub fn overlaps(&self, other: &Polygon) -> bool {
        for (a, b) in self.edges() {
            for (c, d) in other.edges() {
                if segments_cross(a, b, c, d) {
                    return true;
                }
            }
        }
        let probes = |p: &Polygon, q: &Polygon| {
            p.0.iter()
                .copied()
                .chain(p.edges().map(|(a, b)| Point::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0)))
                .chain(std::iter::once(p.centroid()))
                .any(|pt| q.side(pt) == Side::Inside)
        };
        probes(self, other) || probes(other, self)
    }

    /// Whether every vertex of `inner` lies inside or on this polygon.
    pub fn encloses(&self, inner: &Polygon) -> bool {
        inner.0.iter().all(|p| self.contains(*p))
    }

    /// Distance from `p` to the polygon's boundary.
    pub fn boundary_distance(&self, p: Point) -> f64 {
        self.edges().map(|(a, b)| segment_distance(a, b, p)).fold(f64::INFINITY, f64::min)
    }
}

fn cross(o: Point, a: Point, b: Point) -> f64 {
    (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
}

fn on_segment(a: Point, b: Point, p: Point) -> bool {
    cross(a, b, p).abs() <= EPS * (1.0 + a.dist(b))
        && p.x >= a.x.min(b.x) - EPS
        && p.x <= a.x.max(b.x) + EPS
        && p.y >= a.y.min(b.y) - EPS
        && p.y <= a.y.max(b.y) + EPS
}

/// Proper crossing: the segments intersect at one point interior to both.
fn segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool {
    let d1 = cross(c, d, a);
    let d2 = cross(c, d, b);
    let d3 = cross(a, b, c);
    let d4 = cross(a, b, d);
    ((d1 > EPS && d2 < -EPS) || (d1 < -EPS && d2 > EPS)) && ((d3 > EPS && d4 < -EPS) || (d3 < -EPS && d4 > EPS))
}

/// Distance from `p` to segment `ab`.
pub fn segment_distance(a: Point, b: Point, p: Point) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    if len2 <= EPS {
        return a.dist(p);
    }
    let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0);
    Point::new(a.x + t * dx, a.y + t * dy).dist(p)
}

/// Whether segment `pq` crosses (or touches) any edge of the polygon.
pub fn segment_hits_boundary(poly: &Polygon, p: Point, q: Point) -> bool {
    poly.edges().any(|(a, b)| {
        let d1 = cross(a, b, p);
        let d2 = cross(a, b, q);
        let d3 = cross(p, q, a);
        let d4 = cross(p, q, b);
        (d1 * d2 <= 0.0) && (d3 * d4 <= 0.0) && !(d1 == 0.0 && d2 == 0.0 && d3 == 0.0 && d4 == 0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_and_area() {
        let r = Polygon::rect(0.0, 0.0, 10.0, 5.0);
        assert_eq!(r.area(), 50.0);
        assert_eq!(r.side(Point::new(1.0, 1.0)), Side::Inside);
        assert_eq!(r.side(Point::new(10.0, 2.0)), Side::Boundary);
        assert_eq!(r.side(Point::new(11.0, 2.0)), Side::Outside);
        assert!((r.boundary_distance(Point::new(5.0, 2.0)) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn overlap_ignores_shared_edges() {
        let a = Polygon::rect(0.0, 0.0, 10.0, 10.0);
        let b = Polygon::rect(10.0, 0.0, 10.0, 10.0);
        let c = Polygon::rect(5.0, 5.0, 10.0, 10.0);
        let inner = Polygon::rect(2.0, 2.0, 1.0, 1.0);
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&c));
        assert!(a.overlaps(&a.clone()));
        assert!(a.overlaps(&inner) && inner.overlaps(&a));
        let plus_h = Polygon::rect(-1.0, 4.0, 12.0, 2.0);
        let plus_v = Polygon::rect(4.0, -1.0, 2.0, 12.0);
        assert!(plus_h.overlaps(&plus_v));
        assert!(a.encloses(&inner) && !inner.encloses(&a));
    }
}
