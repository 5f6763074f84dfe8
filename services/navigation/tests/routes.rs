//! The planner against the exact reference on every shared extract: 1,000 snapped
//! origin/destination pairs per extract and mode (50 origins x 20 destinations). Exact mode
//! must equal an edge-based Dijkstra over the in-memory graph; the default (hierarchical)
//! mode must be within 1% for 99% of pairs and never over 5%. Every route is continuous and
//! its directions add up.

#[path = "../../routing/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;

use geo_core::{LatLon, haversine_m};
use navigation::directions::{build_leg, decode_polyline};
use navigation::planner::{PlanError, PlanOptions, PlannerSettings, plan};
use navigation::tiles::{LoadedVersion, RequestTiles, TileCache};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use routing::astar::{Avoid, twin};
use routing::reference::edge_costs_from;
use routing::snap::{Snap, snap};
use routing::{Graph, Mode, TileSource, TileStore};

const ORIGINS: usize = 50;
const DESTINATIONS: usize = 20;

struct Network {
    runtime: tokio::runtime::Runtime,
    graph: Graph,
    cache: TileCache,
    version: LoadedVersion,
    /// (way, segment, forward) -> graph edge.
    edge_index: HashMap<(i64, u32, bool), u32>,
}

fn load(name: &str) -> Network {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let path = support::extract(name);
    let (graph, _) = routing::import::build_graph(&path, |_, _| {}).unwrap();
    let store = TileStore::open("memory://").unwrap();
    runtime
        .block_on(routing::import::import_roads(&path, &store, |_, _, _| {}))
        .unwrap();
    let manifest = runtime.block_on(store.current()).unwrap().unwrap();
    let cache = {
        let _entered = runtime.enter();
        TileCache::new(store, 1 << 30)
    };
    let edge_index = graph
        .edges
        .iter()
        .enumerate()
        .map(|(i, e)| ((e.way_id, e.seg, e.forward), i as u32))
        .collect();
    Network {
        runtime,
        graph,
        cache,
        version: LoadedVersion::new(manifest, 1),
        edge_index,
    }
}

impl Network {
    fn graph_edge<T: TileSource>(&self, tiles: &T, id: routing::GraphId) -> u32 {
        let e = tiles.tile_of(id).unwrap().edge(id.index());
        self.edge_index[&(e.way_id(), e.seg(), e.forward())]
    }

    /// (graph edge, fraction of its cost before the snapped point) per usable direction.
    fn directions<T: TileSource>(&self, tiles: &T, s: &Snap, mode: Mode) -> Vec<(u32, f64)> {
        let mut out = Vec::new();
        let mut add = |id, before: f64| {
            let g = self.graph_edge(tiles, id);
            if self.graph.edges[g as usize].cost(mode).is_some() {
                out.push((g, before));
            }
        };
        add(s.edge, s.fraction);
        if let Some(t) = twin(tiles, s.edge) {
            add(t, 1.0 - s.fraction);
        }
        out
    }

    fn random_point(&self, rng: &mut StdRng) -> LatLon {
        let n = &self.graph.nodes[rng.random_range(0..self.graph.nodes.len())];
        LatLon::clamped(
            n.lat() + rng.random_range(-0.003..0.003),
            n.lon() + rng.random_range(-0.003..0.003),
        )
    }
}

