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
use super::redis_anchor::RedisServer;

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

// ---------------------------------------------------------------------------------------
// The city and the social graph.

/// Metres east (`x`) and north (`y`) of [`CENTRE`].
#[derive(Clone, Copy, Debug)]
struct Xy {
    x: f64,
    y: f64,
}

fn to_latlon(p: Xy) -> LatLon {
    offset_m(CENTRE, p.y, p.x)
}

/// `n` users uniformly at random in the square of side `side_m` around the centre; the
/// client processes regenerate the same positions from the same seed.
fn place_users(n: usize, side_m: f64, seed: u64) -> Vec<Xy> {
    let mut rng = StdRng::seed_from_u64(seed);
    let half = side_m / 2.0;
    (0..n)
        .map(|_| Xy {
            x: rng.random_range(-half..half),
            y: rng.random_range(-half..half),
        })
        .collect()
}

/// Mutual friendships, `adj[u]` = the friends of user index `u`. Users are visited in a
/// random order; each picks partners that still have fewer than `f` friends, 90 % of them
/// around a uniform point within 6 km of itself and 10 % around a uniform point of the
/// whole area (a random user of the 250 m grid cell containing the point), until it has `f`
/// or the attempts run out. Degrees are therefore at most `f` and mostly exactly `f`.
fn build_graph(pos: &[Xy], f: usize, side_m: f64, seed: u64) -> Vec<Vec<u32>> {
    let n = pos.len();
    let f = f.min(n.saturating_sub(1));
    let half = side_m / 2.0;
    let cell = 250.0_f64.max(side_m / 400.0);
    let cols = ((side_m / cell).ceil() as usize).max(1);
    let cell_of = |p: Xy| -> Option<usize> {
        let cx = ((p.x + half) / cell).floor();
        let cy = ((p.y + half) / cell).floor();
        let max = cols as f64;
        (cx >= 0.0 && cy >= 0.0 && cx < max && cy < max).then(|| cy as usize * cols + cx as usize)
    };
    let mut grid: Vec<Vec<u32>> = vec![Vec::new(); cols * cols];
    for (i, &p) in pos.iter().enumerate() {
        if let Some(c) = cell_of(p) {
            grid[c].push(i as u32);
        }
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut adj: Vec<Vec<u32>> = vec![Vec::with_capacity(f); n];
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    for &u in &order {
        let mut attempts = 0;
        while adj[u].len() < f && attempts < 64 * f {
            attempts += 1;
            let target = if rng.random_bool(LOCAL_SHARE) {
                let r = LOCAL_RADIUS_M * rng.random::<f64>().sqrt();
                let a = rng.random_range(0.0..std::f64::consts::TAU);
                Xy {
                    x: pos[u].x + r * a.cos(),
                    y: pos[u].y + r * a.sin(),
                }
            } else {
                Xy {
                    x: rng.random_range(-half..half),
                    y: rng.random_range(-half..half),
                }
            };
            let Some(c) = cell_of(target) else { continue };
            let members = &grid[c];
            if members.is_empty() {
                continue;
            }
            let v = members[rng.random_range(0..members.len())];
            if v as usize == u || adj[v as usize].len() >= f || adj[u].contains(&v) {
                continue;
            }
            adj[u].push(v);
            adj[v as usize].push(u as u32);
        }
    }
    adj
}

/// What the graph turned out to be.
#[derive(Debug, Clone)]
struct GraphStats {
    users: usize,
    edges: usize,
    mean_degree: f64,
    min_degree: usize,
    max_degree: usize,
    /// Share of friend pairs within the radius at the starting positions.
    within_share: f64,
    /// Friends within the radius per user: the deliveries one update should cause.
    fan_out: f64,
}

fn graph_stats(pos: &[Xy], adj: &[Vec<u32>]) -> GraphStats {
    let mut edges = 0;
    let mut within = 0;
    for (u, friends) in adj.iter().enumerate() {
        for &v in friends {
            if (v as usize) > u {
                edges += 1;
                if haversine_m(to_latlon(pos[u]), to_latlon(pos[v as usize])) <= RADIUS_M {
                    within += 1;
                }
            }
        }
    }
    let n = adj.len().max(1);
    GraphStats {
        users: adj.len(),
        edges,
        mean_degree: 2.0 * edges as f64 / n as f64,
        min_degree: adj.iter().map(Vec::len).min().unwrap_or(0),
        max_degree: adj.iter().map(Vec::len).max().unwrap_or(0),
        within_share: if edges == 0 {
            0.0
        } else {
            within as f64 / edges as f64
        },
        fan_out: 2.0 * within as f64 / n as f64,
    }
}

/// Users (ids 1..=n, named `bench user <id>`) and both directions of every friendship, in
/// multi-row INSERTs inside one transaction.
async fn load_graph(db: &kit::db::Db, adj: &[Vec<u32>]) -> anyhow::Result<()> {
    const ROWS: usize = 5000;
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    for start in (0..adj.len()).step_by(ROWS) {
        let mut sql = String::from("INSERT INTO friend_users (id, name, created_ms) VALUES ");
        for i in start..(start + ROWS).min(adj.len()) {
            if i > start {
                sql.push(',');
            }
            let id = i + 1;
            let _ = write!(sql, "({id}, 'bench user {id}', {now})");
        }
        sqlx::query(&sql)
            .execute(&mut *tx)
            .await
            .context("inserting users")?;
    }
    let head = "INSERT INTO friendships (user_id, friend_id, created_ms) VALUES ";
    let mut sql = String::from(head);
    let mut rows = 0;
    for (u, friends) in adj.iter().enumerate() {
        for &v in friends {
            if rows > 0 {
                sql.push(',');
            }
            let _ = write!(sql, "({}, {}, {now})", u + 1, v + 1);
            rows += 1;
            if rows == ROWS {
                sqlx::query(&sql)
                    .execute(&mut *tx)
                    .await
                    .context("inserting friendships")?;
                sql.truncate(head.len());
                rows = 0;
            }
        }
    }
    if rows > 0 {
        sqlx::query(&sql)
            .execute(&mut *tx)
            .await
            .context("inserting friendships")?;
    }
    if db.backend == kit::db::Backend::Postgres {
        // Explicit ids leave the sequence behind: the next registered user must not collide.
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('friend_users', 'id'), \
             (SELECT max(id) FROM friend_users))",
        )
        .execute(&mut *tx)
        .await
        .context("advancing the friend_users id sequence")?;
    }
    tx.commit().await?;
    if db.backend == kit::db::Backend::Postgres {
        sqlx::query("ANALYZE friend_users")
            .execute(&db.pool)
            .await?;
        sqlx::query("ANALYZE friendships").execute(&db.pool).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Small helpers: clocks, /proc, ports.

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn now_ms() -> i64 {
    (now_unix() * 1000.0) as i64
}

/// The tokio instant at Unix time `unix` (seconds).
fn instant_at(unix: f64) -> tokio::time::Instant {
    let ahead = unix - now_unix();
    let now = tokio::time::Instant::now();
    if ahead >= 0.0 {
        now + Duration::from_secs_f64(ahead)
    } else {
        now.checked_sub(Duration::from_secs_f64(-ahead))
            .unwrap_or(now)
    }
}

async fn sleep_until_unix(unix: f64) {
    tokio::time::sleep_until(instant_at(unix)).await;
}

/// utime + stime of a process, clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields count from the last ')'.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn cpu_ticks_sum(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|&p| cpu_ticks(p)).sum()
}

