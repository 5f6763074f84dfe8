//! `bench route`: route planning on real extracts (in process, over HTTP, exact mode)
//! against pgRouting's `pgr_dijkstra` and `pgr_aStar` on the same roads loaded by
//! osm2pgrouting, plus 1,000 km routes on a synthetic country with a tile cache smaller
//! than its tiles.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use geo_core::{LatLon, haversine_m};
use kit::config::CommonConfig;
use navigation::NavigationConfig;
use navigation::planner::{PlanOptions, PlannerSettings, plan};
use navigation::tiles::{LoadedVersion, RequestTiles, TileCache};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use routing::astar::Avoid;
use routing::{Level, Mode, TileSource, TileStore};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Row};

use crate::TempDir;

mod report;

use self::report::*;
use crate::stats::{Measurement, Recorder};
use geostack::app::{App, ServerConfig, Service};

#[derive(clap::Args, Debug)]
pub struct RouteArgs {
    /// Directory of OSM extracts. Default: `../shared/data/osm`, or `data/`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Comma-separated extract file names.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "porto.osm.pbf,heidelberg.osm.pbf"
    )]
    pub files: Vec<String>,
    /// Random origin/destination pairs per extract (driving).
    #[arg(long, default_value_t = 1000)]
    pub pairs: usize,
    /// Pairs also run on pgRouting (each query there takes a fraction of a second).
    #[arg(long, default_value_t = 1000)]
    pub pgrouting_pairs: usize,
    /// No pgRouting anchor (no database needed).
    #[arg(long)]
    pub skip_pgrouting: bool,
    /// No synthetic country network.
    #[arg(long)]
    pub skip_synthetic: bool,
    /// Long routes on the synthetic country.
    #[arg(long, default_value_t = 200)]
    pub synthetic_pairs: usize,
    /// Tile cache for the synthetic country, bytes (the bench checks it is smaller than the
    /// tile set).
    #[arg(long, default_value_t = 64 << 20)]
    pub synthetic_cache_bytes: u64,
    /// Random seed for the pairs and the synthetic country.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// PostgreSQL admin connection for the pgRouting anchor (a database is created and
    /// dropped per extract).
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub database_url: String,
}

/// One origin/destination pair, with the exact optimum (seconds).
#[derive(Debug, Clone, Copy)]
struct Pair {
    from: LatLon,
    to: LatLon,
    exact_s: f64,
}

/// What one engine did on one extract.
struct EngineRow {
    measurement: Measurement,
    /// Extra columns: tiles per request, cache bytes...
    detail: String,
}

struct ExtractResult {
    name: String,
    rows: Vec<EngineRow>,
    /// Hierarchical cost / exact cost.
    worst_ratio: f64,
    within_1pct: usize,
    pairs: usize,
    notes: Vec<String>,
}

fn extracts_dir(dir: Option<&Path>) -> PathBuf {
    if let Some(d) = dir {
        return d.to_path_buf();
    }
    let shared = PathBuf::from("../shared/data/osm");
    if shared.is_dir() {
        shared
    } else {
        PathBuf::from("data")
    }
}

pub async fn run(args: RouteArgs) -> anyhow::Result<()> {
    let dir = extracts_dir(args.dir.as_deref());
    let mut results = Vec::new();
    for file in &args.files {
        let path = dir.join(file);
        anyhow::ensure!(path.is_file(), "{} does not exist", path.display());
        eprintln!("== {file}");
        results.push(run_extract(&args, &path, file).await?);
    }
    let synthetic = if args.skip_synthetic {
        None
    } else {
        eprintln!("== synthetic country");
        Some(run_synthetic(&args).await?)
    };
    println!("{}", render(&results, synthetic.as_ref(), &args));
    Ok(())
}

