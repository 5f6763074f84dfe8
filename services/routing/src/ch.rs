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

/// First bytes of a stored hierarchy, then the format version: 1 was bincode 1.3, 2 is
/// postcard (varint integers, so hierarchies also shrink). The manifest's CRC covers the file.
const MAGIC: &[u8; 4] = b"RTCH";
const FORMAT: u16 = 2;
/// Deepest nesting of shortcuts a stored hierarchy may have: `fast_paths` unpacks a
/// shortcut by recursion, so this bounds the stack a query uses (the shared extracts' nest
/// at most 19 deep, in every mode, with up to 200,000 nodes).
const MAX_SHORTCUT_DEPTH: u32 = 1024;

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

/// Deserialises all of `body`: bytes left over mean a damaged or foreign file.
fn whole<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, DecodeError> {
    match postcard::take_from_bytes(body) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(DecodeError(format!("{} bytes after the end", rest.len()))),
        Err(e) => Err(DecodeError(e.to_string())),
    }
}

/// Why stored bytes were refused.
#[derive(Debug, thiserror::Error)]
#[error("contraction hierarchy: {0}")]
pub struct DecodeError(String);

/// [`Stored`] as postcard lays it out, with the graph in the fields of
/// `fast_paths::FastGraph32`. Read and checked first: `fast_paths` allocates by the stored
/// node count as it deserialises, and its queries index, add and recurse on the stored
/// numbers without a check, so nothing reaches it before [`Layout::check`] has bounded
/// every count by the bytes present.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize, Clone))]
struct Layout {
    _mode: Mode,
    edges: Vec<u64>,
    graph: GraphLayout,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize, Clone))]
struct GraphLayout {
    num_nodes: u32,
    ranks: Vec<u32>,
    edges_fwd: Vec<ArcLayout>,
    first_edge_ids_fwd: Vec<u32>,
    edges_bwd: Vec<ArcLayout>,
    first_edge_ids_bwd: Vec<u32>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize, Clone))]
struct ArcLayout {
    base_node: u32,
    adj_node: u32,
    weight: u32,
    replaced_in_edge: u32,
    replaced_out_edge: u32,
}

/// `fast_paths`' "none" (`usize::MAX`) in its 32-bit form.
const NONE_32: u32 = u32::MAX;

impl Layout {
    fn check(&self) -> Result<(), String> {
        let g = &self.graph;
        let nodes = g.num_nodes as usize;
        if nodes > self.edges.len() {
            return Err(format!("{nodes} nodes for {} edges", self.edges.len()));
        }
        if g.ranks.len() != nodes {
            return Err(format!("{} ranks for {nodes} nodes", g.ranks.len()));
        }
        let mut ranked = vec![false; nodes];
        for &rank in &g.ranks {
            match ranked.get_mut(rank as usize) {
                Some(seen @ false) => *seen = true,
                _ => return Err("ranks are not a permutation of the nodes".into()),
            }
        }
        for (first, arcs) in [
            (&g.first_edge_ids_fwd, &g.edges_fwd),
            (&g.first_edge_ids_bwd, &g.edges_bwd),
        ] {
            if first.len() != nodes + 1
                || first[0] != 0
                || first.windows(2).any(|w| w[0] > w[1])
                || first[nodes] as usize != arcs.len()
            {
                return Err("arc offsets are not an index of the arcs".into());
            }
        }
        for arc in g.edges_fwd.iter().chain(&g.edges_bwd) {
            let shortcut = (arc.replaced_in_edge, arc.replaced_out_edge);
            if arc.base_node as usize >= nodes
                || arc.adj_node as usize >= nodes
                // Summed along a path in `usize`; "none" would overflow.
                || arc.weight == NONE_32
                || !(shortcut == (NONE_32, NONE_32)
                    || (shortcut.0 as usize) < g.edges_bwd.len()
                        && (shortcut.1 as usize) < g.edges_fwd.len())
            {
                return Err("an arc points outside the graph".into());
            }
        }
        self.check_shortcuts()
    }

