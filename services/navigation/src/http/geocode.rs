//! `GET /v1/geocode`: forward (`address=`) and reverse (`latlng=`) geocoding.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use geo_core::LatLon;
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

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GeocodeParams {
    /// Text to find (format `place-name`): an address, street, place or point of interest
    /// (case, accents and word order do not matter), at most 200 characters, no control
    /// characters, at least one letter or digit, and not coordinates. Give exactly one of
    /// `address` and `latlng` (400 otherwise).
    #[param(format = "place-name")]
    pub address: Option<String>,
    /// `lat,lng` in degrees (format `lat-lng`: latitude -90..=90, longitude -180..=180):
    /// the nearest addresses to this point.
    #[param(format = "lat-lng")]
    pub latlng: Option<String>,
    /// Most results, 1..=20 (default 5).
    #[serde(default, deserialize_with = "kit::extract::optional_integer")]
    #[param(minimum = 1, maximum = 20)]
    pub limit: Option<i64>,
}

/// A checked geocoding request.
#[derive(Debug, Clone, PartialEq)]
pub enum GeocodeQuery {
    /// Places matching a text.
    Forward { text: String, limit: usize },
    /// The addresses nearest to a point.
    Reverse { point: LatLon, limit: usize },
}

/// Checks every parameter; the database is only asked when all are valid.
pub fn parse_geocode_query(params: &GeocodeParams) -> Result<GeocodeQuery, ApiError> {
    let limit = match params.limit {
        None => DEFAULT_LIMIT,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| bad(format!("limit must be between 1 and {MAX_LIMIT}")))?,
    };
    match (params.address.as_deref(), params.latlng.as_deref()) {
        (Some(address), None) => match super::parse_stop("address", address)? {
            Stop::Text(text) => Ok(GeocodeQuery::Forward { text, limit }),
            // Coordinates typed as an address are a reverse query in disguise.
            Stop::Point(_) => Err(bad("address holds coordinates; use latlng=lat,lng")),
        },
        (None, Some(latlng)) => match super::parse_stop("latlng", latlng)? {
            Stop::Point(point) => Ok(GeocodeQuery::Reverse { point, limit }),
            Stop::Text(_) => Err(bad("latlng must be \"lat,lng\"")),
        },
        (Some(_), Some(_)) => Err(bad("give either address or latlng, not both")),
        (None, None) => Err(bad("address or latlng is required")),
    }
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
        (status = 200, description = "`status` OK or ZERO_RESULTS.", body = GeocodeResponse),
        (status = 400, description = "Google's INVALID_REQUEST (`/problems/invalid-request`): neither or both of `address` and `latlng`, coordinates in `address`, or a malformed or out-of-range value."),
        (status = 503, description = "The database is unavailable (`/problems/dependency-unavailable`)."),
    ),
    tag = "navigation"
)]
pub(super) async fn geocode(
    State(state): State<NavState>,
    AppQuery(params): AppQuery<GeocodeParams>,
) -> Result<Json<GeocodeResponse>, ApiError> {
    let db = &state.backends().db;
    let found = match parse_geocode_query(&params)? {
        GeocodeQuery::Forward { text, limit } => geocode::forward(db, &text, None, limit).await?,
        GeocodeQuery::Reverse { point, limit } => {
            geocode::reverse(db, point.lat, point.lon, limit).await?
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(address: Option<&str>, latlng: Option<&str>, limit: Option<i64>) -> GeocodeParams {
        GeocodeParams {
            address: address.map(Into::into),
            latlng: latlng.map(Into::into),
            limit,
        }
    }

    #[test]
    fn queries_are_forward_or_reverse_and_checked_whole() {
        assert_eq!(
            parse_geocode_query(&params(Some("Mannerheimintie 5"), None, None)).unwrap(),
            GeocodeQuery::Forward {
                text: "Mannerheimintie 5".into(),
                limit: DEFAULT_LIMIT
            }
        );
        assert_eq!(
            parse_geocode_query(&params(None, Some("60.17,24.94"), Some(20))).unwrap(),
            GeocodeQuery::Reverse {
                point: LatLon::new(60.17, 24.94).unwrap(),
                limit: 20
            }
        );
        for bad_input in [
            params(None, None, None),
            params(Some("a"), Some("1,2"), None),
            params(Some("60.17,24.94"), None, None),
            params(None, Some("Mannerheimintie"), None),
            params(Some("a"), None, Some(0)),
            params(Some("a"), None, Some(MAX_LIMIT as i64 + 1)),
            params(Some("a"), None, Some(-1)),
        ] {
            assert!(parse_geocode_query(&bad_input).is_err(), "{bad_input:?}");
        }
    }
}
