//! Snapping: projection onto segments against dense sampling, and snapping over tiles
//! against a brute-force scan of the in-memory graph.

mod support;

use geo_core::{LatLon, haversine_m};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use routing::astar::{SearchOptions, max_speed_kmh, route_between, search_between, twin};
use routing::import::{build_graph, encode_tiles};
use routing::reference::tile_distances;
use routing::snap::{nearest_on_shape, snap};
use routing::{Graph, Mode, Tile, TileSet, TileSource};

#[test]
fn projection_matches_dense_sampling() {
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..500 {
        let lat = rng.random_range(-70.0..70.0);
        let lon = rng.random_range(-170.0..170.0);
        let e7 = |d: f64| (d * 1e7).round() as i32;
        let a = (e7(lat), e7(lon));
        let b = (
            e7(lat + rng.random_range(-0.002..0.002)),
            e7(lon + rng.random_range(-0.002..0.002)),
        );
        let p = LatLon::clamped(
            lat + rng.random_range(-0.003..0.003),
            lon + rng.random_range(-0.003..0.003),
        );
        let (d, _, _) = nearest_on_shape(p, &[a, b]).unwrap();
        let sampled = (0..=20_000)
            .map(|i| {
                let t = f64::from(i) / 20_000.0;
                let q = LatLon::clamped(
                    (f64::from(a.0) + t * f64::from(b.0 - a.0)) / 1e7,
                    (f64::from(a.1) + t * f64::from(b.1 - a.1)) / 1e7,
                );
                haversine_m(p, q)
            })
            .fold(f64::INFINITY, f64::min);
        assert!(
            d <= sampled + 0.02 && d >= sampled - 0.5,
            "projection {d} vs sampled {sampled}"
        );
    }
}

/// Nearest usable edge by scanning every edge of the graph, main network first.
fn brute_force(graph: &Graph, p: LatLon, mode: Mode, max: f64) -> Option<f64> {
    let mut main = f64::INFINITY;
    let mut small = f64::INFINITY;
    for e in graph.edges.iter().filter(|e| e.access.contains(mode)) {
        let (d, _, _) = nearest_on_shape(p, &e.shape).unwrap();
        if graph.nodes[e.source as usize].small.contains(mode) {
            small = small.min(d);
        } else {
            main = main.min(d);
        }
    }
    [main, small].into_iter().find(|d| *d <= max)
}

#[test]
fn snapping_over_tiles_equals_a_scan_of_the_graph() {
    for name in ["helsinki.osm.pbf", "monaco.osm.pbf"] {
        let path = support::extract(name);
        let (graph, _) = build_graph(&path, |_, _| {}).unwrap();
        let (encoded, _) = encode_tiles(&graph).unwrap();
        let mut tiles = TileSet::default();
        for t in &encoded {
            tiles.insert(Tile::decode(&t.bytes).unwrap());
        }
        let (lat0, lat1) = graph.nodes.iter().fold((90.0f64, -90.0f64), |(a, b), n| {
            (a.min(n.lat()), b.max(n.lat()))
        });
        let (lon0, lon1) = graph.nodes.iter().fold((180.0f64, -180.0f64), |(a, b), n| {
            (a.min(n.lon()), b.max(n.lon()))
        });
        let mut rng = StdRng::seed_from_u64(11);
        for i in 0..150 {
            let mode = Mode::ALL[i % 3];
            let max = [30.0, 200.0, 1000.0][i % 3];
            let p = LatLon::new(rng.random_range(lat0..lat1), rng.random_range(lon0..lon1))
                .expect("a point inside the graph's bounds");
            let got = snap(&tiles, p, mode, max);
            let expected = brute_force(&graph, p, mode, max);
            match (got, expected) {
                (Some(s), Some(d)) => {
                    assert!(
                        (s.distance_m - d).abs() < 1e-6,
                        "{name} {mode}: {} vs {d}",
                        s.distance_m
                    );
                    assert!((0.0..=1.0).contains(&s.fraction));
                    assert!((haversine_m(p, s.point) - s.distance_m).abs() < 1e-6);
                }
                (None, None) => {}
                (got, expected) => panic!("{name} {mode} at {p:?}: {got:?} vs {expected:?}"),
            }
        }
        // A point on a node snaps onto it.
        let n = &graph.nodes[graph.nodes.len() / 2];
        let on_node = snap(
            &tiles,
            LatLon::clamped(n.lat(), n.lon()),
            Mode::Walking,
            50.0,
        )
        .unwrap();
        assert!(
            on_node.distance_m < 0.01 || n.small.contains(Mode::Walking),
            "{on_node:?}"
        );
    }
}

