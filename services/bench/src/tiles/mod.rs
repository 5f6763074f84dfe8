//! `bench tiles`: map tiles built with ours (`import map`) and with tilemaker (Debian's
//! package, its own OpenMapTiles configuration from `../shared/anchors/tilemaker/`) on every
//! OSM extract, zoom 0-14, in the same run; then a zoom 12-14 tile set of one extract (Porto)
//! served under `wrk` by our server and by nginx serving the same tiles as static files.
//!
//! Both builders run as child processes under GNU time (peak RSS is the kernel's maximum
//! resident set of the child). Sizes are as stored (gzip for both). For serving, our archive's
//! tiles are written out as files with the same gzip bytes, nginx sends them with
//! `Content-Encoding: gzip`, and `wrk` asks both for the same URLs with
//! `Accept-Encoding: gzip`, so both send identical bytes.

mod serve;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::TempDir;
use crate::import::{
    file_name, gnu_time_available, list_extracts, resolve_dir, run_measured, run_measured_with_env,
    tail,
};

const MIB: f64 = 1024.0 * 1024.0;

#[derive(clap::Args, Debug)]
pub struct TilesArgs {
    /// Directory of OSM extracts. Default: `../shared/data/osm`, or `data/`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Comma-separated file names in the directory to run (default: every extract).
    #[arg(long, value_delimiter = ',')]
    pub files: Vec<String>,
    /// tilemaker's configuration directory (`config-openmaptiles.json`,
    /// `process-openmaptiles.lua`). Default: `../shared/anchors/tilemaker`.
    #[arg(long)]
    pub tilemaker_config: Option<PathBuf>,
    /// Build with ours only.
    #[arg(long)]
    pub skip_tilemaker: bool,
    /// Skip the serving comparison.
    #[arg(long)]
    pub skip_serving: bool,
    /// The extract whose zoom 12-14 tiles are served.
    #[arg(long, default_value = "porto.osm.pbf")]
    pub serve_file: String,
    /// wrk connections.
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// wrk seconds per server.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

/// The fields of `maptiles::MapImportSummary` the bench reads.
#[derive(serde::Deserialize, Debug, Clone)]
struct Summary {
    version: String,
    features: u64,
    tiles: TileCounts,
}

#[derive(serde::Deserialize, Debug, Clone)]
struct TileCounts {
    tiles: u64,
    bytes: u64,
    largest_bytes: u64,
    largest_tile: Option<String>,
}

/// One builder on one extract.
struct Built {
    wall: Duration,
    peak_bytes: Option<u64>,
    tiles: u64,
    bytes: u64,
    /// Largest tile: ours uncompressed, tilemaker's as stored (gzip).
    largest_bytes: u64,
    largest_note: String,
}

struct Row {
    name: String,
    input_bytes: u64,
    ours: Result<Built, String>,
    tilemaker: Option<Result<Built, String>>,
}

pub async fn run(args: TilesArgs) -> anyhow::Result<()> {
    let dir = resolve_dir(args.dir.as_deref())?;
    let files = list_extracts(&dir, &args.files)?;
    let exe = std::env::current_exe().context("locating the benchmark executable")?;
    let gnu_time = gnu_time_available() || {
        crate::apt_install(&["time"], "peak memory (GNU time)").is_ok() && gnu_time_available()
    };
    let config = match &args.tilemaker_config {
        Some(dir) => dir.clone(),
        None => testkit::extracts::find()
            .and_then(|osm| Some(osm.parent()?.parent()?.join("anchors/tilemaker")))
            .unwrap_or_else(|| PathBuf::from("../shared/anchors/tilemaker")),
    };
    let tilemaker = if args.skip_tilemaker {
        None
    } else {
        ensure_tool("tilemaker", "tilemaker")?;
        anyhow::ensure!(
            config.join("config-openmaptiles.json").is_file(),
            "no tilemaker configuration in {} (pass --tilemaker-config)",
            config.display()
        );
        Some(config)
    };
    eprintln!("bench tiles: {} extracts in {}", files.len(), dir.display());
    let mut rows = Vec::new();
    let mut porto_archive = None;
    for (path, input_bytes) in &files {
        let name = file_name(path);
        let work = TempDir::labelled(&format!("tiles-{name}"))?;
        eprintln!("  [{name}] geostack import map");
        let ours = build_ours(&exe, path, &work.0, gnu_time).await;
        if name == args.serve_file
            && let Ok((_, version)) = &ours
        {
            porto_archive = Some((work, version.clone()));
        }
        let tilemaker = match &tilemaker {
            None => None,
            Some(config) => {
                eprintln!("  [{name}] tilemaker");
                Some(
                    build_tilemaker(path, config, gnu_time)
                        .await
                        .map_err(|e| format!("{e:#}")),
                )
            }
        };
        rows.push(Row {
            name,
            input_bytes: *input_bytes,
            ours: ours.map(|(b, _)| b).map_err(|e| format!("{e:#}")),
            tilemaker,
        });
    }
    println!("{}", render_builds(&rows));
    let serving = if args.skip_serving {
        None
    } else {
        let (work, version) = porto_archive
            .with_context(|| format!("{} was not built; nothing to serve", args.serve_file))?;
        Some(serve::compare(&exe, &work.0, &version, &args).await?)
    };
    if let Some(s) = &serving {
        println!("{}", serve::render(s, &args.serve_file));
    }
    println!("{}", render_targets(&rows, serving.as_ref()));
    anyhow::ensure!(
        rows.iter().all(|r| r.ours.is_ok()),
        "our build failed on some extract"
    );
    Ok(())
}

/// Installs a Debian package for a missing tool (as root), or fails naming it.
fn ensure_tool(program: &str, package: &str) -> anyhow::Result<()> {
    let present = || {
        std::process::Command::new(program)
            .arg("--help")
            .output()
            .is_ok()
    };
    if !present() {
        crate::apt_install(&[package], "bench tiles")?;
    }
    anyhow::ensure!(
        present(),
        "{program} is still missing after installing {package}"
    );
    Ok(())
}

async fn build_ours(
    exe: &Path,
    file: &Path,
    work: &Path,
    gnu_time: bool,
) -> anyhow::Result<(Built, String)> {
    let tiles = work.join("tiles");
    let time_file = work.join("time-ours.txt");
    let args: [&OsStr; 7] = [
        crate::SERVER_COMMAND.as_ref(),
        "import".as_ref(),
        "map".as_ref(),
        file.as_os_str(),
        "--tiles".as_ref(),
        tiles.as_os_str(),
        "--json".as_ref(),
    ];
    // A data directory of its own: the pois come from its (empty) database.
    let data = work.join("data");
    let env = [("DATA_DIR", data.as_os_str())];
    let measured = run_measured_with_env(exe, &args, &env, gnu_time, &time_file).await?;
    let line = measured
        .stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("no JSON summary: {}", tail(&measured.stderr, 5)))?;
    let summary: Summary = serde_json::from_str(line).context("parsing the map summary")?;
    eprintln!(
        "    {:.2} s, {} features, {} tiles, version {}",
        measured.wall.as_secs_f64(),
        summary.features,
        summary.tiles.tiles,
        summary.version
    );
    Ok((
        Built {
            wall: measured.wall,
            peak_bytes: measured.peak_bytes,
            tiles: summary.tiles.tiles,
            bytes: summary.tiles.bytes,
            largest_bytes: summary.tiles.largest_bytes,
            largest_note: summary.tiles.largest_tile.unwrap_or_default(),
        },
        summary.version,
    ))
}

