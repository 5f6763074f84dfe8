//! `bench friends`: the nearby-friends service under M simulated clients over real
//! WebSockets, each with F friends from a synthetic social graph in a city-sized square
//! around Helsinki, each sending a location update every T milliseconds.
//!
//! Per deployment (`--backend embedded|ring|both`) the benchmark:
//!
//! 1. creates the stores: a SQLite file under a temporary `DATA_DIR` (embedded default:
//!    in-process pub/sub and cache), or three `redis-server`s on free ports plus a fresh
//!    PostgreSQL database `bench_friends_<random>` (the ring: `REDIS_URL` = the first Redis
//!    for the location cache, `PUBSUB_REDIS_URLS` = all three);
//! 2. writes the M users and both directions of every friendship straight into the database
//!    with multi-row INSERTs;
//! 3. starts the server as a child process (`serve` with `SERVICES=friends`), so that its CPU
//!    time and RSS can be read from `/proc/<pid>`;
//! 4. re-executes itself as `--client-processes` client processes (`bench friends-client`,
//!    hidden), each connecting its share of the users with a bounded number of handshakes in
//!    flight, sending `init` and waiting for `nearby_friends`; they report progress and
//!    results as JSON lines on stdout and take `go` / `stop` / `exit` on stdin;
//! 5. with every client connected and idle for 3 s, reads the server's RSS: (RSS now - RSS
//!    before the first client) / M is the memory per idle connection;
//! 6. starts the updates (staggered over the interval), waits `--warmup-s`, then measures for
//!    `--duration-s`: updates sent, deliveries received and their end-to-end latency (send
//!    -> friend receives, both stamped with this machine's clock) for updates sent inside
//!    the window, server CPU (utime + stime deltas), RSS, the server's own counters from
//!    `/metrics`, and the CPU of the clients, of the Redis servers and of the PostgreSQL
//!    backends serving the bench database;
//! 7. stops the updates, counts the sockets still open, sends SIGTERM to the server and times
//!    its drain.
//!
//! It prints a table per deployment and a PASS/MISS line per target of the nearby-friends
//! issue. Every child process (server, Redis, clients) is killed when the run ends or fails,
//! and the PostgreSQL database is dropped.
//!
//! Reading the figures: deliveries/s and the latency percentiles count the `friend_location`
//! frames of updates sent inside the window that arrive before the clients stop, 3 s after
//! it closes (an overloaded server's later deliveries are missing from both). A
//! `friend_location` can also be a friend's older fix shown again because the receiver's own
//! move brought them into range; it carries the friend's original timestamp, so such rare
//! frames (about as many as `friend_left`) can set the maximum. Error frames (429 for
//! updates closer than the server's minimum interval, 503 for a failed publish) are counted
//! over the whole run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use geo_core::{LatLon, haversine_m, offset_m};
use hdrhistogram::Histogram;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TempDir;
use testkit::{RedisServer, free_port};

mod city;
mod client;
mod processes;
mod procfs;
mod render;

use self::city::*;
pub use self::client::client;
use self::processes::*;
use self::procfs::*;
use self::render::*;

