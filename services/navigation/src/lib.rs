//! The navigation service: geocoding, routing over tiles loaded on demand, and
//! Google-style directions.
//!
//! A request flows `http` (parse, validate) -> [`service::NavState::directions`] (route
//! cache, geocode text stops) -> [`planner::plan`] (snap, hierarchical A* per leg,
//! alternatives) over [`tiles::RequestTiles`] (tiles fetched on demand through the shared
//! byte-bounded [`tiles::TileCache`]) -> [`response`] / [`directions`] (Google shape).

pub mod config;
pub mod directions;
pub mod geocode;
pub mod http;
pub mod planner;
pub mod response;
pub mod service;
pub mod tiles;

pub use config::NavigationConfig;
pub use service::NavState;