    /// Every shortcut unpacks, in finitely many steps, into at most as many road edges as
    /// the graph has (a shortest path visits each once) and nests at most
    /// [`MAX_SHORTCUT_DEPTH`] deep: without this a crafted file makes a query recurse
    /// forever, overflow the stack or unpack exponentially many edges.
    fn check_shortcuts(&self) -> Result<(), String> {
        let g = &self.graph;
        let fwd = g.edges_fwd.len();
        let arc = |i: usize| {
            if i < fwd {
                &g.edges_fwd[i]
            } else {
                &g.edges_bwd[i - fwd]
            }
        };
        // Arcs numbered forward then backward; per arc its unpacked length (0 while
        // unknown) and nesting depth.
        let total = fwd + g.edges_bwd.len();
        let mut length = vec![0u32; total];
        let mut depth = vec![0u32; total];
        let mut pending = vec![false; total];
        let mut stack = Vec::new();
        for root in 0..total {
            if length[root] != 0 {
                continue;
            }
            stack.push(root);
            pending[root] = true;
            while let Some(&i) = stack.last() {
                let a = arc(i);
                if a.replaced_in_edge == NONE_32 {
                    (length[i], depth[i]) = (1, 1);
                    stack.pop();
                    continue;
                }
                let parts = [
                    fwd + a.replaced_in_edge as usize,
                    a.replaced_out_edge as usize,
                ];
                if let Some(&next) = parts.iter().find(|&&p| length[p] == 0) {
                    if pending[next] {
                        return Err("a shortcut contains itself".into());
                    }
                    pending[next] = true;
                    stack.push(next);
                    continue;
                }
                let unpacked = length[parts[0]].saturating_add(length[parts[1]]);
                let nested = 1 + depth[parts[0]].max(depth[parts[1]]);
                if unpacked as usize > g.num_nodes as usize || nested > MAX_SHORTCUT_DEPTH {
                    return Err(format!(
                        "a shortcut unpacks into {unpacked} arcs nested {nested} deep"
                    ));
                }
                (length[i], depth[i]) = (unpacked, nested);
                stack.pop();
            }
        }
        Ok(())
    }
}

