//! `geostack-bench <nearby|import|route|friends|tiles>`: benchmarks, each against its anchors or
//! targets in the same run. Not part of the product: the workspace builds this crate only when
//! asked (`cargo run --release -p geostack-bench -- ...`), and `geostack bench ...` hands over to
//! this binary when it is installed next to `geostack`. The binary links the whole server, so
//! the processes it starts as "the server" (`geostack-bench geostack serve`, `... geostack
//! import roads`) run exactly the product's code.
//!
//! `bench nearby` generates seeded synthetic businesses ([`synth::businesses`]) at each size,
//! picks query centres in dense areas, and runs the same centres through every engine:
//!
//! - the quadtree path (the in-memory snapshot) and the geohash path (index table + cache)
//!   in process, one query at a time on one thread;
//! - Redis `GEOSEARCH` (+ `GEOSEARCHSTORE` for the total) in a Redis started for the run;
//! - PostGIS KNN and `ST_DWithin` in a database created for the run;
//! - the HTTP service end to end under concurrent keep-alive load (`wrk`).
//!
//! It prints a table per radius (results returned, queries/s, p50/p99, the quadtree's
//! speed-up over each engine), a nearest-20 table, the HTTP results, the index build time and
//! bytes per business, and a PASS/MISS line per target of the proximity issue.
//!
//! `bench import` runs `import roads` as a child process on every OSM extract in `--dir`
//! (default `../shared/data/osm`, else `data/`), `--runs` times each, and the anchor,
//! osm2pgrouting (Debian package, installed when missing together with `osmium-tool`, GNU
//! `time` and the server's `postgresql-<major>-pgrouting`), on the same files into a fresh
//! PostGIS + pgRouting database per run. PBF and `.osm.gz` inputs are converted to OSM XML
//! for osm2pgrouting before the timing. It prints a table per extract (median wall seconds,
//! OSM nodes/s, peak RSS from GNU time, graph size, tiles and bytes per level, tiles/input,
//! osm2pgrouting's seconds, peak RSS and `ways` rows, the speed-up), a summary table, and
//! PASS/MISS lines for the import issue's targets (>= 10x osm2pgrouting on every extract,
//! Porto in < 5 s and < 1 GiB peak, tiles smaller than the input).
//!
//! `bench route` times route planning on real extracts (in process, HTTP, exact mode) against
//! pgRouting, and 1,000 km routes on a synthetic country.
//!
//! `bench tiles` builds the map tiles of every extract with `import map` and with tilemaker
//! (its OpenMapTiles configuration), then serves one extract's zoom 12-14 tiles from our
//! server and from nginx under `wrk`, and prints PASS/MISS lines for the map issue's targets.
//!
//! `bench friends` ([`friends`]) runs the nearby-friends service as a child process (`serve`
//! with `SERVICES=friends`) under `--clients` simulated users over real WebSockets, spread
//! over several client processes (the hidden `bench friends-client`, which the benchmark
//! starts itself), each user with `--friends` friends from a seeded synthetic social graph in
//! a city-sized square and an update every `--interval-ms`. It measures, on the embedded
//! default and on a three-server Redis ring with PostgreSQL: time to connect everyone, server
//! RSS per idle connection, then over a steady-state window updates/s, deliveries/s,
//! end-to-end latency (send -> friend receives) p50/p99, server CPU and RSS, connections
//! held, Redis and client CPU, and the drain time after SIGTERM; it prints a table per
//! deployment and PASS/MISS lines for the nearby-friends issue's targets.

mod friends;
mod http;
mod import;
mod inprocess;
mod postgis;
mod redis_anchor;
mod report;
mod route;
mod stats;
pub mod synth;
mod tiles;
mod traffic;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::synth::businesses;
use anyhow::Context;

use self::inprocess::GeohashPath;
use self::redis_anchor::RedisAnchor;
use self::report::{RadiusReport, SizeReport};
use self::stats::Budget;
use testkit::RedisServer;

