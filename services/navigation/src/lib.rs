//! The navigation service: geocoding, routing over tiles loaded on demand, and
//! Google-style directions.
//!
//! A request flows `http` (parse, validate, cap the work asked for) ->
//! [`service::NavState::directions`] (the byte-bounded [`route_cache`], geocode text stops) -> [`planner::plan`] (snap, hierarchical A* per leg,
//! alternatives) over [`tiles::RequestTiles`] (tiles fetched on demand through the shared
//! byte-bounded [`tiles::TileCache`]) -> [`response`] / [`directions`] (Google shape).

pub mod config;
pub mod directions;
pub mod error;
pub mod geocode;
pub mod http;
pub mod map;
pub mod planner;
pub mod response;
pub mod route_cache;
pub mod service;
pub mod session;
pub mod tiles;
pub mod traffic;

pub use config::NavigationConfig;
pub use error::{Error, Result};
pub use service::NavState;
