//! An in-memory region quadtree over points, for nearby (radius) and nearest-k search.
//!
//! The root is the whole globe in lat/lon degrees; a node splits into four equal quadrants
//! while it holds more than `leaf_capacity` points, so cells are small in dense cities and
//! large over empty land (the design's "adapts to density"). Points are stored once, in one
//! array ordered by leaf, and every node owns a contiguous range of it: a node that lies wholly
//! inside a search circle is counted without touching its points.
//!
//! Results are exact: every candidate is measured with [`crate::haversine_m`], and node
//! bounds only prune with a safety margin. The tree is immutable once built; callers publish a
//! new tree by swapping an `Arc`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::EARTH_RADIUS_M;
use crate::distance::{Circle, Origin};
use crate::{BBox, LatLon};

/// Metres by which node bounds are widened, far above the floating-point error of the bounds
/// and far below any real distance difference.
const BOUND_MARGIN_M: f64 = 1e-3;

/// Depth at which splitting stops even if a leaf is over capacity (many points at one spot).
const MAX_DEPTH: u32 = 40;

/// One indexed point: 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    pub lat: f64,
    pub lon: f64,
    /// Caller's handle for the point. Ties in distance are broken by ascending slot, so callers
    /// that number points in id order get (distance, id) order.
    pub slot: u32,
    /// Caller's category code, for filtering inside the tree.
    pub category: u32,
}

#[derive(Clone, Debug)]
struct Node {
    bbox: BBox,
    /// Range of `entries` under this node.
    start: u32,
    end: u32,
    /// Index of the first of four children in `nodes`, or 0 for a leaf.
    first_child: u32,
}

/// The immutable tree.
#[derive(Clone, Debug)]
pub struct QuadTree {
    nodes: Vec<Node>,
    entries: Vec<Entry>,
    leaf_capacity: usize,
}

/// A point found by a search, with its distance from the query centre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub distance_m: f64,
    pub entry: Entry,
}

