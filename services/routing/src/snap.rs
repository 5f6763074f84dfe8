//! Snapping a coordinate to the road network: the nearest point on an edge the mode may use
//! (projected onto the segment, not the nearest node), preferring the main network and
//! falling back to a small component only when nothing else is within reach.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use geo_core::{LatLon, degree_span, haversine_m};

use crate::graph::e7_to_latlon;
use crate::ids::{GraphId, Level};
use crate::mode::Mode;
use crate::tile::EdgeRef;
use crate::tiling::TileSource;

/// Where a point meets the network.
#[derive(Debug, Clone, PartialEq)]
pub struct Snap {
    /// An edge the mode may use that passes through the snapped point.
    pub edge: GraphId,
    /// Position of the point along the edge's shape from its source, 0..=1 of its length.
    pub fraction: f64,
    pub point: LatLon,
    /// From the query point to the snapped point, metres.
    pub distance_m: f64,
    /// Whether the edge lies in a small component for the mode.
    pub small_component: bool,
}

/// The point of segment `a`-`b` nearest to `p`, as (fraction along the segment, point),
/// in a local flat projection around `p` (exact enough at snapping distances).
fn project(p: LatLon, a: LatLon, b: LatLon) -> (f64, LatLon) {
    let k = p.lat.to_radians().cos();
    let (ax, ay) = ((a.lon - p.lon) * k, a.lat - p.lat);
    let (bx, by) = ((b.lon - p.lon) * k, b.lat - p.lat);
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        ((-ax * dx - ay * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (
        t,
        LatLon::clamped(a.lat + t * (b.lat - a.lat), a.lon + t * (b.lon - a.lon)),
    )
}

/// The nearest point of `shape` to `p`: (distance, fraction of the shape's length, point).
pub fn nearest_on_shape(p: LatLon, shape: &[(i32, i32)]) -> Option<(f64, f64, LatLon)> {
    let points: Vec<LatLon> = shape.iter().map(|&e7| e7_to_latlon(e7)).collect();
    let lengths: Vec<f64> = points.windows(2).map(|w| haversine_m(w[0], w[1])).collect();
    let total: f64 = lengths.iter().sum();
    let mut best: Option<(f64, f64, LatLon)> = None;
    let mut before = 0.0;
    for (i, w) in points.windows(2).enumerate() {
        let (t, q) = project(p, w[0], w[1]);
        let d = haversine_m(p, q);
        if best.is_none_or(|(bd, _, _)| d < bd) {
            let along = if total > 0.0 {
                (before + t * lengths[i]) / total
            } else {
                0.0
            };
            best = Some((d, along, q));
        }
        before += lengths[i];
    }
    best
}

/// Snaps `p` for `mode` within `max_distance_m`, using the tiles loaded in `tiles` (those
/// around the point on every level: see [`tiles_near`]).
pub fn snap<T: TileSource + ?Sized>(
    tiles: &T,
    p: LatLon,
    mode: Mode,
    max_distance_m: f64,
) -> Option<Snap> {
    snap_where(tiles, p, mode, max_distance_m, |_| true)
}

/// Like [`snap`], onto edges that also pass `usable` (e.g. not a toll road when tolls are
/// avoided: a stop snapped onto a road the search may not take could never be reached).
pub fn snap_where<T: TileSource + ?Sized>(
    tiles: &T,
    p: LatLon,
    mode: Mode,
    max_distance_m: f64,
    usable: impl Fn(&EdgeRef<'_>) -> bool,
) -> Option<Snap> {
    // Every usable edge whose bounding box comes within reach, nearest box first: edges are
    // measured in that order until the next box is farther than the best point found.
    // Boxes outside the reach window (in whole 1e-7 degrees, 1% wider) are skipped before
    // any trigonometry.
    let window = reach_window(p, max_distance_m);
    let mut candidates: Vec<Reverse<(u64, Level, u32, u32)>> = Vec::new();
    for level in Level::ALL {
        for id in tiles_near(level, p, max_distance_m) {
            let Some(tile) = tiles.get(level, id) else {
                continue;
            };
            tile.edge_index().for_each_within(&window, |e, b| {
                let bound = box_distance_bound_m(p, b);
                if bound <= max_distance_m {
                    // Non-negative floats order like their bits.
                    candidates.push(Reverse((bound.to_bits(), level, id, e)));
                }
            });
        }
    }
    // A heap, not a sort: usually only a few nearest boxes are ever looked at.
    let mut candidates = BinaryHeap::from(candidates);
    let mut main: Option<Snap> = None;
    let mut small: Option<Snap> = None;
    while let Some(Reverse((bound, level, id, e))) = candidates.pop() {
        let bound = f64::from_bits(bound);
        if main.as_ref().is_some_and(|m| bound > m.distance_m) {
            break; // no farther box can hold a nearer point, and main beats small
        }
        let Some(tile) = tiles.get(level, id) else {
            continue;
        };
        let edge = tile.edge(e);
        if !edge.access().contains(mode) || !usable(&edge) {
            continue;
        }
        let Some((d, fraction, q)) = nearest_on_shape(p, &edge.shape()) else {
            continue;
        };
        if d > max_distance_m {
            continue;
        }
        let is_small = tile.node_small(tile.edge_source(e)).contains(mode);
        let slot = if is_small { &mut small } else { &mut main };
        let candidate = GraphId::new(level, id, e);
        let better = slot
            .as_ref()
            .is_none_or(|s| d < s.distance_m || (d == s.distance_m && candidate < s.edge));
        if better {
            *slot = Some(Snap {
                edge: candidate,
                fraction,
                point: q,
                distance_m: d,
                small_component: is_small,
            });
        }
    }
    main.or(small)
}

/// The box (south, west, north, east, in whole 1e-7 degrees) holding every point within
/// `radius_m` of `p`, 1% wider: edge boxes outside it are skipped before any trigonometry.
pub fn reach_window(p: LatLon, radius_m: f64) -> crate::tile::EdgeBox {
    let (reach_lat, reach_lon) = degree_span(p.lat, radius_m * 1.01);
    let e7 = |deg: f64| (deg * crate::graph::COORD_SCALE).clamp(-2e9, 2e9) as i32;
    [
        e7(p.lat - reach_lat),
        e7(p.lon - reach_lon),
        e7(p.lat + reach_lat),
        e7(p.lon + reach_lon),
    ]
}

/// A lower bound on the distance in metres from `p` to any point of a box (south, west,
/// north, east, 1e-7 degrees): the distance to the box's nearest corner or side, shaved
/// by 1% and a metre for the curvature the flat clamp ignores.
fn box_distance_bound_m(p: LatLon, b: &[i32; 4]) -> f64 {
    let south = f64::from(b[0]) / crate::graph::COORD_SCALE;
    let west = f64::from(b[1]) / crate::graph::COORD_SCALE;
    let north = f64::from(b[2]) / crate::graph::COORD_SCALE;
    let east = f64::from(b[3]) / crate::graph::COORD_SCALE;
    let nearest = LatLon::clamped(
        p.lat.clamp(south.min(north), north.max(south)),
        p.lon.clamp(west.min(east), east.max(west)),
    );
    (haversine_m(p, nearest) * 0.99 - 1.0).max(0.0)
}

/// Ids of the tiles of `level` that come within `radius_m` of `p`.
pub fn tiles_near(level: Level, p: LatLon, radius_m: f64) -> Vec<u32> {
    let (dlat, dlon) = degree_span(p.lat, radius_m);
    let size = level.tile_size_deg();
    let row =
        |lat: f64| (((lat.clamp(-90.0, 90.0) + 90.0) / size).floor() as u32).min(level.rows() - 1);
    let col = |lon: f64| {
        (((lon.clamp(-180.0, 180.0) + 180.0) / size).floor() as u32).min(level.columns() - 1)
    };
    let (r0, r1) = (row(p.lat - dlat), row(p.lat + dlat));
    let (c0, c1) = (col(p.lon - dlon), col(p.lon + dlon));
    let mut ids = Vec::new();
    for r in r0..=r1 {
        for c in c0..=c1 {
            ids.push(r * level.columns() + c);
        }
    }
    ids
}
