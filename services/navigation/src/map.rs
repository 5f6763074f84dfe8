//! Map tiles for clients: the published map version (PMTiles in the tile store, polled like
//! the routing tiles), a byte-bounded cache of stored (gzip) tiles, and tiles past the
//! deepest built zoom cut from their ancestor.

use std::io::{Read, Write};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use axum::body::Bytes;
use kit::db::Db;
use maptiles::overzoom::{self, MAX_OVERZOOM};
use maptiles::{MapArchive, MapStore, MapStoreError, Poi, TileId};
use sqlx::Row;

/// What a tile request gets.
#[derive(Debug, Clone)]
pub enum TileAnswer {
    /// Stored bytes (gzip) of the published `version`.
    Tile { gzip: Bytes, version: Arc<str> },
    /// Inside the data's bounds and zoom range, but nothing to draw there.
    Empty { version: Arc<str> },
    /// Outside the data (404).
    Outside,
}

/// Why a tile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("no map tiles are published yet")]
    NotPublished,
    #[error(transparent)]
    Store(#[from] MapStoreError),
    #[error("stored tile {tile} is damaged: {reason}")]
    Damaged { tile: TileId, reason: String },
}

pub struct MapTiles {
    store: MapStore,
    current: ArcSwapOption<MapArchive>,
    /// Stored bytes by (version, PMTiles tile id); an empty value is a tile with nothing in
    /// it. Weighed in bytes.
    cache: moka::sync::Cache<(Arc<str>, u64), Bytes>,
    switching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for MapTiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapTiles")
            .field(
                "current",
                &self.current.load().as_ref().map(|a| a.version.clone()),
            )
            .finish_non_exhaustive()
    }
}

impl MapTiles {
    pub fn new(store: MapStore, cache_bytes: u64) -> MapTiles {
        let cache = moka::sync::Cache::builder()
            .max_capacity(cache_bytes)
            .weigher(|(version, _): &(Arc<str>, u64), bytes: &Bytes| {
                u32::try_from(bytes.len() + version.len() + 64).unwrap_or(u32::MAX)
            })
            .build();
        MapTiles {
            store,
            current: ArcSwapOption::empty(),
            cache,
            switching: tokio::sync::Mutex::new(()),
        }
    }

    pub fn store(&self) -> &MapStore {
        &self.store
    }

    /// The version served, if one is published.
    pub fn current(&self) -> Option<Arc<MapArchive>> {
        self.current.load_full()
    }

    /// Switches to the published version if it changed; `true` when it did.
    pub async fn refresh(&self) -> Result<bool, MapStoreError> {
        let _guard = self.switching.lock().await;
        let Some(name) = self.store.current_version().await? else {
            return Ok(false);
        };
        if self.current().is_some_and(|a| a.version == name) {
            return Ok(false);
        }
        let archive = self.store.open(&name).await?;
        self.current.store(Some(Arc::new(archive)));
        self.cache.invalidate_all();
        tracing::info!(version = name, "serving map tile version");
        Ok(true)
    }

    /// A tile of the published version.
    pub async fn tile(&self, tile: TileId) -> Result<TileAnswer, MapError> {
        let archive = self.current().ok_or(MapError::NotPublished)?;
        let extent = archive.extent();
        let version: Arc<str> = Arc::from(archive.version.as_str());
        if tile.z < extent.min_zoom || tile.z > MAX_OVERZOOM || !overlaps(tile, extent.bounds) {
            return Ok(TileAnswer::Outside);
        }
        let key = (Arc::clone(&version), maptiles::build::tile_id(tile));
        let bytes = match self.cache.get(&key) {
            Some(bytes) => bytes,
            None => {
                let bytes = match overzoom::ancestor(tile, extent.max_zoom) {
                    None => archive.tile(tile).await?.unwrap_or_default(),
                    Some(parent) => {
                        let gzip = archive.tile(parent).await?.unwrap_or_default();
                        if gzip.is_empty() {
                            gzip
                        } else {
                            let cut =
                                tokio::task::spawn_blocking(move || cut_gzip(&gzip, parent, tile))
                                    .await
                                    .map_err(|e| MapError::Damaged {
                                        tile,
                                        reason: e.to_string(),
                                    })?;
                            cut.map_err(|reason| MapError::Damaged { tile, reason })?
                        }
                    }
                };
                self.cache.insert(key, bytes.clone());
                bytes
            }
        };
        Ok(if bytes.is_empty() {
            TileAnswer::Empty { version }
        } else {
            TileAnswer::Tile {
                gzip: bytes,
                version,
            }
        })
    }
}

fn cut_gzip(gzip: &[u8], parent: TileId, tile: TileId) -> Result<Bytes, String> {
    let raw = gunzip(gzip)?;
    let cut = overzoom::cut(&raw, parent, tile).map_err(|e| e.to_string())?;
    if maptiles::mvt::decode(&cut).is_ok_and(|t| t.layers.is_empty()) {
        return Ok(Bytes::new());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&cut).map_err(|e| e.to_string())?;
    gz.finish().map(Bytes::from).map_err(|e| e.to_string())
}

/// Decompresses a stored tile (for clients that do not accept gzip).
pub fn gunzip(gzip: &[u8]) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gzip)
        .take(16 << 20)
        .read_to_end(&mut raw)
        .map_err(|e| e.to_string())?;
    Ok(raw)
}

/// Whether a tile touches `(west, south, east, north)`.
fn overlaps(tile: TileId, bounds: (f64, f64, f64, f64)) -> bool {
    let (w, s, e, n) = tile.bounds();
    w <= bounds.2 && e >= bounds.0 && s <= bounds.3 && n >= bounds.1
}

/// The published businesses, for the map's `pois` layer (empty when the table is missing,
/// as when the proximity service's store is elsewhere).
pub async fn published_pois(db: &Db) -> Vec<Poi> {
    let rows = sqlx::query(
        "SELECT id, name, category, latitude, longitude FROM published_businesses ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await;
    match rows {
        Ok(rows) => rows
            .iter()
            .filter_map(|row| {
                Some(Poi {
                    id: row.try_get("id").ok()?,
                    name: row.try_get("name").ok()?,
                    category: row.try_get("category").ok()?,
                    lat: row.try_get("latitude").ok()?,
                    lon: row.try_get("longitude").ok()?,
                })
            })
            .collect(),
        Err(err) => {
            tracing::warn!(error = %err, "reading published businesses for the map; pois left out");
            Vec::new()
        }
    }
}
