//! A* over tiles, edge-based so turn restrictions hold, following edges across tile
//! borders and transitions between levels. This is the exact mode (every level searched);
//! the hierarchical planner of the navigation service prunes on top of it.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};

use geo_core::{LatLon, haversine_m};

use crate::graph::COORD_SCALE;
use crate::ids::GraphId;
use crate::mode::Mode;
use crate::tags::{RoadClass, WALKING_SPEED_KMH};
use crate::tiling::TileSet;

/// The best path found: its cost (seconds), the edges in order, and work done.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub cost: f64,
    pub edges: Vec<GraphId>,
    /// Edges taken off the queue.
    pub settled: usize,
}

/// An upper bound on any edge's speed for `mode` in these tiles, km/h: what keeps the
/// straight-line heuristic admissible.
pub fn max_speed_kmh(tiles: &TileSet, mode: Mode) -> f64 {
    let mut max: f64 = match mode {
        Mode::Walking => WALKING_SPEED_KMH,
        Mode::Cycling => RoadClass::Residential.cycling_speed_kmh(),
        Mode::Driving => 1.0,
    };
    for tile in tiles.iter() {
        for e in 0..tile.edge_count() {
            let edge = tile.edge(e);
            if let Some(cost) = edge.cost(mode)
                && cost > 0.0
            {
                max = max.max(f64::from(edge.length_m()) / cost * 3.6);
            }
        }
    }
    max
}

fn point(e7: (i32, i32)) -> LatLon {
    LatLon {
        lat: f64::from(e7.0) / COORD_SCALE,
        lon: f64::from(e7.1) / COORD_SCALE,
    }
}

/// Node coordinates of a node id, if its tile is loaded.
fn coords(tiles: &TileSet, node: GraphId) -> Option<LatLon> {
    let tile = tiles.tile_of(node)?;
    (node.index() < tile.node_count()).then(|| point(tile.node_e7(node.index())))
}

/// Least-cost path from node `source` to node `target` (any level's copy of either), or
/// `None` when unreachable. `max_speed_kmh` must bound every edge's speed for `mode`.
pub fn shortest_path(
    tiles: &TileSet,
    source: GraphId,
    target: GraphId,
    mode: Mode,
    max_speed_kmh: f64,
) -> Option<Path> {
    let goal_osm = tiles.osm_id(target)?;
    let goal = coords(tiles, target)?;
    let metres_per_second = max_speed_kmh / 3.6;
    // Lengths are kept to the decimetre, so shave 0.1 m to stay below every true cost.
    let heuristic = |node: GraphId| {
        coords(tiles, node).map_or(0.0, |p| {
            ((haversine_m(p, goal) - 0.1).max(0.0)) / metres_per_second
        })
    };
    if tiles.osm_id(source)? == goal_osm {
        return Some(Path {
            cost: 0.0,
            edges: Vec::new(),
            settled: 0,
        });
    }
    // Per edge: best cost to its end, and the edge it was reached from.
    let mut best: HashMap<GraphId, (f64, Option<GraphId>)> = HashMap::new();
    // (f, edge, g): f orders the queue, g tells stale entries from current ones.
    let mut heap: BinaryHeap<Reverse<(u64, u64, u64)>> = BinaryHeap::new();
    let mut settled = 0;
    let expand = |from: Option<GraphId>,
                  node: GraphId,
                  base: f64,
                  best: &mut HashMap<GraphId, (f64, Option<GraphId>)>,
                  heap: &mut BinaryHeap<Reverse<(u64, u64, u64)>>| {
        let Some(tile) = tiles.tile_of(node) else {
            return;
        };
        for copy in std::iter::once(node).chain(tile.transitions(node.index())) {
            let Some(t) = tiles.tile_of(copy) else {
                continue;
            };
            for e in t.out_edges(copy.index()) {
                let edge = t.edge(e);
                let Some(cost) = edge.cost(mode) else {
                    continue;
                };
                if let Some(from) = from
                    && t.forbidden(e)
                        .iter()
                        .any(|f| f.from.to_native() == from.packed() && f.modes & mode.bit().0 != 0)
                {
                    continue;
                }
                let id = GraphId::new(copy.level(), copy.tile(), e);
                let total = base + cost;
                match best.entry(id) {
                    Entry::Occupied(mut seen) if total < seen.get().0 => {
                        seen.insert((total, from));
                    }
                    Entry::Vacant(slot) => {
                        slot.insert((total, from));
                    }
                    Entry::Occupied(_) => continue,
                }
                let f = total + heuristic(edge.target());
                heap.push(Reverse((f.to_bits(), id.packed(), total.to_bits())));
            }
        }
    };
    expand(None, source, 0.0, &mut best, &mut heap);
    while let Some(Reverse((_, packed, g))) = heap.pop() {
        let e = GraphId::from_packed(packed);
        let cost = f64::from_bits(g);
        if cost > best[&e].0 {
            continue; // queued before a cheaper way to this edge was found
        }
        let Some(tile) = tiles.tile_of(e) else {
            continue;
        };
        let target = tile.edge(e.index()).target();
        settled += 1;
        if tiles.osm_id(target) == Some(goal_osm) {
            let mut edges = vec![e];
            let mut at = e;
            while let Some((_, Some(prev))) = best.get(&at) {
                edges.push(*prev);
                at = *prev;
            }
            edges.reverse();
            return Some(Path {
                cost,
                edges,
                settled,
            });
        }
        expand(Some(e), target, cost, &mut best, &mut heap);
    }
    None
}