/// Benchmarks.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Nearby search: quadtree and geohash paths vs Redis GEOSEARCH, PostGIS and HTTP.
    Nearby(NearbyArgs),
    /// Road import: `import roads` on every OSM extract (time, peak memory, nodes/s, tiles
    /// per level and bytes) vs osm2pgrouting into pgRouting on the same files.
    Import(import::ImportArgs),
    /// Route planning on real extracts (in process, HTTP, exact mode) vs pgRouting's
    /// pgr_dijkstra and pgr_aStar, and 1,000 km routes on a synthetic country.
    Route(route::RouteArgs),
    /// Nearby friends: M simulated clients over real WebSockets (several client processes)
    /// against the server as a child process, on the embedded default and on a 3-server Redis
    /// ring: connections held, updates/s, deliveries/s, latency p50/p99, CPU, RSS per
    /// connection, drain time.
    Friends(friends::FriendsArgs),
    /// Map tiles: `import map` vs tilemaker on every OSM extract (time, peak memory, bytes,
    /// largest tile), and one extract's zoom 12-14 tiles served by our server vs nginx
    /// under wrk.
    Tiles(tiles::TilesArgs),
    /// Live traffic, in process: the map matcher's accuracy and throughput on synthetic
    /// traces over every extract, and on one city the driving hierarchy's customisation
    /// time with live speeds and traffic-aware route latency.
    Traffic(traffic::TrafficArgs),
    /// One client process of `bench friends` (started by it).
    #[command(hide = true)]
    FriendsClient(friends::ClientArgs),
    /// The product's own CLI (`geostack-bench geostack serve`): how the benchmarks start the
    /// server and the importer as child processes.
    #[command(hide = true)]
    Geostack(GeostackArgs),
}

/// The hidden subcommand under which this binary runs the `geostack` CLI.
pub const SERVER_COMMAND: &str = "geostack";

#[derive(clap::Args, Debug)]
pub struct GeostackArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(clap::Args, Debug)]
pub struct NearbyArgs {
    /// Comma-separated dataset sizes.
    #[arg(long, default_value = "1000000", value_delimiter = ',')]
    pub sizes: Vec<usize>,
    /// Comma-separated search radii, metres.
    #[arg(
        long,
        default_value = "500,1000,2000,5000,20000",
        value_delimiter = ','
    )]
    pub radii: Vec<f64>,
    /// Queries per radius for the quadtree (in process).
    #[arg(long, default_value_t = 2000)]
    pub queries: usize,
    /// Queries per radius for the slower engines (geohash path, Redis, PostGIS): the first
    /// ones of the same centre list. Speed-ups compare with the quadtree on those centres.
    #[arg(long, default_value_t = 300)]
    pub anchor_queries: usize,
    /// Time budget per slow engine and radius, seconds: it stops early (after at least 20
    /// queries) once this is spent.
    #[arg(long, default_value_t = 30)]
    pub anchor_seconds: u64,
    /// Seed of the synthetic data and the query centres.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Redis to load the anchor into (its geo key is replaced). Default: start
    /// `redis-server` on a free port for the run, without persistence.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// PostgreSQL server; the benchmark creates and drops its own database on it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    #[arg(long)]
    pub skip_redis: bool,
    #[arg(long)]
    pub skip_postgis: bool,
    #[arg(long)]
    pub skip_http: bool,
    #[arg(long)]
    pub skip_geohash: bool,
    /// Largest size loaded into SQLite for the geohash and HTTP paths (loading and publishing
    /// through SQL takes minutes per million).
    #[arg(long, default_value_t = 1_000_000)]
    pub sql_max_size: usize,
    /// Seconds of HTTP load per radius.
    #[arg(long, default_value_t = 10)]
    pub http_seconds: u64,
    /// Concurrent keep-alive connections of the HTTP load.
    #[arg(long, default_value_t = 64)]
    pub http_connections: usize,
    /// Comma-separated radii for the HTTP load, metres.
    #[arg(long, default_value = "1000", value_delimiter = ',')]
    pub http_radii: Vec<f64>,
    /// Quadtree leaf capacity.
    #[arg(long, default_value_t = 100)]
    pub leaf_capacity: usize,
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Nearby(args) => nearby(args).await,
        BenchCommand::Import(args) => import::run(args).await,
        BenchCommand::Route(args) => route::run(args).await,
        BenchCommand::Tiles(args) => tiles::run(args).await,
        BenchCommand::Traffic(args) => traffic::run(args).await,
        BenchCommand::Friends(args) => friends::run(args).await,
        BenchCommand::FriendsClient(args) => friends::client(args).await,
        BenchCommand::Geostack(args) => {
            use clap::Parser;
            let argv = std::iter::once(std::ffi::OsString::from(SERVER_COMMAND)).chain(args.args);
            let cli = geostack::cli::Cli::try_parse_from(argv)?;
            Box::pin(geostack::cli::run(cli, geostack::app::ALL_SERVICES)).await
        }
    }
}