impl QuadTree {
    /// Builds the tree; `leaf_capacity` is the most points a leaf holds before it splits.
    pub fn build(mut entries: Vec<Entry>, leaf_capacity: usize) -> QuadTree {
        let leaf_capacity = leaf_capacity.max(1);
        let root = BBox {
            lat_min: -90.0,
            lat_max: 90.0,
            lon_min: -180.0,
            lon_max: 180.0,
        };
        let mut nodes = vec![Node {
            bbox: root,
            start: 0,
            end: entries.len() as u32,
            first_child: 0,
        }];
        let mut stack = vec![(0usize, 0u32)];
        while let Some((index, depth)) = stack.pop() {
            let Node {
                bbox, start, end, ..
            } = nodes[index].clone();
            if (end - start) as usize <= leaf_capacity || depth >= MAX_DEPTH {
                continue;
            }
            let mid_lat = (bbox.lat_min + bbox.lat_max) / 2.0;
            let mid_lon = (bbox.lon_min + bbox.lon_max) / 2.0;
            let slice = &mut entries[start as usize..end as usize];
            let north_at = partition(slice, |e| e.lat < mid_lat);
            let (south, north) = slice.split_at_mut(north_at);
            let south_east_at = partition(south, |e| e.lon < mid_lon);
            let north_east_at = partition(north, |e| e.lon < mid_lon);
            let bounds = [
                start,
                start + south_east_at as u32,
                start + north_at as u32,
                start + (north_at + north_east_at) as u32,
                end,
            ];
            let boxes = [
                BBox {
                    lat_max: mid_lat,
                    lon_max: mid_lon,
                    ..bbox
                },
                BBox {
                    lat_max: mid_lat,
                    lon_min: mid_lon,
                    ..bbox
                },
                BBox {
                    lat_min: mid_lat,
                    lon_max: mid_lon,
                    ..bbox
                },
                BBox {
                    lat_min: mid_lat,
                    lon_min: mid_lon,
                    ..bbox
                },
            ];
            let first_child = nodes.len();
            nodes[index].first_child = first_child as u32;
            for q in 0..4 {
                nodes.push(Node {
                    bbox: boxes[q],
                    start: bounds[q],
                    end: bounds[q + 1],
                    first_child: 0,
                });
                stack.push((first_child + q, depth + 1));
            }
        }
        QuadTree {
            nodes,
            entries,
            leaf_capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn leaf_capacity(&self) -> usize {
        self.leaf_capacity
    }

    /// Number of nodes (internal and leaves).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Bytes held by the tree's arrays.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * size_of::<Node>() + self.entries.capacity() * size_of::<Entry>()
    }

    /// Every entry, in leaf order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// How many points with the category (any when `None`) lie within `radius_m` of `center`.
    pub fn count_within(&self, center: LatLon, radius_m: f64, category: Option<u32>) -> usize {
        if self.entries.is_empty() {
            return 0;
        }
        let circle = Circle::new(center, radius_m);
        // A node is wholly inside when its corners are inside a slightly smaller circle (the
        // farthest point of a box is a corner: along a parallel the distance grows with the
        // longitude difference, along a meridian it has one minimum; the margin absorbs
        // rounding).
        let inner = Circle::new(center, radius_m - BOUND_MARGIN_M);
        let matches = |e: &Entry| category.is_none_or(|c| e.category == c);
        let mut count = 0;
        let mut stack = vec![0usize];
        while let Some(index) = stack.pop() {
            let node = &self.nodes[index];
            if node.start == node.end || circle.box_disjoint(&node.bbox) {
                continue;
            }
            let points = &self.entries[node.start as usize..node.end as usize];
            let b = &node.bbox;
            if circle.box_within_bounds(b)
                && inner.contains(b.lat_min, b.lon_min)
                && inner.contains(b.lat_min, b.lon_max)
                && inner.contains(b.lat_max, b.lon_min)
                && inner.contains(b.lat_max, b.lon_max)
            {
                count += match category {
                    None => points.len(),
                    Some(_) => points.iter().filter(|e| matches(e)).count(),
                };
            } else if node.first_child == 0 {
                count += points
                    .iter()
                    .filter(|e| matches(e) && circle.contains(e.lat, e.lon))
                    .count();
            } else {
                let first = node.first_child as usize;
                stack.extend(first..first + 4);
            }
        }
        count
    }

    /// Points within `max_distance_m` of `center` in ascending (distance, slot) order, lazily:
    /// best-first search, so taking the first k costs about k points' worth of work.
    /// `after` resumes a previous listing strictly after that (distance, slot).
    pub fn nearest(
        &self,
        center: LatLon,
        max_distance_m: f64,
        category: Option<u32>,
        after: Option<(f64, u32)>,
    ) -> Nearest<'_> {
        let mut heap = BinaryHeap::new();
        if !self.entries.is_empty() {
            heap.push(Candidate {
                key_m: 0.0,
                kind: Kind::Node(0),
            });
        }
        Nearest {
            tree: self,
            origin: Origin::new(center),
            circle: max_distance_m
                .is_finite()
                .then(|| Circle::new(center, max_distance_m)),
            max_distance_m,
            category,
            after,
            heap,
        }
    }
}

/// Moves the entries for which `left` holds to the front; returns how many there are.
fn partition(slice: &mut [Entry], left: impl Fn(&Entry) -> bool) -> usize {
    let mut boundary = 0;
    for i in 0..slice.len() {
        if left(&slice[i]) {
            slice.swap(boundary, i);
            boundary += 1;
        }
    }
    boundary
}

/// Iterator returned by [`QuadTree::nearest`].
pub struct Nearest<'a> {
    tree: &'a QuadTree,
    origin: Origin,
    /// Bounds for a finite search radius (none for plain nearest-k).
    circle: Option<Circle>,
    max_distance_m: f64,
    category: Option<u32>,
    after: Option<(f64, u32)>,
    heap: BinaryHeap<Candidate>,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Node(u32),
    /// A point keyed by a cheap lower bound of its distance, not yet measured; index into
    /// `entries`. Most points of an expanded leaf are never measured.
    Unmeasured(u32),
    /// Index into `entries`, and the entry's slot.
    Point(u32, u32),
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    /// Lower bound of the distance for nodes; exact distance for points.
    key_m: f64,
    kind: Kind,
}

