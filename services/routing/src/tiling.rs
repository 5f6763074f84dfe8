//! Cutting the graph into tiles per level, and stitching tiles back into one graph.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::graph::{Edge, ForbiddenTurn, Graph, Node, length_to_dm};
use crate::ids::{GraphId, Level, MAX_INDEX};
use crate::mode::{Mode, ModeMask};
use crate::tile::{
    EDGE_AGAINST_CHAIN, EDGE_FORWARD, EdgeRef, NO_STRING, SHAPE_END_STORED, Tile, TileData,
    TileForbidden, encode_shape, tile_origin_e7,
};

/// Where every node and edge of a graph goes: per level, each node's id there and each
/// tile's member nodes; each edge's id. The one numbering tiles and every index over them
/// share.
struct Layout {
    node_ids: Vec<Vec<Option<GraphId>>>,
    tiles: Vec<BTreeMap<u32, Vec<u32>>>,
    edge_id_of: Vec<GraphId>,
}

fn layout(graph: &Graph) -> Result<Layout, String> {
    let node_count = graph.nodes.len();
    // Per level: node -> its GraphId there; edge -> its GraphId.
    let mut node_ids: Vec<Vec<Option<GraphId>>> = vec![vec![None; node_count]; Level::ALL.len()];
    let mut tiles: Vec<BTreeMap<u32, Vec<u32>>> = vec![BTreeMap::new(); Level::ALL.len()];
    let mut on_level = vec![[false; 3]; node_count];
    for e in &graph.edges {
        let l = e.level() as usize;
        on_level[e.source as usize][l] = true;
        on_level[e.target as usize][l] = true;
    }
    for (n, levels) in on_level.iter().enumerate() {
        let node = &graph.nodes[n];
        for level in Level::ALL {
            if levels[level as usize] {
                let tile = level.tile_of(node.lat(), node.lon());
                let members = tiles[level as usize].entry(tile).or_default();
                let index = members.len() as u32;
                if index > MAX_INDEX {
                    return Err(format!(
                        "tile {tile} on level {} has too many nodes",
                        level.as_str()
                    ));
                }
                members.push(n as u32);
                node_ids[level as usize][n] = Some(GraphId::new(level, tile, index));
            }
        }
    }
    // Edge ids follow the order `cut` writes edges in: tile by tile, node by node.
    let mut edge_id_of = vec![GraphId::from_packed(0); graph.edges.len()];
    for level in Level::ALL {
        for (&tile, members) in &tiles[level as usize] {
            let mut index = 0;
            for &n in members {
                for e in graph.out_edges(n) {
                    if graph.edges[e as usize].level() == level {
                        edge_id_of[e as usize] = GraphId::new(level, tile, index);
                        index += 1;
                    }
                }
            }
        }
    }
    Ok(Layout {
        node_ids,
        tiles,
        edge_id_of,
    })
}

/// The id each graph edge gets in the tiles [`cut`] makes, by graph edge index.
pub fn edge_ids(graph: &Graph) -> Result<Vec<GraphId>, String> {
    layout(graph).map(|l| l.edge_id_of)
}