/// Centre of the synthetic city (Helsinki).
const CENTRE: LatLon = LatLon::clamped(60.17, 24.94);
/// The service's default friends radius (5 miles); the server is started with it.
const RADIUS_M: f64 = 8047.0;
/// Share of each user's friends drawn from their neighbourhood; the rest from anywhere.
const LOCAL_SHARE: f64 = 0.9;
/// Radius of that neighbourhood, metres.
const LOCAL_RADIUS_M: f64 = 6000.0;
/// Walking pace of the simulated users: each update moves up to this far per second of
/// interval along each axis.
const WALK_M_PER_S: f64 = 1.5;
/// Most sockets one client process holds (the default of `--client-processes` follows).
const SOCKETS_PER_CLIENT_PROCESS: usize = 15_000;
/// WebSocket handshakes in flight over all client processes.
const HANDSHAKES_IN_FLIGHT: usize = 200;
/// File descriptors a process needs beside its sockets (libraries, pipes, logs, pools).
const FD_HEADROOM: u64 = 500;
/// Idle time with every client connected before the server's RSS is read.
const IDLE_SETTLE: Duration = Duration::from_secs(3);
/// Time after the window for in-flight deliveries of updates sent inside it.
const WINDOW_GRACE: Duration = Duration::from_secs(3);
/// The server's `DRAIN_GRACE_S` in the benchmark (clients never leave on their own).
const DRAIN_GRACE_S: f64 = 1.0;
/// Share of the interval the server's `LOCATION_MIN_INTERVAL_MS` is set to. The limit still
/// refuses a client that sends twice as often as scheduled, but not one whose update the
/// server read up to half an interval late after reading the previous one on time: under
/// load a connection is served every few tens of milliseconds, which at 90 % of a 250 ms
/// interval turned 5-20 % of on-schedule updates into 429s.
const MIN_INTERVAL_SHARE: f64 = 0.5;
/// Latencies are recorded in microseconds, 1 us .. 10 min.
const LATENCY_MAX_US: u64 = 600_000_000;

/// Which deployment to measure.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// SQLite, in-process pub/sub and location cache.
    Embedded,
    /// PostgreSQL, three Redis servers as the pub/sub ring, the first one the location cache.
    Ring,
    /// Both, embedded first.
    Both,
}

#[derive(clap::Args, Debug)]
pub struct FriendsArgs {
    /// Simulated clients (M): one user and one WebSocket each. The server process holds all
    /// M sockets, so M plus a few hundred must fit its open-file limit.
    #[arg(long, default_value_t = 19_000)]
    pub clients: usize,
    /// Friends per user (F), from a synthetic social graph in which most friends live
    /// within the 8,047 m radius of each other.
    #[arg(long, default_value_t = 20)]
    pub friends: usize,
    /// Each client sends a location update every this many milliseconds (T); the server's
    /// per-user minimum interval is set to half of min(T, 1000 ms).
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Seconds of steady-state measurement.
    #[arg(long, default_value_t = 20)]
    pub duration_s: u64,
    /// Seconds of updates before the measurement window opens.
    #[arg(long, default_value_t = 5)]
    pub warmup_s: u64,
    /// Side of the square city area, km, centred on Helsinki (60.17 N, 24.94 E).
    #[arg(long, default_value_t = 10.0)]
    pub area_km: f64,
    /// Deployment to measure.
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    pub backend: BackendChoice,
    /// Client processes the M sockets are spread over. Default: the fewest that hold at
    /// most 15,000 sockets each.
    #[arg(long)]
    pub client_processes: Option<usize>,
    /// Seed of the user positions, the social graph and the moves.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The server's `WS_WRITE_GAP_MS`: least time between two writes to one WebSocket
    /// (moves arriving sooner leave together). Default: the server's own default.
    #[arg(long)]
    pub write_gap_ms: Option<u64>,
    /// PostgreSQL server for the ring (an administrative URL): the benchmark creates
    /// database `bench_friends_<random>` there and drops it at the end.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub database_url: String,
}

/// One client process of `bench friends` (started by it; not for direct use).
#[derive(clap::Args, Debug)]
pub struct ClientArgs {
    /// The server's port on 127.0.0.1.
    #[arg(long)]
    pub port: u16,
    /// First user of this process, 0-based (user id = index + 1).
    #[arg(long)]
    pub first: usize,
    /// Users of this process.
    #[arg(long)]
    pub count: usize,
    /// Users of the whole run (positions are regenerated from the seed).
    #[arg(long)]
    pub total: usize,
    #[arg(long)]
    pub area_km: f64,
    #[arg(long)]
    pub seed: u64,
    #[arg(long)]
    pub interval_ms: u64,
    /// Handshakes in flight in this process.
    #[arg(long)]
    pub concurrency: usize,
    /// The server's token secret.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
}

