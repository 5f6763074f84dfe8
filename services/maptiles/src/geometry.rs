//! Plane geometry for tiling: Douglas-Peucker simplification and clipping of lines and rings
//! to a tile's (buffered) square.

/// A point in whatever plane the caller works in (world or tile units).
pub type Pt = (f64, f64);

/// A point on the tile's integer grid.
pub fn quantise(p: Pt) -> (i32, i32) {
    (p.0.round() as i32, p.1.round() as i32)
}

/// Points with consecutive repeats (after quantising) removed: MVT forbids zero-length
/// segments.
pub fn dedup(points: impl Iterator<Item = (i32, i32)>) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::new();
    for p in points {
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    out
}

/// Douglas-Peucker: drops points closer than `tolerance` to the chord they sit between.
/// Endpoints always stay, so a closed ring stays closed.
pub fn simplify(points: &[Pt], tolerance: f64) -> Vec<Pt> {
    if points.len() < 3 || tolerance <= 0.0 {
        return points.to_vec();
    }
    let mut keep = vec![false; points.len()];
    keep[0] = true;
    keep[points.len() - 1] = true;
    let mut stack = vec![(0usize, points.len() - 1)];
    let tol2 = tolerance * tolerance;
    while let Some((a, b)) = stack.pop() {
        let mut worst = (0.0, 0usize);
        for i in a + 1..b {
            let d = segment_distance2(points[i], points[a], points[b]);
            if d > worst.0 {
                worst = (d, i);
            }
        }
        if worst.0 > tol2 {
            keep[worst.1] = true;
            stack.push((a, worst.1));
            stack.push((worst.1, b));
        }
    }
    points
        .iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(*p))
        .collect()
}

fn segment_distance2(p: Pt, a: Pt, b: Pt) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    };
    let (ex, ey) = (a.0 + t * dx - p.0, a.1 + t * dy - p.1);
    ex * ex + ey * ey
}

/// An axis-aligned box, `min <= max` on both axes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub min: Pt,
    pub max: Pt,
}

impl Rect {
    fn contains(&self, p: Pt) -> bool {
        p.0 >= self.min.0 && p.0 <= self.max.0 && p.1 >= self.min.1 && p.1 <= self.max.1
    }
}

/// Clips a polyline to `rect`: the parts inside, each with at least two points.
pub fn clip_line(points: &[Pt], rect: Rect) -> Vec<Vec<Pt>> {
    let mut parts = Vec::new();
    let mut current: Vec<Pt> = Vec::new();
    for pair in points.windows(2) {
        match clip_segment(pair[0], pair[1], rect) {
            Some((a, b)) => {
                if current.last() != Some(&a) {
                    if current.len() >= 2 {
                        parts.push(std::mem::take(&mut current));
                    }
                    current.clear();
                    current.push(a);
                }
                current.push(b);
                // Leaving the box ends this part.
                if b != pair[1] {
                    if current.len() >= 2 {
                        parts.push(std::mem::take(&mut current));
                    }
                    current.clear();
                }
            }
            None => {
                if current.len() >= 2 {
                    parts.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
    }
    if current.len() >= 2 {
        parts.push(current);
    }
    if points.len() == 1 && rect.contains(points[0]) {
        parts.push(points.to_vec());
    }
    parts
}

/// Liang-Barsky: the part of segment `a`-`b` inside `rect`, if any.
fn clip_segment(a: Pt, b: Pt, rect: Rect) -> Option<(Pt, Pt)> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - rect.min.0),
        (dx, rect.max.0 - a.0),
        (-dy, a.1 - rect.min.1),
        (dy, rect.max.1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
            if t0 > t1 {
                return None;
            }
        }
    }
    let at = |t: f64| {
        if t == 0.0 {
            a
        } else if t == 1.0 {
            b
        } else {
            (a.0 + t * dx, a.1 + t * dy)
        }
    };
    Some((at(t0), at(t1)))
}