impl Candidate {
    /// At equal distance nodes come first, so that every point at that distance has been seen
    /// before one is emitted; points then go by slot.
    fn rank(&self) -> (u8, u32) {
        match self.kind {
            Kind::Node(i) => (0, i),
            Kind::Unmeasured(i) => (1, i),
            Kind::Point(_, slot) => (2, slot),
        }
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// Reversed, so that `BinaryHeap` pops the smallest.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key_m
            .total_cmp(&self.key_m)
            .then_with(|| other.rank().cmp(&self.rank()))
    }
}

impl Iterator for Nearest<'_> {
    type Item = Hit;

    fn next(&mut self) -> Option<Hit> {
        while let Some(candidate) = self.heap.pop() {
            match candidate.kind {
                Kind::Point(index, _) => {
                    let entry = self.tree.entries[index as usize];
                    return Some(Hit {
                        distance_m: candidate.key_m,
                        entry,
                    });
                }
                Kind::Node(index) => {
                    let node = &self.tree.nodes[index as usize];
                    if node.first_child != 0 {
                        for child in node.first_child..node.first_child + 4 {
                            let child_node = &self.tree.nodes[child as usize];
                            if child_node.start == child_node.end
                                || self
                                    .circle
                                    .is_some_and(|c| c.box_disjoint(&child_node.bbox))
                            {
                                continue;
                            }
                            let bound = (self.origin.box_lower_bound_m(&child_node.bbox)
                                - BOUND_MARGIN_M)
                                .max(0.0);
                            if bound <= self.max_distance_m {
                                self.heap.push(Candidate {
                                    key_m: bound,
                                    kind: Kind::Node(child),
                                });
                            }
                        }
                        continue;
                    }
                    // Lower bounds without trigonometry: d >= R |dlat| and, since
                    // sin(x) >= 2x/pi on [0, pi/2], d >= (2R/pi) sqrt(cos lat1 cos lat2) |dlon|,
                    // with cos lat2 at least that of the leaf's largest absolute latitude.
                    let far_lat = node
                        .bbox
                        .lat_min
                        .abs()
                        .max(node.bbox.lat_max.abs())
                        .min(90.0);
                    let lon_scale = 2.0 * EARTH_RADIUS_M / std::f64::consts::PI
                        * (self.origin.cos_lat().max(0.0) * far_lat.to_radians().cos().max(0.0))
                            .sqrt();
                    for i in node.start..node.end {
                        let e = &self.tree.entries[i as usize];
                        if self.category.is_some_and(|c| e.category != c) {
                            continue;
                        }
                        let d_lat = (e.lat - self.origin.lat()).abs().to_radians();
                        let d_lon = {
                            let d = (e.lon - self.origin.lon()).abs();
                            d.min(360.0 - d).to_radians()
                        };
                        let bound = ((EARTH_RADIUS_M * d_lat).max(lon_scale * d_lon)
                            * (1.0 - 1e-9)
                            - BOUND_MARGIN_M)
                            .max(0.0);
                        if bound > self.max_distance_m {
                            continue;
                        }
                        self.heap.push(Candidate {
                            key_m: bound,
                            kind: Kind::Unmeasured(i),
                        });
                    }
                }
                Kind::Unmeasured(i) => {
                    let e = &self.tree.entries[i as usize];
                    let d = match &self.circle {
                        Some(circle) => match circle.distance_if_within(e.lat, e.lon) {
                            Some(d) => d,
                            None => continue,
                        },
                        None => self.origin.distance_m(e.lat, e.lon),
                    };
                    if let Some((after_d, after_slot)) = self.after
                        && (d, e.slot) <= (after_d, after_slot)
                    {
                        continue;
                    }
                    // The slot decides ties between points at the same distance.
                    self.heap.push(Candidate {
                        key_m: d,
                        kind: Kind::Point(i, e.slot),
                    });
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haversine_m;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn random_entries(rng: &mut StdRng, n: usize) -> Vec<Entry> {
        (0..n)
            .map(|i| {
                // Half in a dense cluster, the rest anywhere, with some exact duplicates.
                let (lat, lon) = if i % 2 == 0 {
                    (rng.random_range(60.15..60.2), rng.random_range(24.9..25.0))
                } else if i % 5 == 1 {
                    // Both sides of the antimeridian.
                    let lon = rng.random_range(179.7..=180.0);
                    (
                        rng.random_range(-17.2..-16.9),
                        if i % 3 == 0 { lon } else { -lon },
                    )
                } else if i % 5 == 3 {
                    (
                        rng.random_range(89.7..=90.0),
                        rng.random_range(-180.0..=180.0),
                    )
                } else if i % 7 == 0 {
                    (60.17, 24.95)
                } else {
                    (
                        rng.random_range(-90.0..=90.0),
                        rng.random_range(-180.0..=180.0),
                    )
                };
                Entry {
                    lat,
                    lon,
                    slot: i as u32,
                    category: (i % 3) as u32,
                }
            })
            .collect()
    }

    fn brute(entries: &[Entry], c: LatLon, r: f64, cat: Option<u32>) -> Vec<(f64, u32)> {
        let mut v: Vec<(f64, u32)> = entries
            .iter()
            .filter(|e| cat.is_none_or(|k| e.category == k))
            .map(|e| {
                (
                    haversine_m(
                        c,
                        LatLon {
                            lat: e.lat,
                            lon: e.lon,
                        },
                    ),
                    e.slot,
                )
            })
            .filter(|(d, _)| *d <= r)
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        v
    }

    fn assert_same(got: &[(f64, u32)], expected: &[(f64, u32)], c: LatLon, r: f64) {
        let first_diff = got.iter().zip(expected).position(|(a, b)| a != b);
        assert!(
            got.len() == expected.len() && first_diff.is_none(),
            "{c:?} r={r}: got {} expected {}, first difference at {first_diff:?}: {:?} vs {:?}",
            got.len(),
            expected.len(),
            first_diff.map(|i| got[i]),
            first_diff.map(|i| expected[i]),
        );
    }

    #[test]
    fn matches_brute_force() {
        let mut rng = StdRng::seed_from_u64(3);
        let entries = random_entries(&mut rng, 20_000);
        for cap in [1, 8, 100] {
            let tree = QuadTree::build(entries.clone(), cap);
            for q in 0..90 {
                let c = match q % 3 {
                    0 => LatLon::new(rng.random_range(60.1..60.25), rng.random_range(24.8..25.1)),
                    1 => LatLon::new(rng.random_range(-17.3..-16.8), {
                        let lon: f64 = rng.random_range(179.5..=180.0);
                        if q % 2 == 0 { lon } else { -lon }
                    }),
                    _ => LatLon::new(
                        rng.random_range(89.5..=90.0),
                        rng.random_range(-180.0..=180.0),
                    ),
                }
                .unwrap();
                let r = [500.0, 2000.0, 20000.0][rng.random_range(0..3)];
                let cat = [None, Some(1)][rng.random_range(0..2)];
                let expected = brute(&entries, c, r, cat);
                let got: Vec<(f64, u32)> = tree
                    .nearest(c, r, cat, None)
                    .map(|h| (h.distance_m, h.entry.slot))
                    .collect();
                assert_same(&got, &expected, c, r);
                assert_eq!(tree.count_within(c, r, cat), expected.len());
                // Resuming after the 5th gives the rest.
                if expected.len() > 5 {
                    let rest: Vec<(f64, u32)> = tree
                        .nearest(c, r, cat, Some(expected[4]))
                        .map(|h| (h.distance_m, h.entry.slot))
                        .collect();
                    assert_same(&rest, &expected[5..], c, r);
                }
            }
        }
    }

    #[test]
    fn nearest_unbounded_and_empty() {
        let tree = QuadTree::build(vec![], 100);
        assert_eq!(
            tree.nearest(LatLon::new(0.0, 0.0).unwrap(), f64::INFINITY, None, None)
                .count(),
            0
        );
        let mut rng = StdRng::seed_from_u64(5);
        let entries = random_entries(&mut rng, 5000);
        let tree = QuadTree::build(entries.clone(), 16);
        let c = LatLon::new(-33.0, 151.0).unwrap();
        let expected = brute(&entries, c, f64::INFINITY, None);
        let got: Vec<(f64, u32)> = tree
            .nearest(c, f64::INFINITY, None, None)
            .take(10)
            .map(|h| (h.distance_m, h.entry.slot))
            .collect();
        assert_same(&got, &expected[..10], c, f64::INFINITY);
    }
}