/// What every deployment shares.
#[derive(Debug, Clone)]
struct Plan {
    clients: usize,
    friends: usize,
    interval_ms: u64,
    area_km: f64,
    seed: u64,
    warmup: Duration,
    duration: Duration,
    /// (first user index, count) per client process.
    shares: Vec<(usize, usize)>,
    concurrency: usize,
    min_interval_ms: u64,
    write_gap_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deployment {
    Embedded,
    Ring,
}

impl Deployment {
    fn name(self) -> &'static str {
        match self {
            Deployment::Embedded => "embedded",
            Deployment::Ring => "ring",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Deployment::Embedded => "embedded default: SQLite, in-process pub/sub and cache",
            Deployment::Ring => {
                "Redis ring: PostgreSQL, pub/sub over 3 redis-servers, location cache on the first"
            }
        }
    }

    fn deliveries_target(self) -> f64 {
        match self {
            Deployment::Embedded => 300_000.0,
            Deployment::Ring => 150_000.0,
        }
    }
}

/// The figures of one deployment.
struct Report {
    deployment: Deployment,
    load_time: Duration,
    server_start: Duration,
    connect_time: Duration,
    ready: u64,
    failed: u64,
    first_failure: Option<String>,
    rss_base: u64,
    rss_idle: u64,
    gauge_idle: Option<f64>,
    window_s: f64,
    held: i64,
    gauge_end: Option<f64>,
    sent: u64,
    deliveries: u64,
    latency: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    friend_left: u64,
    unparsed: u64,
    lost: u64,
    server_cpu: f64,
    clients_cpu: f64,
    redis_cpu: Option<f64>,
    postgres_cpu: Option<f64>,
    machine_busy: Option<f64>,
    rss_end: u64,
    server_counters: BTreeMap<&'static str, f64>,
    drain: Option<Duration>,
    drain_note: String,
    going_away: u64,
    log: LogSummary,
}

impl Report {
    fn per_s(&self, n: u64) -> f64 {
        n as f64 / self.window_s.max(1e-9)
    }

    fn idle_bytes_per_connection(&self) -> f64 {
        self.rss_idle.saturating_sub(self.rss_base) as f64 / (self.ready.max(1)) as f64
    }

