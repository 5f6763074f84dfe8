//! The serialised response types: Google Directions' legs, steps, polylines and text/value
//! pairs, as they go out on the wire.

use geo_core::LatLon;
use serde::Serialize;

/// A quantity in Google's pair form: human text for display, rounded value for arithmetic.
#[derive(Serialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct TextValue {
    pub text: String,
    /// Metres or seconds, rounded.
    pub value: u64,
}

/// Google spells the longitude `lng`; [`LatLon`] is the internal, validated form.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, utoipa::ToSchema)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

impl From<LatLon> for LatLng {
    fn from(p: LatLon) -> Self {
        LatLng {
            lat: p.lat,
            lng: p.lon,
        }
    }
}

/// Wrapped in an object because that is the Google shape (`{"points": "..."}`).
#[derive(Serialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Polyline {
    /// Google encoded polyline, precision 5.
    pub points: String,
}

/// One instruction: perform `maneuver` at `start_location`, then follow `name` to `end_location`.
#[derive(Serialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Step {
    pub distance: TextValue,
    pub duration: TextValue,
    pub start_location: LatLng,
    pub end_location: LatLng,
    /// HTML with names escaped, e.g. `Turn <b>left</b> onto <b>Hämeentie</b>`.
    pub html_instructions: String,
    /// depart, turn-left, turn-right, turn-slight-left, turn-slight-right, turn-sharp-left,
    /// turn-sharp-right, straight, uturn, roundabout or arrive.
    pub maneuver: String,
    /// The road the step follows (name, else `ref`), empty when unnamed.
    pub name: String,
    pub polyline: Polyline,
    pub travel_mode: String,
}

/// The route between two consecutive waypoints.
#[derive(Serialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Leg {
    /// Equals the sum of the step distances exactly.
    pub distance: TextValue,
    /// Equals the sum of the step durations exactly.
    pub duration: TextValue,
    /// With a `departure_time` for driving only, as Google: the duration with live or
    /// typical traffic (the caller sets it; this module knows no traffic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_in_traffic: Option<TextValue>,
    pub start_location: LatLng,
    pub end_location: LatLng,
    pub start_address: String,
    pub end_address: String,
    pub steps: Vec<Step>,
}
