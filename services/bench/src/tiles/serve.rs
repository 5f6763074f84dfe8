//! The serving half of `bench tiles`: one extract's zoom 12-14 tiles from our server
//! (`serve` with only navigation, as a child process) and from nginx serving the same
//! stored bytes as static files, each under the same `wrk` load.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use maptiles::{MapStore, TileId};

use super::TilesArgs;
use crate::http::{HttpResult, Load, parse_wrk};

pub struct Serving {
    pub ours: HttpResult,
    pub nginx: HttpResult,
    pub tiles: usize,
    pub bytes: u64,
}

/// Writes the archive's zoom 12-14 tiles (stored gzip bytes) under `static_dir/tiles/`;
/// returns their URL paths.
async fn export(
    tiles_dir: &Path,
    version: &str,
    static_dir: &Path,
) -> anyhow::Result<(Vec<String>, u64)> {
    let store = routing::TileStore::open(&tiles_dir.display().to_string())?;
    let (objects, prefix) = store.location();
    let archive = MapStore::new(objects, prefix).open(version).await?;
    let (west, south, east, north) = archive.extent().bounds;
    let mut paths = Vec::new();
    let mut bytes = 0;
    for z in 12..=14u8 {
        let nw = TileId::containing(north, west, z);
        let se = TileId::containing(south, east, z);
        for x in nw.x..=se.x {
            for y in nw.y..=se.y {
                let tile = TileId { z, x, y };
                let Some(gzip) = archive.tile(tile).await? else {
                    continue;
                };
                let dir = static_dir.join(format!("tiles/{z}/{x}"));
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join(format!("{y}.mvt")), &gzip)?;
                bytes += gzip.len() as u64;
                paths.push(format!("/tiles/{z}/{x}/{y}.mvt"));
            }
        }
    }
    anyhow::ensure!(!paths.is_empty(), "no zoom 12-14 tiles in the archive");
    Ok((paths, bytes))
}

async fn wait_ready(url: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(url).await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{url} did not answer within 30 s")
}

/// `wrk -t2` over `paths` (random order, gzip accepted).
async fn wrk(port: u16, paths: &[String], load: Load, script: &Path) -> anyhow::Result<HttpResult> {
    let mut text = String::from("local paths = {\n");
    for p in paths {
        let _ = writeln!(text, "  \"{p}\",");
    }
    text.push_str(
        "}\nlocal n = #paths\nlocal threads = 0\n\
         function setup(thread)\n  threads = threads + 1\n  thread:set(\"id\", threads)\nend\n\
         function init(args)\n  math.randomseed(os.time() * 1000 + id)\nend\n\
         function request()\n  return wrk.format(\"GET\", paths[math.random(n)], {[\"Accept-Encoding\"] = \"gzip\"})\nend\n",
    );
    std::fs::write(script, text)?;
    let output = tokio::process::Command::new("wrk")
        .arg("-t2")
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.seconds))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .await
        .context("running wrk")?;
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(output.status.success(), "wrk failed: {out}");
    parse_wrk(&out, 0.0, load).with_context(|| format!("reading wrk's output:\n{out}"))
}

pub async fn compare(
    exe: &Path,
    work: &Path,
    version: &str,
    args: &TilesArgs,
) -> anyhow::Result<Serving> {
    super::ensure_tool("nginx", "nginx-light")?;
    anyhow::ensure!(
        crate::http::ensure_wrk().await,
        "wrk is needed for the serving comparison"
    );
    let static_dir = work.join("static");
    let (paths, bytes) = export(&work.join("tiles"), version, &static_dir).await?;
    eprintln!(
        "  serving {} tiles (zoom 12-14, {:.1} MB)",
        paths.len(),
        bytes as f64 / 1e6
    );
    let load = Load {
        connections: args.connections,
        seconds: args.seconds,
    };

    let port = testkit::free_port();
    let mut ours = tokio::process::Command::new(exe)
        .args([crate::SERVER_COMMAND, "serve"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATA_DIR", work.join("serve-data"))
        .env("TILES_URL", work.join("tiles"))
        .env("SERVICES", "navigation")
        .env("SAMPLE_DATA", "off")
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting our server")?;
    wait_ready(&format!("http://127.0.0.1:{port}/tiles.json")).await?;
    eprintln!("  wrk against our server");
    let ours_result = wrk(port, &paths, load, &work.join("ours.lua")).await;
    let _ = ours.kill().await;

    let nginx_port = testkit::free_port();
    let conf = work.join("nginx.conf");
    let prefix = work.join("nginx");
    std::fs::create_dir_all(prefix.join("logs"))?;
    std::fs::write(
        &conf,
        format!(
            "worker_processes 2;\ndaemon off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
               client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n\
               fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
               types {{ application/vnd.mapbox-vector-tile mvt; }}\n\
               server {{\n    listen 127.0.0.1:{nginx_port};\n    root {root};\n\
                 location /tiles/ {{\n      add_header Content-Encoding gzip;\n\
                   add_header Access-Control-Allow-Origin *;\n      add_header Cache-Control \"public, max-age=300\";\n    }}\n  }}\n}}\n",
            prefix = prefix.display(),
            root = static_dir.display(),
        ),
    )?;
    let mut nginx = tokio::process::Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&prefix)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting nginx")?;
    wait_ready(&format!("http://127.0.0.1:{nginx_port}{}", paths[0])).await?;
    eprintln!("  wrk against nginx");
    let nginx_result = wrk(nginx_port, &paths, load, &work.join("nginx.lua")).await;
    // `nginx -s stop` ends the workers with the master; killing the master alone would
    // leave them serving.
    let stopped = tokio::process::Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&prefix)
        .args(["-s", "stop"])
        .stderr(std::process::Stdio::null())
        .status()
        .await;
    if !stopped.is_ok_and(|s| s.success())
        || tokio::time::timeout(Duration::from_secs(10), nginx.wait())
            .await
            .is_err()
    {
        let _ = nginx.kill().await;
    }
    Ok(Serving {
        ours: ours_result?,
        nginx: nginx_result?,
        tiles: paths.len(),
        bytes,
    })
}

pub fn render(s: &Serving, file: &str) -> String {
    let mut out = format!(
        "\nserving {file}, zoom 12-14: {} tiles, {:.1} MB as stored; wrk -t2 -c{} -d{}s, Accept-Encoding: gzip\n",
        s.tiles,
        s.bytes as f64 / 1e6,
        s.ours.connections,
        s.ours.seconds.round()
    );
    let _ = writeln!(
        out,
        "{:<18} {:>12} {:>9} {:>9} {:>8}",
        "server", "requests/s", "p50 ms", "p99 ms", "errors"
    );
    for (name, r) in [("ours", &s.ours), ("nginx (static)", &s.nginx)] {
        let _ = writeln!(
            out,
            "{:<18} {:>12.0} {:>9.2} {:>9.2} {:>8}",
            name, r.requests_per_s, r.p50_ms, r.p99_ms, r.errors
        );
    }
    let _ = writeln!(
        out,
        "ours / nginx: {:.0}% of the throughput",
        100.0 * s.ours.requests_per_s / s.nginx.requests_per_s.max(1e-9)
    );
    out
}