    fn p(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

const COUNTERS: &[&str] = &[
    "friends_updates_total",
    "friends_published_total",
    "friends_publish_failed_total",
    "friends_deliveries_total",
    "friends_events_dropped_total",
    "friends_updates_rate_limited_total",
    "friends_history_written_total",
    "friends_history_dropped_total",
];

pub async fn run(args: FriendsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients >= 2, "--clients must be at least 2");
    anyhow::ensure!(args.friends >= 1, "--friends must be at least 1");
    anyhow::ensure!(args.interval_ms >= 10, "--interval-ms must be at least 10");
    anyhow::ensure!(args.duration_s >= 1, "--duration-s must be at least 1");
    anyhow::ensure!(
        args.area_km.is_finite() && args.area_km > 0.0 && args.area_km <= 500.0,
        "--area-km must be within (0, 500]"
    );
    let processes = args
        .client_processes
        .unwrap_or_else(|| args.clients.div_ceil(SOCKETS_PER_CLIENT_PROCESS))
        .clamp(1, args.clients);
    let per_process = args.clients.div_ceil(processes);
    check_limits(args.clients, per_process)?;
    let shares: Vec<(usize, usize)> = (0..processes)
        .map(|k| {
            let first = k * args.clients / processes;
            let end = (k + 1) * args.clients / processes;
            (first, end - first)
        })
        .collect();
    let plan = Plan {
        clients: args.clients,
        friends: args.friends,
        interval_ms: args.interval_ms,
        area_km: args.area_km,
        seed: args.seed,
        warmup: Duration::from_secs(args.warmup_s),
        duration: Duration::from_secs(args.duration_s),
        shares,
        concurrency: HANDSHAKES_IN_FLIGHT.div_ceil(processes).max(1),
        min_interval_ms: ((args.interval_ms.min(1000) as f64) * MIN_INTERVAL_SHARE) as u64,
        write_gap_ms: args.write_gap_ms,
    };

    let side_m = args.area_km * 1000.0;
    eprintln!(
        "== nearby friends: {} clients x {} friends in a {} km square, an update every {} ms",
        args.clients, args.friends, args.area_km, args.interval_ms
    );
    let started = Instant::now();
    let positions = place_users(args.clients, side_m, args.seed);
    let adj = build_graph(&positions, args.friends, side_m, args.seed);
    let stats = graph_stats(&positions, &adj);
    println!(
        "social graph: {} users, {} friendships; degree mean {:.2} (min {}, max {}); {:.1} % of \
         friend pairs within {RADIUS_M} m, so one update should reach {:.2} friends; built in \
         {:.1} s",
        stats.users,
        stats.edges,
        stats.mean_degree,
        stats.min_degree,
        stats.max_degree,
        stats.within_share * 100.0,
        stats.fan_out,
        started.elapsed().as_secs_f64()
    );

    let deployments: &[Deployment] = match args.backend {
        BackendChoice::Embedded => &[Deployment::Embedded],
        BackendChoice::Ring => &[Deployment::Ring],
        BackendChoice::Both => &[Deployment::Embedded, Deployment::Ring],
    };
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for &deployment in deployments {
        eprintln!("== {}", deployment.describe());
        // Ctrl-C drops the run, and with it every child process and the database.
        let outcome = tokio::select! {
            outcome = run_deployment(&args, &plan, &adj, deployment) => outcome,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        };
        match outcome {
            Ok(report) => {
                println!("{}", render(&report, &plan, &stats));
                reports.push(report);
            }
            Err(err) => {
                let interrupted = err.to_string() == "interrupted";
                eprintln!("  {} failed: {err:#}", deployment.name());
                failures.push((deployment, format!("{err:#}")));
                if interrupted {
                    break;
                }
            }
        }
    }
    println!("{}", render_targets(&reports, &failures, &plan));
    if let Some((deployment, err)) = failures.first() {
        anyhow::bail!("the {} run failed: {err}", deployment.name());
    }
    Ok(())
}

/// Fails clearly when the open-file limit cannot hold the sockets (nothing is raised here).
fn check_limits(clients: usize, per_process: usize) -> anyhow::Result<()> {
    let Some(soft) = open_files_soft_limit() else {
        eprintln!("  (could not read the open-file limit from /proc/self/limits)");
        return Ok(());
    };
    let server_needs = clients as u64 + FD_HEADROOM;
    anyhow::ensure!(
        soft >= server_needs,
        "the soft open-file limit is {soft}, but the server process needs {server_needs} \
         ({clients} sockets + {FD_HEADROOM} spare): raise it (`ulimit -n`, up to the hard \
         limit) or lower --clients to at most {}",
        soft.saturating_sub(FD_HEADROOM)
    );
    let client_needs = per_process as u64 + FD_HEADROOM;
    anyhow::ensure!(
        soft >= client_needs,
        "the soft open-file limit is {soft}, but each client process would hold {per_process} \
         sockets (+{FD_HEADROOM}): raise --client-processes"
    );
    if let Some(ports) = ephemeral_ports()
        && (clients as u64) > ports
    {
        anyhow::bail!(
            "{clients} client sockets to one server port need more local ports than \
             ip_local_port_range has ({ports})"
        );
    }
    Ok(())
}

#[expect(
    clippy::too_many_lines,
    reason = "one deployment's run, phase after phase, as the report lists them"
)]
async fn run_deployment(
    args: &FriendsArgs,
    plan: &Plan,
    adj: &[Vec<u32>],
    deployment: Deployment,
) -> anyhow::Result<Report> {
    let dir = TempDir::labelled(&format!("friends-{}", deployment.name()))?;
    let secret = random_hex(32);
    let mut env: Vec<(&str, String)> = vec![
        ("SERVICES", "friends".into()),
        ("DATA_DIR", dir.0.display().to_string()),
        ("JWT_SECRET", secret.clone()),
        // Proximity and navigation are not mounted; this keeps them quiet if they were.
        ("SAMPLE_DATA", "off".into()),
        ("FRIENDS_RADIUS_M", RADIUS_M.to_string()),
        ("LOCATION_MIN_INTERVAL_MS", plan.min_interval_ms.to_string()),
        ("DRAIN_GRACE_S", DRAIN_GRACE_S.to_string()),
        // Every simulated client connects from 127.0.0.1.
        ("MAX_CONNECTIONS_PER_IP", "0".into()),
    ];
    if let Some(gap) = plan.write_gap_ms {
        env.push(("WS_WRITE_GAP_MS", gap.to_string()));
    }

    // Stores. Declared before the server, so dropped after it.
    let mut redis_servers: Vec<RedisServer> = Vec::new();
    let mut redis_pids = Vec::new();
    let mut database: Option<PgDatabase> = None;
    if deployment == Deployment::Ring {
        eprintln!("  starting 3 redis-servers");
        for _ in 0..3 {
            let server = RedisServer::try_start_anywhere()?;
            redis_pids.push(redis_pid(&server.url()).await?);
            redis_servers.push(server);
        }
        let db = PgDatabase::create(&args.database_url).await?;
        eprintln!("  created database {}", db.name);
        env.push(("DATABASE_URL", db.url.clone()));
        env.push(("REDIS_URL", redis_servers[0].url()));
        env.push((
            "PUBSUB_REDIS_URLS",
            redis_servers
                .iter()
                .map(RedisServer::url)
                .collect::<Vec<_>>()
                .join(","),
        ));
        database = Some(db);
    }
    let edges: usize = adj.iter().map(Vec::len).sum();
    eprintln!("  writing {} users and {edges} friendship rows", adj.len());
    let started = Instant::now();
    let db = kit::db::Db::connect(database.as_ref().map(|d| d.url.as_str()), &dir.0).await?;
    load_graph(&db, adj).await?;
    db.pool.close().await;
    let load_time = started.elapsed();

    eprintln!("  starting the server");
    let started = Instant::now();
    let mut server = ServerProcess::start(&env, dir.0.join("server.log")).await?;
    let server_start = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_base = rss_bytes(server.pid).unwrap_or(0);

    eprintln!(
        "  connecting {} clients from {} processes ({} handshakes in flight each)",
        plan.clients,
        plan.shares.len(),
        plan.concurrency
    );
    let started = Instant::now();
    let mut clients = ClientProcesses::spawn(plan, server.port, &secret)?;
    let connect_budget = Duration::from_secs(120 + plan.clients as u64 / 20);
    let ready_lines = clients.expect_all("ready", connect_budget).await?;
    let connect_time = started.elapsed();
    let sum =
        |lines: &[Value], key: &str| -> u64 { lines.iter().filter_map(|l| l[key].as_u64()).sum() };
    let ready = sum(&ready_lines, "ready");
    let failed = sum(&ready_lines, "failed");
    let first_failure = ready_lines
        .iter()
        .find_map(|l| l["first_failure"].as_str().map(str::to_string));
    eprintln!(
        "  {ready} connected and initialised in {:.1} s ({failed} failed); idle for {} s",
        connect_time.as_secs_f64(),
        IDLE_SETTLE.as_secs()
    );
    tokio::time::sleep(IDLE_SETTLE).await;
    let rss_idle = rss_bytes(server.pid).unwrap_or(0);
    let gauge_idle = server
        .metrics()
        .await
        .ok()
        .and_then(|m| m.get("friends_connections").copied());

    // Updates: staggered from t0, measured over [window_start, window_end).
    let t0 = now_unix() + 1.0;
    let window_start = t0 + plan.warmup.as_secs_f64();
    let window_end = window_start + plan.duration.as_secs_f64();
    clients
        .send_all(&format!("go {t0:.6} {window_start:.6} {window_end:.6}"))
        .await?;
    eprintln!(
        "  updates running: {} s warm-up, then {} s measured",
        plan.warmup.as_secs(),
        plan.duration.as_secs()
    );
    sleep_until_unix(window_start).await;
    let postgres_pids = database
        .as_ref()
        .map(|d| pids_mentioning(&d.name))
        .unwrap_or_default();
    let before = Sample::take(&server, &clients.pids, &redis_pids, &postgres_pids).await;
    sleep_until_unix(window_end).await;
    let after = Sample::take(&server, &clients.pids, &redis_pids, &postgres_pids).await;
    let rss_end = rss_bytes(server.pid).unwrap_or(0);
    tokio::time::sleep(WINDOW_GRACE).await;
    clients.send_all("stop").await?;
    let results = clients
        .expect_all("result", Duration::from_secs(60))
        .await?;
    let gauge_end = server
        .metrics()
        .await
        .ok()
        .and_then(|m| m.get("friends_connections").copied());
    let log = server.log_summary();

    eprintln!("  SIGTERM to the server");
    let (drain, drain_note) = match server.terminate(Duration::from_secs(120)).await {
        Ok((took, status)) => (Some(took), status),
        Err(err) => (None, format!("{err:#}")),
    };
    clients.send_all("exit").await.ok();
    let closed = clients
        .expect_all("closed", Duration::from_secs(30))
        .await
        .unwrap_or_default();
    clients.wait_exit(Duration::from_secs(10)).await;
    drop(clients);
    drop(server);
    drop(database);
    drop(redis_servers);

    let mut latency = new_latency_histogram();
    let mut errors = BTreeMap::new();
    for r in &results {
        if let Some(pairs) = r["latency_us"].as_array() {
            for pair in pairs {
                if let (Some(v), Some(c)) = (pair[0].as_u64(), pair[1].as_u64()) {
                    let _ = latency.record_n(v.clamp(1, LATENCY_MAX_US), c);
                }
            }
        }
        if let Some(map) = r["errors"].as_object() {
            for (status, n) in map {
                *errors.entry(status.clone()).or_insert(0) += n.as_u64().unwrap_or(0);
            }
        }
    }
    let window_s = after.wall - before.wall;
    let ticks = clock_ticks_per_s();
    let cpu = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / ticks / window_s * 100.0;
    let server_counters = COUNTERS
        .iter()
        .map(|&name| {
            let delta = after.counters.get(name).copied().unwrap_or(0.0)
                - before.counters.get(name).copied().unwrap_or(0.0);
            (name, delta)
        })
        .collect();
    Ok(Report {
        deployment,
        load_time,
        server_start,
        connect_time,
        ready,
        failed,
        first_failure,
        rss_base,
        rss_idle,
        gauge_idle,
        window_s,
        held: results.iter().filter_map(|r| r["open"].as_i64()).sum(),
        gauge_end,
        sent: sum(&results, "sent_window"),
        deliveries: sum(&results, "deliveries_window"),
        latency,
        errors,
        friend_left: sum(&results, "friend_left"),
        unparsed: sum(&results, "unparsed"),
        lost: sum(&results, "lost"),
        server_cpu: cpu(before.server, after.server),
        clients_cpu: cpu(before.clients, after.clients),
        redis_cpu: (!redis_pids.is_empty()).then(|| cpu(before.redis, after.redis)),
        postgres_cpu: (!postgres_pids.is_empty()).then(|| cpu(before.postgres, after.postgres)),
        machine_busy: match (before.machine, after.machine) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                Some((b1 - b0) as f64 / (t1 - t0) as f64 * 100.0)
            }
            _ => None,
        },
        rss_end,
        server_counters,
        drain,
        drain_note,
        going_away: sum(&closed, "going_away"),
        log,
    })
}