/// Resident set size, bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Clock ticks per second (`getconf CLK_TCK`, else Linux's usual 100).
fn clock_ticks_per_s() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// (busy, total) jiffies of the whole machine, from the first line of /proc/stat.
fn machine_jiffies() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// The soft limit on open files of this process (inherited by its children).
fn open_files_soft_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        Some(u64::MAX)
    } else {
        soft.parse().ok()
    }
}

/// Local ports available for outgoing connections.
fn ephemeral_ports() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut parts = text
        .split_whitespace()
        .filter_map(|v| v.parse::<u64>().ok());
    let (low, high) = (parts.next()?, parts.next()?);
    Some(high.saturating_sub(low) + 1)
}

/// Processes whose command line mentions `needle` (PostgreSQL backends show their database).
fn pids_mentioning(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle))
        })
        .collect()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// The pid of a Redis server, from `INFO server`.
async fn redis_pid(url: &str) -> anyhow::Result<u32> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await?;
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|v| v.trim().parse().ok())
        .context("INFO server has no process_id")
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").context("the database URL has no scheme")? + 3;
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// Prometheus text: every sample's value summed per metric name (labels folded).
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series).trim();
        if let Ok(value) = value.trim().parse::<f64>() {
            *out.entry(name.to_string()).or_default() += value;
        }
    }
    out
}

fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3)
        .unwrap_or_else(|_| Histogram::new(3).expect("3 significant digits is valid"))
}

// ---------------------------------------------------------------------------------------
// Child processes: the server, the client processes, the PostgreSQL database.

/// The PostgreSQL database of a ring run, dropped (synchronously) when this is dropped.
struct PgDatabase {
    admin: PgConnectOptions,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> anyhow::Result<PgDatabase> {
        let admin: PgConnectOptions = admin_url.parse().context("parsing --database-url")?;
        let name = format!("bench_friends_{}", random_hex(4));
        super::postgis::create_database(&admin, &name).await?;
        let url = with_database(admin_url, &name)?;
        Ok(PgDatabase { admin, name, url })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = std::mem::take(&mut self.name);
        // Drop may run inside the runtime: a thread with its own runtime does the async work.
        let dropped =
            std::thread::spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(super::postgis::drop_database(&admin, &name)),
                    Err(err) => eprintln!("  could not drop database {name}: {err}"),
                }
            })
            .join();
        if dropped.is_err() {
            eprintln!("  dropping the benchmark database panicked");
        }
    }
}

