//! The navigation service's HTTP boundary: `GET /v1/nav`, `GET /v1/geocode`, and the
//! OpenAPI document. Query strings are parsed and validated here; everything past this
//! module works on checked values.

mod geocode;
mod map;
mod nav;
mod traffic;
mod ws;

use axum::Router;
use kit::ApiError;
use utoipa::OpenApi;

use crate::Error;
use crate::service::NavState;

/// The one place where the service's failures become problem documents. `NOT_FOUND` and
/// `ZERO_RESULTS` are answers (HTTP 200, Google's convention) that `NavState::directions`
/// gives in the body; no handler lets them through, and were one to, 404 is the nearest.
impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        match err {
            Error::NotFound(detail) | Error::ZeroResults(detail) => ApiError::NotFound(detail),
            Error::TooCostly(detail) => ApiError::Unprocessable(detail),
            Error::NotReady(detail) => {
                tracing::warn!(%detail, "directions asked before tiles were published");
                ApiError::unavailable("routing tiles")
            }
            // Any failed geocoding query reads as the database being down (503 with
            // `Retry-After`), never a 500: the queries are fixed, so what fails is the
            // database, not the input.
            Error::Database(sql) => {
                tracing::warn!(error = %sql, "geocoding query failed");
                ApiError::unavailable("database")
            }
            Error::Unavailable { dependency, detail } => {
                tracing::warn!(dependency, %detail, "directions failed on a dependency");
                ApiError::unavailable(dependency)
            }
        }
    }
}

pub use geocode::{GeocodeParams, GeocodeQuery, parse_geocode_query};
pub use nav::{MAX_TEXT_CHARS, NavParams, parse_nav_request, parse_stop};

/// The service's routes, with state applied.
pub fn router(state: NavState) -> Router {
    Router::new()
        .merge(nav::router())
        .merge(geocode::router())
        .merge(map::router())
        .merge(traffic::router())
        .merge(ws::router())
        .with_state(state)
}

/// OpenAPI description of the navigation endpoints.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Navigation service",
        description = "Directions (Google Directions shape), geocoding, and the map: vector tiles, TileJSON, tile URLs, style, glyphs and sprites, over OpenStreetMap data."
    ),
    paths(
        nav::directions,
        geocode::geocode,
        map::tile,
        map::tilejson,
        map::tile_urls,
        map::style,
        map::glyphs,
        map::sprite,
        traffic::locations,
        traffic::traffic,
        traffic::traffic_tile,
        ws::upgrade
    ),
    components(schemas(
        crate::response::DirectionsResponse,
        crate::response::Route,
        crate::response::GeocodedWaypoint,
        crate::response::Bounds,
        geocode::GeocodeResponse,
        geocode::GeocodeHit,
        map::TileUrls,
        traffic::LocationBatch,
        crate::traffic::fixes::Fix,
        traffic::Accepted,
    ))
)]
pub struct ApiDoc;
