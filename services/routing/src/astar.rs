//! A* over tiles, edge-based so turn restrictions hold, following edges across tile
//! borders and transitions between levels. This is the exact mode (every level searched);
//! the hierarchical planner of the navigation service prunes on top of it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::hash_map::Entry;

use geo_core::{LatLon, haversine_m};
use rustc_hash::{FxHashMap as HashMap, FxHashSet};

use crate::graph::{Graph, e7_to_latlon};
use crate::ids::{GraphId, Level};
use crate::mode::Mode;
use crate::snap::Snap;
use crate::tags::{RoadClass, WALKING_SPEED_KMH, flags};
use crate::tile::EdgeRef;
use crate::tiling::{TileSet, TileSource};

/// The best path found: its cost (seconds), the edges in order, and work done.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub cost: f64,
    pub edges: Vec<GraphId>,
    /// Edges taken off the queue.
    pub settled: usize,
}

fn speed_floor(mode: Mode) -> f64 {
    match mode {
        Mode::Walking => WALKING_SPEED_KMH,
        Mode::Cycling => RoadClass::Residential.cycling_speed_kmh(),
        Mode::Driving => 1.0,
    }
}

/// An upper bound on any edge's speed for `mode` in the graph, km/h: recorded in each
/// version's manifest so that a router loading tiles on demand keeps its heuristic admissible.
pub fn graph_max_speed_kmh(graph: &Graph, mode: Mode) -> f64 {
    let mut max = speed_floor(mode);
    for edge in &graph.edges {
        if let Some(cost) = edge.cost(mode)
            && cost > 0.0
        {
            max = max.max(f64::from(edge.length_m) / cost * 3.6);
        }
    }
    max
}