async fn build_tilemaker(file: &Path, config: &Path, gnu_time: bool) -> anyhow::Result<Built> {
    let work = TempDir::labelled(&format!("tilemaker-{}", file_name(file)))?;
    let out = work.0.join("tiles");
    let time_file = work.0.join("time.txt");
    let config_json = config.join("config-openmaptiles.json");
    let process = config.join("process-openmaptiles.lua");
    let args: [&OsStr; 8] = [
        "--input".as_ref(),
        file.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
        "--config".as_ref(),
        config_json.as_os_str(),
        "--process".as_ref(),
        process.as_os_str(),
    ];
    // tilemaker looks for the configuration's shapefiles relative to its working directory;
    // there are none here, so those layers stay empty, as for anyone without them.
    let measured = run_measured(Path::new("tilemaker"), &args, gnu_time, &time_file).await?;
    let (mut tiles, mut bytes, mut largest) = (0u64, 0u64, (0u64, String::new()));
    for entry in walk(&out)? {
        let len = std::fs::metadata(&entry)?.len();
        tiles += 1;
        bytes += len;
        if len > largest.0 {
            let rel = entry
                .strip_prefix(&out)
                .unwrap_or(&entry)
                .display()
                .to_string();
            largest = (len, rel);
        }
    }
    anyhow::ensure!(
        tiles > 0,
        "tilemaker wrote no tiles: {}",
        tail(&measured.stderr, 5)
    );
    eprintln!("    {:.2} s, {tiles} tiles", measured.wall.as_secs_f64());
    Ok(Built {
        wall: measured.wall,
        peak_bytes: measured.peak_bytes,
        tiles,
        bytes,
        largest_bytes: largest.0,
        largest_note: format!("{} (gzip)", largest.1.trim_end_matches(".pbf")),
    })
}

/// Every `.pbf` file under `dir`.
fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "pbf") {
                out.push(path);
            }
        }
    }
    Ok(out)
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".into(), |b| format!("{:.0}", b as f64 / MIB))
}

