//! `bench import`: `import roads` on every OSM extract of a directory, against osm2pgrouting
//! importing the same file into pgRouting in the same run.
//!
//! Our importer runs as a child process (`<this exe> import roads <file> --tiles <temp dir>
//! --json`), so its peak memory is its own; the bench times it from spawn to exit and reads
//! the one JSON summary line it prints. osm2pgrouting reads only OSM XML: each PBF is
//! converted with `osmium cat` (and `.osm.gz` decompressed) before any timing, and each run
//! imports into a fresh database with PostGIS and pgRouting, dropped after the run. Both
//! programs run under GNU time, whose `%M` (the kernel's maximum resident set size of the
//! child) is the peak memory reported for both.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Row};

use crate::TempDir;

mod anchor;
mod report;

pub(crate) use self::anchor::*;
use self::report::*;

/// Where GNU time lives on Debian (package `time`).
const GNU_TIME: &str = "/usr/bin/time";
/// Where the Debian package puts osm2pgrouting's default configuration.
const MAPCONFIG: &str = "/usr/share/osm2pgrouting/mapconfig.xml";
const MIB: f64 = 1024.0 * 1024.0;
const GIB: u64 = 1024 * 1024 * 1024;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Directory of OSM extracts (`.osm.pbf`, `.osm`, `.osm.gz`). Default:
    /// `../shared/data/osm`, or `data/` when that does not exist.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Comma-separated file names in the directory to run (default: every extract).
    #[arg(long, value_delimiter = ',')]
    pub files: Vec<String>,
    /// Runs per extract and program; the median time is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Run only our importer (no osm2pgrouting, no database).
    #[arg(long)]
    pub skip_osm2pgrouting: bool,
    /// PostgreSQL admin connection; the bench creates and drops one database per
    /// osm2pgrouting run on that server (osm2pgrouting connects with the same host, port and
    /// user; a password, if needed, goes in `PGPASSWORD`).
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub database_url: String,
}

/// The fields of `routing::import::ImportSummary` the bench reads (from the child's JSON).
#[derive(serde::Deserialize, Debug, Clone)]
struct Summary {
    version: String,
    graph: GraphCounts,
    levels: Vec<LevelCounts>,
    tile_bytes: u64,
    seconds: f64,
    read_seconds: f64,
    build_seconds: f64,
    encode_seconds: f64,
    write_seconds: f64,
    peak_rss_bytes: Option<u64>,
}

#[derive(serde::Deserialize, Debug, Clone)]
struct GraphCounts {
    osm_nodes: u64,
    osm_ways: u64,
    graph_nodes: u64,
    graph_edges: u64,
}

#[derive(serde::Deserialize, Debug, Clone)]
struct LevelCounts {
    level: String,
    tile_size_deg: f64,
    tiles: u64,
    bytes: u64,
}

/// One run of our importer.
struct OursRun {
    wall: Duration,
    /// GNU time's maximum resident set size, bytes.
    peak_bytes: Option<u64>,
    summary: Summary,
}

/// One run of osm2pgrouting.
pub(super) struct AnchorRun {
    wall: Duration,
    peak_bytes: Option<u64>,
    pub(super) ways: i64,
    pub(super) vertices: i64,
}

struct AnchorReport {
    /// What was converted, how, and how long it took (not part of the timing).
    conversion: String,
    runs: Vec<AnchorRun>,
}

enum Anchor {
    Skipped(String),
    Failed(String),
    Done(AnchorReport),
}

struct ExtractReport {
    name: String,
    input_bytes: u64,
    ours: Result<Vec<OursRun>, String>,
    anchor: Anchor,
}

