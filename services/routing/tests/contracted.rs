//! Contraction hierarchies against the exact reference on every shared extract: for random
//! snapped origin/destination pairs per mode, the hierarchy's route costs what an
//! edge-based Dijkstra over the in-memory graph finds (to rounding of milliseconds), is
//! continuous, and survives the stored form.

mod support;

use std::time::Instant;

use geo_core::LatLon;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use routing::astar::{SearchOptions, max_speed_kmh, route_between};
use routing::ch::{Contracted, contract};
use routing::import::{build_graph, encode_tiles};
use routing::snap::snap;
use routing::{GraphId, Mode, Tile, TileSet, TileSource, tiling};

const PAIRS: usize = 200;

fn check_extract(name: &str) {
    let (graph, _) = build_graph(&support::extract(name), |_, _| {}).unwrap();
    let (encoded, _) = encode_tiles(&graph).unwrap();
    let mut tiles = TileSet::default();
    for tile in &encoded {
        tiles.insert(Tile::decode(&tile.bytes).unwrap());
    }
    let ids = tiling::edge_ids(&graph).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    for mode in Mode::ALL {
        let t = Instant::now();
        let built = contract(&graph, &ids, mode);
        let contract_s = t.elapsed().as_secs_f64();
        let bytes = built.encode();
        let ch = Contracted::decode(&bytes).unwrap();
        assert_eq!(ch.node_count(), built.node_count());
        let exact = SearchOptions::exact(mode, max_speed_kmh(&tiles, mode));
        let (mut answered, mut ch_time, mut astar_time) = (0, 0.0, 0.0);
        for _ in 0..PAIRS {
            let mut point = || loop {
                let n = &graph.nodes[rng.random_range(0..graph.nodes.len())];
                let p = LatLon::clamped(
                    n.lat() + rng.random_range(-0.002..0.002),
                    n.lon() + rng.random_range(-0.002..0.002),
                );
                if let Some(s) = snap(&tiles, p, mode, 1_000.0) {
                    return s;
                }
            };
            let (a, b) = (point(), point());
            let t = Instant::now();
            let Some(got) = ch.route(&tiles, &a, &b) else {
                continue; // same road chain: the A* answers those
            };
            ch_time += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let want = route_between(&tiles, &a, &b, &exact);
            astar_time += t.elapsed().as_secs_f64();
            answered += 1;
            match (got, want) {
                (Some(got), Some(want)) => {
                    assert!(
                        (got.cost - want.cost).abs() <= 0.01 + 1e-6 * want.cost,
                        "{name} {mode}: hierarchy {} vs exact {} for {a:?} -> {b:?}",
                        got.cost,
                        want.cost
                    );
                    for pair in got.edges.windows(2) {
                        let end = tiles
                            .tile_of(pair[0])
                            .unwrap()
                            .edge(pair[0].index())
                            .target();
                        let start_osm = tiles.osm_id(end);
                        let next_tile = tiles.tile_of(pair[1]).unwrap();
                        let next_source = GraphId::new(
                            pair[1].level(),
                            pair[1].tile(),
                            next_tile.edge_source(pair[1].index()),
                        );
                        assert_eq!(
                            start_osm,
                            tiles.osm_id(next_source),
                            "{name} {mode}: path breaks between {:?} and {:?}",
                            pair[0],
                            pair[1]
                        );
                    }
                }
                (None, None) => {}
                (got, want) => panic!(
                    "{name} {mode}: hierarchy {:?} vs exact {:?} for {a:?} -> {b:?}",
                    got.map(|p| p.cost),
                    want.map(|p| p.cost)
                ),
            }
        }
        assert!(
            answered > PAIRS / 2,
            "{name} {mode}: only {answered} answered"
        );
        eprintln!(
            "{name} {mode}: {} nodes, {} arcs, {} KiB, contracted in {contract_s:.2} s; \
             {answered} routes: {:.3} ms vs A* {:.3} ms",
            ch.node_count(),
            ch.arc_count(),
            bytes.len() / 1024,
            ch_time * 1e3 / answered as f64,
            astar_time * 1e3 / answered as f64
        );
    }
}

#[test]
fn corrupt_bytes_are_refused() {
    assert!(Contracted::decode(b"").is_err());
    assert!(Contracted::decode(b"RTCH\x01\x00garbage").is_err());
    assert!(Contracted::decode(b"RTCH\x09\x00").is_err());
}

macro_rules! extract_tests {
    ($($test:ident: $file:expr,)*) => {$(
        #[test]
        fn $test() {
            check_extract($file);
        }
    )*};
}

extract_tests! {
    andorra: "andorra.osm.pbf",
    columbus: "columbus.osm.pbf",
    heidelberg: "heidelberg.osm.pbf",
    helsinki: "helsinki.osm.pbf",
    liechtenstein: "liechtenstein.osm.pbf",
    monaco: "monaco.osm.pbf",
    north_bayreuth: "north-bayreuth.osm.gz",
    porto: "porto.osm.pbf",
}