fn render_builds(rows: &[Row]) -> String {
    let mut out = String::from(
        "\nmap tiles, zoom 0-14: ours (import map) vs tilemaker (OpenMapTiles config)\n",
    );
    let _ = writeln!(
        out,
        "{:<22} {:>8} | {:>7} {:>8} {:>7} {:>9} {:>10} | {:>7} {:>8} {:>7} {:>9} {:>10} | {:>7} {:>6}",
        "extract",
        "input MB",
        "ours s",
        "peak MiB",
        "tiles",
        "MB",
        "largest B",
        "tm s",
        "peak MiB",
        "tiles",
        "MB",
        "largest B",
        "speed-x",
        "mem-x"
    );
    for row in rows {
        let mut line = format!("{:<22} {:>8.1} |", row.name, row.input_bytes as f64 / 1e6);
        let cell = |b: &Built| {
            format!(
                " {:>7.2} {:>8} {:>7} {:>9.2} {:>10} |",
                b.wall.as_secs_f64(),
                mib(b.peak_bytes),
                b.tiles,
                b.bytes as f64 / 1e6,
                b.largest_bytes
            )
        };
        match &row.ours {
            Ok(b) => line.push_str(&cell(b)),
            Err(e) => line.push_str(&format!(" failed: {e} |")),
        }
        match &row.tilemaker {
            Some(Ok(b)) => line.push_str(&cell(b)),
            Some(Err(e)) => line.push_str(&format!(" failed: {} |", tail(e, 1))),
            None => line.push_str(" skipped |"),
        }
        if let (Ok(o), Some(Ok(t))) = (&row.ours, &row.tilemaker) {
            let speed = t.wall.as_secs_f64() / o.wall.as_secs_f64().max(1e-9);
            let mem = match (o.peak_bytes, t.peak_bytes) {
                (Some(a), Some(b)) => format!("{:.2}", a as f64 / b as f64),
                _ => "-".into(),
            };
            line.push_str(&format!(" {speed:>7.2} {mem:>6}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(
        "speed-x: tilemaker's time / ours; mem-x: our peak RSS / tilemaker's. Largest tile: ours \
         uncompressed, tilemaker's as stored (gzip).\n",
    );
    for row in rows {
        if let Ok(b) = &row.ours {
            let _ = writeln!(out, "  {}: our largest tile {}", row.name, b.largest_note);
        }
        if let Some(Ok(b)) = &row.tilemaker {
            let _ = writeln!(
                out,
                "  {}: tilemaker's largest tile {}",
                row.name, b.largest_note
            );
        }
    }
    out
}

fn render_targets(rows: &[Row], serving: Option<&serve::Serving>) -> String {
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    let mut out = String::from("\ntargets (map rendering issue)\n");
    let pairs: Vec<(&Built, &Built, &str)> = rows
        .iter()
        .filter_map(|r| match (&r.ours, &r.tilemaker) {
            (Ok(o), Some(Ok(t))) => Some((o, t, r.name.as_str())),
            _ => None,
        })
        .collect();
    if !pairs.is_empty() {
        let slowest = pairs
            .iter()
            .map(|(o, t, n)| (t.wall.as_secs_f64() / o.wall.as_secs_f64().max(1e-9), *n))
            .fold((f64::INFINITY, ""), |a, b| if b.0 < a.0 { b } else { a });
        let _ = writeln!(
            out,
            "  {} build >= 2x faster than tilemaker on every extract (least: {:.2}x, {})",
            verdict(slowest.0 >= 2.0),
            slowest.0,
            slowest.1
        );
        let memory_ok = pairs
            .iter()
            .all(|(o, t, _)| matches!((o.peak_bytes, t.peak_bytes), (Some(a), Some(b)) if a <= b));
        let _ = writeln!(
            out,
            "  {} peak memory no more than tilemaker's on every extract",
            verdict(memory_ok)
        );
    }
    let largest = rows
        .iter()
        .filter_map(|r| r.ours.as_ref().ok())
        .map(|b| b.largest_bytes)
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "  {} largest tile <= 500 KiB (ours: {largest} bytes uncompressed)",
        verdict(largest <= 500 * 1024)
    );
    if let Some(s) = serving {
        let ratio = s.ours.requests_per_s / s.nginx.requests_per_s.max(1e-9);
        let _ = writeln!(
            out,
            "  {} serving >= 80% of nginx's throughput ({:.0}%)",
            verdict(ratio >= 0.8),
            ratio * 100.0
        );
        let _ = writeln!(
            out,
            "  {} serving p99 < 10 ms ({:.2} ms)",
            verdict(s.ours.p99_ms < 10.0),
            s.ours.p99_ms
        );
    }
    out
}
