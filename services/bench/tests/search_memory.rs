//! What an A* search holds in memory per settled edge, measured with a counting allocator:
//! the figure behind the navigation service's `ROUTE_MAX_SETTLED` (one request's budget of
//! settled edges), and proof that the budget bounds a search's memory on a large map.

use geo_core::{LatLon, METRES_PER_DEGREE, metres_per_degree_lon};
use geostack_bench::synth::country::{CountryParams, country_graph};
use routing::astar::{SearchOptions, max_speed_kmh, search_between};
use routing::import::encode_tiles;
use routing::snap::snap;
use routing::{Mode, Tile, TileSet};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// Runs `f` and returns its result with the bytes it allocated in all (growth by
/// reallocation included). What it held at any moment is no more than that.
fn allocated_by<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let region = Region::new(GLOBAL);
    let out = f();
    (out, region.change().bytes_allocated)
}

/// The figure README and the `ROUTE_MAX_SETTLED` help text quote.
const MOST_BYTES_PER_SETTLED: usize = 200;

#[test]
fn the_settled_budget_bounds_a_search_in_memory() {
    // 60 x 40 km, ~20,000 intersections: the search crosses it corner to corner.
    let params = CountryParams::small(7);
    let (graph, _) = country_graph(&params);
    let (encoded, _) = encode_tiles(&graph).unwrap();
    let mut tiles = TileSet::default();
    for t in &encoded {
        tiles.insert(Tile::decode(&t.bytes).unwrap());
    }
    let mode = Mode::Walking;
    let (lat0, lon0) = params.origin;
    let corner = |fy: f64, fx: f64| {
        // The synthetic country's own projection: kilometres east measured at the point's
        // latitude.
        let lat = lat0 + fy * params.height_km * 1_000.0 / METRES_PER_DEGREE;
        let lon = lon0 + fx * params.width_km * 1_000.0 / metres_per_degree_lon(lat);
        let p = LatLon::new(lat, lon).expect("a corner of the synthetic country");
        (1..50)
            .find_map(|r| snap(&tiles, p, mode, 1_000.0 * f64::from(r)))
            .expect("a road near the corner")
    };
    let (a, b) = (corner(0.1, 0.1), corner(0.9, 0.9));
    // Touch every tile first, so that lazily built per-tile indexes are not counted.
    let exact = SearchOptions::exact(mode, max_speed_kmh(&tiles, mode));
    let full = search_between(&tiles, &a, &b, &exact);
    assert!(
        // Large enough that per-search constants vanish in the per-edge figure (27,447
        // on this seed).
        full.path.is_some() && full.settled > 20_000,
        "{}",
        full.settled
    );

    let (again, held) = allocated_by(|| search_between(&tiles, &a, &b, &exact));
    assert_eq!(again.settled, full.settled);
    let per_edge = held / full.settled;
    eprintln!(
        "exact walking search: {} settled, {held} bytes allocated, {per_edge} bytes per settled edge",
        full.settled
    );
    assert!(
        per_edge <= MOST_BYTES_PER_SETTLED,
        "{per_edge} bytes per edge"
    );

    // A budget of a tenth of that work holds about a tenth of the memory, and says it
    // gave up.
    let budget = full.settled / 10;
    let capped = SearchOptions {
        max_settled: budget,
        ..exact.clone()
    };
    let (cut, held_cut) = allocated_by(|| search_between(&tiles, &a, &b, &capped));
    assert!(cut.exhausted && cut.path.is_none());
    assert_eq!(cut.settled, budget);
    assert!(
        held_cut <= budget * MOST_BYTES_PER_SETTLED,
        "{held_cut} bytes for {budget} edges"
    );
}
