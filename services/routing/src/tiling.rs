//! Cutting the graph into tiles per level, and stitching tiles back into one graph.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::graph::{Edge, ForbiddenTurn, Graph, Node};
use crate::ids::{GraphId, Level, MAX_INDEX};
use crate::mode::ModeMask;
use crate::tags::RoadClass;
use crate::tile::{
    DIR_FORWARD, DIR_SHAPE_REVERSED, NO_STRING, Tile, TileData, TileEdge, TileForbidden, TileNode,
    encode_shape, tile_origin_e7,
};

/// Splits `graph` into tiles: an edge lives on its class's level, in the tile of its source
/// node; a node appears on every level where it has an edge.
pub fn cut(graph: &Graph) -> Result<Vec<TileData>, String> {
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
    // Edge ids follow the order edges are written below: tile by tile, node by node.
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

    let mut out = Vec::new();
    for level in Level::ALL {
        for (&tile, members) in &tiles[level as usize] {
            let mut data = TileData {
                level: level as u8,
                tile_id: tile,
                ..Default::default()
            };
            let mut strings: HashMap<Arc<str>, u32> = HashMap::new();
            let mut shared_shapes: HashMap<(i64, u32), u32> = HashMap::new();
            let origin = tile_origin_e7(level, tile);
            let mut intern = |s: &Option<Arc<str>>, data: &mut TileData| match s {
                None => NO_STRING,
                Some(s) => *strings.entry(s.clone()).or_insert_with(|| {
                    data.strings.push(s.to_string());
                    (data.strings.len() - 1) as u32
                }),
            };
            for &n in members {
                let node = &graph.nodes[n as usize];
                let first_edge = data.edges.len() as u32;
                let first_transition = data.transitions.len() as u32;
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
                    for turn in graph.forbidden_into(e) {
                        data.forbidden.push(TileForbidden {
                            edge: data.edges.len() as u32,
                            from: edge_id_of[turn.from as usize].packed(),
                            modes: turn.modes.0,
                        });
                    }
                    let mut dir = if edge.forward { DIR_FORWARD } else { 0 };
                    let shape_offset = match shared_shapes.remove(&(edge.way_id, edge.seg)) {
                        Some(offset) => {
                            dir |= DIR_SHAPE_REVERSED;
                            offset
                        }
                        None => {
                            let offset = data.shapes.len() as u32;
                            encode_shape(&mut data.shapes, &edge.shape, origin);
                            shared_shapes.insert((edge.way_id, edge.seg), offset);
                            offset
                        }
                    };
                    let name = intern(&edge.name, &mut data);
                    let reference = intern(&edge.reference, &mut data);
                    data.edges.push(TileEdge {
                        target: node_ids[level as usize][edge.target as usize]
                            .expect("targets are on the edge's level")
                            .packed(),
                        way_id: edge.way_id,
                        seg: edge.seg,
                        length_m: edge.length_m,
                        access: edge.access.0,
                        class: edge.class as u8,
                        speed_kmh: edge.speed_kmh,
                        flags: edge.flags,
                        dir,
                        name,
                        reference,
                        shape_offset,
                        shape_points: edge.shape.len() as u32,
                    });
                }
                data.nodes.push(TileNode {
                    osm_id: node.osm_id,
                    lat_e7: node.lat_e7,
                    lon_e7: node.lon_e7,
                    first_edge,
                    edge_count: data.edges.len() as u32 - first_edge,
                    first_transition,
                    transition_count: data.transitions.len() as u32 - first_transition,
                    small: node.small.0,
                });
            }
            out.push(data);
        }
    }
    Ok(out)
}

/// Loaded tiles by (level, id).
#[derive(Default, Debug)]
pub struct TileSet {
    tiles: HashMap<(Level, u32), Tile>,
}

impl TileSet {
    pub fn insert(&mut self, tile: Tile) {
        self.tiles.insert((tile.level(), tile.id()), tile);
    }

    pub fn get(&self, level: Level, id: u32) -> Option<&Tile> {
        self.tiles.get(&(level, id))
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

    /// The tile holding a node or edge id.
    pub fn tile_of(&self, id: GraphId) -> Option<&Tile> {
        self.get(id.level(), id.tile())
    }

    /// The OSM id of a node id.
    pub fn osm_id(&self, id: GraphId) -> Option<i64> {
        let tile = self.tile_of(id)?;
        tile.data()
            .nodes
            .get(id.index() as usize)
            .map(|n| n.osm_id.to_native())
    }
}

/// Rebuilds one graph from every tile of every level.
pub fn stitch(tiles: &TileSet) -> Result<Graph, String> {
    let mut nodes: BTreeMap<i64, Node> = BTreeMap::new();
    for tile in tiles.iter() {
        for n in tile.data().nodes.iter() {
            let node = Node {
                osm_id: n.osm_id.to_native(),
                lat_e7: n.lat_e7.to_native(),
                lon_e7: n.lon_e7.to_native(),
                small: ModeMask(n.small),
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
    let mut edges = Vec::new();
    let mut edge_index: HashMap<GraphId, u32> = HashMap::new();
    let mut pending_forbidden: Vec<(u32, u64, u8)> = Vec::new();
    for tile in tiles.iter() {
        let data = tile.data();
        let mut string = |i: u32| -> Option<Arc<str>> {
            tile.string(i).map(|s| {
                names
                    .entry(s.to_string())
                    .or_insert_with(|| Arc::from(s))
                    .clone()
            })
        };
        for (n, node) in data.nodes.iter().enumerate() {
            for e in tile.out_edges(n as u32) {
                let te = tile.edge(e);
                let target = GraphId::from_packed(te.target.to_native());
                let target_osm = tiles
                    .osm_id(target)
                    .ok_or_else(|| format!("edge target {target:?} is in no loaded tile"))?;
                let position = edges.len() as u32;
                edge_index.insert(GraphId::new(tile.level(), tile.id(), e), position);
                for f in tile.forbidden(e) {
                    pending_forbidden.push((position, f.from.to_native(), f.modes));
                }
                edges.push(Edge {
                    source: index_of[&node.osm_id.to_native()],
                    target: index_of[&target_osm],
                    way_id: te.way_id.to_native(),
                    seg: te.seg.to_native(),
                    forward: te.dir & DIR_FORWARD != 0,
                    access: ModeMask(te.access),
                    length_m: te.length_m.to_native(),
                    class: RoadClass::from_u8(te.class),
                    speed_kmh: te.speed_kmh,
                    flags: te.flags,
                    name: string(te.name.to_native()),
                    reference: string(te.reference.to_native()),
                    shape: tile.shape(e),
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
