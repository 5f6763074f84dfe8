//! Routing tiles loaded on demand: one byte-bounded cache shared by every request, the
//! published version it reads from, and the per-request view searches run over.
//!
//! A search asks for tiles by id while it runs (it cannot know in advance which it will
//! touch), so the view fetches synchronously: searches run on blocking threads and wait on
//! the store there. The cache is keyed by version, so a version switch never mixes tiles.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use routing::ch::Contracted;
use routing::store::StoreError;
use routing::{Level, Manifest, Mode, Tile, TileSource, TileStore};

/// The published version the service routes on.
#[derive(Debug)]
pub struct LoadedVersion {
    pub name: String,
    pub manifest: Manifest,
    /// Distinguishes this version's entries in the shared cache.
    serial: u64,
    present: HashSet<(Level, u32)>,
    max_speed_kmh: [f64; 3],
    /// Per mode, the contraction hierarchy once loaded (on first use; the lock keeps
    /// concurrent first uses from loading it twice).
    contracted: [OnceLock<Arc<Contracted>>; 3],
    loading: Mutex<()>,
    /// Per mode, whether its stored hierarchy was found damaged (not retried; a storage
    /// outage is).
    refused: [std::sync::atomic::AtomicBool; 3],
}

impl LoadedVersion {
    pub fn new(manifest: Manifest, serial: u64) -> LoadedVersion {
        let present = manifest.tiles.iter().map(|t| (t.level, t.id)).collect();
        // Older manifests have no bound: the fastest speed a tile can store keeps A* exact.
        let max_speed_kmh = Mode::ALL.map(|m| {
            manifest
                .max_speed_kmh
                .get(m.as_str())
                .copied()
                .unwrap_or(f64::from(u8::MAX))
        });
        LoadedVersion {
            name: manifest.version.clone(),
            manifest,
            serial,
            present,
            max_speed_kmh,
            contracted: Default::default(),
            loading: Mutex::new(()),
            refused: Default::default(),
        }
    }

    /// Whether the version has a contraction hierarchy for `mode`.
    pub fn has_contracted(&self, mode: Mode) -> bool {
        self.manifest.contracted.iter().any(|c| c.mode == mode)
    }

    pub fn max_speed_kmh(&self, mode: Mode) -> f64 {
        self.max_speed_kmh[mode as usize]
    }

    pub fn has_tile(&self, level: Level, id: u32) -> bool {
        self.present.contains(&(level, id))
    }
}

type Key = (u64, Level, u32);

/// Tiles in memory, bounded by their size in bytes, shared by all requests.
#[derive(Clone)]
pub struct TileCache {
    store: TileStore,
    cache: moka::sync::Cache<Key, Arc<Tile>>,
    handle: tokio::runtime::Handle,
    fetched: Arc<AtomicU64>,
}

impl TileCache {
    /// Must be called inside a Tokio runtime: loads run on it.
    pub fn new(store: TileStore, max_bytes: u64) -> TileCache {
        let cache = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_, tile: &Arc<Tile>| u32::try_from(tile.memory_bytes()).unwrap_or(u32::MAX))
            .build();
        TileCache {
            store,
            cache,
            handle: tokio::runtime::Handle::current(),
            fetched: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn store(&self) -> &TileStore {
        &self.store
    }

    /// Bytes of tiles held now (after pending evictions run).
    pub fn weighted_bytes(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }

    /// Tiles read from storage since start.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// Drops every cached tile (after a version switch; the old version's tiles are
    /// unreachable anyway, this frees their memory at once).
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }

    /// `version`'s contraction hierarchy for `mode`, from memory or storage; `None` when it
    /// has none or storage fails (the caller then searches with the A* over tiles). Blocks:
    /// call from a blocking thread.
    pub fn contracted(&self, version: &LoadedVersion, mode: Mode) -> Option<Arc<Contracted>> {
        let slot = &version.contracted[mode as usize];
        if let Some(ch) = slot.get() {
            return Some(Arc::clone(ch));
        }
        if !version.has_contracted(mode) || version.refused[mode as usize].load(Ordering::Relaxed) {
            return None;
        }
        let _loading = version.loading.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = slot.get() {
            return Some(Arc::clone(ch));
        }
        match self
            .handle
            .block_on(self.store.load_contracted(&version.manifest, mode))
        {
            Ok(Some(ch)) => Some(Arc::clone(slot.get_or_init(|| Arc::new(ch)))),
            Ok(None) => None,
            Err(e) => {
                if matches!(e, StoreError::Contracted { .. }) {
                    version.refused[mode as usize].store(true, Ordering::Relaxed);
                }
                tracing::warn!(error = %e, "contraction hierarchy unavailable; searching tiles");
                None
            }
        }
    }

