//! The location service and the live traffic it feeds: `POST /v1/locations` (a user's batch
//! of GPS fixes) and `GET /v1/traffic` (live road segments as GeoJSON).

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kit::ApiError;
use kit::auth::Caller;
use kit::extract::{AppJson, AppQuery};
use maptiles::mvt::PropValue;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::map::{MVT_CONTENT_TYPE, parse_tile};
use super::nav::{bad, parse_mode};
use crate::service::NavState;
use crate::traffic::fixes::{Fix, FixBatch, MAX_FIXES, validate};
use crate::traffic::stream::StreamError;
use crate::traffic::{now_ms, now_s};

/// A full batch of 1,000 fixes with every optional field is about 150 KB of JSON.
const MAX_BATCH_BODY: usize = 256 * 1024;
/// Most segments one `/v1/traffic` answer carries.
pub const MAX_SEGMENTS: usize = 10_000;

pub(super) fn router() -> Router<NavState> {
    Router::new()
        .route(
            "/v1/locations",
            post(locations).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route("/v1/traffic", get(traffic))
        .route("/traffic/{z}/{x}/{file}", get(traffic_tile))
}

/// A batch of GPS fixes, oldest first.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationBatch {
    /// `driving` (default), `walking` or `cycling`; only driving feeds live traffic.
    #[schema(pattern = "^(driving|walking|cycling|bicycling)$")]
    pub mode: Option<String>,
    /// 1 to 1,000 fixes in time order.
    #[schema(min_items = 1, max_items = 1000)]
    pub locations: Vec<Fix>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// Fixes accepted (all of the batch).
    pub accepted: usize,
}

/// Accepts a user's batch of GPS fixes for history and live traffic.
#[utoipa::path(
    post,
    path = "/v1/locations",
    request_body = LocationBatch,
    responses(
        (status = 202, description = "Every fix accepted: queued for the history and the traffic updater.", body = Accepted),
        (status = 400, description = "A fix out of range, more than 60 s in the future, older than an hour or out of time order, or not 1 to 1,000 fixes: nothing of the batch is kept."),
        (status = 401, description = "Missing or invalid token."),
        (status = 413, description = "Body over 256 KiB."),
        (status = 429, description = "A batch of this user's came less than `LOCATION_BATCH_MIN_INTERVAL_MS` ago (`Retry-After`)."),
        (status = 503, description = "The location stream is full or down (`Retry-After`)."),
    ),
    security(("bearer" = [])),
    tag = "traffic"
)]
pub(super) async fn locations(
    State(state): State<NavState>,
    caller: Caller,
    AppJson(body): AppJson<LocationBatch>,
) -> Result<Response, ApiError> {
    let mode = parse_mode(body.mode.as_deref())?;
    if body.locations.is_empty() || body.locations.len() > MAX_FIXES {
        return Err(ApiError::invalid_body(format!(
            "locations must hold 1 to {MAX_FIXES} fixes, not {}",
            body.locations.len()
        )));
    }
    let fixes = body.locations;
    validate(&fixes, now_s()).map_err(|e| ApiError::invalid_body(e.to_string()))?;
    state
        .take_batch_slot(caller.user_id)
        .map_err(|wait| ApiError::RateLimited { retry_after: wait })?;
    let batch = FixBatch {
        user_id: caller.user_id,
        mode,
        received_ms: now_ms(),
        fixes,
    };
    match state.traffic().stream().append(&batch).await {
        Ok(()) => {}
        Err(StreamError::Full(waiting)) => {
            tracing::warn!(waiting, "location stream full; refusing a batch");
            return Err(ApiError::unavailable("location stream"));
        }
        Err(StreamError::Redis(err)) => {
            tracing::warn!(error = %err, "appending to the location stream");
            return Err(ApiError::unavailable("location stream"));
        }
    }
    metrics::counter!("traffic_fixes_accepted_total").increment(batch.fixes.len() as u64);
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            accepted: batch.fixes.len(),
        }),
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrafficParams {
    /// `west,south,east,north` in degrees; `west` greater than `east` crosses the
    /// antimeridian.
    #[param(required = true, value_type = String)]
    pub bbox: Option<String>,
}

/// The box asked for: (west, south, east, north).
fn parse_bbox(raw: Option<&str>) -> Result<[f64; 4], ApiError> {
    let raw = raw.ok_or_else(|| bad("bbox is required: west,south,east,north"))?;
    let parts: Vec<f64> = raw
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            bad(format!(
                "bbox must be four numbers west,south,east,north, not {raw:?}"
            ))
        })?;
    let [west, south, east, north] = parts[..] else {
        return Err(bad(format!(
            "bbox must be four numbers west,south,east,north, not {raw:?}"
        )));
    };
    let lon_ok = |v: f64| v.is_finite() && (-180.0..=180.0).contains(&v);
    let lat_ok = |v: f64| v.is_finite() && (-90.0..=90.0).contains(&v);
    if !lon_ok(west) || !lon_ok(east) || !lat_ok(south) || !lat_ok(north) {
        return Err(bad(
            "bbox: longitudes must be within [-180, 180] and latitudes within [-90, 90]",
        ));
    }
    if south > north {
        return Err(bad("bbox: south must not be above north"));
    }
    Ok([west, south, east, north])
}

