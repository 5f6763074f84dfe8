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

use super::TempDir;

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
fn resolve_dir(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
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

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// The extracts to run with their sizes, smallest first (or the `--files` selection).
fn list_extracts(dir: &Path, wanted: &[String]) -> anyhow::Result<Vec<(PathBuf, u64)>> {
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
fn gnu_time_available() -> bool {
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
struct Measured {
    wall: Duration,
    peak_bytes: Option<u64>,
    stdout: String,
    stderr: String,
}

/// Runs `program args` (under GNU time when `gnu_time`), timing it from spawn to exit; a
/// non-zero exit is an error carrying the tail of its output.
async fn run_measured(
    program: &Path,
    args: &[&OsStr],
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
fn tail(text: &str, n: usize) -> String {
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
        let args: [&OsStr; 10] = [
            crate::SERVER_COMMAND.as_ref(),
            "import".as_ref(),
            "roads".as_ref(),
            file.as_os_str(),
            "--tiles".as_ref(),
            tiles.as_os_str(),
            "--json".as_ref(),
            // Tiles only, as osm2pgrouting builds only the road graph: no geocoding table
            // and no contraction hierarchies.
            "--no-geocode".as_ref(),
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

/// Checks osm2pgrouting, osmium, GNU time and the pgRouting extension for the server's major
/// version; installs the missing Debian packages (as root) in one `apt-get install`.
pub(super) async fn prepare_anchor(url: &str, gnu_time: bool) -> anyhow::Result<AnchorTools> {
    let admin: PgConnectOptions = url.parse().context("parsing --database-url")?;
    let mut conn = super::postgis::connect_admin(&admin).await?;
    let version_num: String = sqlx::query("SHOW server_version_num")
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    let major = version_num
        .trim()
        .parse::<u32>()
        .with_context(|| format!("parsing server_version_num {version_num}"))?
        / 10_000;
    let pgrouting_package = format!("postgresql-{major}-pgrouting");

    let mut missing = Vec::new();
    if !on_path("osm2pgrouting") {
        missing.push("osm2pgrouting".to_string());
    }
    if !on_path("osmium") {
        missing.push("osmium-tool".to_string());
    }
    if !gnu_time {
        missing.push("time".to_string());
    }
    if !pgrouting_available(&mut conn).await? {
        missing.push(pgrouting_package.clone());
    }
    if !missing.is_empty() {
        let missing: Vec<&str> = missing.iter().map(String::as_str).collect();
        super::apt_install(
            &missing,
            "the osm2pgrouting anchor (or pass --skip-osm2pgrouting)",
        )?;
        anyhow::ensure!(
            on_path("osm2pgrouting") && on_path("osmium"),
            "osm2pgrouting or osmium still not on PATH after installing {}",
            missing.join(" ")
        );
        anyhow::ensure!(
            pgrouting_available(&mut conn).await?,
            "the server (PostgreSQL {major}) lists no pgrouting extension after installing \
             {pgrouting_package}; is the server on this machine?"
        );
    }
    drop(conn);

    let mapconfig = find_mapconfig()?;
    let version = Command::new("osm2pgrouting")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&[o.stdout, o.stderr].concat()).into_owned();
            text.lines()
                .find(|l| l.to_lowercase().contains("version"))
                .map(|l| l.trim().trim_start_matches("This is ").to_string())
        })
        .unwrap_or_else(|| "osm2pgrouting (version unknown)".into());
    eprintln!("  anchor: {version}, config {}", mapconfig.display());
    Ok(AnchorTools {
        admin,
        mapconfig,
        version,
    })
}

/// Whether the server offers the pgrouting extension (its files are installed).
async fn pgrouting_available(conn: &mut sqlx::PgConnection) -> anyhow::Result<bool> {
    let n: i64 =
        sqlx::query("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgrouting'")
            .fetch_one(conn)
            .await?
            .try_get(0)?;
    Ok(n > 0)
}

/// osm2pgrouting's `mapconfig.xml`, from the package's file list.
fn find_mapconfig() -> anyhow::Result<PathBuf> {
    if let Ok(output) = Command::new("dpkg").args(["-L", "osm2pgrouting"]).output() {
        let listed = String::from_utf8_lossy(&output.stdout);
        let mut candidates: Vec<&str> = listed
            .lines()
            .filter(|l| l.ends_with("/mapconfig.xml"))
            .collect();
        // The default one, before any variant in a subdirectory.
        candidates.sort_by_key(|l| (*l != MAPCONFIG, l.len()));
        if let Some(found) = candidates.first() {
            return Ok(PathBuf::from(found));
        }
    }
    let default = PathBuf::from(MAPCONFIG);
    anyhow::ensure!(
        default.is_file(),
        "osm2pgrouting's mapconfig.xml not found (not in `dpkg -L osm2pgrouting`, not at {MAPCONFIG})"
    );
    Ok(default)
}

/// osm2pgrouting `runs` times on the extract, each into a fresh database.
async fn run_anchor(
    tools: &AnchorTools,
    file: &Path,
    name: &str,
    runs: usize,
) -> anyhow::Result<AnchorReport> {
    let work = TempDir::labelled("import-anchor")?;
    let (xml, conversion) = to_osm_xml(file, name, &work.0).await?;
    let mut out = Vec::with_capacity(runs);
    for run in 1..=runs {
        eprintln!("  [{name}] osm2pgrouting, run {run}/{runs} (slow)");
        let database = format!("geostack_bench_import_{}", std::process::id());
        super::postgis::create_database(&tools.admin, &database).await?;
        let result = anchor_once(tools, &xml, &database, &work.0).await;
        super::postgis::drop_database(&tools.admin, &database).await;
        let result = result.with_context(|| format!("osm2pgrouting run {run} on {name}"))?;
        eprintln!(
            "  [{name}]   {:.2} s, {} ways rows",
            result.wall.as_secs_f64(),
            result.ways
        );
        out.push(result);
    }
    Ok(AnchorReport {
        conversion,
        runs: out,
    })
}

/// The extract as OSM XML for osm2pgrouting, written into `dir` (unless it already is plain,
/// ordered XML), with a line describing the conversion.
///
/// osm2pgrouting resolves a way's nodes only against nodes it has already read, so a file
/// not ordered by type and id (columbus.osm.pbf has ways before some of their nodes) is
/// converted with `osmium sort` instead of `osmium cat` / `gzip -dc`: otherwise it silently
/// drops those nodes and builds a broken graph (83 vertices for 70,337 ways on Columbus).
pub(super) async fn to_osm_xml(
    file: &Path,
    name: &str,
    dir: &Path,
) -> anyhow::Result<(PathBuf, String)> {
    let stem = name
        .trim_end_matches(".gz")
        .trim_end_matches(".pbf")
        .trim_end_matches(".osm");
    let xml = dir.join(format!("{stem}.osm"));
    let started = Instant::now();
    let ordered = objects_ordered(file).await?;
    let how = if !ordered {
        eprintln!(
            "  [{name}] not ordered by type and id: converting to OSM XML with osmium sort \
             (not timed)"
        );
        osmium([
            "sort".as_ref(),
            file.as_os_str(),
            "-o".as_ref(),
            xml.as_os_str(),
        ])
        .await?;
        "osmium sort (the input is not ordered by type and id, which osm2pgrouting needs)"
    } else if name.ends_with(".pbf") {
        eprintln!("  [{name}] converting to OSM XML with osmium cat (not timed)");
        osmium([
            "cat".as_ref(),
            file.as_os_str(),
            "-o".as_ref(),
            xml.as_os_str(),
        ])
        .await?;
        "osmium cat"
    } else if name.ends_with(".gz") {
        eprintln!("  [{name}] decompressing to OSM XML with gzip -dc (not timed)");
        let target =
            std::fs::File::create(&xml).with_context(|| format!("creating {}", xml.display()))?;
        // Not `output()`: tokio's would replace the file with a pipe.
        let output = tokio::process::Command::new("gzip")
            .arg("-dc")
            .arg(file)
            .stdout(target)
            .stderr(Stdio::piped())
            .spawn()
            .context("running gzip -dc")?
            .wait_with_output()
            .await
            .context("running gzip -dc")?;
        anyhow::ensure!(
            output.status.success(),
            "gzip -dc {} failed ({}): {}",
            file.display(),
            output.status,
            tail(&String::from_utf8_lossy(&output.stderr), 5)
        );
        "gzip -dc"
    } else {
        return Ok((
            file.to_path_buf(),
            "the input is ordered OSM XML already".into(),
        ));
    };
    let seconds = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&xml)
        .with_context(|| format!("reading {}", xml.display()))?
        .len();
    Ok((
        xml,
        format!(
            "{how} to OSM XML ({:.1} MB) in {seconds:.2} s, before and outside the timing",
            bytes as f64 / 1e6
        ),
    ))
}

/// Whether the file's objects are ordered by type and id (`osmium fileinfo -e`).
async fn objects_ordered(file: &Path) -> anyhow::Result<bool> {
    let output = tokio::process::Command::new("osmium")
        .args(["fileinfo", "-e", "-g", "data.objects_ordered"])
        .arg(file)
        .output()
        .await
        .context("running osmium fileinfo")?;
    let answer = String::from_utf8_lossy(&output.stdout).trim().to_string();
    anyhow::ensure!(
        output.status.success() && (answer == "yes" || answer == "no"),
        "osmium fileinfo -e -g data.objects_ordered {} failed ({}): {}{}",
        file.display(),
        output.status,
        answer,
        tail(&String::from_utf8_lossy(&output.stderr), 5)
    );
    Ok(answer == "yes")
}

/// `osmium <args> --overwrite`; a failure carries the tail of its output.
async fn osmium(args: [&OsStr; 4]) -> anyhow::Result<()> {
    let output = tokio::process::Command::new("osmium")
        .args(args)
        .arg("--overwrite")
        .output()
        .await
        .context("running osmium")?;
    anyhow::ensure!(
        output.status.success(),
        "osmium {} failed ({}): {}",
        join_args(&args),
        output.status,
        tail(&String::from_utf8_lossy(&output.stderr), 5)
    );
    Ok(())
}

/// One osm2pgrouting import into `database` (already created).
pub(super) async fn anchor_once(
    tools: &AnchorTools,
    xml: &Path,
    database: &str,
    work: &Path,
) -> anyhow::Result<AnchorRun> {
    let db = tools.admin.clone().database(database);
    let mut conn = db
        .connect()
        .await
        .with_context(|| format!("connecting to {database}"))?;
    super::postgis::create_postgis(&mut conn).await?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pgrouting")
        .execute(&mut conn)
        .await
        .context("CREATE EXTENSION pgrouting")?;

    let port = tools.admin.get_port().to_string();
    let args: [&OsStr; 13] = [
        "--file".as_ref(),
        xml.as_os_str(),
        "--conf".as_ref(),
        tools.mapconfig.as_os_str(),
        "--dbname".as_ref(),
        database.as_ref(),
        "--host".as_ref(),
        tools.admin.get_host().as_ref(),
        "--port".as_ref(),
        port.as_ref(),
        "--username".as_ref(),
        tools.admin.get_username().as_ref(),
        "--clean".as_ref(),
    ];
    let measured = run_measured(
        Path::new("osm2pgrouting"),
        &args,
        true,
        &work.join("time.txt"),
    )
    .await?;
    std::fs::write(
        work.join("osm2pgrouting.log"),
        format!("{}\n{}", measured.stdout, measured.stderr),
    )?;
    let ways: i64 = sqlx::query("SELECT count(*) FROM ways")
        .fetch_one(&mut conn)
        .await
        .with_context(|| {
            format!(
                "counting the ways osm2pgrouting wrote (its output ends: {})",
                tail(&format!("{}\n{}", measured.stdout, measured.stderr), 5)
            )
        })?
        .try_get(0)?;
    let vertices: i64 = sqlx::query("SELECT count(*) FROM ways_vertices_pgr")
        .fetch_one(&mut conn)
        .await
        .context("counting ways_vertices_pgr")?
        .try_get(0)?;
    anyhow::ensure!(
        ways > 0,
        "osm2pgrouting wrote no ways (its output ends: {})",
        tail(&format!("{}\n{}", measured.stdout, measured.stderr), 5)
    );
    Ok(AnchorRun {
        wall: measured.wall,
        peak_bytes: measured.peak_bytes,
        ways,
        vertices,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Figures of one extract, derived from its runs.
struct Figures {
    ours_seconds: Option<f64>,
    ours_peak: Option<u64>,
    tile_bytes: Option<u64>,
    anchor_seconds: Option<f64>,
    anchor_peak: Option<u64>,
}

impl ExtractReport {
    fn figures(&self) -> Figures {
        let ours = self.ours.as_ref().ok();
        let anchor = match &self.anchor {
            Anchor::Done(a) => Some(a),
            _ => None,
        };
        Figures {
            ours_seconds: ours.map(|r| median(r.iter().map(|r| r.wall.as_secs_f64()).collect())),
            ours_peak: ours.and_then(|r| r.iter().filter_map(peak_of).max()),
            tile_bytes: ours.and_then(|r| r.first()).map(|r| r.summary.tile_bytes),
            anchor_seconds: anchor
                .map(|a| median(a.runs.iter().map(|r| r.wall.as_secs_f64()).collect())),
            anchor_peak: anchor.and_then(|a| a.runs.iter().filter_map(|r| r.peak_bytes).max()),
        }
    }

    fn speedup(&self) -> Option<f64> {
        let f = self.figures();
        Some(f.anchor_seconds? / f.ours_seconds?)
    }

    fn is_porto(&self) -> bool {
        self.name.starts_with("porto")
    }
}

/// Peak memory of one of our runs: GNU time's figure, else the child's own VmHWM.
fn peak_of(run: &OursRun) -> Option<u64> {
    run.peak_bytes.or(run.summary.peak_rss_bytes)
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("?".into(), |b| format!("{:.1}", b as f64 / MIB))
}

/// 1234567 -> "1,234,567".
fn thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn secs_list(values: impl Iterator<Item = Duration>) -> String {
    values
        .map(|d| format!("{:.3}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[expect(
    clippy::too_many_lines,
    reason = "the report's layout, one table after another"
)]
fn render_extract(r: &ExtractReport, runs: usize, tools: Option<&AnchorTools>) -> String {
    let mut out = String::new();
    let f = r.figures();
    let _ = writeln!(
        out,
        "\n=== bench import: {} ({} bytes, {:.2} MB) ===",
        r.name,
        thousands(r.input_bytes),
        r.input_bytes as f64 / 1e6
    );
    let anchor_name = tools.map_or("osm2pgrouting".into(), |t| t.version.clone());
    let _ = writeln!(
        out,
        "  {:<34} {:<50} {}",
        "", "geostack import roads", anchor_name
    );
    let row = |out: &mut String, label: &str, ours: String, anchor: String| {
        let _ = writeln!(out, "  {label:<34} {ours:<50} {anchor}");
    };
    let anchor = match &r.anchor {
        Anchor::Done(a) => Ok(a),
        Anchor::Skipped(why) => Err(format!("skipped ({why})")),
        Anchor::Failed(_) => Err("FAILED (see note)".to_string()),
    };
    let runs_ours: &[OursRun] = match &r.ours {
        Ok(runs) => runs,
        Err(err) => {
            let _ = writeln!(out, "  our import FAILED: {err}");
            &[]
        }
    };
    let osm_nodes = runs_ours.first().map(|r| r.summary.graph.osm_nodes);
    row(
        &mut out,
        &format!("median seconds, wall ({runs} run(s))"),
        f.ours_seconds.map_or("-".into(), |s| {
            format!("{s:.3} [{}]", secs_list(runs_ours.iter().map(|r| r.wall)))
        }),
        match &anchor {
            Ok(a) => format!(
                "{:.3} [{}]",
                f.anchor_seconds.unwrap_or(f64::NAN),
                secs_list(a.runs.iter().map(|r| r.wall))
            ),
            Err(e) => e.clone(),
        },
    );
    if !runs_ours.is_empty() {
        let reported =
            |g: fn(&Summary) -> f64| median(runs_ours.iter().map(|r| g(&r.summary)).collect());
        row(
            &mut out,
            "median seconds, reported by import",
            format!(
                "{:.3} (read {:.3}, build {:.3}, encode {:.3}, write {:.3})",
                reported(|s| s.seconds),
                reported(|s| s.read_seconds),
                reported(|s| s.build_seconds),
                reported(|s| s.encode_seconds),
                reported(|s| s.write_seconds)
            ),
            String::new(),
        );
    }
    if let (Some(nodes), Some(s)) = (osm_nodes, f.ours_seconds) {
        row(
            &mut out,
            "OSM nodes read per second (wall)",
            format!(
                "{} ({} nodes)",
                thousands((nodes as f64 / s) as u64),
                thousands(nodes)
            ),
            f.anchor_seconds
                .map_or(String::new(), |a| thousands((nodes as f64 / a) as u64)),
        );
    }
    let self_reported = runs_ours
        .iter()
        .filter_map(|r| r.summary.peak_rss_bytes)
        .max();
    row(
        &mut out,
        "peak RSS MiB (max of runs)",
        if runs_ours.is_empty() {
            "-".into()
        } else {
            format!(
                "{} (GNU time; own VmHWM {})",
                mib(f.ours_peak),
                mib(self_reported)
            )
        },
        if anchor.is_ok() {
            format!("{} (GNU time)", mib(f.anchor_peak))
        } else {
            String::new()
        },
    );
    if let Some(first) = runs_ours.first() {
        let g = &first.summary.graph;
        let rows = match &anchor {
            Ok(a) => a.runs.first().map_or(String::new(), |r| {
                format!(
                    "{} ways rows (edges), {} vertices",
                    thousands(r.ways as u64),
                    thousands(r.vertices as u64)
                )
            }),
            Err(_) => String::new(),
        };
        row(
            &mut out,
            "graph nodes / edges",
            format!(
                "{} / {} ({} OSM ways)",
                thousands(g.graph_nodes),
                thousands(g.graph_edges),
                thousands(g.osm_ways)
            ),
            rows,
        );
        for level in &first.summary.levels {
            row(
                &mut out,
                &format!("tiles {} ({}°)", level.level, level.tile_size_deg),
                format!(
                    "{} tiles, {} bytes",
                    thousands(level.tiles),
                    thousands(level.bytes)
                ),
                String::new(),
            );
        }
        let tb = first.summary.tile_bytes;
        row(
            &mut out,
            "tile bytes (tiles / input)",
            format!(
                "{} ({:.2}x input)",
                thousands(tb),
                tb as f64 / r.input_bytes as f64
            ),
            String::new(),
        );
    }
    if let Some(x) = r.speedup() {
        let _ = writeln!(out, "  {:<34} {x:.1}x", "speed-up (osm2pgrouting / ours)");
    }
    match &r.anchor {
        Anchor::Done(a) => {
            let _ = writeln!(out, "  note: osm2pgrouting input: {}", a.conversion);
        }
        Anchor::Failed(err) => {
            let _ = writeln!(out, "  note: osm2pgrouting failed: {err}");
        }
        Anchor::Skipped(_) => {}
    }
    out
}

fn render_summary(reports: &[ExtractReport]) -> String {
    let mut out = String::from("\n=== bench import: all extracts (median wall seconds) ===\n");
    let _ = writeln!(
        out,
        "  {:<24} {:>9} {:>8} {:>10} {:>8} {:>9} {:>7} {:>9} {:>8} {:>8} {:>8}",
        "extract",
        "input MB",
        "ours s",
        "nodes/s",
        "ours MiB",
        "tiles MB",
        "t/input",
        "o2pgr s",
        "o2pgr MiB",
        "ways",
        "speed-up"
    );
    for r in reports {
        let f = r.figures();
        let nodes = r
            .ours
            .as_ref()
            .ok()
            .and_then(|runs| runs.first())
            .map(|r| r.summary.graph.osm_nodes);
        let ways = match &r.anchor {
            Anchor::Done(a) => a.runs.first().map(|r| thousands(r.ways as u64)),
            _ => None,
        };
        let _ = writeln!(
            out,
            "  {:<24} {:>9.2} {:>8} {:>10} {:>8} {:>9} {:>7} {:>9} {:>8} {:>8} {:>8}",
            r.name,
            r.input_bytes as f64 / 1e6,
            f.ours_seconds
                .map_or("FAILED".into(), |s| format!("{s:.3}")),
            match (nodes, f.ours_seconds) {
                (Some(n), Some(s)) => thousands((n as f64 / s) as u64),
                _ => "-".into(),
            },
            mib(f.ours_peak),
            f.tile_bytes
                .map_or("-".into(), |b| format!("{:.2}", b as f64 / 1e6)),
            f.tile_bytes.map_or("-".into(), |b| format!(
                "{:.2}",
                b as f64 / r.input_bytes as f64
            )),
            match &r.anchor {
                Anchor::Done(_) => f.anchor_seconds.map_or("-".into(), |s| format!("{s:.2}")),
                Anchor::Skipped(_) => "skipped".into(),
                Anchor::Failed(_) => "FAILED".into(),
            },
            mib(f.anchor_peak),
            ways.unwrap_or_else(|| "-".into()),
            r.speedup().map_or("-".into(), |x| format!("{x:.1}x")),
        );
    }
    out.push_str(
        "  (ours: geostack import roads as a child process, wall clock from spawn to exit; \
         osm2pgrouting: wall clock of the import into an empty PostGIS + pgRouting database, \
         XML conversion excluded; peak = max over runs of GNU time's maximum RSS)\n",
    );
    out
}

fn render_targets(reports: &[ExtractReport]) -> String {
    let mut out = String::from("\n=== targets (same run, same machine) ===\n");
    let verdict = |pass: bool| if pass { "PASS" } else { "MISS" };

    // 1. At least 10x faster than osm2pgrouting on every extract.
    let measured: Vec<(&str, f64)> = reports
        .iter()
        .filter_map(|r| Some((r.name.as_str(), r.speedup()?)))
        .collect();
    let unmeasured: Vec<&str> = reports
        .iter()
        .filter(|r| r.speedup().is_none())
        .map(|r| r.name.as_str())
        .collect();
    if measured.is_empty() {
        out.push_str("n/a  >= 10x faster than osm2pgrouting: not measured\n");
    } else {
        let slow: Vec<String> = measured
            .iter()
            .filter(|(_, x)| *x < 10.0)
            .map(|(n, x)| format!("{n} {x:.1}x"))
            .collect();
        let min = measured
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(String::new(), |(n, x)| format!("lowest {x:.1}x on {n}"));
        let _ = write!(
            out,
            "{} >= 10x faster than osm2pgrouting on every extract: {min}",
            verdict(slow.is_empty() && unmeasured.is_empty())
        );
        if !slow.is_empty() {
            let _ = write!(out, "; below 10x: {}", slow.join(", "));
        }
        if !unmeasured.is_empty() {
            let _ = write!(out, "; not measured: {}", unmeasured.join(", "));
        }
        out.push('\n');
    }

    // 2 and 3. Porto under 5 s and under 1 GiB.
    match reports.iter().find(|r| r.is_porto()) {
        None => out.push_str(
            "n/a  Porto imported in < 5 s: porto not in this run\n\
             n/a  Porto peak memory < 1 GiB: porto not in this run\n",
        ),
        Some(porto) => {
            let f = porto.figures();
            match f.ours_seconds {
                Some(s) => {
                    let _ = writeln!(
                        out,
                        "{} Porto imported in < 5 s: {s:.2} s (median wall)",
                        verdict(s < 5.0)
                    );
                }
                None => out.push_str("MISS Porto imported in < 5 s: the import failed\n"),
            }
            match f.ours_peak {
                Some(b) => {
                    let _ = writeln!(
                        out,
                        "{} Porto peak memory < 1 GiB: {:.1} MiB",
                        verdict(b < GIB),
                        b as f64 / MIB
                    );
                }
                None => out.push_str("n/a  Porto peak memory < 1 GiB: not measured\n"),
            }
        }
    }

    // 4. Tiles smaller than the input, per extract.
    let mut bigger = Vec::new();
    let mut worst: Option<(&str, f64)> = None;
    for r in reports {
        match r.figures().tile_bytes {
            Some(b) => {
                let ratio = b as f64 / r.input_bytes as f64;
                if b >= r.input_bytes {
                    bigger.push(format!("{} {ratio:.2}x", r.name));
                }
                if worst.is_none_or(|(_, w)| ratio > w) {
                    worst = Some((r.name.as_str(), ratio));
                }
            }
            None => bigger.push(format!("{} not measured", r.name)),
        }
    }
    let _ = write!(
        out,
        "{} tiles smaller than the input on every extract: {}",
        verdict(bigger.is_empty()),
        worst.map_or("no tiles".into(), |(n, w)| format!(
            "largest ratio {w:.2}x on {n}"
        ))
    );
    if !bigger.is_empty() {
        let _ = write!(out, "; not smaller: {}", bigger.join(", "));
    }
    out.push('\n');
    out
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
