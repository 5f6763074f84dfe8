//! Contraction hierarchies: an exact speed-up for the plain query (a mode, no `avoid`, no
//! alternative penalties). The import contracts the edge-based graph of each mode (a node
//! per directed road edge the mode may use, an arc per allowed turn, weighted by the cost of
//! the edge turned onto), so turn restrictions hold exactly as in the A* and the reference
//! Dijkstra. Queries answer with tile edge ids; geometry, names and the exact cost still come
//! from the tiles, loaded on demand.
//!
//! Weights are whole milliseconds ([`fast_paths`] takes integers); the route's cost is
//! recomputed from the tiles, so rounding can only pick among routes whose costs differ by a
//! few milliseconds.

use std::sync::Mutex;

use fast_paths::{FastGraph, InputGraph, PathCalculator};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::astar::{SearchOptions, SnapPath, path_cost, snap_directions};
use crate::graph::Graph;
use crate::ids::GraphId;
use crate::mode::Mode;
use crate::snap::Snap;
use crate::tiling::TileSource;

/// First bytes of a stored hierarchy, then the format version.
const MAGIC: &[u8; 4] = b"RTCH";
const FORMAT: u16 = 1;

fn millis(seconds: f64) -> usize {
    (seconds * 1000.0).round() as usize
}

/// What is stored per mode and version.
#[derive(Serialize, Deserialize)]
struct Stored {
    mode: Mode,
    /// Hierarchy node -> the road edge (packed [`GraphId`]) it stands for.
    edges: Vec<u64>,
    #[serde(
        serialize_with = "fast_paths::serialize_32",
        deserialize_with = "fast_paths::deserialize_32"
    )]
    graph: FastGraph,
}

/// A contracted edge-based graph for one mode, ready for queries from any thread.
pub struct Contracted {
    stored: Stored,
    node_of: FxHashMap<u64, usize>,
    /// Query workspaces (each as large as the graph), reused across queries.
    calculators: Mutex<Vec<PathCalculator>>,
}

impl std::fmt::Debug for Contracted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contracted")
            .field("mode", &self.stored.mode)
            .field("nodes", &self.stored.edges.len())
            .finish_non_exhaustive()
    }
}

/// Contracts `graph` for `mode`; `edge_ids` names each graph edge in the tiles
/// ([`crate::tiling::edge_ids`]).
pub fn contract(graph: &Graph, edge_ids: &[GraphId], mode: Mode) -> Contracted {
    let mut node_of_edge = vec![usize::MAX; graph.edges.len()];
    let mut edges = Vec::new();
    for (i, e) in graph.edges.iter().enumerate() {
        if e.cost(mode).is_some() {
            node_of_edge[i] = edges.len();
            edges.push(edge_ids[i].packed());
        }
    }
    let mut input = InputGraph::new();
    for (i, e) in graph.edges.iter().enumerate() {
        let from = node_of_edge[i];
        if from == usize::MAX {
            continue;
        }
        for next in graph.out_edges(e.target) {
            let to = node_of_edge[next as usize];
            if to == usize::MAX || to == from || graph.is_forbidden(i as u32, next, mode) {
                continue;
            }
            let cost = graph.edges[next as usize].cost(mode).unwrap_or(0.0);
            input.add_edge(from, to, millis(cost).max(1));
        }
    }
    input.freeze();
    // Nodes after the last one with an arc are not in the contracted graph: they are
    // isolated, and queries treat them as unreachable.
    let graph = fast_paths::prepare(&input);
    Contracted::from_stored(Stored { mode, edges, graph })
}

/// Why stored bytes were refused.
#[derive(Debug, thiserror::Error)]
#[error("contraction hierarchy: {0}")]
pub struct DecodeError(String);

impl Contracted {
    fn from_stored(stored: Stored) -> Contracted {
        // Only nodes in the contracted graph: the others have no arc at all.
        let node_of = stored
            .edges
            .iter()
            .take(stored.graph.get_num_nodes())
            .enumerate()
            .map(|(n, &e)| (e, n))
            .collect();
        Contracted {
            stored,
            node_of,
            calculators: Mutex::new(Vec::new()),
        }
    }

