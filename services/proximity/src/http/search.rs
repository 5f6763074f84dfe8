//! `GET /v1/search/nearby` and `GET /v1/search/nearest`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use geo_core::LatLon;
use kit::ApiError;
use kit::extract::AppQuery;
use serde::{Deserialize, Serialize};

use crate::config::SearchEngine;
use crate::geohash_search;
use crate::model::Summary;
use crate::service::AppState;
use crate::snapshot::Filters;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/search/nearby", get(nearby))
        .route("/v1/search/nearest", get(nearest))
}

pub const DEFAULT_RADIUS_M: f64 = 5000.0;
pub const MAX_RADIUS_M: f64 = 20_000.0;
pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct NearbyParams {
    /// Degrees north, -90..=90.
    #[param(minimum = -90, maximum = 90)]
    latitude: f64,
    /// Degrees east, -180..=180.
    #[param(minimum = -180, maximum = 180)]
    longitude: f64,
    /// Metres, 1..=20000 (default 5000); out of range is a 400, never clamped.
    #[param(minimum = 1, maximum = 20000)]
    radius: Option<f64>,
    /// Page size, 1..=100 (default 20).
    #[serde(default, deserialize_with = "kit::extract::optional_integer")]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The previous page's `next_cursor`, unchanged: an opaque token of URL-safe base64
    /// (format `cursor`); anything else is a 400.
    #[param(format = "cursor")]
    cursor: Option<String>,
    /// Only this category (e.g. `restaurant`; case and surrounding spaces do not matter,
    /// empty means any).
    category: Option<String>,
    /// Only businesses open now (by their OSM `opening_hours`, in local time).
    open_now: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct NearestParams {
    /// Degrees north, -90..=90.
    #[param(minimum = -90, maximum = 90)]
    latitude: f64,
    /// Degrees east, -180..=180.
    #[param(minimum = -180, maximum = 180)]
    longitude: f64,
    /// How many, 1..=100 (default 10).
    #[serde(default, deserialize_with = "kit::extract::optional_integer")]
    #[param(minimum = 1, maximum = 100)]
    k: Option<i64>,
    /// Only this category (e.g. `cafe`; case and surrounding spaces do not matter, empty
    /// means any).
    category: Option<String>,
    /// Only businesses open now (by their OSM `opening_hours`, in local time).
    open_now: Option<bool>,
}

/// One business in a search result.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BusinessHit {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub latitude: f64,
    pub longitude: f64,
    /// Great-circle distance from the query point, metres.
    pub distance_m: f64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NearbyResponse {
    /// All matches, not just this page.
    pub total: usize,
    pub businesses: Vec<BusinessHit>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NearestResponse {
    pub businesses: Vec<BusinessHit>,
}

fn hit(s: &Summary, distance_m: f64) -> BusinessHit {
    BusinessHit {
        id: s.id,
        name: s.name.clone(),
        category: s.category.clone(),
        latitude: s.latitude,
        longitude: s.longitude,
        distance_m,
    }
}

fn parse_center(latitude: f64, longitude: f64) -> Result<LatLon, ApiError> {
    LatLon::new(latitude, longitude).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn parse_count(value: Option<i64>, default: i64, name: &str) -> Result<usize, ApiError> {
    let value = value.unwrap_or(default);
    if !(1..=MAX_LIMIT).contains(&value) {
        return Err(ApiError::bad_request(format!(
            "{name} must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(value as usize)
}

fn filters(category: Option<String>, open_now: Option<bool>) -> Filters {
    Filters {
        category: category
            .map(|c| c.trim().to_lowercase())
            .filter(|c| !c.is_empty()),
        open_at: open_now.unwrap_or(false).then(chrono::Utc::now),
    }
}

/// Cursor = the (distance, id) of the last business returned, so that paging stays exact
/// even when a publication lands between two pages.
fn encode_cursor(distance_m: f64, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{:x}.{id}", distance_m.to_bits()))
}

fn decode_cursor(cursor: &str) -> Result<(f64, i64), ApiError> {
    let invalid = || ApiError::bad_request("cursor is not valid; pass next_cursor unchanged");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (bits, id) = text.split_once('.').ok_or_else(invalid)?;
    let distance = f64::from_bits(u64::from_str_radix(bits, 16).map_err(|_| invalid())?);
    let id = id.parse::<i64>().map_err(|_| invalid())?;
    if !distance.is_finite() || distance < 0.0 {
        return Err(invalid());
    }
    Ok((distance, id))
}

/// Businesses within a radius, nearest first (ties by id), paged.
#[utoipa::path(
    get,
    path = "/v1/search/nearby",
    params(NearbyParams),
    responses(
        (status = 200, body = NearbyResponse),
        (status = 400, description = "A coordinate, `radius`, `limit` or `cursor` out of range or malformed (`/problems/invalid-parameter`)."),
        (status = 503, description = "`SEARCH_ENGINE=geohash` and the database is unavailable (`/problems/dependency-unavailable`)."),
    ),
    tag = "search"
)]
pub(super) async fn nearby(
    State(app): State<AppState>,
    AppQuery(params): AppQuery<NearbyParams>,
) -> Result<Json<NearbyResponse>, ApiError> {
    let center = parse_center(params.latitude, params.longitude)?;
    let radius_m = params.radius.unwrap_or(DEFAULT_RADIUS_M);
    if !(radius_m.is_finite() && (1.0..=MAX_RADIUS_M).contains(&radius_m)) {
        return Err(ApiError::bad_request(format!(
            "radius must be between 1 and {MAX_RADIUS_M} metres"
        )));
    }
    let limit = parse_count(params.limit, DEFAULT_LIMIT, "limit")?;
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let filters = filters(params.category, params.open_now);
    // One extra tells whether another page exists.
    let (total, mut page): (usize, Vec<BusinessHit>) = match app.config().search_engine {
        SearchEngine::Quadtree => {
            let snapshot = app.snapshot();
            let (total, hits) = snapshot.nearby(center, radius_m, &filters, after, limit + 1);
            (
                total,
                hits.iter().map(|h| hit(h.summary, h.distance_m)).collect(),
            )
        }
        SearchEngine::Geohash => {
            let backends = app.backends();
            let (total, hits) = geohash_search::nearby(
                &backends.db,
                &backends.cache,
                app.cache_ttl(),
                center,
                radius_m,
                &filters,
                after,
                limit + 1,
            )
            .await?;
            (total, hits.iter().map(|(s, d)| hit(s, *d)).collect())
        }
    };
    let next_cursor = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|h| encode_cursor(h.distance_m, h.id))
    } else {
        None
    };
    metrics::counter!("proximity_searches_total", "kind" => "nearby").increment(1);
    Ok(Json(NearbyResponse {
        total,
        businesses: page,
        next_cursor,
    }))
}

/// The k nearest businesses at any distance (e.g. the nearest gas station).
#[utoipa::path(
    get,
    path = "/v1/search/nearest",
    params(NearestParams),
    responses(
        (status = 200, body = NearestResponse),
        (status = 400, description = "A coordinate or `k` out of range or malformed (`/problems/invalid-parameter`)."),
    ),
    tag = "search"
)]
pub(super) async fn nearest(
    State(app): State<AppState>,
    AppQuery(params): AppQuery<NearestParams>,
) -> Result<Json<NearestResponse>, ApiError> {
    let center = parse_center(params.latitude, params.longitude)?;
    let k = parse_count(params.k, 10, "k")?;
    let filters = filters(params.category, params.open_now);
    let snapshot = app.snapshot();
    let businesses = snapshot
        .nearest(center, k, &filters)
        .iter()
        .map(|h| hit(h.summary, h.distance_m))
        .collect();
    metrics::counter!("proximity_searches_total", "kind" => "nearest").increment(1);
    Ok(Json(NearestResponse { businesses }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_rejects() {
        let c = encode_cursor(118.4123456789, 12);
        assert_eq!(decode_cursor(&c).unwrap(), (118.4123456789, 12));
        assert!(decode_cursor("not a cursor!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("zz.1")).is_err());
    }
}
