//! What the proximity service's store, search and publication can fail with, before any
//! HTTP status is chosen: the mapping to problem documents lives in [`crate::http`].

/// A failure of the service below the HTTP boundary.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A SQL statement failed: the database is down, or a bug.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The in-memory index could not be built (its blocking task panicked or was cancelled).
    #[error("building the in-memory index: {0}")]
    IndexBuild(#[from] tokio::task::JoinError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
