//! The proximity service's shared state and its lifecycle: loading the published index,
//! seeding sample data, publishing, and the background tasks that keep every instance on the
//! latest publication.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::FromRef;
use chrono::{Timelike, Utc};
use kit::Backends;
use kit::auth::Auth;
use kit::ops::{CheckStatus, Readiness};

use crate::Result;
use crate::config::{ProximityConfig, parse_refresh_at};
use crate::geohash_search::{business_key, cell_key};
use crate::import;
use crate::snapshot::Snapshot;
use crate::store::{self, PublicationDiff};

/// State shared by every request handler and background task.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    backends: Backends,
    config: ProximityConfig,
    /// The live in-memory index; replaced whole by each rebuild.
    snapshot: ArcSwap<Snapshot>,
    /// One publication or rebuild at a time per process.
    rebuild_lock: tokio::sync::Mutex<()>,
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Auth {
        state.inner.backends.auth.clone()
    }
}

/// Outcome of a publication, for the admin endpoint and logs.
#[derive(Debug, Clone)]
pub struct Published {
    pub version: i64,
    pub businesses: i64,
    pub changed: usize,
    pub removed: usize,
    pub build_ms: u128,
}

impl AppState {
    /// Loads the published index; on an empty business table, first imports the sample data.
    pub async fn build(backends: Backends, config: ProximityConfig) -> anyhow::Result<AppState> {
        parse_refresh_at(&config.index_refresh_at)?;
        let state = AppState {
            inner: Arc::new(Inner {
                backends,
                config,
                snapshot: ArcSwap::from_pointee(Snapshot::build(0, Vec::new(), 100)),
                rebuild_lock: tokio::sync::Mutex::new(()),
            }),
        };
        state.seed_if_empty().await?;
        state.reload().await?;
        Ok(state)
    }

    pub fn backends(&self) -> &Backends {
        &self.inner.backends
    }

