//! Plumbing that every service of the workspace shares and nothing domain-specific:
//! configuration common to all services, telemetry, RFC 9457 problem documents, extractors
//! that answer with them, JWT auth, the SQL and cache backends (with their embedded
//! fallbacks), per-IP rate limiting, the ops endpoints and serving with graceful shutdown.
//!
//! Services build on it; it never depends on a service.

pub mod auth;
pub mod cache;
pub mod config;
pub mod db;
pub mod extract;
pub mod ops;
pub mod problem;
pub mod rate_limit;
pub mod serve;
pub mod telemetry;

pub use problem::{ApiError, ApiResult};