/// The server under test, killed when dropped unless it was terminated.
struct ServerProcess {
    child: Child,
    pid: u32,
    port: u16,
    log: PathBuf,
    http: reqwest::Client,
}

impl ServerProcess {
    /// `<this executable> serve` with a clean environment plus `env`, logging (JSON) to
    /// `log`; returns once `/readyz` answers 200.
    async fn start(env: &[(&str, String)], log: PathBuf) -> anyhow::Result<ServerProcess> {
        let exe = std::env::current_exe().context("locating this executable")?;
        let port = free_port()?;
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(exe);
        command.arg("serve").env_clear();
        for key in ["PATH", "HOME", "TMPDIR", "RUST_LOG"] {
            if let Some(value) = std::env::var_os(key) {
                command.env(key, value);
            }
        }
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        command
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("LOG_FORMAT", "json")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true);
        let child = command.spawn().context("starting the server")?;
        let pid = child.id().context("the server has no pid")?;
        let mut server = ServerProcess {
            child,
            pid,
            port,
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        };
        server.wait_ready(Duration::from_secs(120)).await?;
        Ok(server)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(8).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "the server exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(reply) = self.http.get(self.url("/readyz")).send().await
                && reply.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < within,
                "the server was not ready within {within:?}:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn metrics(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(parse_metrics(&text))
    }

    /// SIGTERM (through `kill`, as this crate has no unsafe code), then the time until the
    /// process exits.
    async fn terminate(&mut self, within: Duration) -> anyhow::Result<(Duration, String)> {
        let started = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        anyhow::ensure!(status.success(), "kill -TERM {} failed", self.pid);
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => Ok((started.elapsed(), status?.to_string())),
            Err(_) => {
                let _ = self.child.kill().await;
                anyhow::bail!("the server did not exit within {within:?} of SIGTERM")
            }
        }
    }

    /// Warnings and errors in the server's log: counts and the first distinct messages.
    fn log_summary(&self) -> LogSummary {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut summary = LogSummary::default();
        for line in text.lines() {
            let Ok(entry) = serde_json::from_str::<Value>(line) else {
                // Not JSON (a panic message, say): keep it.
                if !line.trim().is_empty() && summary.samples.len() < 8 {
                    summary.samples.push(line.chars().take(200).collect());
                }
                continue;
            };
            let level = entry["level"].as_str().unwrap_or("");
            match level {
                "WARN" => summary.warnings += 1,
                "ERROR" => summary.errors += 1,
                _ => continue,
            }
            let message = format!(
                "{level} {}: {} {}",
                entry["target"].as_str().unwrap_or("?"),
                entry["fields"]["message"].as_str().unwrap_or(""),
                entry["fields"]["error"].as_str().unwrap_or("")
            );
            let message: String = message.trim().chars().take(200).collect();
            if summary.samples.len() < 8 && !summary.samples.contains(&message) {
                summary.samples.push(message);
            }
        }
        summary
    }
}

#[derive(Debug, Default, Clone)]
struct LogSummary {
    warnings: usize,
    errors: usize,
    samples: Vec<String>,
}

/// The client processes, killed when dropped; their stdout lines arrive on `lines`.
struct ClientProcesses {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    pids: Vec<u32>,
    lines: mpsc::UnboundedReceiver<(usize, Value)>,
    /// Latest progress line of each process.
    progress: Vec<Value>,
}

