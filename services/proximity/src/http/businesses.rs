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
use kit::extract::{AppJson, AppPath, Integer};
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

/// A business to create, or the full replacement of one. Text fields take no control
/// characters (U+0000 to U+001F, U+007F to U+009F); surrounding spaces are trimmed, and an
/// optional field that is empty after trimming is stored as `null`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessInput {
    /// Optional; when present it must equal the path id (PUT), and is otherwise ignored.
    #[serde(default, deserialize_with = "kit::extract::json_optional_integer")]
    #[schema(read_only)]
    id: Option<i64>,
    /// 1 to 200 characters, not all spaces.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00-\x1F\x7F-\x9F]*$"
    )]
    name: String,
    /// 1 to 64 characters of `a-z`, `0-9`, `_` or `-`, such as `restaurant`, `cafe`,
    /// `fuel`; upper-case letters are stored in lower case.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_-]+$")]
    category: String,
    /// Degrees north, -90..=90.
    #[schema(minimum = -90, maximum = 90)]
    latitude: f64,
    /// Degrees east, -180..=180.
    #[schema(minimum = -180, maximum = 180)]
    longitude: f64,
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    address: Option<String>,
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    city: Option<String>,
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    state: Option<String>,
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    country: Option<String>,
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    postcode: Option<String>,
    /// OSM `opening_hours` syntax (format `osm-opening-hours`), e.g. `Mo-Fr 08:00-18:00;
    /// Sa 10:00-14:00`, at most 500 characters; checked, a 400 when it does not parse.
    #[schema(format = "osm-opening-hours", max_length = 500)]
    opening_hours: Option<String>,
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    phone: Option<String>,
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    website: Option<String>,
}

/// An optional text field: at most [`MAX_TEXT`] characters and no control character as
/// sent, then trimmed; empty is absent.
fn optional_text(value: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
    let Some(raw) = value else {
        return Ok(None);
    };
    if raw.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid_body(format!(
            "{field} must be at most {MAX_TEXT} characters"
        )));
    }
    kit::text::check_printable(field, &raw)?;
    let text = raw.trim();
    Ok((!text.is_empty()).then(|| text.to_string()))
}

impl BusinessInput {
    fn parse(self) -> Result<BusinessFields, ApiError> {
        // Checked as sent, as the document states them: length and control characters
        // before trimming, the category without trimming.
        kit::text::check_printable("name", &self.name)?;
        let name = self.name.trim().to_string();
        if name.is_empty() || self.name.chars().count() > MAX_NAME {
            return Err(ApiError::invalid_body(format!(
                "name must be 1 to {MAX_NAME} characters, not all spaces"
            )));
        }
        let category = self.category.to_ascii_lowercase();
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
    params(("id" = i64, Path, minimum = 1, description = "Business id (an integer; a whole number written as a float, `5.0`, is taken too).")),
    responses(
        (status = 200, body = Business),
        (status = 404, description = "No business has this id (`/problems/not-found`)."),
    ),
    tag = "businesses"
)]
pub(super) async fn get_business(
    State(app): State<AppState>,
    AppPath(Integer(id)): AppPath<Integer>,
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
        (status = 201, description = "Created; `Location` is the business's URL.", body = Business,
            headers(("Location" = String, description = "`/v1/businesses/{id}` of the new business"))),
        (status = 400, description = "A field out of range or malformed: a blank name, a bad category, opening hours that do not parse (`/problems/invalid-body`), or control characters (`/problems/invalid-text`)."),
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
    params(("id" = i64, Path, minimum = 1, description = "Business id (an integer; a whole number written as a float, `5.0`, is taken too).")),
    request_body = BusinessInput,
    responses(
        (status = 200, body = Business),
        (status = 400, description = "A field out of range or malformed, a body `id` other than the path's (`/problems/invalid-body`), or control characters (`/problems/invalid-text`)."),
        (status = 403, description = "The caller neither owns the business nor holds an admin token (`/problems/forbidden`)."),
        (status = 404, description = "No business has this id (`/problems/not-found`)."),
    ),
    security(("bearer" = [])),
    tag = "businesses"
)]
pub(super) async fn replace_business(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(Integer(id)): AppPath<Integer>,
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
    params(("id" = i64, Path, minimum = 1, description = "Business id (an integer; a whole number written as a float, `5.0`, is taken too).")),
    responses(
        (status = 204, description = "Deleted; it leaves search at the next publication."),
        (status = 403, description = "The caller neither owns the business nor holds an admin token (`/problems/forbidden`)."),
        (status = 404, description = "No business has this id (`/problems/not-found`)."),
    ),
    security(("bearer" = [])),
    tag = "businesses"
)]
pub(super) async fn delete_business(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(Integer(id)): AppPath<Integer>,
) -> Result<StatusCode, ApiError> {
    authorize(&app, &caller, id).await?;
    if !store::delete_business(&app.backends().db, id).await? {
        return Err(not_found(id));
    }
    Ok(StatusCode::NO_CONTENT)
}