/// Splits `graph` into tiles: an edge lives on its class's level, in the tile of its source
/// node; a node appears on every level where it has an edge.
pub fn cut(graph: &Graph) -> Result<Vec<TileData>, String> {
    let Layout {
        node_ids,
        tiles,
        edge_id_of,
    } = layout(graph)?;
    let mut out = Vec::new();
    for level in Level::ALL {
        for (&tile, members) in &tiles[level as usize] {
            let mut data = TileData {
                level: level as u8,
                tile_id: tile,
                ..Default::default()
            };
            let origin = tile_origin_e7(level, tile);
            let mut strings: HashMap<Arc<str>, u32> = HashMap::new();
            // Chains written by one direction, waiting for the other: (way, seg) -> chain.
            let mut open_chains: HashMap<(i64, u32), u32> = HashMap::new();
            let mut intern = |s: &Option<Arc<str>>, data: &mut TileData| match s {
                None => NO_STRING,
                Some(s) => *strings.entry(s.clone()).or_insert_with(|| {
                    data.strings.push(s.to_string());
                    (data.strings.len() - 1) as u32
                }),
            };
            data.node_first_edge.push(0);
            data.node_first_transition.push(0);
            for &n in members {
                let node = &graph.nodes[n as usize];
                for other in Level::ALL {
                    if other != level
                        && let Some(id) = node_ids[other as usize][n as usize]
                    {
                        data.transitions.push(id.packed());
                    }
                }
                for e in graph.out_edges(n) {
                    let edge = &graph.edges[e as usize];
                    if edge.level() != level {
                        continue;
                    }
                    let index = data.edge_target_nodes.len() as u32;
                    for turn in graph.forbidden_into(e) {
                        data.forbidden.push(TileForbidden {
                            edge: index,
                            from: edge_id_of[turn.from as usize].packed(),
                            modes: turn.modes.0,
                        });
                    }
                    let target = node_ids[level as usize][edge.target as usize]
                        .expect("targets are on the edge's level");
                    let mut bits = edge.access.0 | if edge.forward { EDGE_FORWARD } else { 0 };
                    let chain = match open_chains.remove(&(edge.way_id, edge.seg)) {
                        Some(chain) => {
                            bits |= EDGE_AGAINST_CHAIN;
                            chain
                        }
                        None => {
                            let chain = data.chain_way_ids.len() as u32;
                            // The end node's coordinates are stored only when no node of
                            // this tile holds them.
                            let end_here = target.tile() == tile;
                            let interior = &edge.shape[1..edge.shape.len() - 1];
                            let offset = data.shapes.len() as u32;
                            let stored = if end_here {
                                encode_shape(&mut data.shapes, interior, edge.shape[0]);
                                interior.len() as u32
                            } else {
                                encode_shape(&mut data.shapes, &edge.shape[1..], edge.shape[0]);
                                (edge.shape.len() - 1) as u32 | SHAPE_END_STORED
                            };
                            data.chain_way_ids.push(edge.way_id);
                            data.chain_segs.push(edge.seg);
                            data.chain_lengths_dm
                                .push(length_to_dm(f64::from(edge.length_m)));
                            data.chain_classes.push(edge.class as u8);
                            data.chain_speeds.push(edge.speed_kmh);
                            data.chain_flags.push(edge.flags);
                            let name = intern(&edge.name, &mut data);
                            data.chain_names.push(name);
                            let reference = intern(&edge.reference, &mut data);
                            data.chain_refs.push(reference);
                            data.chain_shape_offsets.push(offset);
                            data.chain_shape_points.push(stored);
                            if end_here {
                                open_chains.insert((edge.way_id, edge.seg), chain);
                            }
                            chain
                        }
                    };
                    data.edge_target_tiles.push(target.tile());
                    data.edge_target_nodes.push(target.index());
                    data.edge_chains.push(chain);
                    data.edge_bits.push(bits);
                }
                data.node_osm_ids.push(node.osm_id);
                data.node_lats.push(node.lat_e7 - origin.0);
                data.node_lons.push(node.lon_e7 - origin.1);
                data.node_small.push(node.small.0);
                data.node_first_edge
                    .push(data.edge_target_nodes.len() as u32);
                data.node_first_transition
                    .push(data.transitions.len() as u32);
            }
            out.push(data);
        }
    }
    Ok(out)
}

/// Loaded tiles by (level, id).
#[derive(Default, Debug)]
pub struct TileSet {
    /// Fx, not SipHash: searches look tiles up for every edge they relax.
    tiles: rustc_hash::FxHashMap<(Level, u32), Tile>,
}

impl TileSet {
    pub fn insert(&mut self, tile: Tile) {
        self.tiles.insert((tile.level(), tile.id()), tile);
    }

    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tile> {
        self.tiles.values()
    }
}

/// Where searches get tiles from: all loaded up front ([`TileSet`]) or fetched on demand
/// through a cache (the navigation service). Searches only ask for tiles by id, so they
/// run unchanged over either.
pub trait TileSource {
    fn get(&self, level: Level, id: u32) -> Option<&Tile>;

    /// The tile holding a node or edge id.
    fn tile_of(&self, id: GraphId) -> Option<&Tile> {
        self.get(id.level(), id.tile())
    }

