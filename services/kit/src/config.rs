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

    /// Seconds a client has to send a complete request head (request line and headers),
    /// counted from when the connection opens or its previous response was sent; after
    /// that the connection is closed. So this is also how long an idle keep-alive
    /// connection is kept.
    #[arg(long, env = "HEADER_READ_TIMEOUT_S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_s: u64,

    /// Seconds a connection may go without a byte moving either way while no request of it
    /// is being handled (a client that stopped reading its response); then it is closed.
    /// WebSockets, once upgraded, are not covered: the friends service pings them.
    #[arg(long, env = "IDLE_TIMEOUT_S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub idle_timeout_s: u64,

    /// Most connections open at once (WebSockets included); 0 = the open-file limit less
    /// 256 descriptors kept for the database, cache and files, which is also the ceiling.
    /// Beyond it a connection may still ask `/healthz`, `/livez` or `/readyz`; anything
    /// else gets 503 and a close.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Most connections open at once from one client IP; 0 disables the cap (set it to 0
    /// behind a reverse proxy, where every client has the proxy's address). Beyond it a
    /// request gets 429 and a close.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// Kernel send buffer of each accepted connection, in bytes; 0 leaves it to the kernel's
    /// autotuning (on loopback that can reach megabytes per connection). A small value
    /// bounds the kernel memory a client that stops reading can pin, and makes a
    /// WebSocket's write timeout catch it sooner.
    #[arg(long, env = "SOCKET_SEND_BUFFER_BYTES", default_value_t = 0)]
    pub socket_send_buffer_bytes: usize,

    /// Log format: `text` or `json`. Verbosity is set with `RUST_LOG` (default `info`).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Origins whose pages may call the API from a browser (CORS), comma-separated, such as
    /// `https://app.example.com,http://localhost:5173`, or `*` for any. Unset: CORS is off,
    /// and browsers allow same-origin calls only.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "", hide_default_value = true, value_parser = crate::edge::CorsOrigins::parse)]
    pub cors_allowed_origins: crate::edge::CorsOrigins,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
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
            header_read_timeout_s: 10,
            idle_timeout_s: 60,
            max_connections: 0,
            max_connections_per_ip: 256,
            socket_send_buffer_bytes: 0,
            log_format: LogFormat::Text,
            cors_allowed_origins: crate::edge::CorsOrigins::Off,
        }
    }

    /// The connection limits and timeouts [`crate::serve::serve`] applies.
    pub fn connection_limits(&self) -> crate::serve::ConnectionLimits {
        crate::serve::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_s),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_s),
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            send_buffer_bytes: self.socket_send_buffer_bytes,
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
