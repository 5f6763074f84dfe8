//! The nearby-friends service.
//!
//! A location update flows: WebSocket [`ws`] connection -> history queue ([`history`]),
//! location cache ([`locations`]) and a publish on the user's channel ([`pubsub`]) -> every
//! process holding a subscriber -> each friend's connection, which forwards it only within
//! the radius. Channels live in process, or on Redis servers spread by a consistent-hash
//! [`ring`] whose membership may come from etcd ([`discovery`]).

pub mod bulk;
pub mod config;
pub mod discovery;
pub mod error;
pub mod history;
pub mod http;
pub mod locations;
pub mod pubsub;
pub mod ring;
pub mod service;
pub mod store;
pub mod ws;

pub use config::FriendsConfig;
pub use error::{Error, Result};
pub use service::FriendsState;