/// Nodes a witness search may settle while a hierarchy is customised (see
/// [`Contracted::customise_with`]; `bench traffic` measures the trade).
pub const CUSTOMISE_WITNESS_SETTLED: usize = 300;

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
        postcard::to_extend(&self.stored, out).expect("serialising to memory")
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
        // Read twice: first as plain numbers to check, then, once they are known to be
        // safe, into `fast_paths`' own types.
        let layout: Layout = whole(body)?;
        layout.check().map_err(DecodeError)?;
        drop(layout);
        let stored: Stored = whole(body)?;
        Ok(Contracted::from_stored(stored))
    }

    /// The least-cost sequence of road edges from one of `sources` to one of `targets`, each
    /// with the weight (milliseconds) it starts or ends with; `None` when none is reachable
    /// or no edge given is in the hierarchy.
    pub fn search(
        &self,
        sources: &[(GraphId, usize)],
        targets: &[(GraphId, usize)],
    ) -> Option<Vec<GraphId>> {
        let nodes = |ends: &[(GraphId, usize)]| -> Vec<(usize, usize)> {
            ends.iter()
                .filter_map(|&(edge, weight)| Some((*self.node_of.get(&edge.packed())?, weight)))
                .collect()
        };
        let (sources, targets) = (nodes(sources), nodes(targets));
        if sources.is_empty() || targets.is_empty() {
            return None;
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
        Some(
            found?
                .get_nodes()
                .iter()
                .map(|&n| GraphId::from_packed(self.stored.edges[n]))
                .collect(),
        )
    }

    /// The same hierarchy with other weights: `weight(edge, free_ms)` gives the new cost in
    /// milliseconds of entering road edge `edge`, whose current cost is `free_ms`. Contracts
    /// again in this hierarchy's node order (what customisable hierarchies and OSRM's MLD do
    /// for live traffic: the costly part, choosing the order, is not redone), so a
    /// re-weighted hierarchy answers exactly for the new weights in a fraction of an import.
    pub fn customise(
        &self,
        weight: impl Fn(GraphId, usize) -> usize,
    ) -> Result<Contracted, String> {
        self.customise_with(weight, CUSTOMISE_WITNESS_SETTLED)
    }

    /// [`Contracted::customise`] with witness searches settling at most `witness_settled`
    /// nodes: fewer is a faster customisation and more shortcuts (slower queries), and every
    /// answer stays exact (a witness not found only adds a shortcut).
    pub fn customise_with(
        &self,
        weight: impl Fn(GraphId, usize) -> usize,
        witness_settled: usize,
    ) -> Result<Contracted, String> {
        // The original arcs are the hierarchy's non-shortcut ones, read in the checked
        // layout (fast_paths keeps its arrays private).
        let bytes = postcard::to_allocvec(&self.stored).map_err(|e| e.to_string())?;
        let layout: Layout = whole(&bytes).map_err(|e| e.to_string())?;
        let g = &layout.graph;
        let mut input = InputGraph::new();
        let mut arcs = 0usize;
        // Forward arcs run base -> adj, backward ones adj -> base; an arc costs entering
        // its head's road edge.
        let forward = g.edges_fwd.iter().map(|a| (a, a.base_node, a.adj_node));
        let backward = g.edges_bwd.iter().map(|a| (a, a.adj_node, a.base_node));
        for (arc, from, to) in forward.chain(backward) {
            if arc.replaced_in_edge != NONE_32 {
                continue;
            }
            let head = GraphId::from_packed(self.stored.edges[to as usize]);
            let w = weight(head, arc.weight as usize).max(1);
            input.add_edge(from as usize, to as usize, w);
            arcs += 1;
        }
        if arcs == 0 {
            return Err("the hierarchy has no arcs".into());
        }
        input.freeze();
        let order = fast_paths::get_node_ordering(&self.stored.graph);
        if input.get_num_nodes() != order.len() {
            return Err(format!(
                "{} nodes with arcs for an order of {}",
                input.get_num_nodes(),
                order.len()
            ));
        }
        let params = fast_paths::ParamsWithOrder::new(witness_settled);
        let graph = fast_paths::prepare_with_order_with_params(&input, &order, &params)?;
        Ok(Contracted::from_stored(Stored {
            mode: self.stored.mode,
            edges: self.stored.edges.clone(),
            graph,
        }))
    }

    /// Road edges in the hierarchy, by hierarchy node (for tools and fuzzing).
    pub fn edges(&self) -> impl Iterator<Item = GraphId> + '_ {
        self.stored.edges.iter().map(|&e| GraphId::from_packed(e))
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
        let sources: Vec<(GraphId, usize)> = starts.iter().map(|s| (s.0, rest(s))).collect();
        let targets: Vec<(GraphId, usize)> = goals.iter().map(|g| (g.0, shift - rest(g))).collect();
        let Some(edges) = self.search(&sources, &targets) else {
            return Some(None);
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Level;

    /// A real hierarchy: a triangle with a slow direct road and a fast detour, so that
    /// contraction adds a shortcut.
    fn encoded() -> Vec<u8> {
        let mut input = InputGraph::new();
        for (from, to, weight) in [(0, 1, 5), (1, 2, 5), (2, 3, 5), (0, 3, 40), (3, 0, 7)] {
            input.add_edge(from, to, weight);
        }
        input.freeze();
        let edges = (0..4)
            .map(|i| GraphId::new(Level::Local, 77, i).packed())
            .collect();
        let graph = fast_paths::prepare(&input);
        Contracted::from_stored(Stored {
            mode: Mode::Driving,
            edges,
            graph,
        })
        .encode()
    }

    fn layout(bytes: &[u8]) -> Layout {
        postcard::from_bytes(&bytes[6..]).unwrap()
    }

    fn blob(layout: &Layout) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend(postcard::to_allocvec(layout).unwrap());
        out
    }

    fn refused(layout: &Layout) -> String {
        match Contracted::decode(&blob(layout)) {
            Err(e) => e.to_string(),
            Ok(c) => panic!("a crafted hierarchy was accepted: {c:?}"),
        }
    }

    #[test]
    fn the_layout_read_first_is_fast_paths_own() {
        let bytes = encoded();
        let contracted = Contracted::decode(&bytes).unwrap();
        let layout = layout(&bytes);
        assert_eq!(layout.graph.num_nodes as usize, 4);
        assert_eq!(
            layout.graph.edges_fwd.len() + layout.graph.edges_bwd.len(),
            contracted.arc_count()
        );
        assert!(
            layout
                .graph
                .edges_fwd
                .iter()
                .chain(&layout.graph.edges_bwd)
                .any(|a| a.replaced_in_edge != NONE_32),
            "the sample has a shortcut"
        );
        assert_eq!(blob(&layout), bytes);
    }

    #[test]
    fn customised_weights_change_the_route_and_keep_it_exact() {
        let contracted = Contracted::decode(&encoded()).unwrap();
        let id = |i: u32| GraphId::new(Level::Local, 77, i);
        let route = |c: &Contracted| c.search(&[(id(0), 0)], &[(id(3), 0)]).unwrap();
        // Free flow: the detour 0 -> 1 -> 2 -> 3 (15) beats the direct arc (40).
        assert_eq!(route(&contracted), vec![id(0), id(1), id(2), id(3)]);
        let same = contracted.customise(|_, ms| ms).unwrap();
        assert_eq!(route(&same), route(&contracted));
        // A jam on edge 2 (entering it costs 100 instead of 5): the detour costs 110, so
        // the direct arc (40) wins.
        let jammed = contracted
            .customise(|edge, ms| if edge == id(2) { 100 } else { ms })
            .unwrap();
        assert_eq!(route(&jammed), vec![id(0), id(3)]);
    }

    #[test]
    fn other_formats_and_trailing_bytes_are_refused() {
        let bytes = encoded();
        let mut extended = bytes.clone();
        extended.push(0);
        match Contracted::decode(&extended) {
            Err(e) => assert!(e.to_string().contains("1 bytes after the end"), "{e}"),
            Ok(_) => panic!("trailing bytes were accepted"),
        }
        let mut older = bytes;
        older[4..6].copy_from_slice(&1u16.to_le_bytes());
        match Contracted::decode(&older) {
            Err(e) => assert!(
                e.to_string().contains("format 1 (this build reads 2)"),
                "{e}"
            ),
            Ok(_) => panic!("a format-1 (bincode) hierarchy was accepted"),
        }
    }

    #[test]
    fn an_inflated_node_count_is_refused_before_fast_paths_allocates_by_it() {
        // `fast_paths` reserves three `usize` columns per stored node while deserialising,
        // before anything could be checked: 96 GiB here, which aborted the process.
        let mut crafted = layout(&encoded());
        crafted.graph.num_nodes = u32::MAX - 1;
        assert!(refused(&crafted).contains("nodes for 4 edges"));
        let mut crafted = layout(&encoded());
        crafted.edges = vec![0; 1 << 20];
        crafted.graph.num_nodes = 1 << 20;
        assert!(refused(&crafted).contains("ranks"));
    }

    /// What a crafted file changes.
    type Damage = fn(&mut GraphLayout);

    #[test]
    fn indexes_and_weights_are_bounded_by_the_graph() {
        let good = layout(&encoded());
        let cases: Vec<(&str, Damage)> = vec![
            ("permutation", |g| g.ranks[0] = g.ranks[1]),
            ("permutation", |g| g.ranks[0] = 4),
            ("index of the arcs", |g| g.first_edge_ids_fwd[4] += 1),
            ("index of the arcs", |g| {
                g.first_edge_ids_bwd.pop();
            }),
            ("index of the arcs", |g| g.first_edge_ids_fwd[0] = 1),
            ("outside the graph", |g| g.edges_fwd[0].adj_node = 4),
            ("outside the graph", |g| g.edges_bwd[0].base_node = u32::MAX),
            ("outside the graph", |g| g.edges_fwd[0].weight = NONE_32),
            ("outside the graph", |g| g.edges_fwd[0].replaced_in_edge = 0),
            ("outside the graph", |g| {
                g.edges_fwd[0].replaced_in_edge = 0;
                g.edges_fwd[0].replaced_out_edge = 1000;
            }),
        ];
        for (expected, damage) in cases {
            let mut crafted = good.clone();
            damage(&mut crafted.graph);
            let why = refused(&crafted);
            assert!(why.contains(expected), "{why}");
        }
    }

    /// A graph of `nodes` nodes whose arcs all leave node 0, with `fwd` and `bwd` given.
    fn graph(nodes: u32, fwd: Vec<ArcLayout>, bwd: Vec<ArcLayout>) -> Layout {
        let offsets = |arcs: usize| {
            let mut first = vec![arcs as u32; nodes as usize + 1];
            first[0] = 0;
            first
        };
        Layout {
            _mode: Mode::Walking,
            edges: vec![0; nodes as usize],
            graph: GraphLayout {
                num_nodes: nodes,
                ranks: (0..nodes).collect(),
                first_edge_ids_fwd: offsets(fwd.len()),
                first_edge_ids_bwd: offsets(bwd.len()),
                edges_fwd: fwd,
                edges_bwd: bwd,
            },
        }
    }

    fn arc(replaced: Option<(u32, u32)>) -> ArcLayout {
        let (replaced_in_edge, replaced_out_edge) = replaced.unwrap_or((NONE_32, NONE_32));
        ArcLayout {
            base_node: 0,
            adj_node: 1,
            weight: 1,
            replaced_in_edge,
            replaced_out_edge,
        }
    }

    #[test]
    fn shortcuts_must_unpack_finitely_shallowly_and_into_few_arcs() {
        // Well formed: every shortcut replaces an original pair.
        let fine = graph(3, vec![arc(None), arc(Some((0, 0)))], vec![arc(None)]);
        Contracted::decode(&blob(&fine)).unwrap();
        // A shortcut made of itself: unpacking it never ends.
        let cycle = graph(3, vec![arc(None), arc(Some((0, 1)))], vec![arc(None)]);
        assert!(refused(&cycle).contains("contains itself"));
        let cycle = graph(3, vec![arc(Some((0, 0)))], vec![arc(Some((0, 0)))]);
        assert!(refused(&cycle).contains("contains itself"));
        // Each level doubles the previous one: 2^40 arcs from 80 stored.
        let levels = 40;
        let doubling = |k: u32| arc((k > 0).then(|| (k - 1, k - 1)));
        let bomb = graph(
            1000,
            (0..levels).map(doubling).collect(),
            (0..levels).map(doubling).collect(),
        );
        assert!(refused(&bomb).contains("unpacks into"));
        // Growing by one arc per level: few arcs, but the recursion would overflow the stack.
        let deep = MAX_SHORTCUT_DEPTH + 1;
        let chain = graph(
            4 * deep,
            (0..deep)
                .map(|k| arc((k > 0).then(|| (0, k - 1))))
                .collect(),
            vec![arc(None)],
        );
        assert!(refused(&chain).contains("deep"));
    }
}
