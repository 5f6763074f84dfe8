//! The navigation service: geocoding, routing over tiles loaded on demand, directions.

pub mod directions;
pub mod geocode;
