//! Routing tiles: header, inflation, archive validation and `Tile::check`, then every
//! accessor a router uses on what was accepted (shapes, turns, snapping, a search).
//!
//! The first byte picks what the rest is: even, a whole tile file whose CRC the harness
//! fixes (every header field stays as fuzzed); odd, the rkyv archive alone, wrapped in a
//! valid uncompressed header (so mutations reach the content checks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use routing::astar::{self, SearchOptions};
use routing::tile::Tile;
use routing::{GraphId, Mode, TileSet, TileSource};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 0 {
        let mut bytes = rest.to_vec();
        geostack_fuzz::reseal(&mut bytes);
        bytes
    } else {
        match geostack_fuzz::tile_around(rest) {
            Some(bytes) => bytes,
            None => return,
        }
    };
    if let Ok(tile) = Tile::decode(&bytes) {
        walk(tile);
    }
});

/// What a router does with a tile, bounded so that one input stays fast.
fn walk(tile: Tile) {
    let (level, id) = (tile.level(), tile.id());
    let _ = tile.memory_bytes();
    for node in 0..tile.node_count().min(500) {
        let _ = (
            tile.node_osm_id(node),
            tile.node_e7(node),
            tile.node_small(node),
        );
        let _ = tile.transitions(node).count();
        for edge in tile.out_edges(node) {
            assert_eq!(tile.edge_source(edge), node);
        }
    }
    for index in 0..tile.edge_count().min(500) {
        let edge = tile.edge(index);
        let shape = edge.shape();
        assert!(shape.len() >= 2, "a shape has both ends");
        let _ = (
            edge.target(),
            edge.target_in_tile(),
            edge.access(),
            edge.forward(),
        );
        let _ = (edge.way_id(), edge.seg(), edge.length_m(), edge.class());
        let _ = (
            edge.speed_kmh(),
            edge.flags(),
            edge.name(),
            edge.reference(),
        );
        for mode in Mode::ALL {
            let _ = edge.cost(mode);
        }
        let _ = tile.forbidden(index).len();
    }
    let boxes = tile.edge_boxes();
    assert_eq!(boxes.len(), tile.edge_count() as usize);

    let mut set = TileSet::default();
    set.insert(tile);
    let tile = set.get(level, id).expect("just inserted");
    let first_edge = (tile.edge_count() > 0).then(|| GraphId::new(level, id, 0));
    for node in 0..tile.node_count().min(50) {
        let node = GraphId::new(level, id, node);
        let _ = astar::coords(&set, node);
        for mode in Mode::ALL {
            for (edge, _, cost) in set.turns(first_edge, node, mode) {
                assert!(cost.is_finite() && cost >= 0.0, "{cost}");
                let _ = astar::twin(&set, edge);
            }
        }
    }
    if tile.node_count() > 0 {
        let a = astar::coords(&set, GraphId::new(level, id, 0));
        let b = astar::coords(&set, GraphId::new(level, id, tile.node_count() - 1));
        if let (Some(a), Some(b)) = (a, b) {
            for mode in Mode::ALL {
                let from = routing::snap::snap(&set, a, mode, 500.0);
                let to = routing::snap::snap(&set, b, mode, 500.0);
                if let (Some(from), Some(to)) = (from, to) {
                    let options = SearchOptions::exact(mode, astar::max_speed_kmh(&set, mode));
                    let _ = astar::route_between(&set, &from, &to, &options);
                }
            }
        }
    }
}