    pub fn mode(&self) -> Mode {
        self.stored.mode
    }

    /// Nodes (directed road edges usable by the mode).
    pub fn node_count(&self) -> usize {
        self.stored.edges.len()
    }

    /// Arcs, shortcuts included, up and down.
    pub fn arc_count(&self) -> usize {
        self.stored.graph.get_num_out_edges() + self.stored.graph.get_num_in_edges()
    }

    /// The stored form: magic, format, then the serialised hierarchy.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.arc_count() * 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        bincode::serialize_into(&mut out, &self.stored).expect("serialising to memory");
        out
    }

    /// Reads what [`Contracted::encode`] wrote, refusing anything malformed.
    pub fn decode(bytes: &[u8]) -> Result<Contracted, DecodeError> {
        let body = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| DecodeError("not a stored hierarchy".into()))?;
        let (format, body) = body
            .split_first_chunk::<2>()
            .ok_or_else(|| DecodeError("truncated".into()))?;
        if u16::from_le_bytes(*format) != FORMAT {
            return Err(DecodeError(format!(
                "format {} (this build reads {FORMAT})",
                u16::from_le_bytes(*format)
            )));
        }
        let stored: Stored = bincode::deserialize(body).map_err(|e| DecodeError(e.to_string()))?;
        if stored.graph.get_num_nodes() > stored.edges.len() {
            return Err(DecodeError(format!(
                "{} nodes for {} edges",
                stored.graph.get_num_nodes(),
                stored.edges.len()
            )));
        }
        Ok(Contracted::from_stored(stored))
    }

    /// The least-cost route between two snapped points, as [`crate::astar::route_between`]
    /// finds it with [`SearchOptions::exact`]. `None` when the hierarchy cannot answer:
    /// both ends on the same road chain (the A* handles partly travelled single edges);
    /// `Some(None)` when the destination is unreachable.
    pub fn route<T: TileSource + ?Sized>(
        &self,
        tiles: &T,
        origin: &Snap,
        destination: &Snap,
    ) -> Option<Option<SnapPath>> {
        let mode = self.stored.mode;
        let options = SearchOptions::exact(mode, 0.0);
        let starts = snap_directions(tiles, origin, &options);
        let goals = snap_directions(tiles, destination, &options);
        if starts.iter().any(|s| goals.iter().any(|g| g.0 == s.0)) {
            return None;
        }
        // A node stands for "at the end of this edge". Goals are reached part-way along
        // their edge, so each target weight is minus the part not travelled, shifted by a
        // constant to stay non-negative (the same for every target, so the best is kept).
        let rest = |&(_, before, cost): &(GraphId, f64, f64)| millis((1.0 - before) * cost);
        let shift = goals.iter().map(rest).max().unwrap_or(0);
        let sources: Vec<(usize, usize)> = starts
            .iter()
            .filter_map(|s| Some((*self.node_of.get(&s.0.packed())?, rest(s))))
            .collect();
        let targets: Vec<(usize, usize)> = goals
            .iter()
            .filter_map(|g| Some((*self.node_of.get(&g.0.packed())?, shift - rest(g))))
            .collect();
        if sources.is_empty() || targets.is_empty() {
            return Some(None);
        }
        let mut calculator = self
            .calculators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_else(|| fast_paths::create_calculator(&self.stored.graph));
        let found =
            calculator.calc_path_multiple_sources_and_targets(&self.stored.graph, sources, targets);
        self.calculators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(calculator);
        let Some(found) = found else {
            return Some(None);
        };
        let edges: Vec<GraphId> = found
            .get_nodes()
            .iter()
            .map(|&n| GraphId::from_packed(self.stored.edges[n]))
            .collect();
        let first = *edges.first()?;
        let last = *edges.last()?;
        let mut path = SnapPath {
            cost: 0.0,
            start_fraction: starts.iter().find(|s| s.0 == first)?.1,
            end_fraction: goals.iter().find(|g| g.0 == last)?.1,
            edges,
            settled: 0,
        };
        path.cost = path_cost(tiles, &path, mode)?;
        Some(Some(path))
    }
}