impl ClientProcesses {
    fn spawn(plan: &Plan, port: u16, secret: &str) -> anyhow::Result<ClientProcesses> {
        let exe = std::env::current_exe().context("locating this executable")?;
        let (tx, lines) = mpsc::unbounded_channel();
        let mut children = Vec::new();
        let mut stdins = Vec::new();
        let mut pids = Vec::new();
        for (k, &(first, count)) in plan.shares.iter().enumerate() {
            let mut child = Command::new(&exe)
                .args(["bench", "friends-client"])
                .args(["--port", &port.to_string()])
                .args(["--first", &first.to_string()])
                .args(["--count", &count.to_string()])
                .args(["--total", &plan.clients.to_string()])
                .args(["--area-km", &plan.area_km.to_string()])
                .args(["--seed", &plan.seed.to_string()])
                .args(["--interval-ms", &plan.interval_ms.to_string()])
                .args(["--concurrency", &plan.concurrency.to_string()])
                .env("JWT_SECRET", secret)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("starting a client process")?;
            pids.push(child.id().context("a client process has no pid")?);
            stdins.push(child.stdin.take().context("client stdin")?);
            let stdout = child.stdout.take().context("client stdout")?;
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    match serde_json::from_str::<Value>(&line) {
                        Ok(value) => {
                            let _ = tx.send((k, value));
                        }
                        Err(_) => eprintln!("  client {k}: {line}"),
                    }
                }
                let _ = tx.send((k, json!({"event": "eof"})));
            });
            children.push(child);
        }
        Ok(ClientProcesses {
            progress: vec![Value::Null; children.len()],
            children,
            stdins,
            pids,
            lines,
        })
    }

    async fn send_all(&mut self, line: &str) -> anyhow::Result<()> {
        for (k, stdin) in self.stdins.iter_mut().enumerate() {
            stdin
                .write_all(format!("{line}\n").as_bytes())
                .await
                .with_context(|| format!("writing to client process {k}"))?;
            stdin.flush().await?;
        }
        Ok(())
    }

    /// One `event` line from every process, within `within`; progress lines are shown on
    /// stderr every few seconds.
    async fn expect_all(&mut self, event: &str, within: Duration) -> anyhow::Result<Vec<Value>> {
        let deadline = tokio::time::Instant::now() + within;
        let mut got: Vec<Option<Value>> = vec![None; self.children.len()];
        let mut shown = Instant::now();
        while got.iter().any(Option::is_none) {
            let Ok(next) = tokio::time::timeout_at(deadline, self.lines.recv()).await else {
                anyhow::bail!("client processes did not report `{event}` within {within:?}");
            };
            let (k, value) = next.context("client process output closed")?;
            match value["event"].as_str().unwrap_or("") {
                e if e == event => got[k] = Some(value),
                "progress" => {
                    self.progress[k] = value;
                    if shown.elapsed() >= Duration::from_secs(5) {
                        shown = Instant::now();
                        let sum = |key: &str| -> u64 {
                            self.progress.iter().filter_map(|p| p[key].as_u64()).sum()
                        };
                        eprintln!("    {} connected, {} failed", sum("ready"), sum("failed"));
                    }
                }
                "error" => anyhow::bail!(
                    "client process {k}: {}",
                    value["message"].as_str().unwrap_or("?")
                ),
                "eof" => anyhow::bail!("client process {k} exited before reporting `{event}`"),
                _ => {}
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    async fn wait_exit(&mut self, within: Duration) {
        for child in &mut self.children {
            if tokio::time::timeout(within, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The run.

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
            let server = RedisServer::start().await?;
            redis_pids.push(redis_pid(&server.url).await?);
            redis_servers.push(server);
        }
        let db = PgDatabase::create(&args.database_url).await?;
        eprintln!("  created database {}", db.name);
        env.push(("DATABASE_URL", db.url.clone()));
        env.push(("REDIS_URL", redis_servers[0].url.clone()));
        env.push((
            "PUBSUB_REDIS_URLS",
            redis_servers
                .iter()
                .map(|s| s.url.clone())
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

// ---------------------------------------------------------------------------------------
// Reporting.

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Share of deliveries per latency band (a bump at 40 ms is TCP's delayed ACK meeting
/// Nagle's algorithm on a socket without `TCP_NODELAY`).
fn latency_buckets(latency: &Histogram<u64>) -> String {
    const EDGES_MS: [u64; 8] = [1, 5, 20, 35, 50, 100, 500, 1000];
    let mut counts = [0u64; EDGES_MS.len() + 1];
    for v in latency.iter_recorded() {
        let ms = v.value_iterated_to() as f64 / 1000.0;
        let band = EDGES_MS
            .iter()
            .position(|&edge| ms < edge as f64)
            .unwrap_or(EDGES_MS.len());
        counts[band] += v.count_at_value();
    }
    let total = latency.len().max(1) as f64;
    let mut low = 0;
    let mut parts = Vec::new();
    for (band, count) in counts.iter().enumerate() {
        let label = match EDGES_MS.get(band) {
            Some(high) => format!("{low}-{high}"),
            None => format!(">={low}"),
        };
        parts.push(format!("{label} ms {:.2} %", *count as f64 / total * 100.0));
        low = EDGES_MS.get(band).copied().unwrap_or(low);
    }
    parts.join(", ")
}

fn render(r: &Report, plan: &Plan, graph: &GraphStats) -> String {
    let mut out = String::new();
    let row = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "  {label:<34} {value}");
    };
    let _ = writeln!(
        out,
        "\n== {} ({}) ==",
        r.deployment.name(),
        r.deployment.describe()
    );
    let counter = |name: &str| r.server_counters.get(name).copied().unwrap_or(0.0);
    row(
        &mut out,
        "setup",
        format!(
            "users and friendships written in {:.1} s; server ready in {:.1} s",
            r.load_time.as_secs_f64(),
            r.server_start.as_secs_f64()
        ),
    );
    row(
        &mut out,
        "connect (init -> nearby_friends)",
        format!(
            "{} of {} in {:.1} s from {} client processes{}",
            thousands(r.ready as f64),
            thousands(plan.clients as f64),
            r.connect_time.as_secs_f64(),
            plan.shares.len(),
            if r.failed > 0 {
                format!(
                    "; {} failed (first: {})",
                    r.failed,
                    r.first_failure.as_deref().unwrap_or("?")
                )
            } else {
                String::new()
            }
        ),
    );
    row(
        &mut out,
        "server RSS idle",
        format!(
            "{} before clients, {} with {} idle connections: {:.1} KiB per connection",
            mib(r.rss_base),
            mib(r.rss_idle),
            thousands(r.ready as f64),
            r.idle_bytes_per_connection() / 1024.0
        ),
    );
    let _ = writeln!(
        out,
        "  steady state: {:.1} s measured after {} s of warm-up; {} clients with {} friends each, \
         one update per client every {} ms (server minimum {} ms, write gap {})",
        r.window_s,
        plan.warmup.as_secs(),
        thousands(plan.clients as f64),
        plan.friends,
        plan.interval_ms,
        plan.min_interval_ms,
        plan.write_gap_ms
            .map_or("the server default".into(), |gap| format!("{gap} ms"))
    );
    row(
        &mut out,
        "connections held",
        format!(
            "{} open at the end (server gauge: idle {}, end {}){}",
            thousands(r.held as f64),
            r.gauge_idle.map_or("?".into(), thousands),
            r.gauge_end.map_or("?".into(), thousands),
            if r.lost > 0 {
                format!("; {} lost", r.lost)
            } else {
                String::new()
            }
        ),
    );
    let offered = plan.clients as f64 * 1000.0 / plan.interval_ms as f64;
    row(
        &mut out,
        "updates/s",
        format!(
            "{} sent (offered {}), {} accepted by the server",
            thousands(r.per_s(r.sent)),
            thousands(offered),
            thousands(counter("friends_updates_total") / r.window_s)
        ),
    );
    row(
        &mut out,
        "deliveries/s (friend_location)",
        format!(
            "{} received, {} forwarded by the server; {:.2} per update (graph: {:.2})",
            thousands(r.per_s(r.deliveries)),
            thousands(counter("friends_deliveries_total") / r.window_s),
            r.deliveries as f64 / r.sent.max(1) as f64,
            graph.fan_out
        ),
    );
    row(
        &mut out,
        "latency send -> friend receives",
        if r.latency.is_empty() {
            "no deliveries".into()
        } else {
            format!(
                "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
                r.p(0.50),
                r.p(0.90),
                r.p(0.99),
                r.p(0.999),
                r.latency.max() as f64 / 1000.0
            )
        },
    );
    if !r.latency.is_empty() {
        row(
            &mut out,
            "latency distribution",
            latency_buckets(&r.latency),
        );
    }
    row(
        &mut out,
        "error frames (whole run)",
        if r.errors.is_empty() {
            "none".into()
        } else {
            r.errors
                .iter()
                .map(|(status, n)| format!("{status}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    row(
        &mut out,
        "other frames (whole run)",
        format!("{} friend_left, {} unparsed", r.friend_left, r.unparsed),
    );
    row(
        &mut out,
        "server counters in the window",
        format!(
            "{} publishes failed, {} events dropped, {} updates rate-limited, \
             {} history rows written, {} dropped",
            thousands(counter("friends_publish_failed_total")),
            thousands(counter("friends_events_dropped_total")),
            thousands(counter("friends_updates_rate_limited_total")),
            thousands(counter("friends_history_written_total")),
            thousands(counter("friends_history_dropped_total"))
        ),
    );
    row(
        &mut out,
        "server CPU, RSS",
        format!(
            "{:.0} % of one core; RSS {} at the end ({:.1} KiB per connection)",
            r.server_cpu,
            mib(r.rss_end),
            r.rss_end as f64 / r.held.max(1) as f64 / 1024.0
        ),
    );
    let mut others = format!("clients {:.0} %", r.clients_cpu);
    if let Some(cpu) = r.redis_cpu {
        let _ = write!(others, ", Redis (3 servers) {cpu:.0} %");
    }
    if let Some(cpu) = r.postgres_cpu {
        let _ = write!(others, ", PostgreSQL backends {cpu:.0} %");
    }
    if let Some(busy) = r.machine_busy {
        let _ = write!(
            others,
            "; machine {busy:.0} % busy of {} cores",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    row(&mut out, "other CPU (% of one core)", others);
    row(
        &mut out,
        "drain (SIGTERM -> exit)",
        match r.drain {
            Some(took) => format!(
                "{:.2} s with DRAIN_GRACE_S = {DRAIN_GRACE_S}; {} clients got 1001 going away; {}",
                took.as_secs_f64(),
                thousands(r.going_away as f64),
                r.drain_note
            ),
            None => r.drain_note.clone(),
        },
    );
    row(
        &mut out,
        "server log",
        format!("{} warnings, {} errors", r.log.warnings, r.log.errors),
    );
    for sample in &r.log.samples {
        let _ = writeln!(out, "    {sample}");
    }
    out
}

fn render_targets(reports: &[Report], failures: &[(Deployment, String)], plan: &Plan) -> String {
    let mut out = String::from("\ntargets (2-core machine; clients, server and Redis share it):\n");
    let mut line = |pass: bool, text: String| {
        let _ = writeln!(out, "  {}  {text}", if pass { "PASS" } else { "MISS" });
    };
    for r in reports {
        let name = r.deployment.name();
        if plan.clients >= 19_000 {
            line(
                r.held >= 19_000,
                format!(
                    "{name}: {} connections held by one server process (target >= 19,000)",
                    thousands(r.held as f64)
                ),
            );
        }
        let target = r.deployment.deliveries_target();
        line(
            r.per_s(r.deliveries) >= target,
            format!(
                "{name}: {} deliveries/s sustained (target >= {})",
                thousands(r.per_s(r.deliveries)),
                thousands(target)
            ),
        );
        let p99 = (!r.latency.is_empty()).then(|| r.p(0.99));
        line(
            p99.is_some_and(|p| p < 100.0),
            format!(
                "{name}: p99 latency {} (target < 100 ms)",
                p99.map_or("n/a".into(), |p| format!("{p:.1} ms"))
            ),
        );
        let per_conn = r.idle_bytes_per_connection() / 1024.0;
        line(
            per_conn <= 16.0,
            format!(
                "{name}: {per_conn:.1} KiB server memory per idle connection (target <= 16 KiB)"
            ),
        );
    }
    for (deployment, err) in failures {
        line(
            false,
            format!("{}: did not complete: {err}", deployment.name()),
        );
    }
    if plan.clients < 19_000 {
        let _ = writeln!(
            out,
            "  (the 19,000-connection target is checked only with --clients >= 19000; with {} \
             clients the offered load is {} updates/s)",
            plan.clients,
            thousands(plan.clients as f64 * 1000.0 / plan.interval_ms as f64)
        );
    }
    out
}

// ---------------------------------------------------------------------------------------
// The client process.

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the parent has asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Send from `start` (Unix seconds); count what was sent in `[window_start, window_end)`.
    Go {
        start: f64,
        window_start: f64,
        window_end: f64,
    },
    Stop,
    Exit,
}

/// Only what the client needs of a server frame.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    timestamp: Option<f64>,
    #[serde(default)]
    status: Option<u16>,
}

const LATENCY_SHARDS: usize = 16;

/// Counters of one client process.
struct ClientStats {
    ready: AtomicU64,
    failed: AtomicU64,
    open: AtomicI64,
    sent: AtomicU64,
    sent_window: AtomicU64,
    deliveries: AtomicU64,
    deliveries_window: AtomicU64,
    friend_left: AtomicU64,
    unparsed: AtomicU64,
    lost: AtomicU64,
    going_away: AtomicU64,
    errors: Mutex<BTreeMap<u16, u64>>,
    first_failure: Mutex<Option<String>>,
    latency: Vec<Mutex<Histogram<u64>>>,
}

impl ClientStats {
    fn new() -> ClientStats {
        ClientStats {
            ready: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            open: AtomicI64::new(0),
            sent: AtomicU64::new(0),
            sent_window: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            deliveries_window: AtomicU64::new(0),
            friend_left: AtomicU64::new(0),
            unparsed: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            going_away: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            first_failure: Mutex::new(None),
            latency: (0..LATENCY_SHARDS)
                .map(|_| Mutex::new(new_latency_histogram()))
                .collect(),
        }
    }

    /// Counts a text frame; `window` selects the deliveries whose latency is recorded.
    /// Returns the frame type when it is `nearby_friends` or `error`.
    fn on_frame(&self, text: &str, window: (f64, f64), shard: usize) -> Option<&'static str> {
        let Ok(frame) = serde_json::from_str::<Incoming>(text) else {
            self.unparsed.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        match frame.kind {
            "friend_location" => {
                self.deliveries.fetch_add(1, Ordering::Relaxed);
                if let Some(ts) = frame.timestamp
                    && ts >= window.0
                    && ts < window.1
                {
                    self.deliveries_window.fetch_add(1, Ordering::Relaxed);
                    let us = ((now_unix() - ts) * 1e6).clamp(1.0, LATENCY_MAX_US as f64) as u64;
                    let mut hist = self.latency[shard % LATENCY_SHARDS]
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    let _ = hist.record(us);
                }
                None
            }
            "friend_left" => {
                self.friend_left.fetch_add(1, Ordering::Relaxed);
                None
            }
            "nearby_friends" => Some("nearby_friends"),
            "error" => {
                let status = frame.status.unwrap_or(0);
                *self
                    .errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(status)
                    .or_insert(0) += 1;
                Some("error")
            }
            _ => None,
        }
    }

    fn fail(&self, err: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(err);
        }
    }

    fn result_line(&self) -> Value {
        let mut merged = new_latency_histogram();
        for shard in &self.latency {
            let _ = merged.add(&*shard.lock().unwrap_or_else(|e| e.into_inner()));
        }
        let latency: Vec<[u64; 2]> = merged
            .iter_recorded()
            .map(|v| [v.value_iterated_to(), v.count_at_value()])
            .collect();
        let errors: BTreeMap<String, u64> = self
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "event": "result",
            "open": self.open.load(Ordering::Relaxed),
            "sent": get(&self.sent),
            "sent_window": get(&self.sent_window),
            "deliveries": get(&self.deliveries),
            "deliveries_window": get(&self.deliveries_window),
            "friend_left": get(&self.friend_left),
            "unparsed": get(&self.unparsed),
            "lost": get(&self.lost),
            "errors": errors,
            "latency_us": latency,
        })
    }
}

/// A tiny seeded generator for the moves (8 bytes per connection).
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Everything a connection task shares.
struct ClientContext {
    port: u16,
    interval: Duration,
    step_m: f64,
    half_m: f64,
    seed: u64,
    config: WebSocketConfig,
    stats: ClientStats,
}

/// A random step of at most `step` metres along each axis, reflected at the edges of the
/// square of half-side `half`.
fn walk(from: Xy, rng: &mut SplitMix, step: f64, half: f64) -> Xy {
    let reflect = |v: f64| {
        if v > half {
            2.0 * half - v
        } else if v < -half {
            -2.0 * half - v
        } else {
            v
        }
    };
    Xy {
        x: reflect(from.x + (rng.next_f64() * 2.0 - 1.0) * step),
        y: reflect(from.y + (rng.next_f64() * 2.0 - 1.0) * step),
    }
}

fn location_frame(kind: &str, at: Xy, timestamp: f64) -> String {
    let p = to_latlon(at);
    format!(
        r#"{{"type":"{kind}","latitude":{:.7},"longitude":{:.7},"timestamp":{timestamp:.6}}}"#,
        p.lat, p.lon
    )
}

fn emit(value: Value) {
    println!("{value}");
}

/// `bench friends-client`: connects `count` users, reports, then follows stdin.
///
/// It runs on one thread of its own (a current-thread runtime): a client's work is many
/// small wake-ups, which one thread serves without cross-thread wake-ups and work
/// stealing, leaving more of the machine to the server under test.
pub async fn client(args: ClientArgs) -> anyhow::Result<()> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    kit::runtime::run_on_thread("friends-client", async move {
        let _ = done_tx.send(client_inner(&args).await);
    })?;
    let outcome = done_rx
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the client thread panicked")));
    if let Err(err) = &outcome {
        emit(json!({"event": "error", "message": format!("{err:#}")}));
    }
    outcome
}

async fn client_inner(args: &ClientArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.first + args.count <= args.total,
        "users {}..{} are beyond --total {}",
        args.first,
        args.first + args.count,
        args.total
    );
    let side_m = args.area_km * 1000.0;
    let positions = place_users(args.total, side_m, args.seed);
    let auth = kit::auth::Auth::from_secret(args.jwt_secret.as_bytes());
    let interval = Duration::from_millis(args.interval_ms);
    let context = Arc::new(ClientContext {
        port: args.port,
        interval,
        step_m: WALK_M_PER_S * interval.as_secs_f64(),
        half_m: side_m / 2.0,
        seed: args.seed,
        config: WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_message_size(Some(1 << 20)),
        stats: ClientStats::new(),
    });
    // One channel per connection: polling an empty one costs an atomic, not a lock.
    let mut phases = Vec::with_capacity(args.count);
    let handshakes = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mine = positions
        .iter()
        .enumerate()
        .skip(args.first)
        .take(args.count);
    for (i, &position) in mine {
        let token = auth.mint(i as i64 + 1, false, 7 * 86_400)?;
        let (phase_tx, phase_rx) = mpsc::unbounded_channel();
        phases.push(phase_tx);
        tasks.spawn(connection(
            context.clone(),
            i,
            position,
            token,
            phase_rx,
            handshakes.clone(),
        ));
    }
    let set_phase = |phase: Phase| {
        for tx in &phases {
            let _ = tx.send(phase);
        }
    };
    let stats = &context.stats;
    let started = Instant::now();
    let mut last_progress = Instant::now();
    loop {
        let ready = stats.ready.load(Ordering::Relaxed);
        let failed = stats.failed.load(Ordering::Relaxed);
        if ready + failed >= args.count as u64 {
            let first_failure = stats
                .first_failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            emit(json!({
                "event": "ready",
                "ready": ready,
                "failed": failed,
                "secs": started.elapsed().as_secs_f64(),
                "first_failure": first_failure,
            }));
            break;
        }
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            emit(json!({"event": "progress", "ready": ready, "failed": failed}));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("go") => {
                let mut number = || -> anyhow::Result<f64> {
                    Ok(words.next().context("go needs three times")?.parse()?)
                };
                let (start, window_start, window_end) = (number()?, number()?, number()?);
                set_phase(Phase::Go {
                    start,
                    window_start,
                    window_end,
                });
            }
            Some("stop") => {
                set_phase(Phase::Stop);
                emit(stats.result_line());
            }
            Some("exit") => break,
            _ => {}
        }
    }
    // The parent is done (or gone): close everything.
    set_phase(Phase::Exit);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    emit(json!({
        "event": "closed",
        "going_away": stats.going_away.load(Ordering::Relaxed),
    }));
    Ok(())
}

/// Connects (retrying), sends `init` and waits for `nearby_friends`.
async fn connect_and_init(context: &ClientContext, at: Xy, token: &str) -> Result<Socket, String> {
    let url = format!(
        "ws://127.0.0.1:{}/v1/ws/friends?token={token}",
        context.port
    );
    let mut last = String::new();
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
        }
        let connected = tokio::time::timeout(
            Duration::from_secs(30),
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(context.config), true),
        )
        .await;
        let mut socket = match connected {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(err)) => {
                last = format!("connect: {err}");
                continue;
            }
            Err(_) => {
                last = "connect: timed out after 30 s".into();
                continue;
            }
        };
        if let Err(err) = socket
            .send(Message::text(location_frame("init", at, now_unix())))
            .await
        {
            last = format!("sending init: {err}");
            continue;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout_at(deadline, socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    match context
                        .stats
                        .on_frame(text.as_str(), (f64::INFINITY, f64::INFINITY), 0)
                    {
                        Some("nearby_friends") => return Ok(socket),
                        Some(_) => {
                            last = format!("init answered with {}", text.as_str());
                            break;
                        }
                        None => {}
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(err))) => {
                    last = format!("waiting for nearby_friends: {err}");
                    break;
                }
                Ok(None) => {
                    last = "closed before nearby_friends".into();
                    break;
                }
                Err(_) => {
                    last = "no nearby_friends within 30 s".into();
                    break;
                }
            }
        }
    }
    Err(last)
}

