//! Proximity service: nearby-business search and the business service.
//!
//! Writes go to the `businesses` table and are readable at once; search serves the
//! *published* index (the design's "effective the next day"): a snapshot table, the geohash
//! index table and, in memory, a quadtree. Publication happens daily and on the admin
//! trigger; every instance polls for it and swaps its in-memory index atomically.
//!
//! Entry points: [`service::AppState::build`], then [`http::router`].

pub mod config;
pub mod error;
pub mod geohash_search;
pub mod hours;
pub mod http;
pub mod import;
pub mod model;
pub mod service;
pub mod snapshot;
pub mod store;

pub use config::{ProximityConfig, SearchEngine};
pub use error::{Error, Result};
pub use service::AppState;
