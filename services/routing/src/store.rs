//! Tile versions in object storage (a local directory by default, S3-compatible storage by
//! URL).
//!
//! Layout under the configured prefix:
//!
//! ```text
//! CURRENT                                  {"version": "..."}: the published version
//! versions/<version>/manifest.json         what the version holds (written after the tiles)
//! versions/<version>/tiles/<level>/<id>.gst
//! versions/<version>/ch/<mode>.bin         contraction hierarchy per mode (optional)
//! ```
//!
//! A build writes every tile, then the manifest, then switches `CURRENT` with one put, so a
//! reader following `CURRENT` never sees a half-written version. Readers poll `CURRENT` to
//! switch versions without a restart.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::ch::Contracted;
use crate::ids::Level;
use crate::mode::Mode;
use crate::tile::{Tile, TileError};

const CURRENT: &str = "CURRENT";
const VERSIONS: &str = "versions";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("tile storage URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("tile storage: {0}")]
    Storage(#[from] object_store::Error),
    #[error("tile {level}/{id} of version {version}: {source}")]
    Tile {
        version: String,
        level: &'static str,
        id: u32,
        source: TileError,
    },
    #[error("{mode} hierarchy of version {version}: {reason}")]
    Contracted {
        version: String,
        mode: Mode,
        reason: String,
    },
    #[error("manifest of version {version} is unreadable: {reason}")]
    Manifest { version: String, reason: String },
    #[error("version {0} is not stored here")]
    NoSuchVersion(String),
    #[error("version {0} is the published one; publish another before removing it")]
    RemovingCurrent(String),
}

/// Per-level totals in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelSummary {
    pub level: Level,
    pub tile_size_deg: f64,
    pub tiles: u64,
    pub bytes: u64,
}

/// One tile's entry in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TileEntry {
    pub level: Level,
    pub id: u32,
    pub bytes: u64,
    pub crc32: u32,
}

/// A stored contraction hierarchy's entry in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractedEntry {
    pub mode: Mode,
    pub bytes: u64,
    pub crc32: u32,
    pub nodes: u64,
    pub arcs: u64,
}

/// What a version holds; written after its tiles, read by the router to know what exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u16,
    pub version: String,
    pub created_at: String,
    /// The OSM file the version was built from.
    pub source: String,
    pub source_bytes: u64,
    pub nodes: u64,
    pub edges: u64,
    pub forbidden_turns: u64,
    /// (south, west, north, east) of the graph's nodes.
    pub bbox: [f64; 4],
    pub levels: Vec<LevelSummary>,
    pub tiles: Vec<TileEntry>,
    /// The build's full report (counts of everything skipped).
    pub report: serde_json::Value,
    /// Per mode name, an upper bound on edge speeds (km/h): keeps A* admissible without
    /// reading every tile. Absent in older manifests.
    #[serde(default)]
    pub max_speed_kmh: std::collections::BTreeMap<String, f64>,
    /// Modes with a contraction hierarchy (exact shortcuts for plain queries). Absent in
    /// older manifests, and for modes the import was told not to contract.
    #[serde(default)]
    pub contracted: Vec<ContractedEntry>,
}

/// A tile ready to store.
#[derive(Debug, Clone)]
pub struct EncodedTile {
    pub level: Level,
    pub id: u32,
    pub bytes: Vec<u8>,
}

/// A contraction hierarchy ready to store.
#[derive(Debug, Clone)]
pub struct EncodedHierarchy {
    pub mode: Mode,
    pub bytes: Vec<u8>,
}

/// A stored version, for listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionInfo {
    pub version: String,
    pub current: bool,
    pub created_at: Option<String>,
    pub tiles: Option<u64>,
    pub bytes: Option<u64>,
}

/// Routing tiles in one object store under one prefix.
#[derive(Clone, Debug)]
pub struct TileStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    /// The directory, for a local store: deleting objects leaves their directories behind.
    local_root: Option<std::path::PathBuf>,
}

impl TileStore {
    /// `s3://bucket/prefix` (with the `s3` feature; credentials and endpoint from the usual
    /// `AWS_*` variables), `memory://` (tests), `file:///abs/dir` or a plain directory path
    /// (created if missing).
    pub fn open(url: &str) -> Result<TileStore, StoreError> {
        Self::open_with_options(url, std::iter::empty::<(String, String)>())
    }

