//! Map tile versions in object storage, next to the routing tiles.
//!
//! ```text
//! map/CURRENT                      {"version": "..."}: the published version
//! map/versions/<version>.pmtiles   every tile of the version, one PMTiles v3 archive
//! ```
//!
//! One archive per version rather than one object per tile: a city has tens of thousands of
//! tiles (a country millions), and one immutable object publishes with one upload, is
//! removed with one delete, deduplicates identical tiles (sea, forest) and is read with
//! range requests through a directory the server keeps in memory.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use pmtiles::{AsyncBackend, AsyncPmTilesReader, BackendResponse, HashMapCache, PmtError};
use serde::{Deserialize, Serialize};

const CURRENT: &str = "CURRENT";

#[derive(Debug, thiserror::Error)]
pub enum MapStoreError {
    #[error("object storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("map version {version}: {reason}")]
    Archive { version: String, reason: String },
    #[error("map/CURRENT names {0:?}, which is not a version name")]
    BadCurrent(String),
}

/// Map tiles under `<prefix>/map/` of an object store.
#[derive(Clone, Debug)]
pub struct MapStore {
    store: Arc<dyn ObjectStore>,
    root: Path,
}

#[derive(Serialize, Deserialize)]
struct Pointer {
    version: String,
}

/// Whether `name` can be a version name (what `publish` writes: digits, letters, `-`).
fn is_version_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl MapStore {
    /// The map tiles of the store `store` whose tiles live under `prefix`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &Path) -> MapStore {
        MapStore {
            store,
            root: prefix.clone().join("map"),
        }
    }

    fn archive_path(&self, version: &str) -> Path {
        self.root
            .clone()
            .join("versions")
            .join(format!("{version}.pmtiles"))
    }

    /// The published version, if any.
    pub async fn current_version(&self) -> Result<Option<String>, MapStoreError> {
        let bytes = match self.store.get(&self.root.clone().join(CURRENT)).await {
            Ok(result) => result.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let pointer: Pointer =
            serde_json::from_slice(&bytes).map_err(|e| MapStoreError::BadCurrent(e.to_string()))?;
        if !is_version_name(&pointer.version) {
            return Err(MapStoreError::BadCurrent(pointer.version));
        }
        Ok(Some(pointer.version))
    }

    /// Uploads a finished archive as `version` and makes it the published one.
    pub async fn publish(&self, version: &str, archive: Bytes) -> Result<(), MapStoreError> {
        if !is_version_name(version) {
            return Err(MapStoreError::BadCurrent(version.to_string()));
        }
        self.store
            .put(&self.archive_path(version), PutPayload::from(archive))
            .await?;
        let pointer = serde_json::to_vec(&Pointer {
            version: version.to_string(),
        })
        .expect("json");
        self.store
            .put(&self.root.clone().join(CURRENT), pointer.into())
            .await?;
        Ok(())
    }

    /// Opens a version's archive for reading (header and root directory are read now).
    pub async fn open(&self, version: &str) -> Result<MapArchive, MapStoreError> {
        let path = self.archive_path(version);
        let size = self.store.head(&path).await?.size;
        let backend = StoreBackend {
            store: Arc::clone(&self.store),
            path,
            size,
        };
        let reader = AsyncPmTilesReader::try_from_cached_source(backend, HashMapCache::default())
            .await
            .map_err(|e| MapStoreError::Archive {
                version: version.to_string(),
                reason: e.to_string(),
            })?;
        let metadata = reader.get_metadata().await.unwrap_or_default();
        Ok(MapArchive {
            version: version.to_string(),
            reader,
            metadata,
        })
    }
}

/// Range reads of one archive, clamped to its size (the reader's first read asks for
/// 16 KiB whatever the file holds).
struct StoreBackend {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl AsyncBackend for StoreBackend {
    async fn read(&self, offset: u64, length: usize) -> pmtiles::PmtResult<BackendResponse> {
        let end = offset.saturating_add(length as u64).min(self.size);
        let range: Range<u64> = offset.min(end)..end;
        let bytes = self
            .store
            .get_range(&self.path, range)
            .await
            .map_err(|e| PmtError::Reading(std::io::Error::other(e)))?;
        Ok(BackendResponse::new(bytes))
    }
}

/// One published version, open for reading.
pub struct MapArchive {
    pub version: String,
    reader: AsyncPmTilesReader<StoreBackend, HashMapCache>,
    /// The archive's metadata JSON (`vector_layers`, `attribution`, ...).
    pub metadata: String,
}

impl std::fmt::Debug for MapArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapArchive")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// What the archive's header says about its extent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extent {
    pub min_zoom: u8,
    pub max_zoom: u8,
    /// `(west, south, east, north)` degrees.
    pub bounds: (f64, f64, f64, f64),
    /// `(lon, lat, zoom)`.
    pub center: (f64, f64, u8),
}

impl MapArchive {
    pub fn extent(&self) -> Extent {
        let h = self.reader.get_header();
        Extent {
            min_zoom: h.min_zoom,
            max_zoom: h.max_zoom,
            bounds: (
                h.min_longitude,
                h.min_latitude,
                h.max_longitude,
                h.max_latitude,
            ),
            center: (h.center_longitude, h.center_latitude, h.center_zoom),
        }
    }

    /// A tile's stored (gzip) bytes; `None` when the archive has no such tile.
    pub async fn tile(&self, tile: crate::TileId) -> Result<Option<Bytes>, MapStoreError> {
        let coord = pmtiles::TileCoord::new(tile.z, tile.x, tile.y).map_err(|e| {
            MapStoreError::Archive {
                version: self.version.clone(),
                reason: e.to_string(),
            }
        })?;
        self.reader.get_tile(coord).await.map_err(|e| match e {
            PmtError::Reading(io) => match io.downcast::<object_store::Error>() {
                Ok(store) => MapStoreError::Store(store),
                Err(io) => MapStoreError::Archive {
                    version: self.version.clone(),
                    reason: io.to_string(),
                },
            },
            other => MapStoreError::Archive {
                version: self.version.clone(),
                reason: other.to_string(),
            },
        })
    }
}
