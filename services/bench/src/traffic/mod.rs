//! `bench traffic`, the in-process half: the map matcher's accuracy and throughput on
//! synthetic traces over every extract (sigma 5, 10, 20 m at 1, 5, 15 s sampling), and on
//! one city (Porto by default) the time to customise the driving hierarchy with live speeds
//! and traffic-aware route latency on the customised hierarchy against the stored one.
//!
//! The server-side half of the issue (ingest through `POST /v1/locations`, a jam's time to
//! show in routes, reroute pushes to thousands of sessions) is not measured here yet.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use routing::astar::SearchOptions;
use routing::matching::synth::{self, Score};
use routing::matching::{MatchOptions, match_trace};
use routing::{Mode, TileSource, TileStore};

use crate::import::{list_extracts, resolve_dir};

#[derive(clap::Args, Debug, Clone)]
pub struct TrafficArgs {
    /// Directory of OSM extracts. Default: `../shared/data/osm`, or `data/`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Comma-separated file names to match on (default: every extract).
    #[arg(long, value_delimiter = ',')]
    pub files: Vec<String>,
    /// The extract customised and routed on.
    #[arg(long, default_value = "porto.osm.pbf")]
    pub city: String,
    /// Driving routes per extract for the matcher (each at least 1 km).
    #[arg(long, default_value_t = 40)]
    pub routes: usize,
    /// Route queries timed on the city.
    #[arg(long, default_value_t = 1_000)]
    pub queries: usize,
    /// Share of the city's driving edges slowed for the customisation.
    #[arg(long, default_value_t = 0.05)]
    pub jammed_share: f64,
    /// Witness-search limits to customise with (nodes settled per search), each timed
    /// with the routes it gives; the first is the service's.
    #[arg(long, value_delimiter = ',', default_values_t = [routing::ch::CUSTOMISE_WITNESS_SETTLED, 20, 5])]
    pub witness_settled: Vec<usize>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

const INTERVALS: [f64; 3] = [1.0, 5.0, 15.0];
const SIGMAS: [f64; 3] = [5.0, 10.0, 20.0];

struct Loaded {
    _work: crate::TempDir,
    cache: navigation::tiles::TileCache,
    version: Arc<navigation::tiles::LoadedVersion>,
    bounds: (f64, f64, f64, f64),
}

/// Imports `path` into a temporary tile store (with the driving hierarchy).
async fn load(path: &Path, label: &str) -> anyhow::Result<Loaded> {
    let work = crate::TempDir::labelled(&format!("traffic-{label}"))?;
    let store = TileStore::open(&work.0.join("tiles").display().to_string())?;
    let options = routing::import::ImportOptions {
        contract: vec![Mode::Driving],
    };
    routing::import::import_roads_with(path, &store, &options, |_, _, _| {}).await?;
    let manifest = store.current().await?.context("nothing published")?;
    let [south, west, north, east] = manifest.bbox;
    let cache = navigation::tiles::TileCache::new(store, 2 << 30);
    let version = Arc::new(navigation::tiles::LoadedVersion::new(manifest, 1));
    Ok(Loaded {
        _work: work,
        cache,
        version,
        bounds: (south, north, west, east),
    })
}

/// One extract's matcher figures.
struct MatchRow {
    name: String,
    /// Per (interval, sigma): the score and fixes per second.
    cells: Vec<((f64, f64), Score, f64)>,
}

fn match_extract(loaded: &Loaded, name: &str, args: &TrafficArgs) -> MatchRow {
    let tiles = navigation::tiles::RequestTiles::new(&loaded.cache, &loaded.version);
    let exact = SearchOptions::exact(Mode::Driving, loaded.version.max_speed_kmh(Mode::Driving));
    let routes = synth::random_routes(
        &tiles,
        loaded.bounds,
        &exact,
        (args.routes, 1_000.0),
        args.seed,
    );
    let mut cells = Vec::new();
    for &interval in &INTERVALS {
        for &sigma in &SIGMAS {
            let mut score = Score::default();
            let mut traces = Vec::new();
            let mut truths = Vec::new();
            for (k, path) in routes.iter().enumerate() {
                let (truth, fixes) = synth::trace(
                    &tiles,
                    &path.edges,
                    (path.start_fraction, path.end_fraction),
                    Mode::Driving,
                    (interval, sigma),
                    args.seed ^ (k as u64 * 7919),
                );
                truths.push(truth);
                traces.push(fixes);
            }
            let options = MatchOptions {
                sigma_m: sigma,
                ..MatchOptions::default()
            };
            // Warm the tiles, then time one thread.
            for trace in &traces {
                let _ = match_trace(&tiles, trace, &options);
            }
            let started = Instant::now();
            let results: Vec<_> = traces
                .iter()
                .map(|t| match_trace(&tiles, t, &options))
                .collect();
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            let fixes: usize = traces.iter().map(Vec::len).sum();
            for ((truth, path), result) in truths.iter().zip(&routes).zip(&results) {
                score.add(&tiles, truth, &path.edges, result);
            }
            cells.push(((interval, sigma), score, fixes as f64 / seconds));
        }
    }
    eprintln!("  {name}: {} routes matched", routes.len());
    MatchRow {
        name: name.to_string(),
        cells,
    }
}

/// The city's customisation and traffic-aware routes.
struct CityRow {
    name: String,
    hierarchy_nodes: usize,
    jammed: usize,
    plain: crate::stats::Measurement,
    customised: Vec<Customised>,
}

/// One witness-search limit's customisation.
struct Customised {
    witness_settled: usize,
    /// Seconds per run.
    customise_s: Vec<f64>,
    arcs: usize,
    routes: crate::stats::Measurement,
}

fn city(loaded: &Loaded, name: &str, args: &TrafficArgs) -> anyhow::Result<CityRow> {
    let tiles = navigation::tiles::RequestTiles::new(&loaded.cache, &loaded.version);
    let base = tiles
        .contracted(Mode::Driving)
        .context("the city has no driving hierarchy")?;
    // Slow a share of the edges to 10-50% of free flow, as a jam would.
    let mut rng = synth::Rng::new(args.seed);
    let mut factors: std::collections::HashMap<u64, f64> = std::collections::HashMap::new();
    for edge in base.edges() {
        if rng.uniform() < args.jammed_share {
            factors.insert(edge.packed(), 2.0 + 8.0 * rng.uniform());
        }
    }
    let weight = |edge: routing::GraphId, ms: usize| {
        factors
            .get(&edge.packed())
            .map_or(ms, |f| (ms as f64 * f).round() as usize)
    };
    let mut hierarchies = Vec::new();
    for &settled in &args.witness_settled {
        let mut customise_s = Vec::new();
        let mut last = None;
        for _ in 0..2 {
            let started = Instant::now();
            let customised = base
                .customise_with(weight, settled)
                .map_err(|e| anyhow::anyhow!(e))?;
            customise_s.push(started.elapsed().as_secs_f64());
            last = Some(Arc::new(customised));
        }
        let live = last.context("no customisation ran")?;
        eprintln!("  witness limit {settled}: customised in {customise_s:.2?} s");
        hierarchies.push((settled, customise_s, live));
    }
    let exact = SearchOptions::exact(Mode::Driving, loaded.version.max_speed_kmh(Mode::Driving));
    let pairs = synth::random_routes(
        &tiles,
        loaded.bounds,
        &exact,
        (args.queries.min(200), 500.0),
        args.seed + 1,
    );
    let stops: Vec<_> = pairs
        .iter()
        .filter_map(|p| {
            let a = tiles.edge(*p.edges.first()?)?.shape();
            let b = tiles.edge(*p.edges.last()?)?.shape();
            Some((
                routing::graph::e7_to_latlon(a[0]),
                routing::graph::e7_to_latlon(b[b.len() - 1]),
            ))
        })
        .collect();
    let settings = navigation::NavigationConfig::default().planner();
    let options = navigation::planner::PlanOptions {
        mode: Mode::Driving,
        avoid: routing::astar::Avoid::default(),
        alternatives: false,
        exact: false,
    };
    let time = |hierarchy: Option<&Arc<routing::ch::Contracted>>, label: &str| {
        let mut recorder = crate::stats::Recorder::new(label);
        for i in 0..args.queries {
            let (a, b) = stops[i % stops.len()];
            let mut request = navigation::tiles::RequestTiles::new(&loaded.cache, &loaded.version);
            if let Some(h) = hierarchy {
                request = request.with_hierarchy(Arc::clone(h));
            }
            let started = Instant::now();
            let plan = navigation::planner::plan(&request, &[a, b], &options, &settings);
            recorder.record(started.elapsed(), usize::from(plan.is_ok()));
        }
        recorder.finish(None)
    };
    let _ = time(None, "warm-up");
    let plain = time(None, "stored hierarchy");
    let customised = hierarchies
        .into_iter()
        .map(|(witness_settled, customise_s, live)| Customised {
            witness_settled,
            customise_s,
            arcs: live.arc_count(),
            routes: time(Some(&live), "customised for traffic"),
        })
        .collect();
    Ok(CityRow {
        name: name.to_string(),
        hierarchy_nodes: base.node_count(),
        jammed: factors.len(),
        plain,
        customised,
    })
}

pub async fn run(args: TrafficArgs) -> anyhow::Result<()> {
    let dir = resolve_dir(args.dir.as_deref())?;
    let files = list_extracts(&dir, &args.files)?;
    let mut rows = Vec::new();
    let mut city_row = None;
    for (path, _) in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        eprintln!("== {name}");
        let loaded = load(path, &name).await?;
        let loaded = Arc::new(loaded);
        let (l, n, a) = (Arc::clone(&loaded), name.clone(), args.clone());
        rows.push(tokio::task::spawn_blocking(move || match_extract(&l, &n, &a)).await?);
        if name == args.city {
            let (l, n, a) = (Arc::clone(&loaded), name.clone(), args.clone());
            city_row = Some(tokio::task::spawn_blocking(move || city(&l, &n, &a)).await??);
        }
    }
    println!("{}", render(&rows, city_row.as_ref()));
    Ok(())
}