/// Walking (no turn restrictions) between snapped points equals the best combination of
/// partial snapped edges and exact node-to-node Dijkstra over the tiles.
#[test]
fn routes_between_snapped_points_are_exact() {
    let path = support::extract("helsinki.osm.pbf");
    let (graph, _) = build_graph(&path, |_, _| {}).unwrap();
    let (encoded, _) = encode_tiles(&graph).unwrap();
    let mut tiles = TileSet::default();
    for t in &encoded {
        tiles.insert(Tile::decode(&t.bytes).unwrap());
    }
    let mode = Mode::Walking;
    let vmax = max_speed_kmh(&tiles, mode);
    let (lat0, lat1) = graph.nodes.iter().fold((90.0f64, -90.0f64), |(a, b), n| {
        (a.min(n.lat()), b.max(n.lat()))
    });
    let (lon0, lon1) = graph.nodes.iter().fold((180.0f64, -180.0f64), |(a, b), n| {
        (a.min(n.lon()), b.max(n.lon()))
    });
    let mut rng = StdRng::seed_from_u64(3);
    let mut routed = 0;
    while routed < 60 {
        let mut random_snap = || {
            let p = LatLon::new(rng.random_range(lat0..lat1), rng.random_range(lon0..lon1))
                .expect("a point inside the graph's bounds");
            snap(&tiles, p, mode, 1000.0)
        };
        let (Some(a), Some(b)) = (random_snap(), random_snap()) else {
            continue;
        };
        let cost_of = |e| tiles.tile_of(e).unwrap().edge(e.index()).cost(mode);
        let ends = |s: &routing::snap::Snap| {
            // (node reached or left, cost between the point and that node) per usable direction.
            let mut out = Vec::new();
            let e = s.edge;
            let tile = tiles.tile_of(e).unwrap();
            let (source, target) = (
                routing::GraphId::new(e.level(), e.tile(), tile.edge_source(e.index())),
                tile.edge(e.index()).target(),
            );
            if let Some(c) = cost_of(e) {
                out.push((target, source, (1.0 - s.fraction) * c, s.fraction * c));
            }
            if let Some(t) = twin(&tiles, e)
                && let Some(c) = cost_of(t)
            {
                out.push((source, target, s.fraction * c, (1.0 - s.fraction) * c));
            }
            out
        };
        // Leaving `a` towards node x costs ax; arriving at `b` from node y costs yb.
        let mut expected = f64::INFINITY;
        for (x, _, ax, _) in ends(&a) {
            let from_x = tile_distances(&tiles, x, mode);
            for (_, y, _, yb) in ends(&b) {
                if let Some(d) = from_x.get(&tiles.osm_id(y).unwrap()) {
                    expected = expected.min(ax + d + yb);
                }
            }
        }
        if a.edge == b.edge || twin(&tiles, a.edge) == Some(b.edge) {
            let c = cost_of(a.edge).unwrap();
            let along = if a.edge == b.edge {
                b.fraction - a.fraction
            } else {
                (1.0 - b.fraction) - a.fraction
            };
            expected = expected.min(along.abs() * c);
        }
        let exact = SearchOptions::exact(mode, vmax);
        let got = route_between(&tiles, &a, &b, &exact);
        match got {
            Some(route) => {
                assert!(
                    (route.cost - expected).abs() <= 1e-6 * expected.max(1.0),
                    "{a:?} -> {b:?}: {} vs {expected}",
                    route.cost
                );
                assert!(!route.edges.is_empty());
                // A budget of exactly the work it took finds the same route; one edge less
                // gives up, saying so rather than claiming there is no route.
                let just = SearchOptions {
                    max_settled: route.settled,
                    ..exact.clone()
                };
                assert_eq!(
                    search_between(&tiles, &a, &b, &just).path,
                    Some(route.clone())
                );
                if route.settled > 0 {
                    let short = SearchOptions {
                        max_settled: route.settled - 1,
                        ..exact.clone()
                    };
                    let cut = search_between(&tiles, &a, &b, &short);
                    assert!(cut.exhausted && cut.path.is_none(), "{cut:?}");
                    assert_eq!(cut.settled, route.settled - 1);
                }
                routed += 1;
            }
            None => {
                assert!(expected.is_infinite(), "no route but {expected}");
                assert!(!search_between(&tiles, &a, &b, &exact).exhausted);
            }
        }
    }
}