/// Like [`graph_max_speed_kmh`], over loaded tiles.
pub fn max_speed_kmh(tiles: &TileSet, mode: Mode) -> f64 {
    let mut max = speed_floor(mode);
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

/// Node coordinates of a node id, if its tile is loaded.
pub fn coords<T: TileSource + ?Sized>(tiles: &T, node: GraphId) -> Option<LatLon> {
    let tile = tiles.tile_of(node)?;
    (node.index() < tile.node_count()).then(|| e7_to_latlon(tile.node_e7(node.index())))
}

/// Least-cost path from node `source` to node `target` (any level's copy of either), or
/// `None` when unreachable. `max_speed_kmh` must bound every edge's speed for `mode`.
pub fn shortest_path<T: TileSource + ?Sized>(
    tiles: &T,
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
    let mut best: HashMap<GraphId, (f64, Option<GraphId>)> = HashMap::default();
    // (f, edge, g): f orders the queue, g tells stale entries from current ones.
    let mut heap: BinaryHeap<Reverse<(u64, u64, u64)>> = BinaryHeap::new();
    let mut settled = 0;
    let expand = |from: Option<GraphId>,
                  node: GraphId,
                  base: f64,
                  best: &mut HashMap<GraphId, (f64, Option<GraphId>)>,
                  heap: &mut BinaryHeap<Reverse<(u64, u64, u64)>>| {
        for (id, edge, cost) in tiles.turns(from, node, mode) {
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

/// A route between two snapped points: the first and last edges are partly travelled.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapPath {
    /// Travel time in seconds, without any alternative-search penalty.
    pub cost: f64,
    /// Every edge touched, in order; the first is entered at `start_fraction`, the last left
    /// at `end_fraction` (fractions of each edge's length from its source).
    pub edges: Vec<GraphId>,
    pub start_fraction: f64,
    pub end_fraction: f64,
    pub settled: usize,
}

/// The same chain in the other direction.
pub fn twin<T: TileSource + ?Sized>(tiles: &T, edge: GraphId) -> Option<GraphId> {
    let tile = tiles.tile_of(edge)?;
    let e = tile.edge(edge.index());
    let target = e.target();
    let other = tiles.tile_of(target)?;
    other
        .out_edges(target.index())
        .find(|&o| {
            let o = other.edge(o);
            o.way_id() == e.way_id() && o.seg() == e.seg() && o.forward() != e.forward()
        })
        .map(|o| GraphId::new(target.level(), target.tile(), o))
}

/// Road features a route may be asked to avoid (Google's `avoid=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Avoid {
    /// Motorways and trunk roads with their links.
    pub highways: bool,
    pub tolls: bool,
    pub ferries: bool,
}

impl Avoid {
    pub fn allows(&self, edge: &EdgeRef<'_>) -> bool {
        let f = edge.flags();
        !(self.tolls && f & flags::TOLL != 0
            || self.ferries && (f & flags::FERRY != 0 || edge.class() == RoadClass::Ferry)
            || self.highways
                && matches!(
                    edge.class(),
                    RoadClass::Motorway
                        | RoadClass::MotorwayLink
                        | RoadClass::Trunk
                        | RoadClass::TrunkLink
                ))
    }
}

/// How far from the origin and destination the lower levels are searched: beyond these
/// straight-line distances from both ends only bigger roads are expanded (the design's
/// "enter the bigger tiles containing only highways"). Trades exactness for speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hierarchy {
    pub local_m: f64,
    pub arterial_m: f64,
}

impl Hierarchy {
    /// Whether an edge on `level`, leaving a node `from_origin_m` and `to_destination_m`
    /// away from the two ends, may be expanded.
    fn allows(&self, level: Level, from_origin_m: f64, to_destination_m: f64) -> bool {
        let near = from_origin_m.min(to_destination_m);
        match level {
            Level::Highway => true,
            Level::Arterial => near <= self.arterial_m,
            Level::Local => near <= self.local_m,
        }
    }
}

/// Everything one search needs besides the tiles and the two ends.
#[derive(Debug, Clone)]
pub struct SearchOptions<'a> {
    pub mode: Mode,
    /// Bounds every edge speed for `mode` (keeps the heuristic admissible).
    pub max_speed_kmh: f64,
    pub avoid: Avoid,
    /// `None` searches every level everywhere: the exact mode.
    pub hierarchy: Option<Hierarchy>,
    /// Chains (way id, segment) whose cost is multiplied by `penalty`: how alternatives
    /// are pushed away from routes already found.
    pub penalized: Option<&'a FxHashSet<(i64, u32)>>,
    pub penalty: f64,
    /// Most edges the search may settle before giving up (see [`Search::exhausted`]): what
    /// one request may cost in time and memory, whatever the map's size.
    pub max_settled: usize,
}

impl SearchOptions<'_> {
    pub fn exact(mode: Mode, max_speed_kmh: f64) -> SearchOptions<'static> {
        SearchOptions {
            mode,
            max_speed_kmh,
            avoid: Avoid::default(),
            hierarchy: None,
            penalized: None,
            penalty: 1.0,
            max_settled: usize::MAX,
        }
    }

    /// The cost the search uses for an edge (its travel time, times any penalty), or `None`
    /// when the edge is not to be used.
    fn weight(&self, edge: &EdgeRef<'_>) -> Option<f64> {
        self.weight_of(edge, edge.cost(self.mode)?)
    }

    /// [`SearchOptions::weight`] for an edge whose travel time is known.
    fn weight_of(&self, edge: &EdgeRef<'_>, cost: f64) -> Option<f64> {
        if self.avoid != Avoid::default() && !self.avoid.allows(edge) {
            return None;
        }
        Some(match self.penalized {
            Some(set) if set.contains(&(edge.way_id(), edge.seg())) => cost * self.penalty,
            _ => cost,
        })
    }
}