fn check_extract(name: &str) {
    let net = load(name);
    let settings = PlannerSettings::default();
    let mut rng = StdRng::seed_from_u64(42);
    let mut report = Vec::new();
    for mode in Mode::ALL {
        let (
            mut pairs,
            mut routed,
            mut within_1pct,
            mut worst,
            mut hier_settled,
            mut exact_settled,
        ) = (0usize, 0usize, 0usize, 1.0f64, 0usize, 0usize);
        // Default searches the contraction hierarchy answered (same-chain pairs go to A*).
        let mut contracted = 0usize;
        let tiles = RequestTiles::new(&net.cache, &net.version);
        let mut origins = Vec::new();
        while origins.len() < ORIGINS {
            let p = net.random_point(&mut rng);
            if let Some(s) = snap(&tiles, p, mode, settings.max_snap_m) {
                origins.push((p, s));
            }
        }
        for (a, sa) in &origins {
            let starts = net.directions(&tiles, sa, mode);
            let seeds: Vec<(u32, f64)> = starts
                .iter()
                .map(|&(e, before)| {
                    let c = net.graph.edges[e as usize].cost(mode).unwrap();
                    (e, (1.0 - before) * c)
                })
                .collect();
            let (_, enter) = edge_costs_from(&net.graph, &seeds, mode);
            let mut done = 0;
            while done < DESTINATIONS {
                let b = net.random_point(&mut rng);
                let Some(sb) = snap(&tiles, b, mode, settings.max_snap_m) else {
                    continue;
                };
                done += 1;
                pairs += 1;
                let mut expected = f64::INFINITY;
                for (g, before) in net.directions(&tiles, &sb, mode) {
                    let c = net.graph.edges[g as usize].cost(mode).unwrap();
                    expected = expected.min(enter[g as usize] + before * c);
                    for &(s, s_before) in &starts {
                        if s == g && before >= s_before {
                            expected = expected.min((before - s_before) * c);
                        }
                    }
                }
                let options = |exact| PlanOptions {
                    mode,
                    avoid: Avoid::default(),
                    alternatives: false,
                    exact,
                };
                let stops = [*a, b];
                let exact = plan(
                    &RequestTiles::new(&net.cache, &net.version),
                    &stops,
                    &options(true),
                    &settings,
                );
                let fast = plan(
                    &RequestTiles::new(&net.cache, &net.version),
                    &stops,
                    &options(false),
                    &settings,
                );
                match (exact, fast) {
                    (Ok(exact), Ok(fast)) => {
                        routed += 1;
                        let got = exact.routes[0].duration_s;
                        assert!(
                            (got - expected).abs() <= 1e-6 * expected.max(1.0) + 1e-6,
                            "{name} {mode}: exact {got} vs reference {expected} for {a:?} -> {b:?}"
                        );
                        let fast_cost = fast.routes[0].duration_s;
                        let ratio = if expected > 0.0 {
                            fast_cost / expected
                        } else {
                            1.0
                        };
                        assert!(ratio >= 1.0 - 1e-6, "{name} {mode}: below the optimum");
                        if ratio <= 1.01 + 1e-9 {
                            within_1pct += 1;
                        }
                        worst = worst.max(ratio);
                        hier_settled += fast.stats.settled;
                        contracted += fast.stats.contracted;
                        assert_eq!(exact.stats.contracted, 0, "exact mode is the A*");
                        exact_settled += exact.stats.settled;
                        check_route(name, &fast, &sa.point, &sb.point);
                    }
                    (Err(PlanError::NoRoute { .. }), Err(PlanError::NoRoute { .. })) => {
                        assert!(
                            expected.is_infinite(),
                            "{name} {mode}: no route but reference {expected} for {a:?} -> {b:?}"
                        );
                    }
                    (exact, fast) => panic!(
                        "{name} {mode}: exact {:?} / default {:?} disagree for {a:?} -> {b:?} (reference {expected})",
                        exact.map(|p| p.routes[0].duration_s),
                        fast.map(|p| p.routes[0].duration_s)
                    ),
                }
            }
        }
        report.push(format!(
            "{mode}: {routed}/{pairs} routed, {within_1pct} within 1%, worst {worst:.4}, {contracted} by hierarchy, settled {} (exact {})",
            hier_settled / routed.max(1),
            exact_settled / routed.max(1)
        ));
        eprintln!("{name} {}", report.last().unwrap());
        assert_eq!(pairs, ORIGINS * DESTINATIONS);
        assert!(
            routed * 2 >= pairs,
            "{name} {mode}: only {routed} of {pairs} pairs routed"
        );
        assert!(
            within_1pct * 100 >= routed * 99,
            "{name} {mode}: only {within_1pct} of {routed} routes within 1% of the optimum"
        );
        assert!(
            worst <= 1.05,
            "{name} {mode}: a route {worst:.3}x the optimum"
        );
        assert!(
            contracted * 10 >= routed * 9,
            "{name} {mode}: the contraction hierarchy answered only {contracted} of {routed}"
        );
    }
    drop(net.runtime);
    eprintln!("{name}: {}", report.join("; "));
}

/// Continuity, polyline and distance sums of the best route's directions.
fn check_route(name: &str, plan: &navigation::planner::Plan, from: &LatLon, to: &LatLon) {
    let leg = &plan.routes[0].legs[0];
    let first = leg.edges.first().expect("a route has edges");
    assert!(
        haversine_m(first.shape[0], *from) < 0.01,
        "{name}: starts off the origin"
    );
    let last = leg.edges.last().unwrap();
    assert!(
        haversine_m(*last.shape.last().unwrap(), *to) < 0.01,
        "{name}: ends off the destination"
    );
    for w in leg.edges.windows(2) {
        assert_eq!(
            w[0].shape.last(),
            w[1].shape.first(),
            "{name}: a gap between edges"
        );
    }
    let directions = build_leg(&leg.edges, "DRIVING", String::new(), String::new());
    let steps = &directions.steps;
    assert_eq!(
        steps.iter().map(|s| s.distance.value).sum::<u64>(),
        directions.distance.value,
        "{name}: step distances do not add up to the leg"
    );
    assert_eq!(directions.distance.value, leg.distance_m.round() as u64);
    for w in steps.windows(2) {
        assert_eq!(
            w[0].end_location, w[1].start_location,
            "{name}: steps not continuous"
        );
    }
    // Decoded step polylines walk the route's vertices in order, to the encoding's 1e-5°.
    let route_points: Vec<LatLon> = leg.edges.iter().flat_map(|e| e.shape.clone()).collect();
    let mut at = 0;
    for step in steps {
        for p in decode_polyline(&step.polyline.points).expect("polyline decodes") {
            let close = |q: &LatLon| (q.lat - p.lat).abs() <= 6e-6 && (q.lon - p.lon).abs() <= 6e-6;
            while at < route_points.len() && !close(&route_points[at]) {
                at += 1;
            }
            assert!(
                at < route_points.len(),
                "{name}: polyline point {p:?} is off the route"
            );
        }
    }
}

macro_rules! extracts {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check_extract($file);
            }
        )*
    };
}

extracts! {
    andorra => "andorra.osm.pbf",
    columbus => "columbus.osm.pbf",
    heidelberg => "heidelberg.osm.pbf",
    helsinki => "helsinki.osm.pbf",
    liechtenstein => "liechtenstein.osm.pbf",
    monaco => "monaco.osm.pbf",
    north_bayreuth => "north-bayreuth.osm.gz",
    porto => "porto.osm.pbf",
}