    /// Loads every hierarchy `version` has, so that first requests do not wait for them.
    pub fn preload_contracted(&self, version: &LoadedVersion) {
        for mode in Mode::ALL {
            self.contracted(version, mode);
        }
    }

    /// One tile of `version`, from memory or storage. Blocks: call from a blocking thread.
    fn fetch(&self, version: &LoadedVersion, level: Level, id: u32) -> Result<Arc<Tile>, String> {
        self.cache
            .try_get_with((version.serial, level, id), || {
                self.fetched.fetch_add(1, Ordering::Relaxed);
                let loaded =
                    self.handle
                        .block_on(self.store.load_tile(&version.name, level, id))?;
                loaded.map(Arc::new).ok_or_else(|| {
                    StoreError::NoSuchVersion(format!(
                        "{} (tile {}/{id} listed in its manifest is missing)",
                        version.name,
                        level.as_str()
                    ))
                })
            })
            .map_err(|e: Arc<StoreError>| e.to_string())
    }
}

/// What one request sees: the version it started on, and the tiles it has touched (held
/// for the whole search, so evictions by other requests cannot pull them away mid-search).
pub struct RequestTiles<'a> {
    cache: &'a TileCache,
    version: &'a LoadedVersion,
    held: elsa::FrozenMap<(Level, u32), Arc<Tile>, rustc_hash::FxBuildHasher>,
    error: RefCell<Option<String>>,
    used: std::cell::Cell<usize>,
    /// A hierarchy used instead of the version's own for its mode (live traffic's).
    hierarchy: Option<Arc<Contracted>>,
}

impl<'a> RequestTiles<'a> {
    pub fn new(cache: &'a TileCache, version: &'a LoadedVersion) -> RequestTiles<'a> {
        RequestTiles {
            cache,
            version,
            held: elsa::FrozenMap::default(),
            error: RefCell::new(None),
            used: std::cell::Cell::new(0),
            hierarchy: None,
        }
    }

    /// Plans on `hierarchy` (customised for traffic) for its mode instead of the stored one.
    pub fn with_hierarchy(mut self, hierarchy: Arc<Contracted>) -> RequestTiles<'a> {
        self.hierarchy = Some(hierarchy);
        self
    }

    pub fn version(&self) -> &LoadedVersion {
        self.version
    }

    /// The first storage failure met, if any: the search's answer cannot be trusted then.
    pub fn error(&self) -> Option<String> {
        self.error.borrow().clone()
    }

    /// The version's contraction hierarchy for `mode`, if it has one and it loads.
    pub fn contracted(&self, mode: Mode) -> Option<Arc<Contracted>> {
        if let Some(h) = self.hierarchy.as_ref().filter(|h| h.mode() == mode) {
            return Some(Arc::clone(h));
        }
        self.cache.contracted(self.version, mode)
    }

    /// Tiles this request used.
    pub fn tiles_used(&self) -> usize {
        self.used.get()
    }
}

impl TileSource for RequestTiles<'_> {
    fn get(&self, level: Level, id: u32) -> Option<&Tile> {
        if let Some(tile) = self.held.get(&(level, id)) {
            return Some(tile);
        }
        if !self.version.has_tile(level, id) || self.error.borrow().is_some() {
            return None;
        }
        match self.cache.fetch(self.version, level, id) {
            Ok(tile) => {
                self.used.set(self.used.get() + 1);
                Some(self.held.insert((level, id), tile))
            }
            Err(e) => {
                *self.error.borrow_mut() = Some(e);
                None
            }
        }
    }
}
