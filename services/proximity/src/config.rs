//! Settings of the proximity service. With defaults only, it runs alone on one machine.

use std::path::PathBuf;

/// Which index answers nearby search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SearchEngine {
    /// In-memory quadtree over the published snapshot (default: fastest, see `bench nearby`).
    Quadtree,
    /// The design's seed path: geohash index table, cell and business caches, exact filter.
    Geohash,
}

/// Proximity-specific settings (flattened into the binaries' configuration).
#[derive(clap::Args, Debug, Clone)]
pub struct ProximityConfig {
    /// Index that answers `/v1/search/nearby`: `quadtree` or `geohash`. Nearest-k always uses
    /// the quadtree. Both give identical results.
    #[arg(long, env = "SEARCH_ENGINE", value_enum, default_value = "quadtree")]
    pub search_engine: SearchEngine,

    /// Most businesses in a quadtree leaf before it splits.
    #[arg(long, env = "QUADTREE_LEAF_CAPACITY", default_value_t = 100)]
    pub quadtree_leaf_capacity: usize,

    /// Daily index publication time, `HH:MM` UTC, or `off`. Writes become searchable at the
    /// next publication (or `POST /v1/admin/index/refresh`).
    #[arg(long, env = "INDEX_REFRESH_AT", default_value = "00:00")]
    pub index_refresh_at: String,

    /// Seconds between checks for a publication made by another instance.
    #[arg(long, env = "INDEX_POLL_INTERVAL_S", default_value_t = 5)]
    pub index_poll_interval_s: u64,

    /// TTL of the geohash-cell and business cache entries, seconds. Publication invalidates
    /// the changed keys; the TTL only bounds staleness after a missed invalidation.
    #[arg(long, env = "CACHE_TTL_S", default_value_t = 86_400)]
    pub cache_ttl_s: u64,

    /// OSM extract loaded into an empty business table at start-up; `off` to disable.
    #[arg(long, env = "SAMPLE_DATA", default_value = "data/helsinki.osm.pbf")]
    pub sample_data: PathBuf,
}

impl Default for ProximityConfig {
    fn default() -> Self {
        ProximityConfig {
            search_engine: SearchEngine::Quadtree,
            quadtree_leaf_capacity: 100,
            index_refresh_at: "00:00".into(),
            index_poll_interval_s: 5,
            cache_ttl_s: 86_400,
            sample_data: PathBuf::from("data/helsinki.osm.pbf"),
        }
    }
}

/// Parses `HH:MM` (UTC) into minutes after midnight; `None` for `off`.
pub fn parse_refresh_at(text: &str) -> anyhow::Result<Option<u32>> {
    if text.eq_ignore_ascii_case("off") || text.is_empty() {
        return Ok(None);
    }
    let (h, m) = text
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("INDEX_REFRESH_AT must be HH:MM or off"))?;
    let h: u32 = h.parse()?;
    let m: u32 = m.parse()?;
    anyhow::ensure!(
        h < 24 && m < 60,
        "INDEX_REFRESH_AT must be a time of day, HH:MM"
    );
    Ok(Some(h * 60 + m))
}