fn render(rows: &[MatchRow], city: Option<&CityRow>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Map matching (one thread)\n\nmatched edges = directed edges in both the true and the matched route over edges in either; route = 1 - route mismatch fraction (Newson and Krumm); fixes on edge = fixes matched onto their true edge (bounded by noise near nodes); on route = fixes matched onto some edge of the true route\n"
    );
    let _ = writeln!(
        out,
        "| extract | interval | sigma | matched edges | route | fixes on edge | on route | fixes/s |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for row in rows {
        for ((interval, sigma), score, rate) in &row.cells {
            let _ = writeln!(
                out,
                "| {} | {interval} s | {sigma} m | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} |",
                row.name,
                score.edge_accuracy(),
                score.route_accuracy(),
                score.fix_accuracy(),
                score.on_route_accuracy(),
                rate
            );
        }
    }
    if let Some(c) = city {
        let _ = writeln!(
            out,
            "\n## {}: driving hierarchy customised with live speeds\n\n{} hierarchy nodes, {} edges slowed to 10-50%; each customisation run twice, routes timed on the last\n",
            c.name, c.hierarchy_nodes, c.jammed,
        );
        let _ = writeln!(
            out,
            "| hierarchy | witness limit | customisation s | arcs | routes | p50 ms | p99 ms |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        let row = |label: &str,
                   limit: String,
                   seconds: String,
                   arcs: String,
                   m: &crate::stats::Measurement| {
            format!(
                "| {label} | {limit} | {seconds} | {arcs} | {} | {:.3} | {:.3} |",
                m.queries(),
                m.p50_us() / 1000.0,
                m.p99_us() / 1000.0
            )
        };
        let _ = writeln!(
            out,
            "{}",
            row(
                "stored (free flow)",
                "-".into(),
                "-".into(),
                "-".into(),
                &c.plain
            )
        );
        for k in &c.customised {
            let runs: Vec<String> = k.customise_s.iter().map(|s| format!("{s:.2}")).collect();
            let _ = writeln!(
                out,
                "{}",
                row(
                    "customised (traffic)",
                    k.witness_settled.to_string(),
                    runs.join(" / "),
                    k.arcs.to_string(),
                    &k.routes
                )
            );
        }
    }
    out
}