/// Sutherland-Hodgman: clips a ring (open or closed) to `rect`. The result is open and may
/// run along the box's edges; empty when nothing is inside.
pub fn clip_ring(ring: &[Pt], rect: Rect) -> Vec<Pt> {
    let mut ring: Vec<Pt> = ring.to_vec();
    if ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    // Each edge: is the point inside, and where does a segment cross the edge's line.
    type Inside = fn(Pt, &Rect) -> bool;
    type Cross = fn(Pt, Pt, &Rect) -> Pt;
    let edges: [(Inside, Cross); 4] = [
        (|p, r| p.0 >= r.min.0, |a, b, r| at_x(a, b, r.min.0)),
        (|p, r| p.0 <= r.max.0, |a, b, r| at_x(a, b, r.max.0)),
        (|p, r| p.1 >= r.min.1, |a, b, r| at_y(a, b, r.min.1)),
        (|p, r| p.1 <= r.max.1, |a, b, r| at_y(a, b, r.max.1)),
    ];
    for (inside, cross) in edges {
        if ring.is_empty() {
            break;
        }
        let input = std::mem::take(&mut ring);
        let mut prev = *input.last().expect("not empty");
        for &p in &input {
            match (inside(prev, &rect), inside(p, &rect)) {
                (true, true) => ring.push(p),
                (true, false) => ring.push(cross(prev, p, &rect)),
                (false, true) => {
                    ring.push(cross(prev, p, &rect));
                    ring.push(p);
                }
                (false, false) => {}
            }
            prev = p;
        }
    }
    ring
}

fn at_x(a: Pt, b: Pt, x: f64) -> Pt {
    let t = (x - a.0) / (b.0 - a.0);
    (x, a.1 + t * (b.1 - a.1))
}

fn at_y(a: Pt, b: Pt, y: f64) -> Pt {
    let t = (y - a.1) / (b.1 - a.1);
    (a.0 + t * (b.0 - a.0), y)
}

/// Twice the signed area of an open or closed ring (shoelace).
pub fn area2(ring: &[Pt]) -> f64 {
    let mut sum = 0.0;
    for (i, a) in ring.iter().enumerate() {
        let b = ring[(i + 1) % ring.len()];
        sum += a.0 * b.1 - b.0 * a.1;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: Rect = Rect {
        min: (0.0, 0.0),
        max: (1.0, 1.0),
    };

    #[test]
    fn simplify_keeps_corners_and_drops_near_collinear_points() {
        let line = [(0.0, 0.0), (1.0, 0.01), (2.0, 0.0), (2.0, 2.0)];
        assert_eq!(
            simplify(&line, 0.1),
            vec![(0.0, 0.0), (2.0, 0.0), (2.0, 2.0)]
        );
        assert_eq!(simplify(&line, 0.0), line.to_vec());
    }

    #[test]
    fn a_line_crossing_the_box_twice_becomes_two_parts() {
        let line = [
            (-1.0, 0.5),
            (0.5, 0.5),
            (0.5, 2.0),
            (0.7, 2.0),
            (0.7, 0.5),
            (2.0, 0.5),
        ];
        let parts = clip_line(&line, UNIT);
        assert_eq!(
            parts,
            vec![
                vec![(0.0, 0.5), (0.5, 0.5), (0.5, 1.0)],
                vec![(0.7, 1.0), (0.7, 0.5), (1.0, 0.5)],
            ]
        );
        assert!(clip_line(&[(2.0, 2.0), (3.0, 3.0)], UNIT).is_empty());
    }

    #[test]
    fn a_ring_around_the_box_clips_to_the_box() {
        let ring = [
            (-1.0, -1.0),
            (2.0, -1.0),
            (2.0, 2.0),
            (-1.0, 2.0),
            (-1.0, -1.0),
        ];
        let clipped = clip_ring(&ring, UNIT);
        assert_eq!(clipped.len(), 4);
        assert!((area2(&clipped).abs() - 2.0).abs() < 1e-12);
        let outside = [(2.0, 2.0), (3.0, 2.0), (3.0, 3.0)];
        assert!(clip_ring(&outside, UNIT).is_empty());
    }
}
