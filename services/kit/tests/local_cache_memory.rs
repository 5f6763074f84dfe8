//! The in-process cache's weights are honest: the heap it holds, counted by the allocator,
//! stays within its byte bound even for tiny entries, where moka's bookkeeping (per-entry
//! expiry included) is most of the cost.

use std::time::Duration;

use kit::cache::{Cache, LOCAL_ENTRY_OVERHEAD_BYTES, LocalCache};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

#[tokio::test(flavor = "current_thread")]
async fn heap_held_stays_within_the_bound() {
    let max: u64 = 8 << 20;
    for value_len in [4_096usize, 8] {
        let region = Region::new(GLOBAL);
        let local = LocalCache::with_max_bytes(max);
        let cache = Cache::Local(local.clone());
        for batch in 0..400 {
            let items: Vec<(String, Vec<u8>)> = (0..100)
                .map(|i| (format!("prox:cell:{batch}-{i}"), vec![7u8; value_len]))
                .collect();
            cache
                .set_many(&items, Duration::from_secs(60))
                .await
                .unwrap();
        }
        let weighed = local.weighted_bytes().await;
        let change = region.change();
        let held = change.bytes_allocated - change.bytes_deallocated;
        eprintln!(
            "values of {value_len} B: heap {held} B, weighed {weighed} B, bound {max} B \
             (overhead estimate {LOCAL_ENTRY_OVERHEAD_BYTES} B per entry)"
        );
        assert!(weighed <= max, "weighed {weighed}");
        // Room for moka's fixed structures (frequency sketch, map segments, timer wheel).
        assert!(
            held as u64 <= max + max / 8,
            "heap {held} for a bound of {max}"
        );
        drop((cache, local));
    }
}
