//! The planner's search paths on fixtures and the sample extract: the level hierarchy
//! prunes far local roads and falls back to the exact search when pruning loses the route;
//! alternatives follow a second corridor; a tile cache smaller than the tile set evicts and
//! refetches without changing any answer.

#[path = "../../routing/tests/support/mod.rs"]
mod support;

use std::path::Path;

use geo_core::LatLon;
use navigation::planner::{Plan, PlanOptions, PlannerSettings, plan};
use navigation::tiles::{LoadedVersion, RequestTiles, TileCache};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use routing::astar::{Avoid, Hierarchy};
use routing::import::{ImportOptions, import_roads_with};
use routing::{Mode, TileStore};
use support::Fixture;

struct Network {
    runtime: tokio::runtime::Runtime,
    cache: TileCache,
    version: LoadedVersion,
}

impl Network {
    fn load(file: &Path, contract: Vec<Mode>, cache_bytes: u64) -> Network {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let store = TileStore::open("memory://").unwrap();
        let options = ImportOptions { contract };
        runtime
            .block_on(import_roads_with(file, &store, &options, |_, _, _| {}))
            .unwrap();
        let manifest = runtime.block_on(store.current()).unwrap().unwrap();
        let cache = {
            let _entered = runtime.enter();
            TileCache::new(store, cache_bytes)
        };
        Network {
            runtime,
            cache,
            version: LoadedVersion::new(manifest, 1),
        }
    }

    fn fixture(f: &Fixture, contract: Vec<Mode>) -> (Network, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fixture.osm");
        std::fs::write(&file, f.xml()).unwrap();
        (Network::load(&file, contract, 1 << 30), dir)
    }

    fn plan(
        &self,
        from: LatLon,
        to: LatLon,
        options: &PlanOptions,
        settings: &PlannerSettings,
    ) -> Plan {
        let _entered = self.runtime.enter();
        plan(
            &RequestTiles::new(&self.cache, &self.version),
            &[from, to],
            options,
            settings,
        )
        .unwrap()
    }
}

/// A grid point of a fixture map, moved `east` grid columns (to stand on a road rather than
/// at a node where several meet).
fn at(map: &str, ch: char, east: f64) -> LatLon {
    for (row, line) in map.lines().enumerate() {
        if let Some(col) = line.chars().position(|c| c == ch) {
            return LatLon::new(
                60.0 - row as f64 * 0.0002,
                25.0 + (col as f64 + east) * 0.0002,
            )
            .expect("map cells lie near (60, 25)");
        }
    }
    panic!("no {ch} in map")
}

fn names(plan: &Plan, route: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in &plan.routes[route].legs[0].edges {
        let name = e.name.clone().unwrap_or_default();
        if out.last() != Some(&name) {
            out.push(name);
        }
    }
    out
}

fn driving(exact: bool, alternatives: bool) -> PlanOptions {
    PlanOptions {
        mode: Mode::Driving,
        avoid: Avoid::default(),
        alternatives,
        exact,
    }
}

/// A residential road with side streets (so it has intersections far from both ends) and a
/// longer primary road round it.
const BYPASS: &str = "
          s          t
          |          |
A---------X----------Y---------B
|                              |
|                              |
|                              |
P------------------------------Q
";

fn tight_hierarchy() -> PlannerSettings {
    PlannerSettings {
        driving_hierarchy: Some(Hierarchy {
            local_m: 40.0,
            arterial_m: 40.0,
        }),
        ..PlannerSettings::default()
    }
}

#[test]
fn hierarchy_prunes_far_local_roads() {
    let mut f = Fixture::new(BYPASS);
    f.way(
        "AXYB",
        &["highway=residential", "name=Village", "maxspeed=50"],
    );
    f.way("sX", &["highway=residential", "name=Side", "maxspeed=50"]);
    f.way("tY", &["highway=residential", "name=Side", "maxspeed=50"]);
    f.way("APQB", &["highway=primary", "name=Bypass", "maxspeed=50"]);
    // No hierarchy: every query runs the A* over tiles.
    let (net, _dir) = Network::fixture(&f, Vec::new());
    let (from, to) = (at(BYPASS, 'A', 1.0), at(BYPASS, 'B', -1.0));
    let settings = tight_hierarchy();
    let exact = net.plan(from, to, &driving(true, false), &settings);
    assert_eq!(
        names(&exact, 0),
        ["Village"],
        "the exact optimum is the short road"
    );
    let pruned = net.plan(from, to, &driving(false, false), &settings);
    assert_eq!(
        names(&pruned, 0),
        ["Village", "Bypass", "Village"],
        "local roads far from both ends are pruned"
    );
    assert_eq!(pruned.stats.fallbacks, 0);
    assert!(pruned.routes[0].duration_s > exact.routes[0].duration_s);
    // With the default limits (20 km) nothing here is far: the default equals the exact.
    let default = net.plan(
        from,
        to,
        &driving(false, false),
        &PlannerSettings::default(),
    );
    assert_eq!(names(&default, 0), ["Village"]);
}