async fn nearby(args: NearbyArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.sizes.is_empty(), "--sizes is empty");
    anyhow::ensure!(
        args.sizes.iter().all(|&n| n > 0) && args.queries > 0,
        "sizes and --queries must be positive"
    );
    anyhow::ensure!(
        args.radii
            .iter()
            .chain(&args.http_radii)
            .all(|r| r.is_finite() && *r > 0.0),
        "radii must be positive"
    );
    let mut redis_server: Option<RedisServer> = None;
    let mut reports = Vec::new();
    let mut mismatches = Vec::new();
    for &n in &args.sizes {
        let report = run_size(&args, n, &mut redis_server, &mut mismatches).await?;
        println!("{}", report::render_size(&report));
        reports.push(report);
    }
    drop(redis_server);
    println!("{}", report::render_targets(&reports));
    if !mismatches.is_empty() {
        println!(
            "\n!!! GEOHASH / QUADTREE MISMATCH ({} queries) !!!",
            mismatches.len()
        );
        for m in mismatches.iter().take(20) {
            println!("  {m}");
        }
        anyhow::bail!("the geohash and quadtree paths disagree");
    }
    Ok(())
}

/// Everything for one dataset size.
async fn run_size(
    args: &NearbyArgs,
    n: usize,
    redis_server: &mut Option<RedisServer>,
    mismatches: &mut Vec<String>,
) -> anyhow::Result<SizeReport> {
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into());
    eprintln!(
        "== {n} businesses (seed {}), load average {load_average}",
        args.seed
    );
    let seed = args.seed;
    let started = Instant::now();
    let data = Arc::new(tokio::task::spawn_blocking(move || businesses::generate(n, seed)).await?);
    let generate_time = started.elapsed();
    let centre_count = args.queries.max(args.anchor_queries);
    let centres = Arc::new(inprocess::dense_centres(&data, centre_count, seed)?);
    let anchor_centres = &centres[..args.anchor_queries.min(centres.len())];
    let budget = Budget {
        max_queries: args.anchor_queries,
        budget: Duration::from_secs(args.anchor_seconds),
    };

    eprintln!("  building the quadtree snapshot");
    let summaries = inprocess::summaries(&data);
    let (snapshot, build_time) = inprocess::build_snapshot(summaries, args.leaf_capacity).await?;
    let mut report = SizeReport {
        n,
        generate_time,
        build_time,
        index_bytes: snapshot.index_bytes(),
        node_count: snapshot.tree().node_count(),
        leaf_capacity: args.leaf_capacity,
        load_average,
        radii: Vec::new(),
        nearest: Vec::new(),
        http: Vec::new(),
        notes: Vec::new(),
    };

    let mut quadtree_pages = Vec::new();
    for &radius in &args.radii {
        eprintln!("  quadtree, radius {radius} m");
        let (m, pages) =
            inprocess::quadtree_nearby(snapshot.clone(), centres.clone(), radius).await?;
        report.radii.push(RadiusReport {
            radius_m: radius,
            rows: vec![m],
        });
        quadtree_pages.push(pages);
    }
    eprintln!("  quadtree, nearest 20");
    report
        .nearest
        .push(inprocess::quadtree_nearest(snapshot.clone(), centres.clone()).await?);
    // The bench's own snapshot is not needed by the other engines; the app builds its own.
    drop(snapshot);

    // Geohash path and HTTP: the app over a SQLite database holding the same rows.
    let want_sql = !args.skip_geohash || !args.skip_http;
    if want_sql && n > args.sql_max_size {
        report.notes.push(format!(
            "geohash path and HTTP skipped at this size: loading {n} rows into SQLite and \
             publishing them takes too long for one run (raise --sql-max-size to include them)"
        ));
    } else if want_sql {
        let work_dir = TempDir::new(n)?;
        eprintln!("  loading {n} rows into SQLite and publishing (geohash index + app snapshot)");
        let loaded = http::load_app(&work_dir.0, &inprocess::fields(&data)).await?;
        report.notes.push(format!(
            "SQLite load for the geohash path and HTTP: insert {:.1} s, publish {:.1} s",
            loaded.insert_time.as_secs_f64(),
            loaded.publish_time.as_secs_f64()
        ));
        if args.skip_geohash {
            report
                .notes
                .push("geohash path skipped (--skip-geohash)".into());
        } else {
            let path = GeohashPath::new(loaded.db.clone(), n);
            for (i, &radius) in args.radii.iter().enumerate() {
                eprintln!("  geohash path, radius {radius} m (cold pass, then warm pass)");
                let (m, pages) = path.nearby(anchor_centres, radius, budget).await?;
                mismatches.extend(inprocess::compare_pages(radius, &quadtree_pages[i], &pages));
                report.radii[i].rows.push(m);
            }
        }
        if args.skip_http {
            report.notes.push("HTTP skipped (--skip-http)".into());
        } else {
            run_http(args, loaded, &centres, &work_dir, &mut report).await?;
        }
    }

    if args.skip_redis {
        report.notes.push("Redis skipped (--skip-redis)".into());
    } else if let Err(err) = run_redis(
        args,
        &data,
        anchor_centres,
        budget,
        redis_server,
        &mut report,
    )
    .await
    {
        eprintln!("  Redis failed: {err:#}");
        report.notes.push(format!(
            "Redis anchor stopped (the rows above are what ran): {err:#}"
        ));
    }

    if args.skip_postgis {
        report.notes.push("PostGIS skipped (--skip-postgis)".into());
    } else if let Err(err) = run_postgis(args, &data, anchor_centres, budget, &mut report).await {
        eprintln!("  PostGIS failed: {err:#}");
        report.notes.push(format!(
            "PostGIS anchor stopped (the rows above are what ran): {err:#}"
        ));
    }
    Ok(report)
}

