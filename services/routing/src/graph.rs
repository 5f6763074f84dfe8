//! The road graph in memory: what one import builds from OSM, what the tiles hold in
//! pieces, and what stitching every tile back together must give again.

use std::sync::Arc;

use crate::mode::{Mode, ModeMask};
use crate::tags::RoadClass;

/// Coordinates are stored as OSM stores them: integer 1e-7 degrees.
pub const COORD_SCALE: f64 = 1e7;

/// A point stored as integer degrees x 1e7 (as in tiles and the graph).
pub fn e7_to_latlon((lat, lon): (i32, i32)) -> geo_core::LatLon {
    geo_core::LatLon::clamped(f64::from(lat) / COORD_SCALE, f64::from(lon) / COORD_SCALE)
}

/// A point to integer degrees x 1e7, rounded to the nearest.
pub fn latlon_to_e7(p: geo_core::LatLon) -> (i32, i32) {
    (
        (p.lat * COORD_SCALE).round() as i32,
        (p.lon * COORD_SCALE).round() as i32,
    )
}

/// Edge lengths are kept in whole decimetres; this is the one conversion to metres, so the
/// graph and the tiles hold bit-identical `f32` values.
pub fn length_from_dm(dm: u32) -> f32 {
    dm as f32 / 10.0
}

/// Metres to whole decimetres.
pub fn length_to_dm(metres: f64) -> u32 {
    (metres * 10.0).round().clamp(0.0, f64::from(u32::MAX)) as u32
}

/// A graph node: an intersection, a way end, or a turn-restriction via node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub osm_id: i64,
    pub lat_e7: i32,
    pub lon_e7: i32,
    /// Modes for which this node lies in a small strongly connected component (or has no
    /// edge at all): snapping uses it only when nothing on the main network is near.
    pub small: ModeMask,
}

impl Node {
    pub fn lat(&self) -> f64 {
        f64::from(self.lat_e7) / COORD_SCALE
    }
    pub fn lon(&self) -> f64 {
        f64::from(self.lon_e7) / COORD_SCALE
    }
}

/// A directed edge: one direction of a chain of way segments between two graph nodes.
/// Both directions of a routable way are always present (possibly with no mode allowed),
/// so the incoming edges of a node are the twins of its outgoing ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub source: u32,
    pub target: u32,
    pub way_id: i64,
    /// Index in the way's node list where this chain starts (in the way's own order).
    pub seg: u32,
    /// Whether the edge runs in the way's node order.
    pub forward: bool,
    /// Modes allowed along this edge's direction.
    pub access: ModeMask,
    /// Length along the shape, metres, to the decimetre ([`length_from_dm`]).
    pub length_m: f32,
    pub class: RoadClass,
    /// Driving speed, km/h (ferries: their own speed for every vehicle).
    pub speed_kmh: u8,
    /// [`crate::tags::flags`] bits.
    pub flags: u8,
    pub name: Option<Arc<str>>,
    pub reference: Option<Arc<str>>,
    /// Points from source to target inclusive, 1e-7 degrees (lat, lon).
    pub shape: Vec<(i32, i32)>,
}

impl Edge {
    /// The canonical order of edges: by source, then way, position and direction. Tiles keep
    /// it, so stitching can rebuild the exact edge numbering.
    pub fn order_key(&self) -> (u32, i64, u32, bool) {
        (self.source, self.way_id, self.seg, !self.forward)
    }

    pub fn level(&self) -> crate::Level {
        crate::Level::of_class(self.class)
    }

    /// Travel cost in seconds for `mode`, or `None` when the mode may not use this edge.
    pub fn cost(&self, mode: Mode) -> Option<f64> {
        self.access.contains(mode).then(|| {
            crate::cost::travel_seconds(
                f64::from(self.length_m),
                self.class,
                self.speed_kmh,
                self.flags,
                mode,
            )
        })
    }
}

/// A forbidden turn: arriving by edge `from`, leaving by edge `to` is not allowed for
/// `modes`. `only_*` restrictions are stored as the forbidden turns they imply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForbiddenTurn {
    pub to: u32,
    pub from: u32,
    pub modes: ModeMask,
}

/// Nodes sorted by OSM id, edges in [`Edge::order_key`] order with a CSR index, forbidden
/// turns sorted by (to, from).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub forbidden: Vec<ForbiddenTurn>,
    first_out: Vec<u32>,
    first_forbidden: Vec<u32>,
}

impl Graph {
    /// Sorts into canonical order and builds the indexes. `forbidden` refers to edges by
    /// their position in `edges` as given.
    pub fn new(nodes: Vec<Node>, mut edges: Vec<Edge>, forbidden: Vec<ForbiddenTurn>) -> Graph {
        debug_assert!(nodes.windows(2).all(|w| w[0].osm_id < w[1].osm_id));
        let mut order: Vec<u32> = (0..edges.len() as u32).collect();
        order.sort_by_key(|&i| edges[i as usize].order_key());
        let mut new_index = vec![0u32; edges.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old as usize] = new as u32;
        }
        let mut taken: Vec<Option<Edge>> = edges.drain(..).map(Some).collect();
        let edges: Vec<Edge> = order
            .iter()
            .map(|&old| taken[old as usize].take().expect("each edge once"))
            .collect();
        let mut forbidden: Vec<ForbiddenTurn> = forbidden
            .into_iter()
            .map(|t| ForbiddenTurn {
                to: new_index[t.to as usize],
                from: new_index[t.from as usize],
                modes: t.modes,
            })
            .collect();
        forbidden.sort();
        // One entry per turn, the union of the modes of every restriction naming it.
        forbidden.dedup_by(|next, kept| {
            if (next.to, next.from) == (kept.to, kept.from) {
                kept.modes = kept.modes.union(next.modes);
                true
            } else {
                false
            }
        });
        let first_out = prefix_index(nodes.len(), edges.iter().map(|e| e.source));
        let first_forbidden = prefix_index(edges.len(), forbidden.iter().map(|t| t.to));
        Graph {
            nodes,
            edges,
            forbidden,
            first_out,
            first_forbidden,
        }
    }

    /// Edge indices leaving `node`.
    pub fn out_edges(&self, node: u32) -> std::ops::Range<u32> {
        self.first_out[node as usize]..self.first_out[node as usize + 1]
    }

    /// Forbidden turns onto edge `to`.
    pub fn forbidden_into(&self, to: u32) -> &[ForbiddenTurn] {
        &self.forbidden[self.first_forbidden[to as usize] as usize
            ..self.first_forbidden[to as usize + 1] as usize]
    }

    /// Whether arriving by `from` and leaving by `to` is forbidden for `mode`.
    pub fn is_forbidden(&self, from: u32, to: u32, mode: Mode) -> bool {
        self.forbidden_into(to)
            .iter()
            .any(|t| t.from == from && t.modes.contains(mode))
    }

    /// The node with this OSM id.
    pub fn node_by_osm_id(&self, osm_id: i64) -> Option<u32> {
        self.nodes
            .binary_search_by_key(&osm_id, |n| n.osm_id)
            .ok()
            .map(|i| i as u32)
    }
}

/// CSR offsets for `count` buckets from sorted bucket keys.
fn prefix_index(count: usize, sorted_keys: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut first = vec![0u32; count + 1];
    for key in sorted_keys {
        first[key as usize + 1] += 1;
    }
    for i in 0..count {
        first[i + 1] += first[i];
    }
    first
}
