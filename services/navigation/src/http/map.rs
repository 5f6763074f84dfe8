//! Map tiles over HTTP: `GET /tiles/{z}/{x}/{y}.mvt`, `GET /tiles.json` (TileJSON 3.0.0) and
//! `GET /v1/tiles/urls` (the design's tile URL service: the 3x3 tiles around a point).
//!
//! Tiles are public and immutable per version: strong `ETag`s, `If-None-Match` -> 304, CORS
//! for any origin, gzip bytes as stored when the client accepts gzip. URLs carrying the
//! published version (`?v=`, as `/tiles.json` and `/v1/tiles/urls` give them) may be cached
//! for a year; bare URLs for five minutes, so a new version reaches clients behind a CDN.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use geo_core::LatLon;
use kit::ApiError;
use kit::conditional::{accepts_gzip, not_modified};
use kit::extract::AppQuery;
use maptiles::TileId;
use maptiles::overzoom::MAX_OVERZOOM;
use serde::{Deserialize, Serialize};

use crate::map::{MapError, TileAnswer, gunzip};
use crate::service::NavState;

pub const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=300, stale-while-revalidate=3600";

pub(super) fn router() -> Router<NavState> {
    Router::new()
        .route("/tiles/{z}/{x}/{file}", get(tile))
        .route("/tiles.json", get(tilejson))
        .route("/v1/tiles/urls", get(tile_urls))
        .route("/styles/default.json", get(style))
        .route("/fonts/{fontstack}/{range}", get(glyphs))
        .route("/sprites/{file}", get(sprite))
}

/// Headers of public, same-for-everyone assets (style, glyphs, sprites).
fn public_asset(content_type: &'static str, max_age_s: u32) -> [(HeaderName, HeaderValue); 3] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_str(&format!("public, max-age={max_age_s}"))
                .expect("ascii header value"),
        ),
    ]
}

/// The default MapLibre style.
#[utoipa::path(
    get,
    path = "/styles/default.json",
    responses(
        (status = 200, description = "A MapLibre style (version 8) on this server's tiles, glyphs and sprite; every URL absolute on `PUBLIC_URL` (else the request's host).", body = Object),
    ),
    tag = "map"
)]
pub(super) async fn style(State(state): State<NavState>, headers: HeaderMap) -> Response {
    let base = public_base(&state, &headers);
    (
        public_asset("application/json", 300),
        Json(maptiles::style::default_style(&base)),
    )
        .into_response()
}

/// Glyph ranges already rendered: at most 256 (one per range of the Basic Multilingual
/// Plane), a few KiB each.
static GLYPH_RANGES: std::sync::OnceLock<
    std::sync::Mutex<std::collections::HashMap<u32, axum::body::Bytes>>,
> = std::sync::OnceLock::new();

/// Label glyphs (signed distance fields) of one 256-character range.
#[utoipa::path(
    get,
    path = "/fonts/{fontstack}/{range}",
    params(
        ("fontstack" = String, Path, description = "Comma-separated font names; one must be `Noto Sans Regular`."),
        ("range" = String, Path, description = "`{start}-{end}.pbf`, start a multiple of 256 up to 65280 and end = start + 255."),
    ),
    responses(
        (status = 200, description = "Glyphs protobuf (MapLibre `glyphs.proto`).", content_type = "application/x-protobuf"),
        (status = 404, description = "A font this server does not have, or a range that is not one."),
    ),
    tag = "map"
)]
pub(super) async fn glyphs(
    Path((fontstack, range)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("no glyphs {fontstack}/{range}"));
    if !maptiles::glyphs::serves_fontstack(&fontstack) {
        return Err(not_found());
    }
    let (start, end) = range
        .strip_suffix(".pbf")
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .ok_or_else(not_found)?;
    if end != start.saturating_add(255) {
        return Err(not_found());
    }
    let ranges = GLYPH_RANGES.get_or_init(Default::default);
    let cached = ranges.lock().ok().and_then(|m| m.get(&start).cloned());
    let bytes = match cached {
        Some(bytes) => bytes,
        None => {
            let rendered =
                tokio::task::spawn_blocking(move || maptiles::glyphs::glyph_range(start))
                    .await
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?
                    .ok_or_else(not_found)?;
            let bytes = axum::body::Bytes::from(rendered);
            if let Ok(mut m) = ranges.lock() {
                m.insert(start, bytes.clone());
            }
            bytes
        }
    };
    Ok((public_asset("application/x-protobuf", 86_400), bytes).into_response())
}