/// Serves the loaded app on its port and loads it with wrk (or the in-process fallback).
async fn run_http(
    args: &NearbyArgs,
    loaded: http::LoadedApp,
    centres: &[geo_core::LatLon],
    work_dir: &TempDir,
    report: &mut SizeReport,
) -> anyhow::Result<()> {
    let port = loaded.app.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(loaded.app.run_until(async move {
        let _ = stopped.await;
    }));
    let result = async {
        // The service must agree with the bench's own quadtree totals.
        for (i, &radius) in args.http_radii.iter().enumerate() {
            let probe = centres[i % centres.len()];
            let total = http::total_via_http(port, probe, radius).await?;
            if let Some(expected) = report
                .radii
                .iter()
                .find(|r| r.radius_m == radius)
                .and_then(|r| r.rows.first())
                .and_then(|m| m.totals.get(i % centres.len()))
            {
                anyhow::ensure!(
                    total == *expected,
                    "HTTP total {total} differs from the quadtree's {expected} at radius {radius}"
                );
            }
        }
        let load = http::Load {
            connections: args.http_connections,
            seconds: args.http_seconds,
        };
        let wrk = http::ensure_wrk().await;
        for &radius in &args.http_radii {
            eprintln!(
                "  HTTP, radius {radius} m, {} connections, {} s",
                load.connections, load.seconds
            );
            let result = if wrk {
                http::run_wrk(port, centres, radius, load, &work_dir.0).await?
            } else {
                http::run_reqwest(port, centres, radius, load).await?
            };
            report.http.push(result);
        }
        anyhow::Ok(())
    }
    .await;
    let _ = stop.send(());
    match tokio::time::timeout(Duration::from_secs(10), server).await {
        Ok(joined) => joined??,
        Err(_) => eprintln!("  the HTTP server did not stop within 10 s; leaving it"),
    }
    result
}

