//! Settings of the navigation service. With defaults only, it runs alone on one machine:
//! tiles under `DATA_DIR/tiles`, built from the sample extract on first start.

use std::path::PathBuf;

use routing::astar::Hierarchy;

use crate::planner::PlannerSettings;

/// Navigation-specific settings (flattened into the binaries' configuration).
#[derive(clap::Args, Debug, Clone)]
pub struct NavigationConfig {
    /// Routing tiles: a directory, `file:///abs/dir`, `memory://` or `s3://bucket/prefix`
    /// (S3 needs `--features s3`). Defaults to `DATA_DIR/tiles`.
    #[arg(long = "tiles", env = "TILES_URL")]
    pub tiles_url: Option<String>,

    /// Most bytes of routing tiles held in memory; tiles beyond it are evicted (least
    /// recently used first) and fetched again from storage when needed.
    #[arg(long, env = "TILE_CACHE_BYTES", default_value_t = 256 << 20)]
    pub tile_cache_bytes: u64,

    /// Most bytes of directions answers kept for repeated requests (their JSON, keys and
    /// bookkeeping; cleared when a new tile version is published); 0 disables the cache.
    #[arg(long, env = "ROUTE_CACHE_BYTES", default_value_t = 64 << 20)]
    pub route_cache_bytes: u64,

    /// Most road edges the A* searches of one directions request may settle together
    /// (every leg, alternative and fallback); beyond it the request is refused with 422.
    /// Bounds one request's time and memory (about 100-200 bytes per edge) on any map.
    #[arg(long, env = "ROUTE_MAX_SETTLED", default_value_t = 1_000_000)]
    pub route_max_settled: usize,

    /// Directions requests planned at once; more wait for a turn (0: one per CPU).
    /// Bounds the memory searches hold together, and keeps requests cut off by the
    /// timeout from piling up on blocking threads.
    #[arg(long, env = "ROUTE_CONCURRENCY", default_value_t = 0)]
    pub route_concurrency: usize,

    /// Seconds between checks for a newly published tile version.
    #[arg(long, env = "TILES_POLL_INTERVAL_S", default_value_t = 10)]
    pub tiles_poll_interval_s: u64,

    /// Farthest an origin, destination or waypoint may be from a usable road, metres.
    #[arg(long, env = "MAX_SNAP_M", default_value_t = 1_000.0)]
    pub max_snap_m: f64,

    /// Most intermediate waypoints in one request.
    #[arg(long, env = "MAX_WAYPOINTS", default_value_t = 23)]
    pub max_waypoints: usize,

    /// Driving searches expand local roads only within this distance (metres) of the origin
    /// or destination; 0 turns the hierarchy off (every search exact).
    #[arg(long, env = "HIERARCHY_LOCAL_M", default_value_t = 20_000.0)]
    pub hierarchy_local_m: f64,

    /// Driving searches expand arterial roads only within this distance (metres) of the
    /// origin or destination.
    #[arg(long, env = "HIERARCHY_ARTERIAL_M", default_value_t = 100_000.0)]
    pub hierarchy_arterial_m: f64,

    /// Absolute URL clients reach this server at (e.g. `https://maps.example.com`), used
    /// for the tile URLs in `/tiles.json`, the style and `/v1/tiles/urls`; when unset, taken
    /// from each request's `Host` (and `X-Forwarded-Proto`).
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Most bytes of map tiles (stored gzip) held in memory for serving.
    #[arg(long, env = "MAP_CACHE_BYTES", default_value_t = 64 << 20)]
    pub map_cache_bytes: u64,

    /// Days the navigation location history (`POST /v1/locations`, the navigation socket)
    /// keeps fixes.
    #[arg(long, env = "TRAFFIC_HISTORY_RETENTION_DAYS", default_value_t = 30.0)]
    pub traffic_history_retention_days: f64,

    /// Shortest interval between two location batches of one user, milliseconds (`0`: no
    /// limit); a faster batch gets 429 with `Retry-After`.
    #[arg(long, env = "LOCATION_BATCH_MIN_INTERVAL_MS", default_value_t = 1_000)]
    pub location_batch_min_interval_ms: u64,

    /// How long a location batch may stay unacknowledged at one instance before another
    /// takes it over (the first is presumed dead), milliseconds. Redis only.
    #[arg(long, env = "TRAFFIC_CLAIM_IDLE_MS", default_value_t = 30_000)]
    pub traffic_claim_idle_ms: u64,

    /// OSM extract turned into tiles (and the geocoding table) at start-up when the tile
    /// store has no published version; `off` to disable.
    #[arg(
        id = "roads_sample_data",
        long = "roads-sample-data",
        env = "SAMPLE_DATA",
        default_value = "data/helsinki.osm.pbf"
    )]
    pub sample_data: PathBuf,
}

impl Default for NavigationConfig {
    fn default() -> Self {
        NavigationConfig {
            tiles_url: None,
            tile_cache_bytes: 256 << 20,
            route_cache_bytes: 64 << 20,
            route_max_settled: 1_000_000,
            route_concurrency: 0,
            tiles_poll_interval_s: 10,
            max_snap_m: 1_000.0,
            max_waypoints: 23,
            hierarchy_local_m: 20_000.0,
            hierarchy_arterial_m: 100_000.0,
            sample_data: PathBuf::from("data/helsinki.osm.pbf"),
            public_url: None,
            map_cache_bytes: 64 << 20,
            traffic_history_retention_days: 30.0,
            location_batch_min_interval_ms: 1_000,
            traffic_claim_idle_ms: 30_000,
        }
    }
}

impl NavigationConfig {
    pub fn planner(&self) -> PlannerSettings {
        PlannerSettings {
            max_snap_m: self.max_snap_m,
            driving_hierarchy: (self.hierarchy_local_m > 0.0).then_some(Hierarchy {
                local_m: self.hierarchy_local_m,
                arterial_m: self.hierarchy_arterial_m.max(self.hierarchy_local_m),
            }),
            max_settled: self.route_max_settled,
            ..PlannerSettings::default()
        }
    }

    /// How many plans may run at once.
    pub fn planners(&self) -> usize {
        match self.route_concurrency {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    /// The tile store's URL, defaulting under `data_dir`.
    pub fn tiles_url(&self, data_dir: &std::path::Path) -> String {
        self.tiles_url
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| data_dir.join("tiles").display().to_string())
    }
}
