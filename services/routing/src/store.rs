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
/// Longest version name accepted (imports write 28 characters).
const MAX_VERSION_NAME: usize = 128;

/// Checks that `name` can only name one version directory: not empty, no separator, no
/// `.` or `..`, nothing but ASCII letters, digits, `-`, `_` and `.` (an import writes
/// `<UTC timestamp>-<crc>`). Paths are built by joining names, so `""` would name
/// `versions/` itself and `a/b` or `..` another object altogether.
pub fn check_version_name(name: &str) -> Result<(), StoreError> {
    let refuse = |reason: &'static str| {
        Err(StoreError::VersionName {
            name: name.chars().take(MAX_VERSION_NAME).collect(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.len() > MAX_VERSION_NAME {
        return refuse("it is longer than 128 characters");
    }
    if name.contains(['/', '\\']) {
        return refuse("it contains a path separator");
    }
    if name.starts_with('.') {
        return refuse("it starts with a dot");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return refuse("only letters, digits, '-', '_' and '.' are allowed");
    }
    Ok(())
}

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
    #[error("{name:?} is not a version name: {reason}")]
    VersionName { name: String, reason: &'static str },
    #[error("CURRENT names {name:?}, which is not a version name: {reason}")]
    BadCurrent { name: String, reason: &'static str },
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

    /// The object store and prefix, for other data versioned next to the routing tiles
    /// (the map tiles).
    pub fn location(&self) -> (Arc<dyn ObjectStore>, &Path) {
        (Arc::clone(&self.store), &self.prefix)
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
        // A pointer naming no single version would make readers load, and operators
        // protect, something else than what is published.
        if let Err(StoreError::VersionName { name, reason }) = check_version_name(&pointer.version)
        {
            return Err(StoreError::BadCurrent { name, reason });
        }
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
        check_version_name(version)?;
        let path = self.path(&format!("{VERSIONS}/{version}/manifest.json"));
        let bytes = self
            .get_optional(&path)
            .await?
            .ok_or_else(|| StoreError::NoSuchVersion(version.to_string()))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Manifest {
                version: version.to_string(),
                reason: e.to_string(),
            })?;
        // Readers build paths from the manifest's own name (hierarchies, for one).
        if manifest.version != version {
            return Err(StoreError::Manifest {
                version: version.to_string(),
                reason: format!("it names version {:?}", manifest.version),
            });
        }
        Ok(manifest)
    }

    /// Loads and validates one tile; `None` when the version has no such tile.
    pub async fn load_tile(
        &self,
        version: &str,
        level: Level,
        id: u32,
    ) -> Result<Option<Tile>, StoreError> {
        check_version_name(version)?;
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
        check_version_name(&manifest.version)?;
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

    /// The names of the version directories, sorted (oldest first).
    async fn version_names(&self) -> Result<Vec<String>, StoreError> {
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
        Ok(names)
    }

    /// Stored versions, oldest first (names sort by creation time).
    pub async fn versions(&self) -> Result<Vec<VersionInfo>, StoreError> {
        let current = self.current_version().await?;
        let mut out = Vec::new();
        for version in self.version_names().await? {
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

    /// Deletes a listed version that is not the published one. Anything else, a name that
    /// could reach past one version directory first, is refused before a delete.
    pub async fn remove(&self, version: &str) -> Result<u64, StoreError> {
        check_version_name(version)?;
        if self.current_version().await?.as_deref() == Some(version) {
            return Err(StoreError::RemovingCurrent(version.to_string()));
        }
        if !self.version_names().await?.iter().any(|v| v == version) {
            return Err(StoreError::NoSuchVersion(version.to_string()));
        }
        let removed = self.delete_prefix(&self.version_dir(version)).await?;
        if removed == 0 {
            return Err(StoreError::NoSuchVersion(version.to_string()));
        }
        Ok(removed)
    }

    /// Removes all but the newest `keep` versions, never the published one, and returns
    /// the removed names with their object counts. Directories whose names are no version
    /// name (left by hand, say) are not touched.
    pub async fn prune(&self, keep: usize) -> Result<Vec<(String, u64)>, StoreError> {
        let current = self.current_version().await?;
        let names: Vec<String> = self
            .version_names()
            .await?
            .into_iter()
            .filter(|v| check_version_name(v).is_ok())
            .collect();
        let excess = names.len().saturating_sub(keep);
        let mut removed = Vec::new();
        for version in names.into_iter().take(excess) {
            if current.as_deref() == Some(version.as_str()) {
                continue;
            }
            let objects = self.remove(&version).await?;
            removed.push((version, objects));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: &str) -> Manifest {
        Manifest {
            format_version: crate::tile::FORMAT_VERSION,
            version: version.into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            source: "test.osm.pbf".into(),
            source_bytes: 0,
            nodes: 0,
            edges: 0,
            forbidden_turns: 0,
            bbox: [0.0; 4],
            levels: Vec::new(),
            tiles: Vec::new(),
            report: serde_json::Value::Null,
            max_speed_kmh: Default::default(),
            contracted: Vec::new(),
        }
    }

    const OLD: &str = "20260101T000000000Z-00000001";
    const NEW: &str = "20260102T000000000Z-00000002";

    /// A directory store holding two versions, the newer published.
    async fn two_versions(dir: &std::path::Path) -> TileStore {
        let store = TileStore::open(dir.to_str().unwrap()).unwrap();
        for version in [OLD, NEW] {
            let tile = EncodedTile {
                level: Level::Local,
                id: 1,
                bytes: vec![1, 2, 3],
            };
            store
                .write_version(&manifest(version), vec![tile], Vec::new(), |_| {})
                .await
                .unwrap();
        }
        store.publish(NEW).await.unwrap();
        store
    }

    async fn names(store: &TileStore) -> Vec<String> {
        store.version_names().await.unwrap()
    }

    #[test]
    fn version_names_name_one_directory() {
        check_version_name(OLD).unwrap();
        check_version_name("v1.2_beta").unwrap();
        for bad in [
            "",
            ".",
            "..",
            "../versions",
            "a/b",
            "a\\b",
            "/abs",
            ".hidden",
            "a b",
            "x\0",
            "é",
        ] {
            let err = check_version_name(bad).unwrap_err().to_string();
            assert!(err.contains("is not a version name"), "{bad:?}: {err}");
        }
        assert!(check_version_name(&"a".repeat(129)).is_err());
    }

    #[tokio::test]
    async fn remove_refuses_names_that_are_not_listed_versions() {
        let dir = tempfile::tempdir().unwrap();
        let store = two_versions(dir.path()).await;
        // `""` named `versions/` itself: it deleted every version, the published one too.
        for bad in ["", ".", "..", "../versions", "versions/..", "x/../..", "/"] {
            let err = store.remove(bad).await.unwrap_err();
            assert!(
                matches!(err, StoreError::VersionName { .. }),
                "{bad:?}: {err}"
            );
        }
        let err = store.remove("20990101T000000000Z-deadbeef").await;
        assert!(matches!(err, Err(StoreError::NoSuchVersion(_))), "{err:?}");
        assert!(matches!(
            store.remove(NEW).await,
            Err(StoreError::RemovingCurrent(_))
        ));
        assert_eq!(names(&store).await, [OLD, NEW]);
        assert_eq!(store.current().await.unwrap().unwrap().version, NEW);
        assert!(store.remove(OLD).await.unwrap() > 0);
        assert_eq!(names(&store).await, [NEW]);
    }

    #[tokio::test]
    async fn a_pointer_or_manifest_naming_something_else_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = two_versions(dir.path()).await;
        for pointed in ["", "..", "../CURRENT", "a/b"] {
            let pointer = serde_json::json!({ "version": pointed }).to_string();
            std::fs::write(dir.path().join(CURRENT), pointer).unwrap();
            let err = store.current_version().await.unwrap_err();
            assert!(
                matches!(err, StoreError::BadCurrent { .. }),
                "{pointed:?}: {err}"
            );
            // Nothing is removed on the word of a broken pointer.
            assert!(store.remove(OLD).await.is_err());
            assert!(store.prune(0).await.is_err());
        }
        assert_eq!(names(&store).await, [OLD, NEW]);
        store.publish(NEW).await.unwrap();

        let mut lying = manifest("../..");
        lying.version = "../..".into();
        let path = dir.path().join(VERSIONS).join(OLD).join("manifest.json");
        std::fs::write(&path, serde_json::to_vec(&lying).unwrap()).unwrap();
        let err = store.manifest(OLD).await.unwrap_err();
        assert!(err.to_string().contains("names version"), "{err}");
        assert!(store.publish(OLD).await.is_err());
        assert!(matches!(
            store.manifest("..").await,
            Err(StoreError::VersionName { .. })
        ));
        assert!(matches!(
            store.load_tile("", Level::Local, 1).await,
            Err(StoreError::VersionName { .. })
        ));
        assert!(matches!(
            store
                .write_version(&manifest(""), Vec::new(), Vec::new(), |_| {})
                .await,
            Err(StoreError::VersionName { .. })
        ));
    }

    #[tokio::test]
    async fn prune_keeps_the_published_version_and_strangers() {
        let dir = tempfile::tempdir().unwrap();
        let store = two_versions(dir.path()).await;
        // A directory no import wrote, under a name no version can have.
        let stranger = dir.path().join(VERSIONS).join(".keep");
        std::fs::create_dir_all(&stranger).unwrap();
        std::fs::write(stranger.join("note"), "mine").unwrap();
        store.publish(OLD).await.unwrap();
        let removed = store.prune(0).await.unwrap();
        assert_eq!(
            removed.iter().map(|(v, _)| v.as_str()).collect::<Vec<_>>(),
            [NEW]
        );
        assert_eq!(names(&store).await, [".keep", OLD]);
        assert!(stranger.join("note").exists());
        assert_eq!(store.current_version().await.unwrap().as_deref(), Some(OLD));
    }
}