/// Tools for the osm2pgrouting anchor, checked (and installed) once per bench.
pub(super) struct AnchorTools {
    pub(super) admin: PgConnectOptions,
    mapconfig: PathBuf,
    pub(super) version: String,
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let dir = resolve_dir(args.dir.as_deref())?;
    let files = list_extracts(&dir, &args.files)?;
    let exe = std::env::current_exe().context("locating the geostack executable")?;
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into());
    eprintln!(
        "bench import: {} extracts in {}, {} run(s) each, load average {load_average}",
        files.len(),
        dir.display(),
        args.runs
    );

    let mut gnu_time = gnu_time_available();
    let tools = if args.skip_osm2pgrouting {
        None
    } else {
        let tools = prepare_anchor(&args.database_url, gnu_time)
            .await
            .context("preparing the osm2pgrouting anchor (or pass --skip-osm2pgrouting)")?;
        gnu_time = gnu_time_available();
        Some(tools)
    };

    let mut reports = Vec::new();
    for (path, input_bytes) in &files {
        let name = file_name(path);
        let ours = run_ours(&exe, path, &name, args.runs, gnu_time).await;
        if let Err(err) = &ours {
            eprintln!("  [{name}] our import failed: {err:#}");
        }
        let anchor = match &tools {
            None => Anchor::Skipped("--skip-osm2pgrouting".into()),
            Some(tools) => match run_anchor(tools, path, &name, args.runs).await {
                Ok(report) => Anchor::Done(report),
                Err(err) => {
                    eprintln!("  [{name}] osm2pgrouting failed: {err:#}");
                    Anchor::Failed(format!("{err:#}"))
                }
            },
        };
        let report = ExtractReport {
            name,
            input_bytes: *input_bytes,
            ours: ours.map_err(|e| format!("{e:#}")),
            anchor,
        };
        println!("{}", render_extract(&report, args.runs, tools.as_ref()));
        reports.push(report);
    }

    println!("{}", render_summary(&reports));
    println!("{}", render_targets(&reports));
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| r.ours.is_err())
        .map(|r| r.name.as_str())
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "our importer failed on {}",
        failed.join(", ")
    );
    Ok(())
}

/// `--dir`, or `../shared/data/osm`, or `data/`.
pub(crate) fn resolve_dir(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = dir {
        anyhow::ensure!(dir.is_dir(), "--dir {} is not a directory", dir.display());
        return Ok(dir.to_path_buf());
    }
    if let Some(shared) = testkit::extracts::find() {
        return Ok(shared);
    }
    let data = PathBuf::from("data");
    if data.is_dir() {
        eprintln!("the shared extracts (../shared/data/osm) are not here; using data/");
        return Ok(data);
    }
    let cwd = std::env::current_dir().map_or_else(|_| "?".into(), |d| d.display().to_string());
    anyhow::bail!("neither ../shared/data/osm nor data/ exists under {cwd}; pass --dir")
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// The extracts to run with their sizes, smallest first (or the `--files` selection).
pub(crate) fn list_extracts(dir: &Path, wanted: &[String]) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if testkit::extracts::is_extract(&name) && entry.file_type()?.is_file() {
            found.push((entry.path(), entry.metadata()?.len()));
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let available = || {
        found
            .iter()
            .map(|(p, _)| file_name(p))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !wanted.is_empty() {
        for name in wanted {
            anyhow::ensure!(
                found.iter().any(|(p, _)| file_name(p) == *name),
                "--files: no extract {name} in {} (available: {})",
                dir.display(),
                available()
            );
        }
        found.retain(|(p, _)| wanted.contains(&file_name(p)));
    }
    anyhow::ensure!(
        !found.is_empty(),
        "no OSM extracts (.osm.pbf, .osm, .osm.gz) in {}",
        dir.display()
    );
    Ok(found)
}

/// Whether `/usr/bin/time` is GNU time (which supports `-f %M -o file`).
pub(crate) fn gnu_time_available() -> bool {
    Command::new(GNU_TIME)
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            let text = [o.stdout, o.stderr].concat();
            String::from_utf8_lossy(&text).contains("GNU")
        })
}