/// Plans every pair on one thread, recording latency and nodes settled. Also returns each
/// pair's cost, the tiles used per route and the searches a contraction hierarchy answered.
fn time_plans(
    cache: &TileCache,
    version: &LoadedVersion,
    pairs: &[Pair],
    exact: bool,
    settings: &PlannerSettings,
    label: &str,
) -> (Measurement, Vec<f64>, f64, usize) {
    let mut recorder = Recorder::new(label);
    let mut costs = Vec::with_capacity(pairs.len());
    let mut tiles = 0usize;
    let mut contracted = 0usize;
    let options = PlanOptions {
        mode: Mode::Driving,
        avoid: Avoid::default(),
        alternatives: false,
        exact,
    };
    for pair in pairs {
        let started = Instant::now();
        let view = RequestTiles::new(cache, version);
        let planned = plan(&view, &[pair.from, pair.to], &options, settings);
        let elapsed = started.elapsed();
        match planned {
            Ok(p) => {
                recorder.record(elapsed, p.stats.settled);
                contracted += p.stats.contracted;
                costs.push(p.routes[0].duration_s);
            }
            Err(_) => {
                recorder.record(elapsed, 0);
                costs.push(f64::INFINITY);
            }
        }
        tiles += view.tiles_used();
    }
    let per_request = tiles as f64 / pairs.len().max(1) as f64;
    (recorder.finish(None), costs, per_request, contracted)
}

/// Random driving pairs that have a route, with their exact cost.
fn pick_pairs(
    cache: &TileCache,
    version: &LoadedVersion,
    count: usize,
    rng: &mut StdRng,
    settings: &PlannerSettings,
    sample: impl Fn(&mut StdRng) -> (LatLon, LatLon),
) -> Vec<Pair> {
    let options = PlanOptions {
        mode: Mode::Driving,
        avoid: Avoid::default(),
        alternatives: false,
        exact: true,
    };
    let mut pairs = Vec::with_capacity(count);
    let mut tries = 0;
    while pairs.len() < count && tries < count * 20 {
        tries += 1;
        let (from, to) = sample(rng);
        let view = RequestTiles::new(cache, version);
        if let Ok(p) = plan(&view, &[from, to], &options, settings) {
            pairs.push(Pair {
                from,
                to,
                exact_s: p.routes[0].duration_s,
            });
        }
    }
    pairs
}

/// Coordinates of every node on the local level (every road end and junction there).
fn road_points(cache: &TileCache, version: &LoadedVersion) -> Vec<LatLon> {
    let view = RequestTiles::new(cache, version);
    let mut out = Vec::new();
    for entry in version
        .manifest
        .tiles
        .iter()
        .filter(|t| t.level == Level::Local)
    {
        if let Some(tile) = view.get(entry.level, entry.id) {
            for n in 0..tile.node_count() {
                out.push(routing::graph::e7_to_latlon(tile.node_e7(n)));
            }
        }
    }
    out
}

