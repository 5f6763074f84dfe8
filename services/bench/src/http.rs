//! The HTTP service end to end: the all-in-one [`App`] on a temporary SQLite database loaded
//! with the run's businesses, and `wrk` (or, when it cannot be had, an in-process reqwest
//! load generator) on `/v1/search/nearby` with many keep-alive connections.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use geo_core::LatLon;
use kit::config::CommonConfig;
use kit::db::Db;
use proximity::ProximityConfig;
use proximity::model::BusinessFields;

use geostack::app::{App, ServerConfig, Service};

use super::stats::new_histogram;

/// An app whose database holds the run's businesses, published, not yet serving.
pub struct LoadedApp {
    pub app: App,
    pub db: Db,
    pub insert_time: Duration,
    pub publish_time: Duration,
}

/// Builds the proximity app over a SQLite database in `data_dir` (no sample data, no daily
/// publication, port 0), inserts `rows` (ids 1..=n) and publishes them.
pub async fn load_app(data_dir: &Path, rows: &[BusinessFields]) -> anyhow::Result<LoadedApp> {
    // The load generator's connections all come from 127.0.0.1.
    let common = CommonConfig {
        max_connections_per_ip: 0,
        ..CommonConfig::embedded(data_dir.to_path_buf())
    };
    let config = ServerConfig {
        common,
        proximity: ProximityConfig {
            sample_data: PathBuf::new(),
            index_refresh_at: "off".into(),
            ..ProximityConfig::default()
        },
        friends: friends::FriendsConfig::default(),
        navigation: navigation::NavigationConfig::default(),
    };
    let app = App::build(config, &[Service::Proximity]).await?;
    let db = app.backends().db.clone();
    let started = Instant::now();
    proximity::store::insert_many(&db, None, rows)
        .await
        .context("inserting the businesses into SQLite")?;
    let insert_time = started.elapsed();
    let started = Instant::now();
    let state = app
        .proximity()
        .context("the proximity service is not mounted")?;
    let published = state.publish().await?;
    anyhow::ensure!(
        published.businesses as usize == rows.len(),
        "published {} businesses, expected {}",
        published.businesses,
        rows.len()
    );
    let publish_time = started.elapsed();
    Ok(LoadedApp {
        app,
        db,
        insert_time,
        publish_time,
    })
}

/// One HTTP load run.
#[derive(Clone, Debug)]
pub struct HttpResult {
    pub radius_m: f64,
    pub tool: String,
    pub connections: usize,
    pub seconds: f64,
    pub requests: u64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx answers plus socket errors.
    pub errors: u64,
}

/// Settings of the load.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub connections: usize,
    pub seconds: u64,
}

fn path_for(c: LatLon, radius_m: f64) -> String {
    format!(
        "/v1/search/nearby?latitude={:.6}&longitude={:.6}&radius={radius_m}&limit=20",
        c.lat, c.lon
    )
}

/// One request, returning the `total` the service reports (a sanity check before loading).
pub async fn total_via_http(port: u16, c: LatLon, radius_m: f64) -> anyhow::Result<usize> {
    let url = format!("http://127.0.0.1:{port}{}", path_for(c, radius_m));
    let body: serde_json::Value = reqwest::get(&url).await?.error_for_status()?.json().await?;
    body.get("total")
        .and_then(serde_json::Value::as_u64)
        .map(|t| t as usize)
        .context("no total in the nearby response")
}

/// Whether `wrk` can be run, installing Debian's package when root.
pub async fn ensure_wrk() -> bool {
    let present = || std::process::Command::new("wrk").arg("-v").output().is_ok();
    if present() {
        return true;
    }
    if super::is_root() {
        eprintln!("  wrk not found; apt-get install -y wrk");
        let installed =
            tokio::task::spawn_blocking(|| super::apt_install(&["wrk"], "the HTTP benchmark"))
                .await
                .map(|r| r.is_ok())
                .unwrap_or(false);
        if installed && present() {
            return true;
        }
    }
    false
}

