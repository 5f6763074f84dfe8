//! What the navigation service's geocoding and planning can fail with, before any HTTP
//! status is chosen: the mapping to problem documents lives in [`crate::http`].

/// Why directions or a geocoding answer could not be given.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A place could not be geocoded: Google's `NOT_FOUND`, which
    /// [`crate::NavState::directions`] answers in the body.
    #[error("{0}")]
    NotFound(String),
    /// No route, or a stop too far from any road: Google's `ZERO_RESULTS`, which
    /// [`crate::NavState::directions`] answers in the body.
    #[error("{0}")]
    ZeroResults(String),
    /// No tile version is published yet.
    #[error("{0}")]
    NotReady(String),
    /// The plan would need more work than one request may ask for.
    #[error("{0}")]
    TooCostly(String),
    /// A geocoding query failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Tile storage, the planner pool or the response encoder failed.
    #[error("{dependency} is unavailable: {detail}")]
    Unavailable {
        dependency: &'static str,
        detail: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
