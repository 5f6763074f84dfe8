//! The business service: `GET/POST /v1/businesses`, `PUT/DELETE /v1/businesses/{id}`.
//! Writes are readable here at once and searchable after the next index publication.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use geo_core::LatLon;
use kit::ApiError;
use kit::auth::Caller;
use kit::extract::{AppJson, AppPath};
use serde::Deserialize;

use crate::hours;
use crate::model::{Business, BusinessFields};
use crate::service::AppState;
use crate::store;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/businesses", axum::routing::post(create_business))
        .route(
            "/v1/businesses/{id}",
            get(get_business)
                .put(replace_business)
                .delete(delete_business),
        )
}

const MAX_NAME: usize = 200;
const MAX_TEXT: usize = 500;

/// A business to create, or the full replacement of one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessInput {
    /// Optional; when present it must equal the path id (PUT) and is otherwise ignored.
    id: Option<i64>,
    name: String,
    /// Lower-case category such as `restaurant`, `cafe`, `fuel`.
    category: String,
    latitude: f64,
    longitude: f64,
    address: Option<String>,
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    postcode: Option<String>,
    /// OSM `opening_hours` syntax.
    opening_hours: Option<String>,
    phone: Option<String>,
    website: Option<String>,
}

fn optional_text(value: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
    match value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    {
        Some(v) if v.chars().count() > MAX_TEXT => Err(ApiError::invalid_body(format!(
            "{field} must be at most {MAX_TEXT} characters"
        ))),
        other => Ok(other),
    }
}

impl BusinessInput {
    fn parse(self) -> Result<BusinessFields, ApiError> {
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(ApiError::invalid_body(format!(
                "name must be 1 to {MAX_NAME} characters"
            )));
        }
        let category = self.category.trim().to_lowercase();
        if category.is_empty()
            || category.len() > 64
            || !category
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ApiError::invalid_body(
                "category must be 1 to 64 characters of a-z, 0-9, '_' or '-'",
            ));
        }
        let location = LatLon::new(self.latitude, self.longitude)
            .map_err(|e| ApiError::invalid_body(e.to_string()))?;
        let opening_hours = optional_text(self.opening_hours, "opening_hours")?;
        if let Some(text) = &opening_hours {
            hours::validate(text).map_err(ApiError::invalid_body)?;
        }
        Ok(BusinessFields {
            name,
            category,
            address: optional_text(self.address, "address")?,
            city: optional_text(self.city, "city")?,
            state: optional_text(self.state, "state")?,
            country: optional_text(self.country, "country")?,
            postcode: optional_text(self.postcode, "postcode")?,
            location,
            opening_hours,
            phone: optional_text(self.phone, "phone")?,
            website: optional_text(self.website, "website")?,
        })
    }
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("business {id} does not exist"))
}

/// Full detail of one business (the live row, including unpublished changes).
#[utoipa::path(
    get,
    path = "/v1/businesses/{id}",
    params(("id" = i64, Path, description = "Business id")),
    responses(
        (status = 200, body = Business),
        (status = 404, body = super::ProblemDoc, content_type = "application/problem+json"),
    ),
    tag = "businesses"
)]
pub(super) async fn get_business(
    State(app): State<AppState>,
    AppPath(id): AppPath<i64>,
) -> Result<Json<Business>, ApiError> {
    let business = store::get_business(&app.backends().db, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(business))
}

/// Creates a business owned by the caller; searchable after the next publication.
#[utoipa::path(
    post,
    path = "/v1/businesses",
    request_body = BusinessInput,
    responses(
        (status = 201, body = Business, headers(("Location" = String))),
        (status = 400, body = super::ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemDoc, content_type = "application/problem+json"),
        (status = 413, body = super::ProblemDoc, content_type = "application/problem+json"),
        (status = 503, body = super::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
    tag = "businesses"
)]
pub(super) async fn create_business(
    State(app): State<AppState>,
    caller: Caller,
    AppJson(input): AppJson<BusinessInput>,
) -> Result<Response, ApiError> {
    let fields = input.parse()?;
    let business = store::insert_business(&app.backends().db, caller.user_id, &fields).await?;
    let location = format!("/v1/businesses/{}", business.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(business),
    )
        .into_response())
}

async fn authorize(app: &AppState, caller: &Caller, id: i64) -> Result<Business, ApiError> {
    let business = store::get_business(&app.backends().db, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if !caller.admin && business.owner_id != Some(caller.user_id) {
        return Err(ApiError::Forbidden(format!(
            "business {id} belongs to another owner"
        )));
    }
    Ok(business)
}

/// Replaces every field of a business (owner or admin).
#[utoipa::path(
    put,
    path = "/v1/businesses/{id}",
    params(("id" = i64, Path, description = "Business id")),
    request_body = BusinessInput,
    responses(
        (status = 200, body = Business),
        (status = 400, body = super::ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = super::ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
    tag = "businesses"
)]
pub(super) async fn replace_business(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
    AppJson(input): AppJson<BusinessInput>,
) -> Result<Json<Business>, ApiError> {
    if input.id.is_some_and(|body_id| body_id != id) {
        return Err(ApiError::invalid_body(
            "id in the body differs from the path",
        ));
    }
    let fields = input.parse()?;
    authorize(&app, &caller, id).await?;
    let business = store::replace_business(&app.backends().db, id, &fields)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(business))
}

/// Deletes a business (owner or admin); it leaves search at the next publication.
#[utoipa::path(
    delete,
    path = "/v1/businesses/{id}",
    params(("id" = i64, Path, description = "Business id")),
    responses(
        (status = 204),
        (status = 401, body = super::ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = super::ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = super::ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
    tag = "businesses"
)]
pub(super) async fn delete_business(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    authorize(&app, &caller, id).await?;
    if !store::delete_business(&app.backends().db, id).await? {
        return Err(not_found(id));
    }
    Ok(StatusCode::NO_CONTENT)
}
