//! The route cache's weights are honest: what it holds on the heap, counted by the
//! allocator, stays within the byte bound it is given, whether the answers are large or
//! tiny (where moka's per-entry bookkeeping is most of the cost).

use axum::body::Bytes;
use navigation::route_cache::{ENTRY_OVERHEAD_BYTES, RouteCache};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// Heap held by a cache of `max` bytes after `n` distinct inserts of `body_len` bytes, and
/// what the cache says it holds.
fn fill(max: u64, n: usize, body_len: usize) -> (usize, u64, u64) {
    let region = Region::new(GLOBAL);
    let cache = RouteCache::new(max).unwrap();
    for i in 0..n {
        let key = format!("v1|walking|avoid|false|false|{i}");
        cache.insert(key, Bytes::from(vec![b'x'; body_len]));
    }
    let weighed = cache.weighted_bytes();
    let entries = cache.entry_count();
    let change = region.change();
    let held = change.bytes_allocated - change.bytes_deallocated;
    drop(cache);
    (held, weighed, entries)
}

#[test]
fn heap_held_stays_within_the_bound() {
    let max: u64 = 8 << 20;
    for (n, body_len) in [(4_000, 40_000), (200_000, 16)] {
        let (held, weighed, entries) = fill(max, n, body_len);
        let per_entry = held as u64 / entries.max(1);
        eprintln!(
            "{n} answers of {body_len} B: {entries} kept, heap {held} B ({per_entry} B each), \
             weighed {weighed} B, bound {max} B"
        );
        assert!(weighed <= max, "weighed {weighed}");
        // The heap also holds moka's fixed structures (frequency sketch, map segments),
        // sized by the most entries it could hold: allow them an eighth on top.
        assert!(
            held as u64 <= max + max / 8,
            "heap {held} for a bound of {max}"
        );
        // For tiny answers the estimate must cover the bookkeeping.
        let own = (body_len + 32) as u64 + u64::from(ENTRY_OVERHEAD_BYTES);
        assert!(
            entries * own <= max,
            "{entries} entries of {own} weighed bytes"
        );
    }
}
