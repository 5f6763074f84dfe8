//! The location cache: user id -> latest fix, expiring after the inactivity timeout and
//! refreshed by every update. Redis (sharded by user id over `LOCATION_CACHE_URLS`) or the
//! in-process cache, with the same TTL semantics. Losing it is tolerable: it refills from
//! the next updates.

use std::time::Duration;

use kit::cache::{Cache, CacheError};

use crate::ring::stable_hash;

/// A cached fix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CachedLocation {
    pub latitude: f64,
    pub longitude: f64,
    /// The client's fix time, Unix seconds.
    pub timestamp: f64,
    /// When we stored it, Unix milliseconds (inactivity is measured from here).
    pub written_ms: i64,
}

impl CachedLocation {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.extend_from_slice(&self.latitude.to_le_bytes());
        out.extend_from_slice(&self.longitude.to_le_bytes());
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        out.extend_from_slice(&self.written_ms.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<CachedLocation> {
        let word = |i: usize| -> Option<[u8; 8]> { bytes.get(i * 8..i * 8 + 8)?.try_into().ok() };
        if bytes.len() != 32 {
            return None;
        }
        Some(CachedLocation {
            latitude: f64::from_le_bytes(word(0)?),
            longitude: f64::from_le_bytes(word(1)?),
            timestamp: f64::from_le_bytes(word(2)?),
            written_ms: i64::from_le_bytes(word(3)?),
        })
    }
}

/// The location cache of a process.
#[derive(Clone)]
pub struct LocationCache {
    shards: Vec<Cache>,
    ttl: Duration,
}

fn key(user_id: i64) -> String {
    format!("loc:{user_id}")
}

impl LocationCache {
    /// Shards over `urls`, or `fallback` (the common cache) alone when there are none.
    pub async fn connect(
        urls: &[String],
        fallback: Cache,
        prefix: &str,
        ttl: Duration,
    ) -> anyhow::Result<LocationCache> {
        let mut shards = Vec::new();
        for url in urls {
            shards.push(Cache::connect(Some(url), prefix).await?);
        }
        if shards.is_empty() {
            shards.push(fallback);
        }
        Ok(LocationCache { shards, ttl })
    }

    pub fn backend_name(&self) -> &'static str {
        self.shards[0].backend_name()
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn shard_of(&self, user_id: i64) -> usize {
        (stable_hash(&user_id.to_le_bytes()) % self.shards.len() as u64) as usize
    }

    pub async fn set(&self, user_id: i64, location: CachedLocation) -> Result<(), CacheError> {
        self.shards[self.shard_of(user_id)]
            .set_many(&[(key(user_id), location.encode())], self.ttl)
            .await
    }

    /// The active users' fixes, in the order of `user_ids`; `None` for inactive ones.
    pub async fn get_many(
        &self,
        user_ids: &[i64],
    ) -> Result<Vec<Option<CachedLocation>>, CacheError> {
        let mut out = vec![None; user_ids.len()];
        let mut by_shard: Vec<Vec<usize>> = vec![Vec::new(); self.shards.len()];
        for (i, &user) in user_ids.iter().enumerate() {
            by_shard[self.shard_of(user)].push(i);
        }
        for (shard, positions) in by_shard.iter().enumerate() {
            if positions.is_empty() {
                continue;
            }
            let keys: Vec<String> = positions.iter().map(|&i| key(user_ids[i])).collect();
            let values = self.shards[shard].get_many(&keys).await?;
            for (&i, value) in positions.iter().zip(values) {
                out[i] = value.as_deref().and_then(CachedLocation::decode);
            }
        }
        Ok(out)
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        for shard in &self.shards {
            shard.ping().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_ttl_in_process() {
        let cache = LocationCache::connect(
            &[],
            Cache::Local(kit::cache::LocalCache::new(100)),
            "t",
            Duration::from_millis(200),
        )
        .await
        .unwrap();
        let fix = CachedLocation {
            latitude: 60.17,
            longitude: 24.94,
            timestamp: 1_700_000_000.5,
            written_ms: 42,
        };
        cache.set(1, fix).await.unwrap();
        assert_eq!(
            cache.get_many(&[2, 1]).await.unwrap(),
            vec![None, Some(fix)]
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(cache.get_many(&[1]).await.unwrap(), vec![None]);
    }

    #[test]
    fn damaged_values_read_as_misses() {
        assert_eq!(CachedLocation::decode(b"short"), None);
    }
}
