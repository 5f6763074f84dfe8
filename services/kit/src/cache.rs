//! A byte-value cache with TTLs: Redis when `REDIS_URL` is set, otherwise an in-process
//! cache with the same semantics (per-key TTL, explicit invalidation).
//!
//! The cache is an accelerator, never the truth: every method may fail, and callers fall back
//! to the database. After a Redis error the cache stays bypassed for a short cool-down so that
//! a dead server costs one failed call per second rather than one per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Why a cache call failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis is cooling down after an error")]
    CoolingDown,
}

/// The configured cache.
#[derive(Clone)]
pub enum Cache {
    Redis(RedisCache),
    Local(LocalCache),
}

/// Redis behind an auto-reconnecting multiplexed connection.
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: Arc<str>,
    /// Milliseconds since `epoch` until which Redis is bypassed.
    down_until_ms: Arc<AtomicU64>,
    epoch: Instant,
}

/// moka's concurrent cache with a TTL per entry, bounded by the bytes its entries hold.
#[derive(Clone)]
pub struct LocalCache {
    entries: moka::future::Cache<String, (Arc<[u8]>, Duration)>,
}

struct PerEntryTtl;

impl Expiry<String, (Arc<[u8]>, Duration)> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &(Arc<[u8]>, Duration),
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.1)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &(Arc<[u8]>, Duration),
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.1)
    }
}

const COOL_DOWN: Duration = Duration::from_secs(1);

/// Bytes the in-process cache of the embedded default may hold. Its keys come from requests
/// (any geohash cell on Earth, any business id), so a count of entries would bound nothing.
pub const LOCAL_CACHE_BYTES: u64 = 128 << 20;

/// What one entry costs beyond its key's and value's bytes: the `String` and `Arc<[u8]>`
/// headers and the TTL, moka's entry (hash, timestamps, policy weight), its nodes in the
/// access- and write-order deques and the concurrent map's bucket; rounded up.
pub const LOCAL_ENTRY_OVERHEAD_BYTES: usize = 384;

fn entry_weight(key: &str, value: &(Arc<[u8]>, Duration)) -> u32 {
    u32::try_from(key.len() + value.0.len() + LOCAL_ENTRY_OVERHEAD_BYTES).unwrap_or(u32::MAX)
}

impl Cache {
    /// Redis at `url` (keys prefixed with `prefix:`), or the in-process cache.
    pub async fn connect(url: Option<&str>, prefix: &str) -> anyhow::Result<Cache> {
        match url.filter(|u| !u.is_empty()) {
            Some(url) => Ok(Cache::Redis(RedisCache::connect(url, prefix).await?)),
            None => Ok(Cache::Local(LocalCache::with_max_bytes(LOCAL_CACHE_BYTES))),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Cache::Redis(_) => "redis",
            Cache::Local(_) => "in-process",
        }
    }

    /// Values for `keys`, in order; `None` for misses.
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Cache::Redis(r) => r.get_many(keys).await,
            Cache::Local(l) => {
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    out.push(l.entries.get(key).await.map(|(v, _)| v.to_vec()));
                }
                Ok(out)
            }
        }
    }

    /// Stores each (key, value) with the TTL.
    pub async fn set_many(
        &self,
        items: &[(String, Vec<u8>)],
        ttl: Duration,
    ) -> Result<(), CacheError> {
        if items.is_empty() {
            return Ok(());
        }
        match self {
            Cache::Redis(r) => r.set_many(items, ttl).await,
            Cache::Local(l) => {
                for (key, value) in items {
                    l.entries
                        .insert(key.clone(), (Arc::from(value.as_slice()), ttl))
                        .await;
                }
                Ok(())
            }
        }
    }

    /// Removes `keys`.
    pub async fn delete_many(&self, keys: &[String]) -> Result<(), CacheError> {
        if keys.is_empty() {
            return Ok(());
        }
        match self {
            Cache::Redis(r) => r.delete_many(keys).await,
            Cache::Local(l) => {
                for key in keys {
                    l.entries.invalidate(key).await;
                }
                Ok(())
            }
        }
    }

    /// A round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), CacheError> {
        match self {
            Cache::Redis(r) => r.ping().await,
            Cache::Local(_) => Ok(()),
        }
    }
}

impl LocalCache {
    /// At most `max_entries` entries, whatever their size: for tests and tools that know
    /// what they store. Servers use [`LocalCache::with_max_bytes`].
    pub fn new(max_entries: u64) -> LocalCache {
        LocalCache {
            entries: moka::future::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }

    /// At most `max_bytes` of keys, values and per-entry bookkeeping.
    pub fn with_max_bytes(max_bytes: u64) -> LocalCache {
        LocalCache {
            entries: moka::future::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &String, value| entry_weight(key, value))
                .expire_after(PerEntryTtl)
                .build(),
        }
    }

    /// Bytes held as weighed (entries count only once their pending writes are applied).
    pub async fn weighted_bytes(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.weighted_size()
    }
}