async fn run_extract(args: &RouteArgs, path: &Path, name: &str) -> anyhow::Result<ExtractResult> {
    let work = TempDir::labelled(&format!("route-{name}"))?;
    let tiles_dir = work.0.join("tiles");
    let store = TileStore::open(&tiles_dir.display().to_string())?;
    // Driving is what is timed: only it needs a hierarchy.
    let options = routing::import::ImportOptions {
        contract: vec![Mode::Driving],
    };
    let summary = routing::import::import_roads_with(path, &store, &options, |_, _, _| {}).await?;
    let manifest = store.current().await?.context("nothing published")?;
    eprintln!(
        "  tiles: {} nodes, {} edges, {:.1} MB; driving hierarchy {:.1} MB, contracted in {:.1} s",
        summary.graph.graph_nodes,
        summary.graph.graph_edges,
        summary.tile_bytes as f64 / 1e6,
        summary.contracted.iter().map(|c| c.bytes).sum::<u64>() as f64 / 1e6,
        summary.contract_seconds
    );
    let settings = NavigationConfig::default().planner();
    let cache = TileCache::new(store.clone(), 1 << 30);
    let version = LoadedVersion::new(manifest, 1);
    let pair_count = args.pairs;
    let seed = args.seed;
    let (pairs, default, exact, within, worst, tiles_per, cache_bytes, contracted) = {
        let cache = cache.clone();
        tokio::task::spawn_blocking(move || {
            let mut rng = StdRng::seed_from_u64(seed);
            // Stops near random road nodes (uniform over the bounding box would mostly
            // land in empty country on extracts cut from a larger region).
            let nodes = road_points(&cache, &version);
            let pairs = pick_pairs(&cache, &version, pair_count, &mut rng, &settings, |rng| {
                let mut p = || {
                    let n = nodes[rng.random_range(0..nodes.len())];
                    LatLon::clamped(
                        n.lat + rng.random_range(-0.002..0.002),
                        n.lon + rng.random_range(-0.002..0.002),
                    )
                };
                (p(), p())
            });
            // Warm pass, then the timed passes.
            let _ = time_plans(&cache, &version, &pairs, false, &settings, "warm-up");
            let (default, costs, tiles_per, contracted) =
                time_plans(&cache, &version, &pairs, false, &settings, "geostack");
            let (exact, _, _, _) =
                time_plans(&cache, &version, &pairs, true, &settings, "geostack exact");
            let mut within = 0;
            let mut worst = 1.0f64;
            for (pair, cost) in pairs.iter().zip(&costs) {
                let ratio = if pair.exact_s > 0.0 {
                    cost / pair.exact_s
                } else {
                    1.0
                };
                worst = worst.max(ratio);
                if ratio <= 1.01 {
                    within += 1;
                }
            }
            let bytes = cache.weighted_bytes();
            (
                pairs, default, exact, within, worst, tiles_per, bytes, contracted,
            )
        })
        .await?
    };
    eprintln!("  {} pairs; in process done", pairs.len());
    let mut rows = vec![
        EngineRow {
            measurement: default,
            detail: format!(
                "contraction hierarchy answered {contracted} of {} routes (settled not counted); \
                 {tiles_per:.1} tiles/route, cache {:.1} MB",
                pairs.len(),
                cache_bytes as f64 / 1e6
            ),
        },
        EngineRow {
            measurement: exact,
            detail: "no hierarchy".into(),
        },
    ];
    rows.push(EngineRow {
        measurement: run_http(&tiles_dir, &work.0, &pairs).await?,
        detail: "sequential GET /v1/nav, route cache off".into(),
    });
    let mut notes = Vec::new();
    if args.skip_pgrouting {
        notes.push("pgRouting skipped (--skip-pgrouting)".to_string());
    } else {
        match run_pgrouting(
            args,
            path,
            name,
            &pairs[..pairs.len().min(args.pgrouting_pairs)],
        )
        .await
        {
            Ok((dijkstra, astar, note)) => {
                rows.push(EngineRow {
                    measurement: dijkstra,
                    detail: "nearest vertices looked up beforehand".into(),
                });
                rows.push(EngineRow {
                    measurement: astar,
                    detail: "nearest vertices looked up beforehand".into(),
                });
                notes.push(note);
            }
            Err(e) => notes.push(format!("pgRouting failed: {e:#}")),
        }
    }
    Ok(ExtractResult {
        name: name.to_string(),
        rows,
        worst_ratio: worst,
        within_1pct: within,
        pairs: pairs.len(),
        notes,
    })
}

/// The navigation service on `tiles_dir`, asked for every pair one at a time.
async fn run_http(tiles_dir: &Path, work: &Path, pairs: &[Pair]) -> anyhow::Result<Measurement> {
    let config = ServerConfig {
        common: CommonConfig::embedded(work.join("server")),
        proximity: proximity::ProximityConfig {
            sample_data: PathBuf::new(),
            index_refresh_at: "off".into(),
            ..Default::default()
        },
        friends: friends::FriendsConfig::default(),
        navigation: NavigationConfig {
            tiles_url: Some(tiles_dir.display().to_string()),
            sample_data: PathBuf::new(),
            route_cache_bytes: 0,
            ..NavigationConfig::default()
        },
    };
    let app = App::build(config, &[Service::Navigation]).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let mut recorder = Recorder::new("geostack HTTP");
    for pair in pairs {
        let url = format!(
            "{base}/v1/nav?origin={:.6},{:.6}&destination={:.6},{:.6}",
            pair.from.lat, pair.from.lon, pair.to.lat, pair.to.lon
        );
        let started = Instant::now();
        let response = client.get(&url).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        // The service does not report its work over HTTP: no settled count here.
        recorder.record(started.elapsed(), 0);
        anyhow::ensure!(
            status.is_success() && !body.is_empty(),
            "GET {url}: {status}"
        );
    }
    let _ = stop.send(());
    let _ = server.await;
    Ok(recorder.finish(None))
}

