//! Routing graph and tiles: the offline half of navigation.
//!
//! - [`tags`], [`restriction`]: what OSM ways and relations mean per travel [`Mode`].
//! - [`build`]: OSM elements -> the in-memory [`Graph`] (intersections as nodes, degree-2
//!   chains as edges with shapes, forbidden turns, small components marked).
//! - [`ids`], [`tile`], [`tiling`]: three levels of tiles, their binary format, cutting the
//!   graph into tiles and stitching tiles back.
//! - [`store`]: versions of tiles in object storage, published by switching one pointer.
//! - [`import`]: the operator pipeline tying these together.
//! - [`reference`]: the exact Dijkstra every faster router is checked against.
//! - [`cost`]: the one place an edge's travel time comes from.
//! - [`snap`], [`astar`]: the online router's core (snapping stops, A* between snapped
//!   points with avoid filters, level hierarchy and alternative penalties), reading tiles
//!   through [`TileSource`] so that tiles may be loaded up front or on demand.
//! - [`matching`]: GPS traces onto roads (an online hidden Markov model map matcher).
//! - [`ch`]: contraction hierarchies, the exact shortcut for plain queries (a mode, no
//!   `avoid`, no alternatives), built per mode at import.

pub mod astar;
pub mod build;
pub mod ch;
pub mod components;
pub mod cost;
pub mod graph;
pub mod ids;
pub mod import;
pub mod matching;
pub mod mode;
pub mod reference;
pub mod restriction;
pub mod snap;
pub mod store;
pub mod tags;
pub mod tile;
pub mod tiling;

pub use build::{BuildReport, GraphBuilder};
pub use graph::{Edge, ForbiddenTurn, Graph, Node};
pub use ids::{GraphId, Level};
pub use mode::{Mode, ModeMask};
pub use store::{Manifest, TileStore};
pub use tile::Tile;
pub use tiling::{TileSet, TileSource};