/// Whether `program` is an executable file in a `PATH` directory.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// What a measured child did.
pub(crate) struct Measured {
    pub(crate) wall: Duration,
    pub(crate) peak_bytes: Option<u64>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `program args` (under GNU time when `gnu_time`), timing it from spawn to exit; a
/// non-zero exit is an error carrying the tail of its output.
pub(crate) async fn run_measured(
    program: &Path,
    args: &[&OsStr],
    gnu_time: bool,
    time_file: &Path,
) -> anyhow::Result<Measured> {
    run_measured_with_env(program, args, &[], gnu_time, time_file).await
}

/// [`run_measured`] with extra environment variables for the child.
pub(crate) async fn run_measured_with_env(
    program: &Path,
    args: &[&OsStr],
    env: &[(&str, &OsStr)],
    gnu_time: bool,
    time_file: &Path,
) -> anyhow::Result<Measured> {
    let mut command = if gnu_time {
        let mut c = tokio::process::Command::new(GNU_TIME);
        c.arg("-f").arg("%M").arg("-o").arg(time_file).arg(program);
        c
    } else {
        tokio::process::Command::new(program)
    };
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let shown = format!("{} {}", program.display(), join_args(args));
    let started = Instant::now();
    let output = command
        .output()
        .await
        .with_context(|| format!("starting {shown}"))?;
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        anyhow::bail!(
            "{shown} failed ({}): {}",
            output.status,
            tail(&format!("{stdout}\n{stderr}"), 8)
        );
    }
    // GNU time writes "%M" (KiB) as the last line of its output file.
    let peak_bytes = if gnu_time {
        let text = std::fs::read_to_string(time_file)
            .with_context(|| format!("reading GNU time's output {}", time_file.display()))?;
        text.lines()
            .rev()
            .find_map(|l| l.trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    } else {
        None
    };
    Ok(Measured {
        wall,
        peak_bytes,
        stdout,
        stderr,
    })
}

fn join_args(args: &[&OsStr]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `n` non-empty lines of `text`, joined with " / ".
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// `import roads` `runs` times, each into a fresh tile directory.
async fn run_ours(
    exe: &Path,
    file: &Path,
    name: &str,
    runs: usize,
    gnu_time: bool,
) -> anyhow::Result<Vec<OursRun>> {
    let mut out = Vec::with_capacity(runs);
    for run in 1..=runs {
        eprintln!("  [{name}] geostack import roads, run {run}/{runs}");
        let work = TempDir::labelled(&format!("import-ours-{run}"))?;
        let tiles = work.0.join("tiles");
        let time_file = work.0.join("time.txt");
        let args: [&OsStr; 11] = [
            crate::SERVER_COMMAND.as_ref(),
            "import".as_ref(),
            "roads".as_ref(),
            file.as_os_str(),
            "--tiles".as_ref(),
            tiles.as_os_str(),
            "--json".as_ref(),
            // Tiles only, as osm2pgrouting builds only the road graph: no geocoding table,
            // no map tiles and no contraction hierarchies.
            "--no-geocode".as_ref(),
            "--no-map".as_ref(),
            "--contract".as_ref(),
            "none".as_ref(),
        ];
        let measured = run_measured(exe, &args, gnu_time, &time_file)
            .await
            .with_context(|| format!("importing {name} with geostack import roads"))?;
        let line = measured
            .stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .with_context(|| {
                format!(
                    "geostack import roads printed no JSON summary for {name}: {}",
                    tail(&format!("{}\n{}", measured.stdout, measured.stderr), 5)
                )
            })?;
        let summary: Summary = serde_json::from_str(line)
            .with_context(|| format!("parsing the import summary of {name}: {line}"))?;
        eprintln!(
            "  [{name}]   {:.2} s wall ({:.2} s reported), version {}",
            measured.wall.as_secs_f64(),
            summary.seconds,
            summary.version
        );
        out.push(OursRun {
            wall: measured.wall,
            peak_bytes: measured.peak_bytes,
            summary,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(3_170_430), "3,170,430");
    }

    #[test]
    fn parses_the_import_summary() {
        let line = r#"{"version":"v1","source":"x.osm.pbf","source_bytes":10,
            "graph":{"osm_nodes":5,"osm_ways":2,"osm_relations":0,"graph_nodes":3,
            "graph_edges":4,"forbidden_turns":0},
            "levels":[{"level":"local","tile_size_deg":0.0078125,"tiles":2,"bytes":99}],
            "tile_bytes":99,"seconds":0.5,"read_seconds":0.2,"build_seconds":0.2,
            "encode_seconds":0.05,"write_seconds":0.1,"peak_rss_bytes":null}"#;
        let s: Summary = serde_json::from_str(line).unwrap();
        assert_eq!(s.graph.graph_edges, 4);
        assert_eq!(s.levels[0].level, "local");
        assert_eq!(s.peak_rss_bytes, None);
    }

    #[test]
    fn extract_names() {
        assert!(testkit::extracts::is_extract("porto.osm.pbf"));
        assert!(testkit::extracts::is_extract("north-bayreuth.osm.gz"));
        assert!(testkit::extracts::is_extract("a.osm"));
        assert!(!testkit::extracts::is_extract("README.md"));
    }
}
