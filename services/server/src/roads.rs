//! `import roads` and `tiles list|remove|prune`: routing tiles for operators.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use routing::import::{ImportOptions, ImportSummary, Phase};
use routing::{Mode, TileStore};

/// Where tiles live.
#[derive(clap::Args, Debug, Clone)]
pub struct TilesLocation {
    /// Tile storage: a directory, `file:///abs/dir` or `s3://bucket/prefix` (S3 needs a
    /// build with `--features s3`; endpoint and credentials from the `AWS_*` variables).
    /// Defaults to `DATA_DIR/tiles`.
    #[arg(long = "tiles", env = "TILES_URL")]
    pub tiles: Option<String>,
    #[arg(long, env = "DATA_DIR", default_value = "./var")]
    pub data_dir: PathBuf,
}

impl TilesLocation {
    pub fn url(&self) -> String {
        self.tiles
            .clone()
            .unwrap_or_else(|| self.data_dir.join("tiles").display().to_string())
    }

    pub fn open(&self) -> anyhow::Result<TileStore> {
        Ok(TileStore::open(&self.url())?)
    }
}

#[derive(clap::Args, Debug)]
pub struct ImportRoadsArgs {
    /// The OSM file (.osm.pbf, .osm or .osm.gz).
    pub file: PathBuf,
    #[command(flatten)]
    pub location: TilesLocation,
    /// Print the summary as JSON (for scripts and `bench import`).
    #[arg(long)]
    pub json: bool,
    /// Modes to build contraction hierarchies for (exact shortcuts that make plain queries
    /// about 50x faster), comma-separated, or `none`. Seconds per mode on a city; leave
    /// modes out to publish a country sooner.
    #[arg(long, default_value = "driving,cycling,walking", value_parser = parse_modes)]
    pub contract: ModeList,
    /// Tiles only: leave the geocoding table as it is.
    #[arg(long)]
    pub no_geocode: bool,
    /// Routing tiles only: leave the vector map tiles as they are (`import map` builds them
    /// alone).
    #[arg(long)]
    pub no_map: bool,
    /// Database holding the geocoding table (replaced by this file's addresses, places and
    /// streets); defaults to SQLite under `DATA_DIR`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// A comma-separated list of modes, or `none`.
#[derive(Debug, Clone)]
pub struct ModeList(pub Vec<Mode>);

fn parse_modes(s: &str) -> Result<ModeList, String> {
    if s.trim() == "none" {
        return Ok(ModeList(Vec::new()));
    }
    let mut modes = Vec::new();
    for part in s.split(',') {
        let mode: Mode = part
            .trim()
            .parse()
            .map_err(|_| format!("{part:?} is not a mode (driving, cycling, walking or none)"))?;
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    Ok(ModeList(modes))
}

/// Refuses, before the store is even opened, what cannot name one version directory.
fn parse_version_name(s: &str) -> Result<String, String> {
    routing::store::check_version_name(s)
        .map(|()| s.to_string())
        .map_err(|e| e.to_string())
}

#[derive(clap::Subcommand, Debug)]
pub enum TilesCommand {
    /// List stored tile versions (the published one is marked).
    List(TilesLocation),
    /// Remove one version (never the published one).
    Remove {
        /// A name `tiles list` shows.
        #[arg(value_parser = parse_version_name)]
        version: String,
        #[command(flatten)]
        location: TilesLocation,
    },
    /// Remove all but the newest `keep` versions (the published one always stays).
    Prune {
        #[arg(long, default_value_t = 2)]
        keep: usize,
        #[command(flatten)]
        location: TilesLocation,
    },
}

pub async fn import_roads(args: ImportRoadsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.file.exists(), "{} does not exist", args.file.display());
    let store = args.location.open()?;
    let bar = ProgressBar::new(0);
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress_bar = bar.clone();
    let file = args.file.display().to_string();
    let options = ImportOptions {
        contract: args.contract.0.clone(),
    };
    let summary = routing::import::import_roads_with(
        &args.file,
        &store,
        &options,
        move |phase, done, total| {
            progress_bar.set_message(match phase {
                Phase::Reading => format!("reading {file}"),
                Phase::Contracting => "contracting (modes done)".to_string(),
                Phase::Writing => "writing tiles".to_string(),
            });
            progress_bar.set_length(total);
            progress_bar.set_position(done);
        },
    )
    .await
    .with_context(|| format!("importing roads from {}", args.file.display()))?;
    bar.finish_and_clear();
    let geocoding = if args.no_geocode {
        None
    } else {
        let db =
            kit::db::Db::connect(args.database_url.as_deref(), &args.location.data_dir).await?;
        Some(
            navigation::geocode::load_from_osm(&db, &args.file)
                .await
                .context("loading the geocoding table")?,
        )
    };
    let map = if args.no_map {
        None
    } else {
        Some(
            crate::map::build_and_publish(
                &args.file,
                &args.location,
                args.database_url.as_deref(),
                maptiles::BuildOptions::default(),
                !args.json,
            )
            .await?,
        )
    };
    if args.json {
        let mut value = serde_json::to_value(&summary)?;
        if let Some(g) = &geocoding {
            value["geocoding"] = serde_json::json!({"places": g.places, "seconds": g.seconds});
        }
        if let Some(m) = &map {
            value["map"] = serde_json::to_value(m)?;
        }
        println!("{value}");
    } else {
        print_summary(&summary, store.url());
        if let Some(g) = &geocoding {
            println!(
                "geocoding table: {} addresses, places and streets loaded in {:.2} s",
                g.places, g.seconds
            );
        }
        if let Some(m) = &map {
            crate::map::print_summary(m);
        }
    }
    Ok(())
}

fn print_summary(s: &ImportSummary, url: &str) {
    let g = &s.graph;
    println!(
        "read {} nodes, {} ways, {} relations from {} ({:.1} MB)",
        g.osm_nodes,
        g.osm_ways,
        g.osm_relations,
        s.source,
        s.source_bytes as f64 / 1e6
    );
    println!(
        "graph: {} nodes, {} edges, {} forbidden turns from {} restrictions",
        g.graph_nodes, g.graph_edges, g.forbidden_turns, g.restrictions_applied
    );
    println!(
        "skipped: {} ways without two usable nodes, {} ways with missing nodes (split), {} invalid nodes, {} via-way restrictions, {} unresolved and {} malformed restrictions",
        g.ways_skipped,
        g.ways_with_missing_nodes,
        g.invalid_nodes,
        g.restrictions_via_way,
        g.restrictions_unresolved,
        g.restrictions_malformed
    );
    for level in &s.levels {
        println!(
            "level {:<8} {:>6} tiles {:>10} bytes ({}° tiles)",
            level.level.as_str(),
            level.tiles,
            level.bytes,
            level.tile_size_deg
        );
    }
    for c in &s.contracted {
        println!(
            "contraction hierarchy {:<8} {:>8} nodes {:>9} arcs {:>10} bytes",
            c.mode.as_str(),
            c.nodes,
            c.arcs,
            c.bytes
        );
    }
    println!(
        "published version {} to {url}: {:.1} MB of tiles in {:.2} s (read {:.2} s, build {:.2} s, contract {:.2} s, encode {:.2} s, write {:.2} s), peak memory {}",
        s.version,
        s.tile_bytes as f64 / 1e6,
        s.seconds,
        s.read_seconds,
        s.build_seconds,
        s.contract_seconds,
        s.encode_seconds,
        s.write_seconds,
        s.peak_rss_bytes
            .map(|b| format!("{:.0} MiB", b as f64 / 1048576.0))
            .unwrap_or_else(|| "unknown".into())
    );
}

pub async fn tiles(command: TilesCommand) -> anyhow::Result<()> {
    match command {
        TilesCommand::List(location) => {
            let store = location.open()?;
            let versions = store.versions().await?;
            if versions.is_empty() {
                println!("no tile versions in {}", store.url());
            }
            for v in versions {
                println!(
                    "{} {:<32} {:>6} tiles {:>12} bytes  {}",
                    if v.current { "*" } else { " " },
                    v.version,
                    v.tiles.map(|t| t.to_string()).unwrap_or_else(|| "?".into()),
                    v.bytes.map(|b| b.to_string()).unwrap_or_else(|| "?".into()),
                    v.created_at
                        .unwrap_or_else(|| "incomplete (no manifest)".into())
                );
            }
        }
        TilesCommand::Remove { version, location } => {
            let removed = location.open()?.remove(&version).await?;
            println!("removed version {version} ({removed} objects)");
        }
        TilesCommand::Prune { keep, location } => {
            for (version, removed) in location.open()?.prune(keep).await? {
                println!("removed version {version} ({removed} objects)");
            }
        }
    }
    Ok(())
}