    /// Like [`TileStore::open`], with S3 settings given as `aws_*` keys (`aws_endpoint`,
    /// `aws_allow_http`, `aws_access_key_id`, ...) on top of the environment's.
    pub fn open_with_options(
        url: &str,
        options: impl IntoIterator<Item = (String, String)>,
    ) -> Result<TileStore, StoreError> {
        let bad = |reason: String| StoreError::Url {
            url: url.to_string(),
            reason,
        };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket name".into()));
            }
            return Self::open_s3(url, bucket, prefix, options.into_iter().collect());
        }
        if url == "memory://" {
            return Ok(TileStore {
                store: Arc::new(object_store::memory::InMemory::new()),
                prefix: Path::default(),
                url: url.to_string(),
                local_root: None,
            });
        }
        if url.contains("://") && !url.starts_with("file://") {
            return Err(bad("expected a directory, file:// or s3:// URL".into()));
        }
        let dir = url.strip_prefix("file://").unwrap_or(url);
        std::fs::create_dir_all(dir)
            .map_err(|e| bad(format!("cannot create the directory: {e}")))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| bad(e.to_string()))?;
        Ok(TileStore {
            store: Arc::new(store),
            prefix: Path::default(),
            url: url.to_string(),
            local_root: Some(dir.into()),
        })
    }

    #[cfg(feature = "s3")]
    fn open_s3(
        url: &str,
        bucket: &str,
        prefix: &str,
        options: Vec<(String, String)>,
    ) -> Result<TileStore, StoreError> {
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (key, value) in options {
            let key: object_store::aws::AmazonS3ConfigKey =
                key.parse()
                    .map_err(|e: object_store::Error| StoreError::Url {
                        url: url.to_string(),
                        reason: e.to_string(),
                    })?;
            builder = builder.with_config(key, value);
        }
        let store = builder.build().map_err(|e| StoreError::Url {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        Ok(TileStore {
            store: Arc::new(store),
            prefix: Path::from(prefix.trim_matches('/')),
            url: url.to_string(),
            local_root: None,
        })
    }

    #[cfg(not(feature = "s3"))]
    fn open_s3(
        url: &str,
        _bucket: &str,
        _prefix: &str,
        _options: Vec<(String, String)>,
    ) -> Result<TileStore, StoreError> {
        Err(StoreError::Url {
            url: url.to_string(),
            reason: "this build has no S3 support: rebuild with `--features s3`".into(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, rest: &str) -> Path {
        let mut path = self.prefix.clone();
        for part in rest.split('/') {
            path = path.join(part);
        }
        path
    }

    fn version_dir(&self, version: &str) -> Path {
        self.path(&format!("{VERSIONS}/{version}"))
    }

    pub fn tile_path(&self, version: &str, level: Level, id: u32) -> Path {
        self.path(&format!(
            "{VERSIONS}/{version}/tiles/{}/{id}.gst",
            level.as_str()
        ))
    }

    pub fn contracted_path(&self, version: &str, mode: Mode) -> Path {
        self.path(&format!("{VERSIONS}/{version}/ch/{}.bin", mode.as_str()))
    }

    async fn get_optional(&self, path: &Path) -> Result<Option<bytes::Bytes>, StoreError> {
        match self.store.get(path).await {
            Ok(result) => Ok(Some(result.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The published version's name, if any.
    pub async fn current_version(&self) -> Result<Option<String>, StoreError> {
        #[derive(Deserialize)]
        struct Pointer {
            version: String,
        }
        let Some(bytes) = self.get_optional(&self.path(CURRENT)).await? else {
            return Ok(None);
        };
        let pointer: Pointer =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Manifest {
                version: CURRENT.into(),
                reason: e.to_string(),
            })?;
        Ok(Some(pointer.version))
    }

    /// The published version's manifest, if any.
    pub async fn current(&self) -> Result<Option<Manifest>, StoreError> {
        match self.current_version().await? {
            Some(v) => self.manifest(&v).await.map(Some),
            None => Ok(None),
        }
    }

    pub async fn manifest(&self, version: &str) -> Result<Manifest, StoreError> {
        let path = self.path(&format!("{VERSIONS}/{version}/manifest.json"));
        let bytes = self
            .get_optional(&path)
            .await?
            .ok_or_else(|| StoreError::NoSuchVersion(version.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Manifest {
            version: version.to_string(),
            reason: e.to_string(),
        })
    }

    /// Loads and validates one tile; `None` when the version has no such tile.
    pub async fn load_tile(
        &self,
        version: &str,
        level: Level,
        id: u32,
    ) -> Result<Option<Tile>, StoreError> {
        let Some(bytes) = self
            .get_optional(&self.tile_path(version, level, id))
            .await?
        else {
            return Ok(None);
        };
        Tile::decode(&bytes)
            .map(Some)
            .map_err(|source| StoreError::Tile {
                version: version.to_string(),
                level: level.as_str(),
                id,
                source,
            })
    }

    /// Loads and checks the contraction hierarchy `manifest` lists for `mode`; `None` when
    /// it lists none.
    pub async fn load_contracted(
        &self,
        manifest: &Manifest,
        mode: Mode,
    ) -> Result<Option<Contracted>, StoreError> {
        let Some(entry) = manifest.contracted.iter().find(|c| c.mode == mode) else {
            return Ok(None);
        };
        let invalid = |reason: String| StoreError::Contracted {
            version: manifest.version.clone(),
            mode,
            reason,
        };
        let bytes = self
            .get_optional(&self.contracted_path(&manifest.version, mode))
            .await?
            .ok_or_else(|| invalid("listed in the manifest but missing".into()))?;
        if crc32fast::hash(&bytes) != entry.crc32 {
            return Err(invalid("checksum does not match the manifest".into()));
        }
        Contracted::decode(&bytes)
            .map(Some)
            .map_err(|e| invalid(e.to_string()))
    }

    /// Writes a version's tiles and hierarchies, then its manifest; does not publish. On
    /// failure, removes what it wrote. `progress` gets the bytes of each object written.
    pub async fn write_version(
        &self,
        manifest: &Manifest,
        tiles: Vec<EncodedTile>,
        hierarchies: Vec<EncodedHierarchy>,
        mut progress: impl FnMut(u64),
    ) -> Result<(), StoreError> {
        let objects = tiles
            .into_iter()
            .map(|EncodedTile { level, id, bytes }| {
                (self.tile_path(&manifest.version, level, id), bytes)
            })
            .chain(
                hierarchies
                    .into_iter()
                    .map(|EncodedHierarchy { mode, bytes }| {
                        (self.contracted_path(&manifest.version, mode), bytes)
                    }),
            );
        let written = futures::stream::iter(objects.map(|(path, bytes)| {
            let store = Arc::clone(&self.store);
            async move {
                let len = bytes.len() as u64;
                store.put(&path, PutPayload::from(bytes)).await.map(|_| len)
            }
        }))
        .buffer_unordered(16)
        .try_for_each(|len| {
            progress(len);
            futures::future::ready(Ok(()))
        })
        .await;
        let result = match written {
            Ok(()) => {
                let json = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
                self.store
                    .put(
                        &self.path(&format!("{VERSIONS}/{}/manifest.json", manifest.version)),
                        json.into(),
                    )
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let _ = self
                .delete_prefix(&self.version_dir(&manifest.version))
                .await;
            return Err(e.into());
        }
        Ok(())
    }

    /// Makes `version` the published one (one put of the pointer).
    pub async fn publish(&self, version: &str) -> Result<(), StoreError> {
        self.manifest(version).await?; // refuses versions that were never completed
        let pointer = serde_json::to_vec(&serde_json::json!({ "version": version })).expect("json");
        self.store.put(&self.path(CURRENT), pointer.into()).await?;
        Ok(())
    }

    /// Stored versions, oldest first (names sort by creation time).
    pub async fn versions(&self) -> Result<Vec<VersionInfo>, StoreError> {
        let current = self.current_version().await?;
        let listing = self
            .store
            .list_with_delimiter(Some(&self.path(VERSIONS)))
            .await?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        let mut out = Vec::new();
        for version in names {
            let manifest = self.manifest(&version).await.ok();
            out.push(VersionInfo {
                current: current.as_deref() == Some(version.as_str()),
                created_at: manifest.as_ref().map(|m| m.created_at.clone()),
                tiles: manifest.as_ref().map(|m| m.tiles.len() as u64),
                bytes: manifest
                    .as_ref()
                    .map(|m| m.tiles.iter().map(|t| t.bytes).sum()),
                version,
            });
        }
        Ok(out)
    }

    /// Deletes a version that is not the published one.
    pub async fn remove(&self, version: &str) -> Result<u64, StoreError> {
        if self.current_version().await?.as_deref() == Some(version) {
            return Err(StoreError::RemovingCurrent(version.to_string()));
        }
        let removed = self.delete_prefix(&self.version_dir(version)).await?;
        if removed == 0 {
            return Err(StoreError::NoSuchVersion(version.to_string()));
        }
        Ok(removed)
    }

    async fn delete_prefix(&self, prefix: &Path) -> Result<u64, StoreError> {
        let paths: Vec<Path> = self
            .store
            .list(Some(prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        let count = paths.len() as u64;
        futures::stream::iter(paths.into_iter().map(|p| {
            let store = Arc::clone(&self.store);
            async move { store.delete(&p).await }
        }))
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
        if let Some(root) = &self.local_root {
            let dir = root.join(prefix.as_ref());
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| {
                    StoreError::Storage(object_store::Error::Generic {
                        store: "LocalFileSystem",
                        source: Box::new(e),
                    })
                })?;
            }
        }
        Ok(count)
    }
}
