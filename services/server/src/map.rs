//! `import map`: vector map tiles from an OSM file, published next to the routing tiles.

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use maptiles::{BuildOptions, MapImportSummary, MapStore};

use crate::roads::TilesLocation;

#[derive(clap::Args, Debug)]
pub struct ImportMapArgs {
    /// The OSM file (.osm.pbf, .osm or .osm.gz).
    pub file: PathBuf,
    #[command(flatten)]
    pub location: TilesLocation,
    /// Print the summary as JSON (for scripts and `bench tiles`).
    #[arg(long)]
    pub json: bool,
    /// Deepest zoom built, 0..=14; clients overzoom past it.
    #[arg(long, default_value_t = maptiles::MAX_ZOOM, value_parser = clap::value_parser!(u8).range(0..=14))]
    pub max_zoom: u8,
    /// Shallowest zoom built.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=14))]
    pub min_zoom: u8,
    /// Database whose published businesses become the `pois` layer; defaults to SQLite under
    /// `DATA_DIR`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

pub async fn import_map(args: ImportMapArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.file.exists(), "{} does not exist", args.file.display());
    anyhow::ensure!(
        args.min_zoom <= args.max_zoom,
        "--min-zoom {} is deeper than --max-zoom {}",
        args.min_zoom,
        args.max_zoom
    );
    let options = BuildOptions {
        min_zoom: args.min_zoom,
        max_zoom: args.max_zoom,
        ..BuildOptions::default()
    };
    let summary = build_and_publish(
        &args.file,
        &args.location,
        args.database_url.as_deref(),
        options,
        !args.json,
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

/// Builds the map of `file` with a progress bar (when `show_progress`) and publishes it.
pub async fn build_and_publish(
    file: &Path,
    location: &TilesLocation,
    database_url: Option<&str>,
    options: BuildOptions,
    show_progress: bool,
) -> anyhow::Result<MapImportSummary> {
    let tiles = location.open()?;
    let (objects, prefix) = tiles.location();
    let store = MapStore::new(objects, prefix);
    let db = kit::db::Db::connect(database_url, &location.data_dir).await?;
    let pois = navigation::map::published_pois(&db).await;
    let bar = ProgressBar::new(0);
    if !show_progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress_bar = bar.clone();
    let summary = maptiles::import_map(file, pois, &store, options, move |phase, done, total| {
        progress_bar.set_message(match phase {
            "tiling" => "map tiles: zooms done".to_string(),
            other => format!("map tiles: reading {other}"),
        });
        progress_bar.set_length(total);
        progress_bar.set_position(done);
    })
    .await
    .with_context(|| format!("building map tiles from {}", file.display()))?;
    bar.finish_and_clear();
    Ok(summary)
}

pub fn print_summary(s: &MapImportSummary) {
    println!(
        "map tiles: {} features, zoom {}-{}: {} tiles, {:.1} MB gzip ({:.1} MB raw), largest {} bytes ({}), {} tiles reduced to fit; archive {:.1} MB; version {} published in {:.1} s",
        s.features,
        s.min_zoom,
        s.max_zoom,
        s.tiles.tiles,
        s.tiles.bytes as f64 / 1e6,
        s.tiles.raw_bytes as f64 / 1e6,
        s.tiles.largest_bytes,
        s.tiles.largest_tile.as_deref().unwrap_or("-"),
        s.tiles.reduced,
        s.archive_bytes as f64 / 1e6,
        s.version,
        s.seconds
    );
    if s.incomplete > 0 {
        println!(
            "map tiles: {} ways or relations left out (nodes missing from the file)",
            s.incomplete
        );
    }
}