/// CPU counters and server metrics at one instant.
struct Sample {
    wall: f64,
    server: u64,
    clients: u64,
    redis: u64,
    postgres: u64,
    machine: Option<(u64, u64)>,
    counters: BTreeMap<String, f64>,
}

impl Sample {
    async fn take(
        server: &ServerProcess,
        clients: &[u32],
        redis: &[u32],
        postgres: &[u32],
    ) -> Sample {
        let sample = Sample {
            wall: now_unix(),
            server: cpu_ticks(server.pid).unwrap_or(0),
            clients: cpu_ticks_sum(clients),
            redis: cpu_ticks_sum(redis),
            postgres: cpu_ticks_sum(postgres),
            machine: machine_jiffies(),
            counters: BTreeMap::new(),
        };
        let counters = server.metrics().await.unwrap_or_default();
        Sample { counters, ..sample }
    }
}

#[cfg(test)]
mod tests {
    use super::client::*;
    use super::*;

    #[test]
    fn graph_is_mutual_bounded_and_mostly_local() {
        let positions = place_users(3000, 10_000.0, 7);
        let adj = build_graph(&positions, 20, 10_000.0, 7);
        for (u, friends) in adj.iter().enumerate() {
            assert!(friends.len() <= 20);
            for &v in friends {
                assert_ne!(v as usize, u);
                assert!(
                    adj[v as usize].contains(&(u as u32)),
                    "{u} -> {v} is not mutual"
                );
            }
        }
        let stats = graph_stats(&positions, &adj);
        assert!(stats.mean_degree > 19.0, "{stats:?}");
        assert!(stats.within_share > 0.9, "{stats:?}");
        // The same seed gives the same city.
        let again = place_users(3000, 10_000.0, 7);
        assert_eq!(positions[123].x, again[123].x);
    }