    pub fn config(&self) -> &ProximityConfig {
        &self.inner.config
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot.load_full()
    }

    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.inner.config.cache_ttl_s.max(1))
    }

    async fn seed_if_empty(&self) -> anyhow::Result<()> {
        let path = &self.inner.config.sample_data;
        if path.as_os_str().is_empty() || path.as_os_str() == "off" {
            return Ok(());
        }
        let db = &self.inner.backends.db;
        if store::count_businesses(db).await? > 0 {
            return Ok(());
        }
        let Some(path) = kit::config::locate_sample(path) else {
            tracing::warn!(path = %path.display(), "sample data not found; starting empty");
            return Ok(());
        };
        tracing::info!(path = %path.display(), "empty business table: importing sample data");
        let report = import::import_file(db, &path, |_, _| {}).await?;
        tracing::info!(?report, "sample data imported");
        self.publish().await?;
        Ok(())
    }

    /// Publishes the live table and makes this instance serve it before returning.
    pub async fn publish(&self) -> Result<Published> {
        let _guard = self.inner.rebuild_lock.lock().await;
        let diff = store::publish(&self.inner.backends.db).await?;
        invalidate_published(&self.inner.backends.cache, &diff, SecondPass::Spawn).await;
        let started = std::time::Instant::now();
        self.rebuild_locked().await?;
        let published = Published {
            version: diff.version,
            businesses: diff.businesses,
            changed: diff.changed,
            removed: diff.removed,
            build_ms: started.elapsed().as_millis(),
        };
        tracing::info!(?published, "index published");
        metrics::counter!("proximity_index_publications_total").increment(1);
        Ok(published)
    }

    /// Rebuilds the in-memory index when a newer publication exists.
    pub async fn reload(&self) -> Result<bool> {
        let _guard = self.inner.rebuild_lock.lock().await;
        let version = store::published_version(&self.inner.backends.db).await?;
        if version == self.snapshot().version && version != 0 {
            return Ok(false);
        }
        self.rebuild_locked().await?;
        Ok(true)
    }

    async fn rebuild_locked(&self) -> Result<()> {
        let (version, summaries) = store::load_published(&self.inner.backends.db).await?;
        let leaf_capacity = self.inner.config.quadtree_leaf_capacity;
        let snapshot =
            tokio::task::spawn_blocking(move || Snapshot::build(version, summaries, leaf_capacity))
                .await?;
        metrics::gauge!("proximity_index_businesses").set(snapshot.len() as f64);
        metrics::gauge!("proximity_index_version").set(snapshot.version as f64);
        self.inner.snapshot.store(Arc::new(snapshot));
        Ok(())
    }

    /// Readiness: the index must be loaded; plus the shared database and cache checks.
    pub fn readiness(&self) -> Readiness {
        let mut readiness = self.inner.backends.readiness();
        let state = self.clone();
        readiness.add(
            "proximity_index",
            Arc::new(move || {
                let snapshot = state.snapshot();
                Box::pin(async move {
                    if snapshot.version > 0 {
                        CheckStatus::Ok
                    } else {
                        CheckStatus::Degraded {
                            detail: "no index published yet".into(),
                        }
                    }
                })
            }),
        );
        readiness
    }

    /// Spawns the daily publication and the poll for other instances' publications.
    pub fn spawn_background(&self) {
        let poller = self.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs(poller.inner.config.index_poll_interval_s.max(1));
            loop {
                tokio::time::sleep(every).await;
                match poller.reload().await {
                    Ok(true) => tracing::info!(
                        version = poller.snapshot().version,
                        "picked up a newer index publication"
                    ),
                    Ok(false) => {}
                    Err(err) => tracing::warn!(error = %err, "checking for a new publication"),
                }
            }
        });
        let Ok(Some(at_minute)) = parse_refresh_at(&self.inner.config.index_refresh_at) else {
            return;
        };
        let scheduler = self.clone();
        tokio::spawn(async move {
            loop {
                let now = Utc::now();
                let now_minute = now.hour() * 60 + now.minute();
                let mut wait_minutes = (at_minute + 24 * 60 - now_minute) % (24 * 60);
                if wait_minutes == 0 {
                    wait_minutes = 24 * 60;
                }
                let wait = Duration::from_secs(wait_minutes as u64 * 60 - now.second() as u64);
                tokio::time::sleep(wait).await;
                if let Err(err) = scheduler.publish().await {
                    tracing::error!(error = ?err, "scheduled index publication failed");
                }
            }
        });
    }
}

/// When the second invalidation pass runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondPass {
    /// In a background task (servers).
    Spawn,
    /// Before returning (one-shot commands that exit right after).
    Wait,
}

/// Deletes the cache keys a publication made stale: only the changed cells and businesses, so
/// a publication never empties the whole cache at once (the design's load-spike warning). A
/// search racing with the commit could refill a key with the old value, so the same keys are
/// deleted once more two seconds later.
pub async fn invalidate_published(
    cache: &kit::cache::Cache,
    diff: &PublicationDiff,
    second: SecondPass,
) {
    let mut keys: Vec<String> = diff.touched_cells.iter().map(|c| cell_key(c)).collect();
    keys.extend(diff.touched_ids.iter().map(|id| business_key(*id)));
    delete_keys(cache, &keys).await;
    let cache = cache.clone();
    let again = async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        delete_keys(&cache, &keys).await;
    };
    match second {
        SecondPass::Spawn => {
            tokio::spawn(again);
        }
        SecondPass::Wait => again.await,
    }
}

async fn delete_keys(cache: &kit::cache::Cache, keys: &[String]) {
    for chunk in keys.chunks(1000) {
        if let Err(err) = cache.delete_many(chunk).await {
            tracing::warn!(error = %err, "cache invalidation failed; entries expire by CACHE_TTL_S");
            return;
        }
    }
}