/// Travel time of a found path (no penalties), its partial first and last edges included.
pub fn path_cost<T: TileSource + ?Sized>(tiles: &T, path: &SnapPath, mode: Mode) -> Option<f64> {
    let n = path.edges.len();
    let mut total = 0.0;
    for (i, &e) in path.edges.iter().enumerate() {
        let c = tiles.edge(e)?.cost(mode)?;
        let from = if i == 0 { path.start_fraction } else { 0.0 };
        let to = if i + 1 == n { path.end_fraction } else { 1.0 };
        total += (to - from).max(0.0) * c;
    }
    Some(total)
}

/// Both directions of a snapped edge that `options` let a route use: (edge, fraction of
/// its cost before the snapped point, its weight).
pub(crate) fn snap_directions<T: TileSource + ?Sized>(
    tiles: &T,
    snap: &Snap,
    options: &SearchOptions<'_>,
) -> Vec<(GraphId, f64, f64)> {
    let mut out = Vec::new();
    let mut add = |edge: GraphId, before: f64| {
        if let Some(tile) = tiles.tile_of(edge)
            && let Some(c) = options.weight(&tile.edge(edge.index()))
        {
            out.push((edge, before, c));
        }
    };
    add(snap.edge, snap.fraction);
    if let Some(t) = twin(tiles, snap.edge) {
        add(t, 1.0 - snap.fraction);
    }
    out
}

/// Least-cost route from `origin` to `destination` (snapped onto edges the mode may use),
/// in either direction along the snapped edges. `None` when unreachable under `options`
/// or when the search settled `options.max_settled` edges first ([`search_between`] tells
/// the two apart).
pub fn route_between<T: TileSource + ?Sized>(
    tiles: &T,
    origin: &Snap,
    destination: &Snap,
    options: &SearchOptions<'_>,
) -> Option<SnapPath> {
    search_between(tiles, origin, destination, options).path
}

/// What one search found, and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub path: Option<SnapPath>,
    /// Edges taken off the queue, whether or not a path was found.
    pub settled: usize,
    /// The search stopped at `max_settled` without an answer: neither a route nor proof
    /// that there is none.
    pub exhausted: bool,
}

/// [`route_between`], reporting the work done and whether the budget ran out.
pub fn search_between<T: TileSource + ?Sized>(
    tiles: &T,
    origin: &Snap,
    destination: &Snap,
    options: &SearchOptions<'_>,
) -> Search {
    let mut search = Search {
        path: None,
        settled: 0,
        exhausted: false,
    };
    search.path = search_within(tiles, origin, destination, options, &mut search);
    search
}