/// One simulated user: connect, idle until `go`, then an update every interval (staggered
/// by a low-discrepancy offset so the load is smooth), counting what arrives.
async fn connection(
    context: Arc<ClientContext>,
    index: usize,
    start: Xy,
    token: String,
    mut phases: mpsc::UnboundedReceiver<Phase>,
    handshakes: Arc<Semaphore>,
) {
    let stats = &context.stats;
    let mut socket = {
        let Ok(_permit) = handshakes.acquire().await else {
            return;
        };
        match connect_and_init(&context, start, &token).await {
            Ok(socket) => socket,
            Err(err) => {
                stats.fail(err);
                return;
            }
        }
    };
    stats.ready.fetch_add(1, Ordering::Relaxed);
    stats.open.fetch_add(1, Ordering::Relaxed);
    let mut rng = SplitMix(context.seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut here = start;
    // Golden-ratio offsets spread any subset of users evenly over the interval.
    let offset = context
        .interval
        .mul_f64((index as f64 * 0.618_033_988_749_894_9).fract());
    let min_gap = context.interval.mul_f64(0.95);
    let mut window = (f64::INFINITY, f64::INFINITY);
    let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    let timer = tokio::time::sleep_until(far);
    tokio::pin!(timer);
    let mut armed = false;
    let mut scheduled = far;
    let mut closed_by_server = false;
    loop {
        tokio::select! {
            phase = phases.recv() => {
                match phase {
                    None | Some(Phase::Exit) => break,
                    Some(Phase::Go { start, window_start, window_end }) => {
                        window = (window_start, window_end);
                        scheduled = instant_at(start) + offset;
                        timer.as_mut().reset(scheduled);
                        armed = true;
                    }
                    Some(Phase::Stop) => armed = false,
                }
            }
            () = &mut timer, if armed => {
                here = walk(here, &mut rng, context.step_m, context.half_m);
                let ts = now_unix();
                if socket.send(Message::text(location_frame("location", here, ts))).await.is_err() {
                    stats.lost.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                stats.sent.fetch_add(1, Ordering::Relaxed);
                if ts >= window.0 && ts < window.1 {
                    stats.sent_window.fetch_add(1, Ordering::Relaxed);
                }
                // On schedule, but never closer than 95 % of the interval to the last send.
                let now = tokio::time::Instant::now();
                scheduled = (scheduled + context.interval).max(now + min_gap);
                timer.as_mut().reset(scheduled);
            }
            message = socket.next() => {
                match message {
                    Some(Ok(Message::Text(text))) => {
                        stats.on_frame(text.as_str(), window, index);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        closed_by_server = true;
                        if frame.is_some_and(|f| u16::from(f.code) == 1001) {
                            stats.going_away.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        if !closed_by_server {
                            stats.lost.fetch_add(1, Ordering::Relaxed);
                        }
                        break;
                    }
                }
            }
        }
    }
    stats.open.fetch_sub(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
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
    fn metrics_and_urls_parse() {
        let metrics = parse_metrics(
            "# TYPE friends_connections gauge\nfriends_connections 12\n\
             friends_events_dropped_total{reason=\"inbox_full\"} 3\n\
             friends_events_dropped_total{reason=\"not_friend\"} 4\n",
        );
        assert_eq!(metrics["friends_connections"], 12.0);
        assert_eq!(metrics["friends_events_dropped_total"], 7.0);
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "b").unwrap(),
            "postgres://u@h:5432/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h", "b").unwrap(),
            "postgres://u@h/b"
        );
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