/// `wrk -t2 -c<connections> -d<seconds>s --latency` over random centres.
pub async fn run_wrk(
    port: u16,
    centres: &[LatLon],
    radius_m: f64,
    load: Load,
    work_dir: &Path,
) -> anyhow::Result<HttpResult> {
    let script_path = work_dir.join(format!("nearby-{radius_m}.lua"));
    let mut script = String::from("local paths = {\n");
    for c in centres.iter().take(2000) {
        script.push_str(&format!("  \"{}\",\n", path_for(*c, radius_m)));
    }
    script.push_str(
        "}\nlocal n = #paths\n\
         local threads = 0\n\
         function setup(thread)\n  threads = threads + 1\n  thread:set(\"id\", threads)\nend\n\
         function init(args)\n  math.randomseed(os.time() * 1000 + id)\nend\n\
         function request()\n  return wrk.format(\"GET\", paths[math.random(n)])\nend\n",
    );
    std::fs::write(&script_path, script)?;
    let output = tokio::process::Command::new("wrk")
        .arg("-t2")
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.seconds))
        .arg("--latency")
        .arg("-s")
        .arg(&script_path)
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success(),
        "wrk failed: {}{}",
        text,
        String::from_utf8_lossy(&output.stderr)
    );
    parse_wrk(&text, radius_m, load).with_context(|| format!("reading wrk's output:\n{text}"))
}

pub(crate) fn parse_wrk(text: &str, radius_m: f64, load: Load) -> anyhow::Result<HttpResult> {
    let mut p50 = None;
    let mut p99 = None;
    let mut rps = None;
    let mut requests = None;
    let mut seconds = load.seconds as f64;
    let mut errors = 0u64;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("50%") {
            p50 = parse_duration_ms(rest.trim());
        } else if let Some(rest) = line.strip_prefix("99%") {
            p99 = parse_duration_ms(rest.trim());
        } else if let Some(rest) = line.strip_prefix("Requests/sec:") {
            rps = rest.trim().parse::<f64>().ok();
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += rest.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            errors += rest
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        } else if line.contains(" requests in ") {
            let mut words = line.split_whitespace();
            requests = words.next().and_then(|w| w.parse::<u64>().ok());
            if let Some(d) = words.nth(2) {
                seconds = parse_duration_ms(d.trim_end_matches(',')).map_or(seconds, |ms| ms / 1e3);
            }
        }
    }
    Ok(HttpResult {
        radius_m,
        tool: "wrk -t2 (separate process)".into(),
        connections: load.connections,
        seconds,
        requests: requests.context("no request count")?,
        requests_per_s: rps.context("no Requests/sec")?,
        p50_ms: p50.context("no 50% latency (run with --latency)")?,
        p99_ms: p99.context("no 99% latency")?,
        errors,
    })
}

/// `635.91us`, `1.20ms`, `2.00s`, `1.5m` -> milliseconds.
fn parse_duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    match unit {
        "us" => Some(value / 1e3),
        "ms" => Some(value),
        "s" => Some(value * 1e3),
        "m" => Some(value * 60e3),
        _ => None,
    }
}

/// Fallback when wrk cannot be had: `connections` tasks with keep-alive in this process (so
/// the client shares the two cores with the server).
pub async fn run_reqwest(
    port: u16,
    centres: &[LatLon],
    radius_m: f64,
    load: Load,
) -> anyhow::Result<HttpResult> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(load.connections)
        .build()?;
    let urls: Arc<Vec<String>> = Arc::new(
        centres
            .iter()
            .map(|c| format!("http://127.0.0.1:{port}{}", path_for(*c, radius_m)))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(load.seconds);
    let mut tasks = Vec::new();
    for _ in 0..load.connections {
        let (client, urls, next) = (client.clone(), urls.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = new_histogram();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % urls.len().max(1);
                let t = Instant::now();
                let ok = match client.get(&urls[i]).send().await {
                    Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    hist.saturating_record(t.elapsed().as_nanos() as u64);
                } else {
                    errors += 1;
                }
            }
            (hist, errors)
        }));
    }
    let mut hist = new_histogram();
    let mut errors = 0;
    for task in tasks {
        let (h, e) = task.await?;
        hist.add(&h).context("merging histograms")?;
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(HttpResult {
        radius_m,
        tool: format!(
            "in-process reqwest, {} tasks (wrk unavailable; the client shares the CPU)",
            load.connections
        ),
        connections: load.connections,
        seconds,
        requests: hist.len(),
        requests_per_s: hist.len() as f64 / seconds,
        p50_ms: hist.value_at_quantile(0.5) as f64 / 1e6,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1e6,
        errors,
    })
}
