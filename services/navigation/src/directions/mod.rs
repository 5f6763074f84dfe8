//! Turns a computed route into the Google Directions response shape (legs, steps, polylines).
//!
//! Everything here is pure: the router hands over the travelled edges, this module decides
//! where instructions go and how they read. Step rules, in short:
//!
//! - A step is "do a maneuver, then follow a road until the next maneuver": the first step
//!   is `depart`, the last is a zero-length `arrive` at the end point.
//! - Consecutive edges merge while they stay on the same road (same name, else same `ref`)
//!   without a real turn (|angle| < [`SAME_ROAD_TURN_DEG`]); two unnamed edges merge only when
//!   going roughly straight (|angle| < [`UNNAMED_STRAIGHT_DEG`]).
//! - Edges without direction (all segments shorter than 1 cm, e.g. a piece trimmed away at a
//!   snapped endpoint) never start a step; their length and time go to the neighbouring step.
//! - A run of roundabout edges is one `roundabout` step that also covers the exit road, so the
//!   exit itself is not announced again as a turn.
//!
//! Step distance and duration values are split from rounded cumulative sums, so the leg
//! totals equal the sum of the step values exactly, as clients add them up.
//!
//! Layout: `wire` holds the serialised response types, `polyline` the encoded-polyline codec,
//! `text` the distance, duration and HTML texts, `heading` the bearings of route pieces and
//! `steps` the step rules that build a [`Leg`]; this file keeps the public API.

mod heading;
mod polyline;
mod steps;
mod text;
mod wire;

#[cfg(test)]
mod fixtures;

use geo_core::LatLon;

pub use polyline::{decode_polyline, encode_polyline, overview_polyline};
pub use steps::{
    SAME_ROAD_TURN_DEG, UNNAMED_STRAIGHT_DEG, build_leg, duration_value, route_shape, route_summary,
};
pub use text::{distance_text, duration_text};
pub use wire::{LatLng, Leg, Polyline, Step, TextValue};

/// One travelled piece of the route, in travel order, as the router produces it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteEdge {
    /// Travelled geometry in travel direction (already trimmed at the snapped start/end),
    /// >= 2 points (may be 2 identical points for zero-length pieces).
    pub shape: Vec<LatLon>,
    pub length_m: f64,
    pub duration_s: f64,
    pub name: Option<String>,
    /// OSM `ref`, e.g. "A1"; used when `name` is absent.
    pub reference: Option<String>,
    pub roundabout: bool,
}
