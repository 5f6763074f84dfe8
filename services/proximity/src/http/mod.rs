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
    info(title = "Proximity service", description = "Nearby-business search and the business service."),
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
        ProblemDoc,
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// RFC 9457 problem document (`application/problem+json`), the body of every error.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ProblemDoc {
    /// Stable code, e.g. `/problems/invalid-parameter`.
    #[schema(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