/// osm2pgrouting loads the extract into a fresh database; then each pair is routed with
/// `pgr_dijkstra` and `pgr_aStar` between the vertices nearest its ends.
async fn run_pgrouting(
    args: &RouteArgs,
    path: &Path,
    name: &str,
    pairs: &[Pair],
) -> anyhow::Result<(Measurement, Measurement, String)> {
    let tools = crate::import::prepare_anchor(&args.database_url, true).await?;
    let work = TempDir::labelled(&format!("route-pg-{name}"))?;
    let (xml, _) = crate::import::to_osm_xml(path, name, &work.0).await?;
    let database = format!("geostack_bench_route_{}", std::process::id());
    crate::postgis::create_database(&tools.admin, &database).await?;
    let result = pgrouting_queries(&tools.admin, &tools, &xml, &database, &work.0, pairs).await;
    crate::postgis::drop_database(&tools.admin, &database).await;
    result
}

async fn pgrouting_queries(
    admin: &PgConnectOptions,
    tools: &crate::import::AnchorTools,
    xml: &Path,
    database: &str,
    work: &Path,
    pairs: &[Pair],
) -> anyhow::Result<(Measurement, Measurement, String)> {
    eprintln!("  osm2pgrouting import (not timed)");
    let loaded = crate::import::anchor_once(tools, xml, database, work).await?;
    let mut conn = admin.clone().database(database).connect().await?;
    let nearest = "SELECT id FROM ways_vertices_pgr ORDER BY the_geom <-> ST_SetSRID(ST_MakePoint($1, $2), 4326) LIMIT 1";
    let mut ends = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let a: i64 = sqlx::query(nearest)
            .bind(pair.from.lon)
            .bind(pair.from.lat)
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?;
        let b: i64 = sqlx::query(nearest)
            .bind(pair.to.lon)
            .bind(pair.to.lat)
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?;
        ends.push((a, b));
    }
    let dijkstra = "SELECT coalesce(max(agg_cost), -1) FROM pgr_dijkstra(\
        'SELECT gid AS id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM ways', \
        $1::bigint, $2::bigint, true)";
    let astar = "SELECT coalesce(max(agg_cost), -1) FROM pgr_aStar(\
        'SELECT gid AS id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost, x1, y1, x2, y2 FROM ways', \
        $1::bigint, $2::bigint, true)";
    let mut out = Vec::new();
    for (label, sql) in [("pgr_dijkstra", dijkstra), ("pgr_aStar", astar)] {
        let mut recorder = Recorder::new(label);
        let started_all = Instant::now();
        for (i, &(a, b)) in ends.iter().enumerate() {
            let started = Instant::now();
            let cost: f64 = sqlx::query(sql)
                .bind(a)
                .bind(b)
                .fetch_one(&mut conn)
                .await?
                .try_get(0)?;
            recorder.record(started.elapsed(), usize::from(cost >= 0.0));
            if i % 100 == 99 {
                eprintln!(
                    "  {label}: {} of {} in {:.0} s",
                    i + 1,
                    ends.len(),
                    started_all.elapsed().as_secs_f64()
                );
            }
        }
        out.push(recorder.finish(None));
    }
    let astar = out.pop().expect("two measurements");
    let dijkstra = out.pop().expect("two measurements");
    Ok((
        dijkstra,
        astar,
        format!(
            "pgRouting ({}): {} ways rows, {} vertices; {} pairs",
            tools.version,
            loaded.ways,
            loaded.vertices,
            pairs.len()
        ),
    ))
}

struct SyntheticResult {
    nodes: u64,
    edges: u64,
    tile_bytes: u64,
    cache_bytes_limit: u64,
    build_seconds: f64,
    pairs: usize,
    mean_km: f64,
    default: Measurement,
    tiles_per_route: f64,
    fetched: u64,
    cache_bytes: u64,
    exact: Option<(Measurement, f64)>,
}

