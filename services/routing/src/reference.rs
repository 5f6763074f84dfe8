//! The exact reference router: plain edge-based Dijkstra (edge-based so turn restrictions
//! count), once over the in-memory graph and once directly over tiles, following edges
//! across tile borders and transitions between levels. Slow and simple on purpose: it is
//! the oracle the tile format and the navigation router are checked against.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::graph::Graph;
use crate::ids::GraphId;
use crate::mode::Mode;
use crate::tiling::{TileSet, TileSource};

/// Costs are non-negative, so their IEEE bits order like the values.
fn key(cost: f64) -> u64 {
    cost.to_bits()
}

/// Least travel cost (seconds) from `source` to every node; `f64::INFINITY` when unreachable.
pub fn distances(graph: &Graph, source: u32, mode: Mode) -> Vec<f64> {
    let mut node_cost = vec![f64::INFINITY; graph.nodes.len()];
    let mut edge_cost = vec![f64::INFINITY; graph.edges.len()];
    let mut heap = BinaryHeap::new();
    node_cost[source as usize] = 0.0;
    for e in graph.out_edges(source) {
        if let Some(c) = graph.edges[e as usize].cost(mode)
            && c < edge_cost[e as usize]
        {
            edge_cost[e as usize] = c;
            heap.push(Reverse((key(c), e)));
        }
    }
    while let Some(Reverse((k, e))) = heap.pop() {
        let cost = f64::from_bits(k);
        if cost > edge_cost[e as usize] {
            continue;
        }
        let v = graph.edges[e as usize].target;
        if cost < node_cost[v as usize] {
            node_cost[v as usize] = cost;
        }
        for next in graph.out_edges(v) {
            let Some(c) = graph.edges[next as usize].cost(mode) else {
                continue;
            };
            if graph.is_forbidden(e, next, mode) {
                continue;
            }
            let total = cost + c;
            if total < edge_cost[next as usize] {
                edge_cost[next as usize] = total;
                heap.push(Reverse((key(total), next)));
            }
        }
    }
    node_cost
}

/// Every node's id on the first level it appears on, by OSM id.
pub fn tile_node_ids(tiles: &TileSet) -> HashMap<i64, GraphId> {
    let mut ids = HashMap::new();
    for tile in tiles.iter() {
        for i in 0..tile.node_count() {
            ids.entry(tile.node_osm_id(i))
                .or_insert_with(|| GraphId::new(tile.level(), tile.id(), i));
        }
    }
    ids
}

/// Like [`distances`], over tiles; results by OSM node id (reachable nodes only).
pub fn tile_distances<T: TileSource + ?Sized>(
    tiles: &T,
    source: GraphId,
    mode: Mode,
) -> HashMap<i64, f64> {
    let mut node_cost: HashMap<i64, f64> = HashMap::new();
    let mut edge_cost: HashMap<GraphId, f64> = HashMap::new();
    let mut heap = BinaryHeap::new();
    let relax = |from: Option<GraphId>,
                 node: GraphId,
                 base: f64,
                 edge_cost: &mut HashMap<GraphId, f64>,
                 heap: &mut BinaryHeap<Reverse<(u64, u64)>>| {
        for (id, _, c) in tiles.turns(from, node, mode) {
            let total = base + c;
            if total < edge_cost.get(&id).copied().unwrap_or(f64::INFINITY) {
                edge_cost.insert(id, total);
                heap.push(Reverse((key(total), id.packed())));
            }
        }
    };
    if let Some(osm) = tiles.osm_id(source) {
        node_cost.insert(osm, 0.0);
    }
    relax(None, source, 0.0, &mut edge_cost, &mut heap);
    while let Some(Reverse((k, packed))) = heap.pop() {
        let cost = f64::from_bits(k);
        let e = GraphId::from_packed(packed);
        if cost > edge_cost[&e] {
            continue;
        }
        let Some(tile) = tiles.tile_of(e) else {
            continue;
        };
        let target = tile.edge(e.index()).target();
        if let Some(osm) = tiles.osm_id(target) {
            let best = node_cost.entry(osm).or_insert(f64::INFINITY);
            if cost < *best {
                *best = cost;
            }
        }
        relax(Some(e), target, cost, &mut edge_cost, &mut heap);
    }
    node_cost
}

/// Edge-based Dijkstra from partly travelled start edges: `seeds` are (edge, cost at its
/// end). Returns, per edge, the least cost at its end and the least cost on entering it
/// (`f64::INFINITY` when unreached), so that a goal part-way along an edge costs
/// `enter + fraction * edge cost`: the oracle for routes between snapped points.
pub fn edge_costs_from(graph: &Graph, seeds: &[(u32, f64)], mode: Mode) -> (Vec<f64>, Vec<f64>) {
    let mut end = vec![f64::INFINITY; graph.edges.len()];
    let mut enter = vec![f64::INFINITY; graph.edges.len()];
    let mut heap = BinaryHeap::new();
    for &(e, c) in seeds {
        if c < end[e as usize] {
            end[e as usize] = c;
            heap.push(Reverse((key(c), e)));
        }
    }
    while let Some(Reverse((k, e))) = heap.pop() {
        let cost = f64::from_bits(k);
        if cost > end[e as usize] {
            continue;
        }
        let v = graph.edges[e as usize].target;
        for next in graph.out_edges(v) {
            let Some(c) = graph.edges[next as usize].cost(mode) else {
                continue;
            };
            if graph.is_forbidden(e, next, mode) {
                continue;
            }
            if cost < enter[next as usize] {
                enter[next as usize] = cost;
            }
            let total = cost + c;
            if total < end[next as usize] {
                end[next as usize] = total;
                heap.push(Reverse((key(total), next)));
            }
        }
    }
    (end, enter)
}
