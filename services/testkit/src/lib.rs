//! Dev-only servers and data for the tests (`tests/`, the crates' own) and the benchmarks:
//! [`RedisServer`] and [`EtcdServer`] processes started on free ports and stopped on drop,
//! fresh PostgreSQL databases ([`postgres`]), and the shared OSM extracts ([`extracts`]).
//!
//! Never the machine's shared servers: everything here starts its own process or creates its
//! own database, so a test may kill, pause or restart it. Binaries come from the variables
//! `scripts/test.sh` exports (`GEO_TEST_REDIS_SERVER`, `GEO_TEST_ETCD`), else from `PATH`.

pub mod extracts;
pub mod postgres;
mod servers;

pub use servers::{EtcdServer, RedisServer, free_port};

/// PostgreSQL server of the test run (a superuser URL naming an existing database):
/// `GEO_TEST_DATABASE_URL`, else the machine's local server.
pub fn test_database_url() -> String {
    std::env::var("GEO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Redis server of the test run: `GEO_TEST_REDIS_URL`, else the machine's local server.
pub fn test_redis_url() -> String {
    std::env::var("GEO_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}
