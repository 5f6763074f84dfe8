//! The navigation service's HTTP boundary: `GET /v1/nav`, `GET /v1/geocode`, and the
//! OpenAPI document. Query strings are parsed and validated here; everything past this
//! module works on checked values.

mod geocode;
mod nav;

use axum::Router;
use utoipa::OpenApi;

use crate::service::NavState;

pub use geocode::{GeocodeParams, GeocodeQuery, parse_geocode_query};
pub use nav::{MAX_TEXT_CHARS, NavParams, parse_nav_request, parse_stop};

/// The service's routes, with state applied.
pub fn router(state: NavState) -> Router {
    Router::new()
        .merge(nav::router())
        .merge(geocode::router())
        .with_state(state)
}

/// OpenAPI description of the navigation endpoints.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Navigation service",
        description = "Directions (Google Directions shape) and geocoding over OpenStreetMap data."
    ),
    paths(nav::directions, geocode::geocode),
    components(schemas(
        crate::response::DirectionsResponse,
        crate::response::Route,
        crate::response::GeocodedWaypoint,
        crate::response::Bounds,
        geocode::GeocodeResponse,
        geocode::GeocodeHit,
    ))
)]
pub struct ApiDoc;
