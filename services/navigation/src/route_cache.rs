//! Recent directions answers, bounded by the bytes they hold.
//!
//! Anyone can ask for directions, and one answer ranges from a few hundred bytes to
//! hundreds of kilobytes (23 waypoints, every step with its polyline), so a bound on the
//! number of entries bounds nothing: 10,000 large walking answers took the server past
//! 1.6 GB. Answers are kept as the JSON sent to the client, whose size is known exactly,
//! and weighed with their key and the cache's own per-entry bookkeeping.

use std::time::Duration;

use axum::body::Bytes;

/// What the cache spends on one entry beyond the key's and the body's bytes: the `String`
/// and `Bytes` headers, moka's entry (hash, timestamps, policy weight), its node in the
/// access-order deque and the concurrent map's bucket. Measured with a counting allocator
/// (`tests/route_cache_memory.rs`) and rounded up.
pub const ENTRY_OVERHEAD_BYTES: u32 = 384;

/// Unused entries leave after an hour even when the cache has room.
const IDLE: Duration = Duration::from_secs(3600);

/// Directions JSON by request key, at most `max_bytes` in all.
#[derive(Clone)]
pub struct RouteCache {
    entries: moka::sync::Cache<String, Bytes>,
    max_bytes: u64,
}

/// What an entry weighs against the bound.
fn weight(key: &str, body: &Bytes) -> u32 {
    let bytes = key.len() + body.len() + ENTRY_OVERHEAD_BYTES as usize;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

impl RouteCache {
    /// `None` when `max_bytes` is 0 (the cache is off).
    pub fn new(max_bytes: u64) -> Option<RouteCache> {
        (max_bytes > 0).then(|| RouteCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &String, body: &Bytes| weight(key, body))
                .time_to_idle(IDLE)
                // Bodies carry `route_id`s, valid for a day from when they were made: a
                // body is never served more than half of that after.
                .time_to_live(std::time::Duration::from_secs(
                    crate::session::ticket::VALID_FOR_S / 2,
                ))
                .build(),
            max_bytes,
        })
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.entries.get(key)
    }

    /// Keeps `body` unless it alone would take more than an eighth of the cache: one huge
    /// answer should not flush dozens of ordinary ones.
    pub fn insert(&self, key: String, body: Bytes) {
        if u64::from(weight(&key, &body)) > self.max_bytes / 8 {
            return;
        }
        self.entries.insert(key, body);
    }

    pub fn clear(&self) {
        self.entries.invalidate_all();
    }

    /// Bytes held (keys, bodies and bookkeeping), after pending evictions have run.
    pub fn weighted_bytes(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    /// Bytes held as last accounted, without running pending evictions (for the gauge).
    pub fn held_bytes(&self) -> u64 {
        self.entries.weighted_size()
    }

    /// Entries held, after pending evictions have run.
    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(i: usize, len: usize) -> Bytes {
        let mut text = format!("{{\"status\":\"OK\",\"n\":{i},\"pad\":\"");
        text.extend(std::iter::repeat_n('x', len));
        text.push_str("\"}");
        Bytes::from(text)
    }

    #[test]
    fn many_distinct_answers_stay_under_the_byte_bound() {
        let max = 2 << 20;
        let cache = RouteCache::new(max).unwrap();
        // 12,000 distinct answers of about 40 KB: 480 MB if nothing were evicted.
        for i in 0..12_000 {
            cache.insert(format!("v1|walking|{i}"), body(i, 40_000));
            if i % 1000 == 999 {
                assert!(cache.weighted_bytes() <= max, "after {i}");
            }
        }
        let held = cache.weighted_bytes();
        assert!(held <= max, "{held} > {max}");
        assert!(held > max / 2, "the cache is used: {held}");
        let entries = cache.entry_count();
        assert!(
            (25..=52).contains(&entries),
            "{entries} entries of ~40 KB in 2 MiB"
        );
        // What is kept is whole and found again.
        let kept: Vec<String> = cache.entries.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(kept.len() as u64, entries);
        for key in kept {
            let i: usize = key.rsplit('|').next().unwrap().parse().unwrap();
            assert_eq!(cache.get(&key), Some(body(i, 40_000)), "{key}");
        }
    }

    #[test]
    fn keys_count_against_the_bound() {
        let max = 1 << 20;
        let cache = RouteCache::new(max).unwrap();
        // Tiny bodies under long keys (text stops of 200 characters each).
        for i in 0..20_000 {
            cache.insert(
                format!("{i}|{}", "t".repeat(5_000)),
                Bytes::from_static(b"{}"),
            );
        }
        assert!(cache.weighted_bytes() <= max);
        assert!(cache.entry_count() <= max / 5_000);
    }

    #[test]
    fn an_answer_too_big_for_its_share_is_not_kept() {
        let cache = RouteCache::new(1 << 20).unwrap();
        cache.insert("small".into(), body(0, 1_000));
        cache.insert("huge".into(), body(1, 200_000));
        assert!(cache.get("small").is_some());
        assert!(cache.get("huge").is_none());
        assert!(RouteCache::new(0).is_none());
    }
}