/// Road segments with live speeds, as GeoJSON.
#[utoipa::path(
    get,
    path = "/v1/traffic",
    params(TrafficParams),
    responses(
        (status = 200, description = "A GeoJSON FeatureCollection: one LineString per directed road segment with a live speed, properties `speed_kmh`, `free_flow_kmh`, `congestion` (live over free flow), `samples`, `updated_at` (Unix s), `name`, `edge` (the directed edge's id in the published tile version). At most 10,000 segments, slowest relative to free flow first; `truncated` says whether more were left out.", body = Object),
        (status = 400, description = "A missing or malformed bbox."),
        (status = 503, description = "No routing tiles are published yet."),
    ),
    tag = "traffic"
)]
pub(super) async fn traffic(
    State(state): State<NavState>,
    AppQuery(params): AppQuery<TrafficParams>,
) -> Result<Response, ApiError> {
    let bbox = parse_bbox(params.bbox.as_deref())?;
    let version = state
        .current_version()
        .ok_or_else(|| ApiError::unavailable("routing tiles"))?;
    let view = state.traffic().view();
    let mut features = Vec::new();
    let mut truncated = false;
    if view.speeds.version == version.name {
        for segment in view.segments.iter().filter(|s| s.meets(&bbox)) {
            if features.len() == MAX_SEGMENTS {
                truncated = true;
                break;
            }
            let coordinates: Vec<[f64; 2]> = segment
                .points
                .iter()
                .map(|&(lat, lon)| [lon, lat])
                .collect();
            features.push(json!({
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coordinates},
                "properties": {
                    "speed_kmh": (segment.speed_kmh * 10.0).round() / 10.0,
                    "free_flow_kmh": segment.free_flow_kmh,
                    "congestion": (segment.congestion() * 1000.0).round() / 1000.0,
                    "samples": segment.samples,
                    "updated_at": segment.updated_at,
                    "name": segment.name,
                    "edge": segment.edge,
                }
            }));
        }
    }
    let body = json!({
        "type": "FeatureCollection",
        "features": features,
        "truncated": truncated,
        "computed_at": view.speeds.computed_at.floor(),
    });
    Ok(Json(body).into_response())
}

/// Seconds a live traffic tile may be cached: the state is recomputed every 5 s.
const LIVE_MAX_AGE_S: u32 = 10;

/// Roads drawn at a zoom: none below 8 (a city is a few pixels), main roads to 11, all from 12.
fn drawn_at(zoom: u8, class: routing::tags::RoadClass) -> bool {
    use routing::tags::RoadClass;
    match zoom {
        0..=7 => false,
        8..=11 => class <= RoadClass::PrimaryLink,
        _ => true,
    }
}

/// The live `traffic` layer as a vector tile, drawn from the current snapshot.
#[utoipa::path(
    get,
    path = "/traffic/{z}/{x}/{y}.mvt",
    params(
        ("z" = u32, Path, minimum = 0, description = "Zoom, 0..=20: nothing below 8, main roads to 11, every road with live data from 12."),
        ("x" = u32, Path, minimum = 0, description = "Column, 0..2^z."),
        ("y" = u32, Path, minimum = 0, description = "Row, 0..2^z. (`.pbf` is accepted in place of `.mvt`.)"),
    ),
    responses(
        (status = 200, description = "Mapbox Vector Tile 2.1 with one layer, `traffic`: lines with `congestion` (percent of free flow, integer), `speed_kmh`, `free_flow_kmh` (integers) and `samples`; empty where nothing is live. Cacheable for 10 s.", content_type = "application/vnd.mapbox-vector-tile"),
        (status = 304, description = "`If-None-Match` names the tile's current ETag."),
        (status = 404, description = "Not a tile of the grid."),
    ),
    tag = "traffic"
)]
pub(super) async fn traffic_tile(
    State(state): State<NavState>,
    Path((z, x, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tile = parse_tile(&z, &x, &file)
        .ok_or_else(|| ApiError::NotFound(format!("no tile {z}/{x}/{file}")))?;
    let view = state.traffic().view();
    let current = state
        .current_version()
        .is_some_and(|v| v.name == view.speeds.version);
    let etag = format!(
        "\"traffic-{}-{}-{}-{}-{}\"",
        view.speeds.version,
        view.speeds.computed_at.to_bits(),
        tile.z,
        tile.x,
        tile.y
    );
    let mut out = HeaderMap::new();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    set(header::ETAG, &etag);
    set(
        header::CACHE_CONTROL,
        &format!("public, max-age={LIVE_MAX_AGE_S}"),
    );
    set(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    if kit::conditional::not_modified(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    set(header::CONTENT_TYPE, MVT_CONTENT_TYPE);
    let (west, south, east, north) = tile.bounds();
    // The tile's box widened by its clipping buffer (80 of 4096 units: 2%) on each side.
    let (dx, dy) = ((east - west) * 0.02, (north - south) * 0.02);
    let bbox = [west - dx, south - dy, east + dx, north + dy];
    let lines = view
        .segments
        .iter()
        .filter(|s| current && drawn_at(tile.z, s.class) && s.meets(&bbox))
        .map(|s| maptiles::live::LiveLine {
            points: &s.points,
            props: vec![
                (
                    "congestion",
                    PropValue::Int((s.congestion() * 100.0).round() as i64),
                ),
                ("speed_kmh", PropValue::Int(s.speed_kmh.round() as i64)),
                (
                    "free_flow_kmh",
                    PropValue::Int(s.free_flow_kmh.round() as i64),
                ),
                ("samples", PropValue::Int(s.samples as i64)),
            ],
        });
    let body = maptiles::live::line_tile(tile, "traffic", lines);
    Ok((out, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes() {
        assert!(parse_bbox(None).is_err());
        assert!(parse_bbox(Some("1,2,3")).is_err());
        assert!(parse_bbox(Some("1,2,3,x")).is_err());
        assert!(parse_bbox(Some("1,50,3,40")).is_err());
        assert!(parse_bbox(Some("1,2,3,NaN")).is_err());
        assert!(parse_bbox(Some("-181,2,3,4")).is_err());
        assert_eq!(
            parse_bbox(Some("170,-10,-170,10")).unwrap(),
            [170.0, -10.0, -170.0, 10.0]
        );
    }
}