/// The style's icons.
#[utoipa::path(
    get,
    path = "/sprites/{file}",
    params(("file" = String, Path, description = "`default.json`, `default.png`, `default@2x.json` or `default@2x.png`.")),
    responses(
        (status = 200, description = "The sprite index (JSON) or image (PNG)."),
        (status = 404, description = "Another file."),
    ),
    tag = "map"
)]
pub(super) async fn sprite(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (ratio, json) = match file.as_str() {
        "default.json" => (1, true),
        "default.png" => (1, false),
        "default@2x.json" => (2, true),
        "default@2x.png" => (2, false),
        _ => return Err(ApiError::NotFound(format!("no sprite {file}"))),
    };
    let (index, png) = maptiles::sprite::sprite(ratio);
    Ok(if json {
        (public_asset("application/json", 86_400), Json(index)).into_response()
    } else {
        (public_asset("image/png", 86_400), png).into_response()
    })
}

impl From<MapError> for ApiError {
    fn from(err: MapError) -> ApiError {
        match err {
            MapError::NotPublished => ApiError::unavailable("map tiles"),
            MapError::Store(e) => {
                tracing::warn!(error = %e, "reading map tiles");
                ApiError::unavailable("object storage")
            }
            MapError::Damaged { .. } => ApiError::Internal(anyhow::anyhow!(err)),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TileQuery {
    /// The map version the URL was made for (as `/tiles.json` gives it); when it is the
    /// published one the answer may be cached for a year.
    v: Option<String>,
}

/// The base URL clients reach us at.
pub fn public_base(state: &NavState, headers: &HeaderMap) -> String {
    if let Some(url) = state
        .config()
        .public_url
        .as_deref()
        .filter(|u| !u.is_empty())
    {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// The tile a path names, if any: anything that is not `z/x/y.mvt` (or `.pbf`) with
/// decimal numbers inside the grid names no tile of this map (404, as for a static file).
pub(super) fn parse_tile(z: &str, x: &str, file: &str) -> Option<TileId> {
    let y = file
        .strip_suffix(".mvt")
        .or_else(|| file.strip_suffix(".pbf"))?;
    let number = |text: &str| {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u32>().ok())
            .flatten()
    };
    let (z, x, y) = (number(z)?, number(x)?, number(y)?);
    let z = u8::try_from(z).ok().filter(|z| *z <= MAX_OVERZOOM)?;
    let side = 1u32 << z;
    (x < side && y < side).then_some(TileId { z, x, y })
}

/// One vector tile.
#[utoipa::path(
    get,
    path = "/tiles/{z}/{x}/{y}.mvt",
    params(
        ("z" = u32, Path, minimum = 0, description = "Zoom, 0..=20 (built to 14; deeper tiles are cut from their zoom-14 ancestor); deeper is a 404."),
        ("x" = u32, Path, minimum = 0, description = "Column, 0..2^z, from the antimeridian eastwards; past the grid is a 404."),
        ("y" = u32, Path, minimum = 0, description = "Row, 0..2^z from the north; past the grid is a 404. (`.pbf` is accepted in place of `.mvt`.)"),
        TileQuery,
    ),
    responses(
        (status = 200, description = "Mapbox Vector Tile 2.1 (gzip-encoded when accepted; empty where the data has nothing to draw).", content_type = "application/vnd.mapbox-vector-tile"),
        (status = 304, description = "`If-None-Match` names the tile's current ETag."),
        (status = 404, description = "No such tile: z, x or y not a decimal number, a zoom past 20, a column or row past the grid, a tile beyond the data's bounds, or another extension."),
        (status = 503, description = "No map version is published yet, or object storage is unreachable."),
    ),
    tag = "map"
)]
pub(super) async fn tile(
    State(state): State<NavState>,
    Path((z, x, file)): Path<(String, String, String)>,
    AppQuery(query): AppQuery<TileQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(tile) = parse_tile(&z, &x, &file) else {
        return Err(ApiError::NotFound(format!(
            "no tile {z}/{x}/{file} in this map"
        )));
    };
    let answer = state.map().tile(tile).await?;
    let (bytes, version) = match answer {
        TileAnswer::Outside => {
            return Err(ApiError::NotFound(format!(
                "tile {tile} is outside the map's data"
            )));
        }
        TileAnswer::Empty { version } => (None, version),
        TileAnswer::Tile { gzip, version } => (Some(gzip), version),
    };
    let gzip = accepts_gzip(&headers) && bytes.is_some();
    let etag = format!(
        "\"{version}-{}-{}-{}{}\"",
        tile.z,
        tile.x,
        tile.y,
        if gzip { "-gz" } else { "" }
    );
    let cache_control = if query.v.as_deref() == Some(&*version) {
        IMMUTABLE
    } else {
        SHORT
    };
    let mut response_headers = HeaderMap::new();
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            response_headers.insert(name, v);
        }
    };
    set(header::ETAG, &etag);
    set(header::CACHE_CONTROL, cache_control);
    set(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    set(header::VARY, "Accept-Encoding");
    if not_modified(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }
    set(header::CONTENT_TYPE, MVT_CONTENT_TYPE);
    let body = match bytes {
        None => axum::body::Bytes::new(),
        // The cached bytes themselves, shared, not copied.
        Some(stored) if gzip => {
            set(header::CONTENT_ENCODING, "gzip");
            stored
        }
        Some(stored) => gunzip(&stored)
            .map_err(|reason| {
                ApiError::Internal(anyhow::anyhow!("stored tile {tile} is damaged: {reason}"))
            })?
            .into(),
    };
    Ok((response_headers, body).into_response())
}

/// TileJSON 3.0.0 for the published map.
#[utoipa::path(
    get,
    path = "/tiles.json",
    responses(
        (status = 200, description = "TileJSON 3.0.0: absolute tile URLs (from `PUBLIC_URL`, else the request's host), bounds, center, zoom range and `vector_layers`.", body = Object),
        (status = 503, description = "No map version is published yet."),
    ),
    tag = "map"
)]
pub(super) async fn tilejson(
    State(state): State<NavState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let archive = state.map().current().ok_or(MapError::NotPublished)?;
    let extent = archive.extent();
    let base = public_base(&state, &headers);
    let (w, s, e, n) = extent.bounds;
    let body = serde_json::json!({
        "tilejson": "3.0.0",
        "name": "geostack",
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{{z}}/{{x}}/{{y}}.mvt?v={}", archive.version)],
        "minzoom": extent.min_zoom,
        "maxzoom": extent.max_zoom,
        "bounds": [w, s, e, n],
        "center": [extent.center.0, extent.center.1, extent.center.2],
        "attribution": maptiles::ATTRIBUTION,
        "vector_layers": maptiles::vector_layers(extent.max_zoom),
    });
    Ok((
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        Json(body),
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TileUrlParams {
    /// Degrees north, -90..=90 (clamped to Web Mercator's ±85.0511°).
    #[param(minimum = -90, maximum = 90)]
    latitude: f64,
    /// Degrees east, -180..=180.
    #[param(minimum = -180, maximum = 180)]
    longitude: f64,
    /// Zoom, 0..=20 (default 15).
    #[serde(default, deserialize_with = "kit::extract::optional_integer")]
    #[param(minimum = 0, maximum = 20)]
    zoom: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TileUrls {
    pub zoom: u8,
    /// The tile holding the point, then its neighbours, row by row from the north-west
    /// (nine, fewer only in the first or last row of the world).
    pub urls: Vec<String>,
    /// The tile holding the point, `z/x/y`.
    pub center: String,
}

/// The tile holding a point and its eight neighbours.
#[utoipa::path(
    get,
    path = "/v1/tiles/urls",
    params(TileUrlParams),
    responses(
        (status = 200, description = "Nine tile URLs (fewer only next to the poles).", body = TileUrls),
        (status = 400, description = "A missing or out-of-range parameter."),
    ),
    tag = "map"
)]
pub(super) async fn tile_urls(
    State(state): State<NavState>,
    AppQuery(params): AppQuery<TileUrlParams>,
    headers: HeaderMap,
) -> Result<Json<TileUrls>, ApiError> {
    let point = LatLon::new(params.latitude, params.longitude)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let zoom = params.zoom.unwrap_or(15);
    let zoom = u8::try_from(zoom)
        .ok()
        .filter(|z| *z <= MAX_OVERZOOM)
        .ok_or_else(|| {
            ApiError::bad_request(format!("zoom must be between 0 and {MAX_OVERZOOM}"))
        })?;
    let base = public_base(&state, &headers);
    let version = state
        .map()
        .current()
        .map(|a| format!("?v={}", a.version))
        .unwrap_or_default();
    let center = TileId::containing(point.lat, point.lon, zoom);
    // The centre first, then the others in reading order.
    let mut tiles = center.with_neighbours();
    tiles.retain(|t| *t != center);
    tiles.insert(0, center);
    Ok(Json(TileUrls {
        zoom,
        urls: tiles
            .iter()
            .map(|t| format!("{base}/tiles/{}/{}/{}.mvt{version}", t.z, t.x, t.y))
            .collect(),
        center: center.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_parse_or_name_no_tile() {
        assert_eq!(
            parse_tile("14", "9327", "4742.mvt"),
            Some(TileId {
                z: 14,
                x: 9327,
                y: 4742
            })
        );
        assert_eq!(
            parse_tile("0", "0", "0.pbf"),
            Some(TileId { z: 0, x: 0, y: 0 })
        );
        for (z, x, file) in [
            ("1", "2", "0.mvt"),
            ("21", "0", "0.mvt"),
            ("300", "0", "0.mvt"),
            ("3", "0", "0.png"),
            ("a", "0", "0.mvt"),
            ("3", "-1", "0.mvt"),
            ("3", "+1", "0.mvt"),
            ("3", "99999999999", "0.mvt"),
            ("{z}", "{x}", "{y}.mvt"),
        ] {
            assert_eq!(parse_tile(z, x, file), None, "{z}/{x}/{file}");
        }
    }
}