    /// The edge an id names, if its tile is loaded and has it (ids read from elsewhere, such
    /// as a contraction hierarchy, may name edges that do not exist).
    fn edge(&self, id: GraphId) -> Option<EdgeRef<'_>> {
        self.tile_of(id)?.get_edge(id.index())
    }

    /// The edges `mode` may take from `node` (on every level, through its transitions),
    /// having arrived by edge `from` (`None` at the start: no turn to check), with each
    /// edge's cost. The one place searches over tiles apply access and forbidden turns.
    fn turns(
        &self,
        from: Option<GraphId>,
        node: GraphId,
        mode: Mode,
    ) -> impl Iterator<Item = (GraphId, EdgeRef<'_>, f64)> + '_ {
        self.turns_on(from, node, mode, |_| true)
    }

    /// Like [`TileSource::turns`], on the levels `level_ok` accepts only: the tiles of
    /// other levels are not even fetched (what makes the hierarchy cheap on demand).
    fn turns_on(
        &self,
        from: Option<GraphId>,
        node: GraphId,
        mode: Mode,
        level_ok: impl Fn(Level) -> bool + Copy + 'static,
    ) -> impl Iterator<Item = (GraphId, EdgeRef<'_>, f64)> + '_ {
        let copies = self
            .tile_of(node)
            .into_iter()
            .flat_map(move |tile| std::iter::once(node).chain(tile.transitions(node.index())));
        copies
            .filter(move |copy| level_ok(copy.level()))
            .filter_map(move |copy| self.tile_of(copy).map(|t| (copy, t)))
            .flat_map(move |(copy, t)| {
                t.out_edges(copy.index()).filter_map(move |e| {
                    let edge = t.edge(e);
                    let cost = edge.cost(mode)?;
                    let forbidden = from.is_some_and(|from| {
                        t.forbidden(e).iter().any(|f| {
                            f.from.to_native() == from.packed() && f.modes & mode.bit().0 != 0
                        })
                    });
                    (!forbidden).then(|| (GraphId::new(copy.level(), copy.tile(), e), edge, cost))
                })
            })
    }

    /// The OSM id of a node id.
    fn osm_id(&self, id: GraphId) -> Option<i64> {
        let tile = self.tile_of(id)?;
        (id.index() < tile.node_count()).then(|| tile.node_osm_id(id.index()))
    }
}

impl TileSource for TileSet {
    fn get(&self, level: Level, id: u32) -> Option<&Tile> {
        self.tiles.get(&(level, id))
    }
}

/// Rebuilds one graph from every tile of every level.
pub fn stitch(tiles: &TileSet) -> Result<Graph, String> {
    let mut nodes: BTreeMap<i64, Node> = BTreeMap::new();
    for tile in tiles.iter() {
        for n in 0..tile.node_count() {
            let (lat_e7, lon_e7) = tile.node_e7(n);
            let node = Node {
                osm_id: tile.node_osm_id(n),
                lat_e7,
                lon_e7,
                small: tile.node_small(n),
            };
            if let Some(seen) = nodes.get(&node.osm_id) {
                if *seen != node {
                    return Err(format!("node {} differs between levels", node.osm_id));
                }
            } else {
                nodes.insert(node.osm_id, node);
            }
        }
    }
    let index_of: HashMap<i64, u32> = nodes
        .keys()
        .enumerate()
        .map(|(i, &id)| (id, i as u32))
        .collect();
    let mut names: HashMap<String, Arc<str>> = HashMap::new();
    let mut string = |s: Option<&str>| -> Option<Arc<str>> {
        s.map(|s| {
            names
                .entry(s.to_string())
                .or_insert_with(|| Arc::from(s))
                .clone()
        })
    };
    let mut edges = Vec::new();
    let mut edge_index: HashMap<GraphId, u32> = HashMap::new();
    let mut pending_forbidden: Vec<(u32, u64, u8)> = Vec::new();
    for tile in tiles.iter() {
        for n in 0..tile.node_count() {
            for e in tile.out_edges(n) {
                let edge = tile.edge(e);
                let target = edge.target();
                let target_osm = tiles
                    .osm_id(target)
                    .ok_or_else(|| format!("edge target {target:?} is in no loaded tile"))?;
                let position = edges.len() as u32;
                edge_index.insert(GraphId::new(tile.level(), tile.id(), e), position);
                for f in tile.forbidden(e) {
                    pending_forbidden.push((position, f.from.to_native(), f.modes));
                }
                edges.push(Edge {
                    source: index_of[&tile.node_osm_id(n)],
                    target: index_of[&target_osm],
                    way_id: edge.way_id(),
                    seg: edge.seg(),
                    forward: edge.forward(),
                    access: edge.access(),
                    length_m: edge.length_m(),
                    class: edge.class(),
                    speed_kmh: edge.speed_kmh(),
                    flags: edge.flags(),
                    name: string(edge.name()),
                    reference: string(edge.reference()),
                    shape: edge.shape(),
                });
            }
        }
    }
    let forbidden = pending_forbidden
        .into_iter()
        .map(|(to, from, modes)| {
            let from = edge_index
                .get(&GraphId::from_packed(from))
                .copied()
                .ok_or_else(|| format!("forbidden turn from unknown edge {from:#x}"))?;
            Ok(ForbiddenTurn {
                to,
                from,
                modes: ModeMask(modes),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Graph::new(nodes.into_values().collect(), edges, forbidden))
}