async fn run_redis(
    args: &NearbyArgs,
    data: &[businesses::SynthBusiness],
    centres: &[geo_core::LatLon],
    budget: Budget,
    redis_server: &mut Option<RedisServer>,
    report: &mut SizeReport,
) -> anyhow::Result<()> {
    let url = match &args.redis_url {
        Some(url) => url.clone(),
        None => {
            if redis_server.is_none() {
                eprintln!("  starting redis-server for the run");
                *redis_server = Some(RedisServer::try_start_anywhere()?);
            }
            redis_server
                .as_ref()
                .map(RedisServer::url)
                .context("redis-server did not start")?
        }
    };
    eprintln!("  loading {} points into Redis", data.len());
    let mut anchor = RedisAnchor::load(&url, data).await?;
    report.notes.push(format!(
        "Redis: GEOADD of {} points in {:.1} s; used_memory {}",
        data.len(),
        anchor.load_time.as_secs_f64(),
        anchor.used_memory.map_or("?".into(), |b| format!(
            "{:.1} MB ({:.0} B/point)",
            b as f64 / 1e6,
            b as f64 / data.len() as f64
        ))
    ));
    for row in report.radii.iter_mut() {
        eprintln!("  Redis, radius {} m", row.radius_m);
        let m = anchor
            .nearby(centres, row.radius_m, budget)
            .await
            .with_context(|| format!("Redis at radius {} m", row.radius_m))?;
        row.rows.push(m);
    }
    anchor.clear().await
}

async fn run_postgis(
    args: &NearbyArgs,
    data: &[businesses::SynthBusiness],
    centres: &[geo_core::LatLon],
    budget: Budget,
    report: &mut SizeReport,
) -> anyhow::Result<()> {
    eprintln!("  loading {} points into PostGIS", data.len());
    let pg = postgis::PostGis::load(&args.postgres_url, data).await?;
    let result = async {
        report.notes.push(format!(
            "PostGIS: COPY {:.1} s, GiST index + VACUUM ANALYZE {:.1} s; table {:.1} MB, index {:.1} MB",
            pg.load_time.as_secs_f64(),
            pg.index_time.as_secs_f64(),
            pg.table_bytes as f64 / 1e6,
            pg.index_bytes as f64 / 1e6
        ));
        if let Some(c) = centres.first() {
            report
                .notes
                .push(format!("PostGIS KNN plan: {}", pg.knn_plan(*c).await?));
        }
        for row in report.radii.iter_mut() {
            eprintln!("  PostGIS, radius {} m", row.radius_m);
            row.rows.push(pg.nearby(centres, row.radius_m, budget).await?);
        }
        eprintln!("  PostGIS, KNN nearest 20");
        report.nearest.push(pg.nearest(centres, budget).await?);
        anyhow::Ok(())
    }
    .await;
    pg.drop_database().await;
    result
}

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(n: usize) -> anyhow::Result<TempDir> {
        TempDir::labelled(&n.to_string())
    }

    /// `geostack-bench-<pid>-<label>`, emptied if it exists.
    fn labelled(label: &str) -> anyhow::Result<TempDir> {
        let path =
            std::env::temp_dir().join(format!("geostack-bench-{}-{label}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether this process runs as root (so it may install missing Debian packages).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `apt-get install -y --no-install-recommends <packages>`, non-interactive, retried after
/// `apt-get update` when the package lists are stale. Only as root; otherwise an error
/// naming the command (`why` says what needs the packages).
fn apt_install(packages: &[&str], why: &str) -> anyhow::Result<()> {
    let list = packages.join(" ");
    anyhow::ensure!(
        is_root(),
        "{why} needs {list}: as root run `apt-get install -y --no-install-recommends {list}`"
    );
    eprintln!("  installing {list} (apt-get)");
    let install = || {
        run_quiet(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends"])
                .args(packages)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if install().is_ok() {
        return Ok(());
    }
    run_quiet(Command::new("apt-get").arg("update")).context("apt-get update")?;
    install().with_context(|| format!("installing {list}"))
}

/// Runs a command, capturing its output; an error carries the tail of it.
fn run_quiet(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = text.lines().rev().take(5).collect();
    anyhow::bail!(
        "{command:?} failed ({}): {}",
        output.status,
        tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
    )
}
