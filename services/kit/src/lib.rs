//! Plumbing that every service of the workspace shares and nothing domain-specific:
//! configuration common to all services, telemetry, RFC 9457 problem documents, extractors
//! that answer with them, JWT auth, the SQL and cache backends (with their embedded
//! fallbacks), per-IP rate limiting, the ops endpoints and serving with graceful shutdown.
//!
//! Services build on it; it never depends on a service.

pub mod auth;
pub mod cache;
pub mod conditional;
pub mod config;
pub mod db;
pub mod edge;
pub mod extract;
pub mod files;
pub mod openapi;
pub mod ops;
pub mod problem;
pub mod rate_limit;
pub mod runtime;
pub mod serve;
pub mod telemetry;
pub mod text;

pub use problem::{ApiError, ApiResult};

use std::sync::Arc;

/// The backends a service process talks to, chosen once at start-up from [`config::CommonConfig`]:
/// PostgreSQL or SQLite, Redis or the in-process cache, and the token keys.
#[derive(Clone)]
pub struct Backends {
    pub config: Arc<config::CommonConfig>,
    pub db: db::Db,
    pub cache: cache::Cache,
    pub auth: auth::Auth,
}

impl Backends {
    pub async fn connect(config: config::CommonConfig) -> anyhow::Result<Backends> {
        let db = db::Db::connect(config.database_url.as_deref(), &config.data_dir).await?;
        let cache =
            cache::Cache::connect(config.redis_url.as_deref(), &config.cache_prefix).await?;
        let auth = auth::Auth::load(config.jwt_secret.as_deref(), &config.data_dir)?;
        tracing::info!(
            database = ?db.backend,
            cache = cache.backend_name(),
            "backends chosen"
        );
        Ok(Backends {
            config: Arc::new(config),
            db,
            cache,
            auth,
        })
    }

    /// Readiness checks for the database (down = 503) and the cache (down = degraded: services
    /// answer from the database).
    pub fn readiness(&self) -> ops::Readiness {
        let mut readiness = ops::Readiness::default();
        let db = self.db.clone();
        readiness.add(
            "database",
            Arc::new(move || {
                let db = db.clone();
                Box::pin(async move {
                    match db.ping().await {
                        Ok(()) => ops::CheckStatus::Ok,
                        Err(err) => ops::CheckStatus::Down {
                            detail: err.to_string(),
                        },
                    }
                })
            }),
        );
        let cache = self.cache.clone();
        readiness.add(
            "cache",
            Arc::new(move || {
                let cache = cache.clone();
                Box::pin(async move {
                    match cache.ping().await {
                        Ok(()) => ops::CheckStatus::Ok,
                        Err(err) => ops::CheckStatus::Degraded {
                            detail: format!("{err}; serving from the database"),
                        },
                    }
                })
            }),
        );
        readiness
    }
}
