//! The Google Directions response shape, built from a plan.

use geo_core::LatLon;
use serde::Serialize;

use crate::directions::{self, LatLng, Leg, Polyline, RouteEdge};
use crate::planner::Plan;

/// How one stop was understood.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct GeocodedWaypoint {
    pub geocoder_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place_id: Option<String>,
    pub types: Vec<String>,
    /// Where the stop met the road network (an addition to Google's shape).
    pub snapped_location: LatLng,
    /// Metres from the stop to that point.
    pub snap_distance_m: f64,
}

/// A stop as given, and the text that names it in the response.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedStop {
    pub point: LatLon,
    pub address: String,
    pub place_id: Option<String>,
    pub types: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Bounds {
    pub northeast: LatLng,
    pub southwest: LatLng,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Route {
    pub summary: String,
    #[schema(value_type = Vec<Object>)]
    pub legs: Vec<Leg>,
    #[schema(value_type = Object)]
    pub overview_polyline: Polyline,
    pub bounds: Bounds,
    pub warnings: Vec<String>,
    pub waypoint_order: Vec<usize>,
    pub copyrights: String,
    /// Starts a navigation session on this route (`/v1/ws/navigation`); valid for a day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_id: Option<String>,
}

/// `GET /v1/nav`'s body.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DirectionsResponse {
    /// `OK`, `NOT_FOUND` (a place could not be geocoded) or `ZERO_RESULTS` (no route).
    pub status: String,
    pub geocoded_waypoints: Vec<GeocodedWaypoint>,
    pub routes: Vec<Route>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl DirectionsResponse {
    /// A non-OK answer with its reason.
    pub fn failed(status: &str, message: String) -> DirectionsResponse {
        DirectionsResponse {
            status: status.to_string(),
            geocoded_waypoints: Vec::new(),
            routes: Vec::new(),
            error_message: Some(message),
        }
    }
}

fn lat_lng(p: LatLon) -> LatLng {
    LatLng {
        lat: p.lat,
        lng: p.lon,
    }
}

const COPYRIGHTS: &str = "Map data © OpenStreetMap contributors";

/// The response for a successful plan through `stops`.
pub fn directions_response(
    plan: &Plan,
    stops: &[ResolvedStop],
    travel_mode: &str,
    warnings: &[String],
) -> DirectionsResponse {
    let geocoded_waypoints = stops
        .iter()
        .zip(&plan.snaps)
        .map(|(stop, snap)| GeocodedWaypoint {
            geocoder_status: "OK".into(),
            place_id: stop.place_id.clone(),
            types: stop.types.clone(),
            snapped_location: lat_lng(snap.point),
            snap_distance_m: (snap.distance_m * 10.0).round() / 10.0,
        })
        .collect();
    let routes = plan
        .routes
        .iter()
        .map(|route| {
            let legs: Vec<Leg> = route
                .legs
                .iter()
                .enumerate()
                .map(|(i, leg)| {
                    directions::build_leg(
                        &leg.edges,
                        travel_mode,
                        stops[i].address.clone(),
                        stops[i + 1].address.clone(),
                    )
                })
                .collect();
            let all: Vec<&RouteEdge> = route.legs.iter().flat_map(|l| &l.edges).collect();
            let mut points: Vec<LatLon> = Vec::new();
            for edge in &all {
                for &p in &edge.shape {
                    if points.last() != Some(&p) {
                        points.push(p);
                    }
                }
            }
            let (mut south, mut west, mut north, mut east) =
                (90.0f64, 180.0f64, -90.0f64, -180.0f64);
            for p in &points {
                south = south.min(p.lat);
                north = north.max(p.lat);
                west = west.min(p.lon);
                east = east.max(p.lon);
            }
            let owned: Vec<RouteEdge> = all.into_iter().cloned().collect();
            Route {
                summary: directions::route_summary(&owned),
                legs,
                overview_polyline: Polyline {
                    points: directions::encode_polyline(&points),
                },
                bounds: Bounds {
                    northeast: LatLng {
                        lat: north,
                        lng: east,
                    },
                    southwest: LatLng {
                        lat: south,
                        lng: west,
                    },
                },
                warnings: warnings.to_vec(),
                waypoint_order: (0..stops.len().saturating_sub(2)).collect(),
                copyrights: COPYRIGHTS.into(),
                route_id: None,
            }
        })
        .collect();
    DirectionsResponse {
        status: "OK".into(),
        geocoded_waypoints,
        routes,
        error_message: None,
    }
}