impl RedisCache {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<RedisCache> {
        use anyhow::Context;
        let client = redis::Client::open(url).context("parsing REDIS_URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        // Redis must answer at start-up (a typo in REDIS_URL should fail fast); once running,
        // the manager reconnects in the background after outages.
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .context("connecting to REDIS_URL")?;
        Ok(RedisCache {
            conn,
            prefix: Arc::from(prefix),
            down_until_ms: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }

    fn check_cool_down(&self) -> Result<(), CacheError> {
        let now = self.epoch.elapsed().as_millis() as u64;
        if now < self.down_until_ms.load(Ordering::Relaxed) {
            return Err(CacheError::CoolingDown);
        }
        Ok(())
    }

    fn note<T>(&self, result: redis::RedisResult<T>) -> Result<T, CacheError> {
        result.map_err(|err| {
            let now = self.epoch.elapsed();
            let until = (now + COOL_DOWN).as_millis() as u64;
            let before = self.down_until_ms.swap(until, Ordering::Relaxed);
            // One line per outage, not one per call: under load hundreds of calls in flight
            // fail together.
            if before <= now.as_millis() as u64 {
                tracing::warn!(error = %err, "redis call failed; bypassing the cache for a second");
            } else {
                tracing::debug!(error = %err, "redis call failed while bypassing the cache");
            }
            CacheError::Redis(err)
        })
    }

    /// Whether the last call failed recently.
    pub fn is_cooling_down(&self) -> bool {
        self.check_cool_down().is_err()
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        self.check_cool_down()?;
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let mut conn = self.conn.clone();
        let result = redis::cmd("MGET")
            .arg(&full)
            .query_async::<Vec<Option<Vec<u8>>>>(&mut conn)
            .await;
        self.note(result)
    }

    async fn set_many(&self, items: &[(String, Vec<u8>)], ttl: Duration) -> Result<(), CacheError> {
        self.check_cool_down()?;
        let mut pipe = redis::pipe();
        let ttl_ms = ttl.as_millis().max(1) as u64;
        for (key, value) in items {
            pipe.cmd("SET")
                .arg(self.key(key))
                .arg(value.as_slice())
                .arg("PX")
                .arg(ttl_ms)
                .ignore();
        }
        let mut conn = self.conn.clone();
        let result = pipe.query_async::<()>(&mut conn).await;
        self.note(result)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), CacheError> {
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let mut conn = self.conn.clone();
        // Invalidation is attempted even while cooling down: a stale entry is worse than a
        // wasted call.
        let result = redis::cmd("DEL")
            .arg(&full)
            .query_async::<()>(&mut conn)
            .await;
        self.note(result)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let result = redis::cmd("PING").query_async::<String>(&mut conn).await;
        self.note(result).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_cache_ttl_and_invalidation() {
        let cache = Cache::Local(LocalCache::new(100));
        let items = vec![
            ("a".to_string(), b"1".to_vec()),
            ("b".to_string(), b"2".to_vec()),
        ];
        cache
            .set_many(&items, Duration::from_millis(200))
            .await
            .unwrap();
        let got = cache
            .get_many(&["a".into(), "b".into(), "c".into()])
            .await
            .unwrap();
        assert_eq!(got, vec![Some(b"1".to_vec()), Some(b"2".to_vec()), None]);
        cache.delete_many(&["a".into()]).await.unwrap();
        assert_eq!(cache.get_many(&["a".into()]).await.unwrap(), vec![None]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(cache.get_many(&["b".into()]).await.unwrap(), vec![None]);
    }

    #[tokio::test]
    async fn the_embedded_cache_is_bounded_in_bytes() {
        let max = 1 << 20;
        let local = LocalCache::with_max_bytes(max);
        let cache = Cache::Local(local.clone());
        // 50,000 distinct cells of 4 KB (200 MB unbounded), as a search flood would write.
        for batch in 0..500 {
            let items: Vec<(String, Vec<u8>)> = (0..100)
                .map(|i| (format!("prox:cell:{batch}-{i}"), vec![7u8; 4_096]))
                .collect();
            cache
                .set_many(&items, Duration::from_secs(60))
                .await
                .unwrap();
        }
        let held = local.weighted_bytes().await;
        assert!(held <= max, "{held} > {max}");
        assert!(local.entries.entry_count() <= max / 4_096);
        // Small entries still count their bookkeeping.
        for batch in 0..500 {
            let items: Vec<(String, Vec<u8>)> = (0..100)
                .map(|i| (format!("k{batch}-{i}"), Vec::new()))
                .collect();
            cache
                .set_many(&items, Duration::from_secs(60))
                .await
                .unwrap();
        }
        assert!(local.weighted_bytes().await <= max);
        assert!(local.entries.entry_count() <= max / LOCAL_ENTRY_OVERHEAD_BYTES as u64);
    }
}
