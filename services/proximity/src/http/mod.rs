//! The proximity service's HTTP boundary: routes, wire types and the OpenAPI document.
//! Only this module knows JSON shapes for search results and inputs.

mod admin;
mod businesses;
mod search;

use axum::Router;
use utoipa::OpenApi;

use crate::service::AppState;

/// The service's routes, with state applied.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(search::router())
        .merge(businesses::router())
        .merge(admin::router())
        .with_state(state)
}

/// OpenAPI description of the proximity endpoints.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Proximity service",
        description = "Nearby-business search and the business service."
    ),
    paths(
        search::nearby,
        search::nearest,
        businesses::get_business,
        businesses::create_business,
        businesses::replace_business,
        businesses::delete_business,
        admin::refresh_index,
        admin::index_status,
    ),
    components(schemas(
        search::NearbyResponse,
        search::NearestResponse,
        search::BusinessHit,
        businesses::BusinessInput,
        crate::model::Business,
        admin::PublicationResponse,
        admin::IndexStatus,
    ))
)]
pub struct ApiDoc;
