//! The proximity service's HTTP boundary: routes, wire types and the OpenAPI document.
//! Only this module knows JSON shapes for search results and inputs.

mod admin;
mod businesses;
mod search;

use axum::Router;
use kit::ApiError;
use utoipa::OpenApi;

use crate::Error;
use crate::service::AppState;

/// The one place where the service's failures become problem documents.
impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        match err {
            // 503 with `Retry-After` when the database is down, else a logged 500.
            Error::Database(sql) => ApiError::from(sql),
            Error::IndexBuild(join) => ApiError::Internal(join.into()),
        }
    }
}

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
