//! Settings shared by every service. With defaults only, everything runs on one machine:
//! SQLite under `DATA_DIR`, in-process cache, a generated JWT secret.
//!
//! Each field's doc comment is its `--help` text and its line in README's configuration
//! reference; every flag can also be given as the environment variable named beside it.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Common settings (flattened into each service's own `Config`).
#[derive(clap::Args, Debug, Clone)]
pub struct CommonConfig {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: SocketAddr,

    /// Directory for local state: the SQLite database, the generated JWT secret, tiles.
    #[arg(long, env = "DATA_DIR", default_value = "./var")]
    pub data_dir: PathBuf,

    /// SQL database, `postgres://...` or `sqlite://...`. Unset: SQLite file
    /// `DATA_DIR/geo.sqlite3`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Redis for caching (`redis://host:port`). Unset: an in-process cache with the same
    /// TTL and invalidation semantics (one process only).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key, so deployments or test runs can share one server.
    #[arg(long, env = "CACHE_PREFIX", default_value = "geo")]
    pub cache_prefix: String,

    /// HS256 secret for bearer tokens. Unset: a random secret kept in `DATA_DIR/jwt-secret`
    /// (mode 0600), shared with the `token` command.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Requests per second allowed per client IP on anonymous endpoints; 0 disables the limit.
    #[arg(long, env = "RATE_LIMIT_PER_IP", default_value_t = 0)]
    pub rate_limit_per_ip: u32,

    /// Log format: `text` or `json`. Verbosity is set with `RUST_LOG` (default `info`).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

impl CommonConfig {
    /// Defaults only, as with no flags and no environment (useful in tests).
    pub fn embedded(data_dir: PathBuf) -> CommonConfig {
        CommonConfig {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            database_url: None,
            redis_url: None,
            cache_prefix: "geo".into(),
            jwt_secret: None,
            rate_limit_per_ip: 0,
            log_format: "text".into(),
        }
    }
}

/// A sample-data file as configured, else relative to the workspace this binary was built in
/// (so `cargo run` from a sub-directory still finds `data/`); `None` when it does not exist
/// (`off` never does).
pub fn locate_sample(path: &std::path::Path) -> Option<PathBuf> {
    if path.as_os_str().is_empty() || path.as_os_str() == "off" {
        return None;
    }
    if path.exists() {
        return Some(path.to_path_buf());
    }
    if path.is_relative() {
        let candidate = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path);
        if candidate.exists() {
            return Some(candidate);
        }
    }
    None
}
