//! What the friends service's store and notifications can fail with, before any HTTP status
//! or WebSocket frame is chosen: the HTTP mapping lives in [`crate::http`].

use crate::pubsub::PubSubError;

/// A failure of the service below the HTTP and WebSocket boundaries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A SQL statement failed: the database is down, or a bug.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The pub/sub servers did not take a publish that had to be confirmed.
    #[error(transparent)]
    PubSub(#[from] PubSubError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