fn search_within<T: TileSource + ?Sized>(
    tiles: &T,
    origin: &Snap,
    destination: &Snap,
    options: &SearchOptions<'_>,
    work: &mut Search,
) -> Option<SnapPath> {
    let metres_per_second = options.max_speed_kmh / 3.6;
    let goal = destination.point;
    let start = origin.point;
    let starts = snap_directions(tiles, origin, options);
    let goals = snap_directions(tiles, destination, options);

    // Queue entries: (f, goal?, edge, g). An edge entry means "at the end of this edge";
    // a goal entry means "arrived, having entered this goal edge".
    let mut heap: BinaryHeap<Reverse<(u64, bool, u64, u64)>> = BinaryHeap::new();
    let mut best: HashMap<GraphId, (f64, Option<GraphId>)> =
        HashMap::with_capacity_and_hasher(1 << 12, Default::default());
    let mut best_goal: HashMap<GraphId, (f64, Option<GraphId>, f64)> = HashMap::default();
    let push_goal = |edge: GraphId,
                     cost: f64,
                     from: Option<GraphId>,
                     start_fraction: f64,
                     best_goal: &mut HashMap<GraphId, (f64, Option<GraphId>, f64)>,
                     heap: &mut BinaryHeap<Reverse<(u64, bool, u64, u64)>>| {
        if best_goal.get(&edge).is_none_or(|b| cost < b.0) {
            best_goal.insert(edge, (cost, from, start_fraction));
            heap.push(Reverse((
                cost.to_bits(),
                true,
                edge.packed(),
                cost.to_bits(),
            )));
        }
    };
    // The straight-line (chord) distance to the goal: never more than the great-circle
    // distance, so an admissible bound, and cheaper (no `asin`).
    let goal_origin = geo_core::Origin::new(goal);
    let heuristic = |p: LatLon| ((goal_origin.chord_m(p) - 0.1).max(0.0)) / metres_per_second;
    for &(edge, before, cost) in &starts {
        let g = (1.0 - before) * cost;
        best.insert(edge, (g, None));
        let target = tiles.tile_of(edge)?.edge(edge.index()).target();
        let h = coords(tiles, target).map_or(0.0, heuristic);
        heap.push(Reverse((
            (g + h).to_bits(),
            false,
            edge.packed(),
            g.to_bits(),
        )));
        // Origin and destination on the same edge, destination ahead: no node in between.
        for &(goal_edge, goal_before, _) in &goals {
            if goal_edge == edge && goal_before >= before {
                push_goal(
                    edge,
                    (goal_before - before) * cost,
                    None,
                    before,
                    &mut best_goal,
                    &mut heap,
                );
            }
        }
    }
    while let Some(Reverse((_, is_goal, packed, g))) = heap.pop() {
        let e = GraphId::from_packed(packed);
        let cost = f64::from_bits(g);
        if is_goal {
            let (_, from, start_fraction) = best_goal[&e];
            let end_fraction = goals.iter().find(|g| g.0 == e).map_or(0.0, |g| g.1);
            let mut edges = vec![e];
            let mut at = from;
            while let Some(prev) = at {
                edges.push(prev);
                at = best.get(&prev).and_then(|b| b.1);
            }
            edges.reverse();
            let start_fraction = if from.is_none() {
                start_fraction
            } else {
                starts.iter().find(|s| s.0 == edges[0]).map_or(0.0, |s| s.1)
            };
            let mut path = SnapPath {
                cost,
                edges,
                start_fraction,
                end_fraction,
                settled: work.settled,
            };
            if options.penalized.is_some() {
                path.cost = path_cost(tiles, &path, options.mode)?;
            }
            return Some(path);
        }
        if cost > best[&e].0 {
            continue;
        }
        if work.settled >= options.max_settled {
            work.exhausted = true;
            return None;
        }
        work.settled += 1;
        let Some(tile) = tiles.tile_of(e) else {
            continue;
        };
        let node = tile.edge(e.index()).target();
        let here = coords(tiles, node);
        let (from_origin, to_goal) = match (options.hierarchy, here) {
            (Some(_), Some(p)) => (haversine_m(p, start), haversine_m(p, goal)),
            _ => (0.0, 0.0),
        };
        // Levels this node may expand (all in exact mode), decided before any tile is read.
        let allowed: [bool; 3] = match options.hierarchy {
            Some(h) => Level::ALL.map(|l| h.allows(l, from_origin, to_goal)),
            None => [true; 3],
        };
        let level_ok = move |l: Level| allowed[l as usize];
        for (id, edge, cost_of_edge) in tiles.turns_on(Some(e), node, options.mode, level_ok) {
            let Some(c) = options.weight_of(&edge, cost_of_edge) else {
                continue;
            };
            if let Some(&(_, goal_before, _)) = goals.iter().find(|g| g.0 == id) {
                push_goal(
                    id,
                    cost + goal_before * c,
                    Some(e),
                    0.0,
                    &mut best_goal,
                    &mut heap,
                );
            }
            let total = cost + c;
            if best.get(&id).is_none_or(|b| total < b.0) {
                best.insert(id, (total, Some(e)));
                let h = coords(tiles, edge.target()).map_or(0.0, heuristic);
                heap.push(Reverse((
                    (total + h).to_bits(),
                    false,
                    id.packed(),
                    total.to_bits(),
                )));
            }
        }
    }
    None
}
