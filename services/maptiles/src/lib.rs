//! Vector map tiles: Mapbox Vector Tile 2.1, zoom 0 to 14, built from the same OSM files the
//! routing tiles come from and published as one PMTiles archive per version in the object
//! store.
//!
//! - [`source`] reads an extract into [`features::MapFeature`]s (three streaming passes);
//! - [`build`] cuts them into tiles per zoom (simplify, clip with a buffer, quantise, fit
//!   under 500 KiB);
//! - [`store`] keeps versions and serves tiles from them by range reads;
//! - [`mvt`] is the wire format, with a checking decoder.

pub mod build;
pub mod features;
pub mod geometry;
pub mod glyphs;
pub mod live;
pub mod mercator;
pub mod mvt;
pub mod overzoom;
pub mod source;
pub mod sprite;
pub mod store;
pub mod style;

use std::fs::File;
use std::path::Path;
use std::time::Instant;

pub use build::{BuildOptions, MAX_TILE_BYTES, TileStats};
pub use features::Layer;
pub use mercator::{MAX_ZOOM, TileId};
pub use source::Poi;
pub use store::{Extent, MapArchive, MapStore, MapStoreError};

/// The attribution every map drawn from these tiles must show (ODbL).
pub const ATTRIBUTION: &str = "© OpenStreetMap contributors";

#[derive(Debug, thiserror::Error)]
pub enum MapImportError {
    #[error("reading the OSM file: {0}")]
    Osm(#[from] osm::Error),
    #[error("writing the archive: {0}")]
    Archive(String),
    #[error("the file has nothing to draw")]
    Empty,
    #[error(transparent)]
    Store(#[from] MapStoreError),
}

/// What an import built.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MapImportSummary {
    pub version: String,
    pub features: u64,
    pub incomplete: u64,
    pub min_zoom: u8,
    pub max_zoom: u8,
    pub tiles: TileStats,
    /// Bytes of the archive (tiles deduplicated, plus directories).
    pub archive_bytes: u64,
    pub seconds: f64,
}

/// The TileJSON `vector_layers` of our tiles (also written into the archive's metadata).
pub fn vector_layers(max_zoom: u8) -> serde_json::Value {
    Layer::ALL
        .iter()
        .map(|layer| {
            let fields: serde_json::Map<String, serde_json::Value> = layer
                .fields()
                .iter()
                .map(|(k, t)| ((*k).to_string(), serde_json::Value::from(*t)))
                .collect();
            serde_json::json!({
                "id": layer.name(),
                "fields": fields,
                "minzoom": layer.min_zoom().min(max_zoom),
                "maxzoom": max_zoom,
            })
        })
        .collect()
}

/// Builds the tiles of an OSM file into a PMTiles archive at `out`; `progress(phase, done,
/// total)` reports reading (bytes) and tiling (zooms).
pub fn build_archive(
    osm_file: &Path,
    pois: &[Poi],
    options: &BuildOptions,
    out: &Path,
    mut progress: impl FnMut(&str, u64, u64),
) -> Result<BuiltArchive, MapImportError> {
    let extract = source::read_extract(osm_file, pois, &mut progress)?;
    let (west, south, east, north) = extract.bounds.ok_or(MapImportError::Empty)?;
    let archive_error = |e: pmtiles::PmtError| MapImportError::Archive(e.to_string());
    let file = File::create(out).map_err(|e| MapImportError::Archive(e.to_string()))?;
    let metadata = serde_json::json!({
        "name": "geostack",
        "format": "pbf",
        "attribution": ATTRIBUTION,
        "vector_layers": vector_layers(options.max_zoom),
    });
    let center_zoom = options.max_zoom.min(12).max(options.min_zoom);
    let mut writer = pmtiles::PmTilesWriter::new(pmtiles::TileType::Mvt)
        .precompressed(pmtiles::Compression::Gzip)
        .min_zoom(options.min_zoom)
        .max_zoom(options.max_zoom)
        .bounds(west, south, east, north)
        .center((west + east) / 2.0, (south + north) / 2.0)
        .center_zoom(center_zoom)
        .metadata(metadata.to_string())
        .create(file)
        .map_err(archive_error)?;
    let zooms = u64::from(options.max_zoom - options.min_zoom) + 1;
    let stats = build::build_tiles(&extract.features, options, |tile, bytes| {
        progress("tiling", u64::from(tile.z - options.min_zoom), zooms);
        let coord = pmtiles::TileCoord::new(tile.z, tile.x, tile.y)?;
        writer.add_tile(coord, bytes)
    })
    .map_err(archive_error)?;
    writer.finalize().map_err(archive_error)?;
    progress("tiling", zooms, zooms);
    let bytes = std::fs::metadata(out)
        .map_err(|e| MapImportError::Archive(e.to_string()))?
        .len();
    Ok(BuiltArchive {
        tiles: stats,
        features: extract.features.len() as u64,
        incomplete: extract.incomplete,
        archive_bytes: bytes,
    })
}

/// What [`build_archive`] wrote.
#[derive(Debug, Clone)]
pub struct BuiltArchive {
    pub tiles: TileStats,
    pub features: u64,
    /// Ways and relations left out because the file lacks some of their nodes.
    pub incomplete: u64,
    pub archive_bytes: u64,
}

/// Builds and publishes a new map version from an OSM file.
pub async fn import_map(
    osm_file: &Path,
    pois: Vec<Poi>,
    store: &MapStore,
    options: BuildOptions,
    progress: impl FnMut(&str, u64, u64) + Send + 'static,
) -> Result<MapImportSummary, MapImportError> {
    let started = Instant::now();
    let dir = tempfile::tempdir().map_err(|e| MapImportError::Archive(e.to_string()))?;
    let out = dir.path().join("map.pmtiles");
    let (file, out_path) = (osm_file.to_path_buf(), out.clone());
    let built = tokio::task::spawn_blocking(move || {
        build_archive(&file, &pois, &options, &out_path, progress)
    })
    .await
    .map_err(|e| MapImportError::Archive(e.to_string()))??;
    let bytes = tokio::fs::read(&out)
        .await
        .map_err(|e| MapImportError::Archive(e.to_string()))?;
    let version = format!(
        "{}-{:08x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ"),
        crc32fast::hash(&bytes)
    );
    store.publish(&version, bytes.into()).await?;
    Ok(MapImportSummary {
        version,
        features: built.features,
        incomplete: built.incomplete,
        min_zoom: options.min_zoom,
        max_zoom: options.max_zoom,
        tiles: built.tiles,
        archive_bytes: built.archive_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}
