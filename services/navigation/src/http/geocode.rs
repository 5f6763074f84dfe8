//! `GET /v1/geocode`: forward (`address=`) and reverse (`latlng=`) geocoding.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use kit::ApiError;
use kit::extract::AppQuery;
use serde::{Deserialize, Serialize};

use super::nav::bad;
use crate::geocode;
use crate::service::{NavState, Stop};

pub(super) fn router() -> Router<NavState> {
    Router::new().route("/v1/geocode", get(geocode))
}

pub const DEFAULT_LIMIT: usize = 5;
pub const MAX_LIMIT: usize = 20;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct GeocodeParams {
    /// Text to find: an address, street, place or point of interest (case, accents and
    /// word order do not matter).
    address: Option<String>,
    /// `lat,lng`: the nearest addresses to this point.
    latlng: Option<String>,
    /// Most results, 1..=20 (default 5).
    limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Location {
    pub lat: f64,
    pub lng: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Geometry {
    pub location: Location,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GeocodeHit {
    pub formatted_address: String,
    pub geometry: Geometry,
    pub place_id: String,
    pub types: Vec<String>,
    /// Reverse geocoding: metres from the query point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GeocodeResponse {
    /// `OK` or `ZERO_RESULTS`.
    pub status: String,
    pub results: Vec<GeocodeHit>,
}

/// Forward or reverse geocoding over the places imported from OSM.
#[utoipa::path(
    get,
    path = "/v1/geocode",
    params(GeocodeParams),
    responses(
        (status = 200, description = "`status` OK or ZERO_RESULTS", body = GeocodeResponse),
        (status = 400, description = "INVALID_REQUEST: neither or both of address and latlng, or a malformed value"),
        (status = 503, description = "The database is unavailable"),
    ),
    tag = "navigation"
)]
pub(super) async fn geocode(
    State(state): State<NavState>,
    AppQuery(params): AppQuery<GeocodeParams>,
) -> Result<Json<GeocodeResponse>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let db = &state.backends().db;
    let found = match (params.address.as_deref(), params.latlng.as_deref()) {
        (Some(address), None) => {
            let text = match super::parse_stop("address", address)? {
                Stop::Text(t) => t,
                // Coordinates typed as an address are a reverse query in disguise.
                Stop::Point(_) => {
                    return Err(bad("address holds coordinates; use latlng=lat,lng"));
                }
            };
            geocode::forward(db, &text, None, limit).await
        }
        (None, Some(latlng)) => match super::parse_stop("latlng", latlng)? {
            Stop::Point(p) => geocode::reverse(db, p.lat, p.lon, limit).await,
            Stop::Text(_) => return Err(bad("latlng must be \"lat,lng\"")),
        },
        (Some(_), Some(_)) => return Err(bad("give either address or latlng, not both")),
        (None, None) => return Err(bad("address or latlng is required")),
    };
    let found = found.map_err(|e| {
        tracing::warn!(error = %e, "geocoding query failed");
        ApiError::unavailable("database")
    })?;
    let results: Vec<GeocodeHit> = found
        .into_iter()
        .map(|r| GeocodeHit {
            formatted_address: r.formatted_address,
            geometry: Geometry {
                location: Location {
                    lat: r.lat,
                    lng: r.lng,
                },
            },
            place_id: r.place_id,
            types: r.types,
            distance_m: r.distance_m,
        })
        .collect();
    Ok(Json(GeocodeResponse {
        status: if results.is_empty() {
            "ZERO_RESULTS"
        } else {
            "OK"
        }
        .into(),
        results,
    }))
}