async fn run_synthetic(args: &RouteArgs) -> anyhow::Result<SyntheticResult> {
    let params = crate::synth::country::CountryParams::country(args.seed);
    let started = Instant::now();
    let (graph, report) =
        tokio::task::spawn_blocking(move || crate::synth::country::country_graph(&params)).await?;
    let build_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "  generated {} nodes, {} edges in {build_seconds:.1} s",
        report.graph_nodes, report.graph_edges
    );
    let work = TempDir::labelled("route-synthetic")?;
    let store = TileStore::open(&work.0.join("tiles").display().to_string())?;
    let source = routing::import::Source {
        name: "synthetic-country".into(),
        path: "synthetic country".into(),
        bytes: 0,
    };
    // Tiles only: the point here is the A* over tiles loaded on demand through a cache
    // smaller than the tile set (contracting millions of nodes would take many minutes).
    let options = routing::import::ImportOptions {
        contract: Vec::new(),
    };
    let summary =
        routing::import::publish_graph(graph, report, &source, &store, &options, |_, _, _| {})
            .await?;
    let manifest = store.current().await?.context("nothing published")?;
    let [s, w, n, e] = manifest.bbox;
    let limit = args.synthetic_cache_bytes;
    eprintln!(
        "  tiles: {:.1} MB in storage; cache limit {:.1} MB",
        summary.tile_bytes as f64 / 1e6,
        limit as f64 / 1e6
    );
    let cache = TileCache::new(store, limit);
    let version = LoadedVersion::new(manifest, 1);
    let settings = NavigationConfig::default().planner();
    let count = args.synthetic_pairs;
    let seed = args.seed;
    let run_cache = cache.clone();
    let (pairs, default, tiles_per, exact) = tokio::task::spawn_blocking(move || {
        let cache = run_cache;
        let mut rng = StdRng::seed_from_u64(seed + 1);
        // West edge to east edge: about the country's width apart.
        let width = e - w;
        let sample = |rng: &mut StdRng| {
            let from = LatLon::clamped(
                rng.random_range(s..n),
                rng.random_range(w..w + width * 0.05),
            );
            let to = LatLon::clamped(
                rng.random_range(s..n),
                rng.random_range(e - width * 0.05..e),
            );
            (from, to)
        };
        // Pairs are chosen with the hierarchical planner (exact mode on a country is the
        // slow reference, run on a few below).
        let options = PlanOptions {
            mode: Mode::Driving,
            avoid: Avoid::default(),
            alternatives: false,
            exact: false,
        };
        let mut pairs = Vec::new();
        while pairs.len() < count {
            let (from, to) = sample(&mut rng);
            let view = RequestTiles::new(&cache, &version);
            if let Ok(p) = plan(&view, &[from, to], &options, &settings) {
                pairs.push(Pair {
                    from,
                    to,
                    exact_s: p.routes[0].duration_s,
                });
            }
        }
        let (default, _, tiles_per, _) =
            time_plans(&cache, &version, &pairs, false, &settings, "geostack");
        let few = &pairs[..pairs.len().min(10)];
        let (exact, exact_costs, _, _) =
            time_plans(&cache, &version, few, true, &settings, "geostack exact");
        let worst = few
            .iter()
            .zip(&exact_costs)
            .map(|(p, c)| p.exact_s / c)
            .fold(1.0f64, f64::max);
        (pairs, default, tiles_per, Some((exact, worst)))
    })
    .await?;
    let mean_km = pairs
        .iter()
        .map(|p| haversine_m(p.from, p.to) / 1000.0)
        .sum::<f64>()
        / pairs.len().max(1) as f64;
    Ok(SyntheticResult {
        nodes: summary.graph.graph_nodes,
        edges: summary.graph.graph_edges,
        tile_bytes: summary.tile_bytes,
        cache_bytes_limit: limit,
        build_seconds,
        pairs: pairs.len(),
        mean_km,
        default,
        tiles_per_route: tiles_per,
        fetched: cache.fetched(),
        cache_bytes: cache.weighted_bytes(),
        exact,
    })
}