#[test]
fn hierarchy_falls_back_to_the_exact_search_when_it_loses_the_route() {
    let mut f = Fixture::new(BYPASS);
    f.way("AXYB", &["highway=residential", "name=Village"]);
    f.way("sX", &["highway=residential", "name=Side"]);
    f.way("tY", &["highway=residential", "name=Side"]);
    let (net, _dir) = Network::fixture(&f, Vec::new());
    let (from, to) = (at(BYPASS, 'A', 1.0), at(BYPASS, 'B', -1.0));
    let settings = tight_hierarchy();
    let exact = net.plan(from, to, &driving(true, false), &settings);
    let fallen_back = net.plan(from, to, &driving(false, false), &settings);
    assert_eq!(fallen_back.stats.fallbacks, 1);
    assert_eq!(names(&fallen_back, 0), ["Village"]);
    assert_eq!(fallen_back.routes[0].duration_s, exact.routes[0].duration_s);
}

/// From A to B: through W and E on the straight north road, or round the south one.
const CORRIDORS: &str = "
A--W---------------E--B
   |               |
   |               |
   S---------------T
";

#[test]
fn alternatives_follow_a_second_corridor() {
    let mut f = Fixture::new(CORRIDORS);
    f.way("AW", &["highway=residential", "name=West"]);
    f.way("EB", &["highway=residential", "name=East"]);
    f.way("WE", &["highway=residential", "name=North"]);
    f.way("WSTE", &["highway=residential", "name=South"]);
    let (net, _dir) = Network::fixture(&f, Mode::ALL.to_vec());
    let (from, to) = (at(CORRIDORS, 'A', 1.0), at(CORRIDORS, 'B', -1.0));
    let settings = PlannerSettings::default();
    let one = net.plan(from, to, &driving(false, false), &settings);
    assert_eq!(one.routes.len(), 1);
    assert_eq!(
        one.stats.contracted, 1,
        "a plain query runs on the hierarchy"
    );
    let both = net.plan(from, to, &driving(false, true), &settings);
    assert_eq!(both.routes.len(), 2, "{:?}", both.stats);
    assert_eq!(names(&both, 0), ["West", "North", "East"]);
    assert_eq!(names(&both, 1), ["West", "South", "East"]);
    assert!(both.routes[0].duration_s < both.routes[1].duration_s);
    assert_eq!(both.routes[0].duration_s, one.routes[0].duration_s);
}

#[test]
fn a_small_tile_cache_evicts_and_refetches_without_changing_answers() {
    let sample = support::sample();
    let big = Network::load(&sample, Vec::new(), 1 << 30);
    let tile_bytes: u64 = big.version.manifest.tiles.iter().map(|t| t.bytes).sum();
    let limit = tile_bytes / 4;
    let small = Network::load(&sample, Vec::new(), limit);
    let [s, w, n, e] = big.version.manifest.bbox;
    let mut rng = StdRng::seed_from_u64(3);
    let mut point = || {
        LatLon::new(rng.random_range(s..n), rng.random_range(w..e))
            .expect("a point inside the graph's bounds")
    };
    let settings = PlannerSettings::default();
    let mut compared = 0;
    for _ in 0..40 {
        let (a, b) = (point(), point());
        let plan_on = |net: &Network| {
            let _entered = net.runtime.enter();
            plan(
                &RequestTiles::new(&net.cache, &net.version),
                &[a, b],
                &driving(false, false),
                &settings,
            )
            .ok()
            .map(|p| p.routes[0].duration_s)
        };
        let (want, got) = (plan_on(&big), plan_on(&small));
        assert_eq!(got, want, "{a:?} -> {b:?}");
        compared += usize::from(want.is_some());
        assert!(
            small.cache.weighted_bytes() <= limit,
            "cache holds {} bytes, limit {limit}",
            small.cache.weighted_bytes()
        );
    }
    assert!(compared >= 20, "only {compared} pairs routed");
    let distinct = big.cache.fetched();
    assert!(
        small.cache.fetched() > distinct,
        "the small cache fetched {} tiles, the big one {distinct}: nothing was evicted",
        small.cache.fetched()
    );
}