    #[test]
    fn walks_stay_inside_the_city() {
        let mut rng = SplitMix(1);
        let mut at = Xy {
            x: 4990.0,
            y: -4990.0,
        };
        for _ in 0..10_000 {
            at = walk(at, &mut rng, 15.0, 5000.0);
            assert!(at.x.abs() <= 5000.0 && at.y.abs() <= 5000.0, "{at:?}");
        }
    }

    #[test]
    fn proc_parsers_read_this_process() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_some());
        assert!(rss_bytes(pid).is_some_and(|b| b > 0));
        assert!(open_files_soft_limit().is_some());
        assert!(machine_jiffies().is_some());
    }

    #[test]
    fn metrics_parse() {
        let metrics = parse_metrics(
            "# TYPE friends_connections gauge\nfriends_connections 12\n\
             friends_events_dropped_total{reason=\"inbox_full\"} 3\n\
             friends_events_dropped_total{reason=\"not_friend\"} 4\n",
        );
        assert_eq!(metrics["friends_connections"], 12.0);
        assert_eq!(metrics["friends_events_dropped_total"], 7.0);
    }

    #[test]
    fn frames_are_what_the_service_parses() {
        let frame = location_frame("location", Xy { x: 0.0, y: 0.0 }, 1.5);
        let value: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(value["type"], "location");
        assert_eq!(value["latitude"], 60.17);
        let stats = ClientStats::new();
        let kind = stats.on_frame(
            r#"{"type":"friend_location","user_id":2,"latitude":1.0,"longitude":2.0,"distance_m":3.0,"timestamp":5.0}"#,
            (0.0, 10.0),
            0,
        );
        assert_eq!(kind, None);
        assert_eq!(stats.deliveries_window.load(Ordering::Relaxed), 1);
        assert_eq!(
            stats.on_frame(
                r#"{"type":"error","status":429,"detail":"x"}"#,
                (0.0, 1.0),
                0
            ),
            Some("error")
        );
        assert_eq!(stats.errors.lock().unwrap()[&429], 1);
    }
}
