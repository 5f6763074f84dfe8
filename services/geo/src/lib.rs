//! Geometry shared by every service: validated coordinates, the one distance model
//! (haversine on a sphere of mean Earth radius) with its metre/degree conversions and
//! bearings, geohash cells and circle coverings, and the
//! in-memory quadtree used for nearby and nearest-k search.
//!
//! This crate does no IO and has no async code. Every geo value carries its axis order in its
//! field names (`lat`, `lon`, degrees) and every length its unit (`_m` for metres).
//!
//! ```
//! use geo_core::{LatLon, haversine_m};
//! // La Roche-Chalais and Pomerol: 30 km apart, no common geohash prefix.
//! let roche = LatLon::new(45.15, 0.0).unwrap();
//! let pomerol = LatLon::new(44.93, -0.2).unwrap();
//! assert_eq!(haversine_m(roche, pomerol).round(), 29_075.0);
//! ```

mod bearing;
mod coord;
mod cover;
mod distance;
pub mod geohash;
pub mod quadtree;

pub use bearing::{initial_bearing_deg, turn_angle_deg};
pub use coord::{CoordError, LatLon};
pub use cover::{covering_cells, precision_for_radius};
pub use distance::{
    EARTH_RADIUS_M, METRES_PER_DEGREE, Origin, bbox_min_distance_m, degree_span, haversine_m,
    metres_per_degree_lon, offset_m,
};
pub use geohash::{BBox, Cell};
